/**
 * A pooled connection's record: where it is (idle, checked out, shared,
 * draining, closed), its scope, its lifetime, and its load when shared.
 *
 * @internal
 */
import type * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"

/** Where a connection is. Only `idle` connections hold no turn. */
export type EntryState = "idle" | "exclusive" | "shared" | "draining" | "closed"

/** @internal */
export interface Entry<C> {
  readonly conn: C
  readonly scope: Scope.Closeable
  readonly createdAt: number
  readonly expiresAt: number
  state: EntryState
  /** Callers inside `withShared` on this connection. */
  inFlight: number
  /** A shared connection that takes no new callers, so that it can go back to the idle list. */
  retiring: boolean
  /** `Exit.succeed(conn)`, made once: a checkout returns it without allocating. */
  readonly success: Exit.Exit<C>
  /** Closed instead of going back to the idle list (see `Pool.retire`): its server was replaced. */
  retired: boolean
  /** Pool clock time of the dial or of the move into the shared set; idle time counts from this or `conn.usedAt`, whichever is later. */
  lastUsed: number
  /** A checkout on it has succeeded; one that fails before that counts toward the breaker like a failed dial. */
  proven: boolean
}

/** A state no branch may forget: the type checker fails a switch that misses one. */
export const unreachable = (state: never): never => {
  throw new Error(`unhandled state ${String(state)}`)
}
