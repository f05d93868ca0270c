/**
 * The Effect helpers every test file shares: real-time pauses, polling with a
 * bound (against hanging, never a timing assertion), yielding to let fibers run
 * under `TestClock`, and reading a failure.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Waits `millis` of real time (the test clock of `it.effect` does not advance by itself). */
export const pause = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/**
 * Polls `check` (an effect, a function, or a function returning a promise) every
 * 10 ms of real time, up to `millis` (15 s by default); the result of the last check.
 */
export const eventually = <E = never, R = never>(
  check: Effect.Effect<boolean, E, R> | (() => boolean | Promise<boolean>),
  millis = 15_000
): Effect.Effect<boolean, E, R> => {
  const once: Effect.Effect<boolean, E, R> = Effect.isEffect(check)
    ? check
    : Effect.promise(async () => await (check as () => boolean | Promise<boolean>)())
  return Effect.gen(function*() {
    const until = Date.now() + millis
    while (Date.now() < until) {
      if (yield* once) return true
      yield* pause(10)
    }
    return yield* once
  })
}

/**
 * Yields up to `rounds` times until `predicate` holds: lets forked fibers run
 * under `TestClock` without moving time. The result of the last check.
 */
export const until = (predicate: () => boolean, rounds = 2_000) =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds && !predicate(); i++) yield* Effect.yieldNow
    return predicate()
  })

/** Yields `rounds` times: lets forked fibers run. */
export const spin = (rounds = 50) => until(() => false, rounds)

/** The expected error of a failed exit, or undefined. */
export const failure = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? error.value : undefined
}

/** The `_tag` of the expected error of a failed exit, or undefined. */
export const tagOf = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  const error = failure(exit) as { readonly _tag?: string } | undefined
  return error?._tag
}
