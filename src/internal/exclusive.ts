/**
 * Connections of a caller's own (an exclusive checkout, go-redis's sticky
 * connection): what the commands sent on one left on it, and whether it may go
 * back to the pool afterwards. The service's `withConnection`, `watch` and
 * `multi` and Persistence's `reserve` decide it here, by one rule: a connection
 * goes back only in sync and carrying nothing; a pending WATCH is undone with
 * UNWATCH first; anything else (MULTI open, SELECT or another state change, an
 * interrupted or failed command, a command still running, an unhealthy socket)
 * closes it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Conn from "../Conn.ts"
import type { Arg } from "../Resp.ts"
import { statefulAdvice } from "./commandTraits.ts"

/** What the commands sent on a connection of a caller's own have left on it. */
export interface ConnState {
  watching: boolean
  inMulti: boolean
  /** A command changed the connection beyond WATCH/MULTI (SELECT, CLIENT REPLY, ...). */
  dirty: boolean
  /** A command failed in a way that may leave the connection out of step (the owner decides which). */
  failed: boolean
  /** Commands sent and not yet answered or abandoned. */
  active: number
}

/** A connection as it comes out of the pool. */
export const fresh = (): ConnState => ({ watching: false, inMulti: false, dirty: false, failed: false, active: 0 })

/** Records one command about to be sent on the connection `state` describes. */
export const track = (state: ConnState, name: string, args: ReadonlyArray<Arg>): void => {
  switch (name) {
    case "WATCH":
      state.watching = true
      return
    case "UNWATCH":
      state.watching = false
      return
    case "MULTI":
      state.inMulti = true
      return
    case "EXEC":
    case "DISCARD":
      state.inMulti = false
      state.watching = false
      return
    default:
      if (statefulAdvice(name, args) !== undefined) state.dirty = true
  }
}

/** What removes a connection from the pool (`Pool.remove`). */
type Remove = (conn: Conn.Conn) => Effect.Effect<void>

/**
 * The end of an exclusive use: leaves a clean connection for the pool's own
 * return, UNWATCHes a watched one (closing it if that fails), closes the rest.
 * `interrupted`: the caller's block ended by interruption.
 */
export const release = (remove: Remove, conn: Conn.Conn, state: ConnState, interrupted: boolean): Effect.Effect<void> => {
  if (
    interrupted || state.dirty || state.inMulti || state.failed || state.active > 0 || !conn.isHealthy
  ) return remove(conn)
  if (!state.watching) return Effect.void
  return Effect.matchEffect(conn.send(["UNWATCH"]), {
    onFailure: () => remove(conn),
    onSuccess: () => Effect.sync(() => void (state.watching = false))
  })
}
