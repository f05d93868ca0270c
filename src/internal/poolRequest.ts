/**
 * A request for a turn, and then for a connection: a caller's checkout, the
 * shared set growing, or a refill toward `minIdleConns`. It waits in the turns'
 * FIFO queue (`TurnWaiter`) and under the deadline sweeper (`Timed`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type {
  CircuitOpenError,
  ConnectionError,
  PoolClosedError,
  PoolExhaustedError,
  PoolQueueFullError,
  PoolTimeoutError
} from "../Errors.ts"
import type { Poolable } from "../Pool.ts"
import type { PoolImpl } from "./pool.ts"
import type { Timed } from "./poolDeadlines.ts"
import type { Entry } from "./poolEntry.ts"
import { schedule, type TurnWaiter } from "./poolTurns.ts"

/** @internal */
export type AcquireError =
  | PoolTimeoutError
  | PoolExhaustedError
  | PoolQueueFullError
  | PoolClosedError
  | CircuitOpenError
  | ConnectionError

/** What a request for a turn is for: a caller's checkout, growing the shared set, or refilling `minIdleConns`. */
export type RequestKind = "exclusive" | "grow" | "refill"

/** A request's progress: queued for a turn, holding one (a dial may be under way), served, or given up. */
export type RequestState = "waiting" | "granted" | "done" | "cancelled"

/** A request for a turn, and then for a connection. */
export class Request<C extends Poolable> implements TurnWaiter, Timed {
  readonly permits = 1
  readonly pool: PoolImpl<C>
  readonly kind: RequestKind
  readonly start: number
  readonly deadline: number
  state: RequestState
  phase: "turn" | "dial" = "turn"
  queued = false
  entry: Entry<C> | undefined = undefined
  resume: ((effect: Effect.Effect<Entry<C>, AcquireError>) => void) | undefined

  /** A caller's request (with `resume`) waits under `poolTimeout` from now; the pool's own (grow, refill) do not. */
  constructor(
    pool: PoolImpl<C>,
    kind: RequestKind,
    resume?: (effect: Effect.Effect<Entry<C>, AcquireError>) => void
  ) {
    this.pool = pool
    this.kind = kind
    this.state = kind === "refill" ? "granted" : "waiting"
    this.start = resume === undefined ? 0 : pool.now()
    this.deadline = resume === undefined ? Infinity : this.start + pool.options.poolTimeout
    this.resume = resume
  }

  granted(): void {
    const pool = this.pool
    if (this.kind === "exclusive") pool.exclusiveWaiting--
    // Only waiting requests are queued (cancellation dequeues); a stray one passes its turn on.
    if (this.state !== "waiting") return pool.turns.giveBack()
    // Stryker disable next-line BooleanLiteral: equivalent in outcome, an inline resume runs the caller's continuation inside giveBack's loop instead of on the dispatcher (stack depth only)
    pool.grant(this, false)
  }

  expire(): void {
    const state = this.state
    if (state !== "waiting" && state !== "granted") return
    // Stryker disable next-line StringLiteral: equivalent, readers of an ended request compare its state with waiting, granted or done only
    this.state = "cancelled"
    const pool = this.pool
    if (state === "waiting" && pool.turns.dequeue(this)) pool.exclusiveWaiting--
    const resume = this.resume!
    const error = pool.timeoutError(this.phase, this.start)
    schedule(() => resume(Effect.fail(error)))
  }
}

/** Failures that mean the connection can no longer be trusted. */
export const badConnectionFailure = (cause: Cause.Cause<unknown>): boolean => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason)) {
      const error = reason.error as { readonly _tag?: unknown } | null
      if (
        typeof error === "object" && error !== null &&
        (error._tag === "ConnectionError" || error._tag === "ProtocolError")
      ) return true
    } else if (Cause.isDieReason(reason)) {
      return true
    }
  }
  return false
}


