/**
 * `poolTimeout` for every waiting caller. Every caller gets the same timeout,
 * so arrival order is deadline order: one sweeper fiber sleeps until the first
 * deadline and expires the callers whose time has come, instead of a timer
 * race per wait.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { schedule } from "./poolTurns.ts"

/** A caller waiting under a deadline. */
export interface Timed {
  readonly deadline: number
  /** Its deadline passed: fail it and give back what it holds. */
  expire(): void
}

/** @internal */
export class Deadlines {
  /** Waiting callers in arrival (= deadline) order. */
  readonly timed = new Set<Timed>()
  private wake: (() => void) | undefined = undefined

  add(waiter: Timed): void {
    this.timed.add(waiter)
    if (this.timed.size === 1 && this.wake !== undefined) {
      const wake = this.wake
      this.wake = undefined
      schedule(wake)
    }
  }

  delete(waiter: Timed): void {
    this.timed.delete(waiter)
  }

  /** Expires every caller whose deadline is at or before `now`. */
  expire(now: number): void {
    for (const waiter of this.timed) {
      if (waiter.deadline > now) return
      this.timed.delete(waiter)
      waiter.expire()
    }
  }

  /** The sweeper: sleeps until the first deadline (or until a caller arrives), expires, repeats until `closed`. */
  sweeper(now: () => number, closed: () => boolean): Effect.Effect<void> {
    const idle = Effect.callback<void>((resume) => {
      this.wake = () => resume(Effect.void)
      // Stryker disable next-line BlockStatement: equivalent, a stale wake resumes a callback already interrupted, which ignores it
      return Effect.sync(() => {
        this.wake = undefined
      })
    })
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (closed()) return Effect.void
      const first = this.timed.values().next()
      if (first.done === true) return Effect.flatMap(idle, () => loop)
      const time = now()
      if (first.value.deadline > time) return Effect.flatMap(Effect.sleep(first.value.deadline - time), () => loop)
      this.expire(time)
      return loop
    })
    return loop
  }
}
