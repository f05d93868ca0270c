/**
 * Small Effect helpers shared by the test files: real-time pauses, polling with a
 * bound (against hanging, never a timing assertion), and reading a failure.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Waits `millis` of real time (the test clock of `it.effect` does not advance by itself). */
export const pause = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `check` every 10 ms, up to `millis`; the result of the last check. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, millis = 10_000) =>
  Effect.gen(function*() {
    const until = Date.now() + millis
    while (Date.now() < until) {
      if (yield* check) return true
      yield* pause(10)
    }
    return yield* check
  })

/** The expected error of a failed exit, or undefined. */
export const failure = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? error.value : undefined
}
