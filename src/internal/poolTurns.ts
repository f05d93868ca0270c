/**
 * The pool's turns: `size` permits that bound every connection the pool owns
 * (go-redis's `queue chan struct{}`, its `internal/semaphore.go`). `Turns` is an
 * Effect `Semaphore`: `Semaphore.withPermits(turns, 1)`, `take`, `takeScoped`,
 * `takeIfAvailable`, `release`, `releaseAll` and `resize` work on it, and the
 * pool uses the same permits through a synchronous interface.
 *
 * Cost: `tryTake` and `giveBack` are a comparison and a few field updates, with
 * no effect, fiber or allocation: the pool's checkout takes and gives back a
 * turn in the same synchronous step that moves its connection. Only a caller
 * that has to wait allocates (its `TurnWaiter`) and suspends.
 *
 * Fairness: strict FIFO with direct hand-off. A permit given back goes to the
 * oldest waiter in the same synchronous step, and `tryTake` refuses while anyone
 * is queued, so a newcomer never overtakes a waiter (go-redis's `FastSemaphore`
 * lets newcomers barge). A waiter that asks for more permits than are free
 * keeps its place, and the ones behind it wait too.
 *
 * Who gives a permit back: whoever holds it, exactly once. In the pool: the
 * checkout's finalizer (`onExit` of `withConn`, the caller's scope for `get`), a
 * shared connection leaving the shared set, a dial that failed, a drain that
 * ended, and the cancellation hook of a waiter that left after a permit was
 * handed to it. Through the `Semaphore` interface: `withPermits`' exit hook,
 * `takeScoped`'s finalizer, or the caller of `take` with `release`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as Semaphore from "effect/Semaphore"

/** Someone queued for permits. */
export interface TurnWaiter {
  /** How many permits it waits for (1 for the pool's own callers). */
  readonly permits: number
  /** Called in the synchronous step that hands it its permits. */
  readonly granted: () => void
}

const noop = (): void => {}

/**
 * Runs `task` soon, on the current fiber's dispatcher (or a microtask outside a
 * fiber): how the pool resumes a waiter, so that no caller's continuation runs
 * inside the pool's bookkeeping.
 */
export const schedule = (task: () => void): void => {
  const fiber = Fiber.getCurrent()
  if (fiber !== undefined) fiber.currentDispatcher.scheduleTask(task, 0)
  else queueMicrotask(task)
}

/** @internal */
export class Turns implements Semaphore.Semaphore {
  /** Permits in all: the pool's `poolSize` (changed by `resize`). */
  size: number
  /** Permits held. May exceed `size` after `resize` shrank it. */
  taken = 0
  /** Waiters in arrival order. */
  readonly queue = new Set<TurnWaiter>()
  /** Called when a permit given back found nobody waiting for it (the pool grows or refills then). */
  onFree: () => void = noop
  /** Called after `resize` (the pool closes idle connections beyond a smaller size). */
  onResize: () => void = noop

  private serving = false
  private pending = 0

  constructor(size: number) {
    this.size = size
  }

  /** Permits free now (negative after `resize` shrank below `taken`). */
  get free(): number {
    return this.size - this.taken
  }

  /** Takes a permit when one is free and nobody is queued. */
  tryTake(): boolean {
    if (this.taken < this.size && this.queue.size === 0) {
      this.taken++
      return true
    }
    return false
  }

  /** Joins the queue; `granted` runs when permits are handed to it. */
  enqueue(waiter: TurnWaiter): void {
    this.queue.add(waiter)
  }

  /** Leaves the queue (a waiter that timed out or was interrupted); false when it was not queued. */
  dequeue(waiter: TurnWaiter): boolean {
    return this.queue.delete(waiter)
  }

  /**
   * Gives `n` permits back, each to the oldest waiter it completes, else to
   * the pool. Re-entrant calls (a granted waiter whose dial is refused at once
   * gives its turn on) are queued, so a long line of waiters never deepens the
   * stack.
   */
  giveBack(n = 1): void {
    this.pending += n
    if (this.serving) return
    this.serving = true
    try {
      while (this.pending > 0) {
        this.pending--
        this.giveOne()
      }
    } finally {
      this.serving = false
    }
  }

  /** Drops `n` permits without handing them on (the pool is closing and serves nobody). */
  forfeit(n = 1): void {
    this.taken -= n
  }

  /** Hands a waiter its permits at once, beyond `size` if need be (the pool closed: nobody may wait forever). */
  admit(waiter: TurnWaiter): void {
    this.queue.delete(waiter)
    this.taken += waiter.permits
    waiter.granted()
  }

  private giveOne(): void {
    for (const waiter of this.queue) {
      if (waiter.permits > this.free + 1) break
      this.queue.delete(waiter)
      this.taken += waiter.permits - 1
      waiter.granted()
      return
    }
    this.taken--
    this.onFree()
  }

  /** Hands free permits to queued waiters that fit, in order (after `resize` grew the pool). */
  private serveFree(): void {
    for (const waiter of this.queue) {
      if (waiter.permits > this.free) return
      this.queue.delete(waiter)
      this.taken += waiter.permits
      waiter.granted()
    }
  }

  // ---------------------------------------------------------------------------
  // Effect's Semaphore

  take(permits: number): Effect.Effect<number> {
    return Effect.callback<number>((resume) => {
      if (this.free >= permits && this.queue.size === 0) {
        this.taken += permits
        return resume(Effect.succeed(permits))
      }
      // Stryker disable next-line BooleanLiteral: equivalent, a waiter leaves the queue only by being handed its permits (giveOne, serveFree, admit), so a failed dequeue below implies handed
      let handed = false
      const waiter: TurnWaiter = {
        permits,
        granted: () => {
          handed = true
          schedule(() => resume(Effect.succeed(permits)))
        }
      }
      this.enqueue(waiter)
      return Effect.sync(() => {
        // Stryker disable next-line LogicalOperator: equivalent, a failed dequeue implies handed (see above)
        if (!this.dequeue(waiter) && handed) this.giveBack(permits)
      })
    })
  }

  takeScoped(permits: number): Effect.Effect<void, never, Scope.Scope> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.scope, (scope) =>
        Effect.flatMap(restore(this.take(permits)), () => Scope.addFinalizer(scope, this.release(permits))))
    )
  }

  takeIfAvailable(permits: number): Effect.Effect<boolean> {
    return Effect.sync(() => {
      if (this.free < permits || this.queue.size > 0) return false
      this.taken += permits
      return true
    })
  }

  release(permits: number): Effect.Effect<number> {
    return Effect.sync(() => {
      this.giveBack(permits)
      return this.free
    })
  }

  get releaseAll(): Effect.Effect<number> {
    return Effect.suspend(() => this.release(this.taken))
  }

  resize(permits: number): Effect.Effect<void> {
    return Effect.sync(() => {
      this.size = permits
      this.serveFree()
      this.onResize()
      if (this.free > 0) this.onFree()
    })
  }

  withPermits(permits: number): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> {
    return (self) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(this.take(permits)), () =>
          Effect.onExitPrimitive(restore(self), () => {
            this.giveBack(permits)
            return undefined
            // Stryker disable next-line BooleanLiteral: equivalent, the finalizer runs inside uninterruptibleMask (the fiber is uninterruptible there anyway) and returns no effect
          }, true))
      )
  }

  withPermit<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return this.withPermits(1)(self)
  }

  withPermitsIfAvailable(
    permits: number
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R> {
    return (self) =>
      Effect.uninterruptibleMask((restore) => {
        if (this.free < permits || this.queue.size > 0) return Effect.succeedNone
        this.taken += permits
        return Effect.onExitPrimitive(restore(Effect.asSome(self)), () => {
          this.giveBack(permits)
          return undefined
          // Stryker disable next-line BooleanLiteral: equivalent, the finalizer runs inside uninterruptibleMask (the fiber is uninterruptible there anyway) and returns no effect
        }, true)
      })
  }
}
