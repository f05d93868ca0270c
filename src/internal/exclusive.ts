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
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Conn from "../Conn.ts"
import { InvalidArgumentError, type RedisError } from "../Errors.ts"
import type * as Pool from "../Pool.ts"
import type { BatchItem, BatchResults, Command, Connection, Service } from "../RedisPool.ts"
import type * as Resp from "../Resp.ts"
import type { Arg } from "../Resp.ts"
import { argsOf, batchResults, checkItems, decodeEffect, transactionResults } from "./batch.ts"
import { commandName, statefulAdvice } from "./commandTraits.ts"
import { commandMethods } from "./methods.ts"
import type { Observer } from "./redisPoolObserve.ts"
import { evalScriptWith } from "./shared.ts"

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
/** `watch`'s keys, checked: WATCH needs at least one. */
export const watchKeysError = (keys: ReadonlyArray<Resp.Arg>): InvalidArgumentError | undefined =>
  Array.isArray(keys) && keys.length > 0
    ? undefined
    : new InvalidArgumentError({ option: "keys", message: "watch needs at least one key" })

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

// -----------------------------------------------------------------------------
// the service's exclusive operations

/** `withConnection`, `reserve`, `multi` and `watch` of the service. */
export type ExclusiveOps = Pick<Service, "withConnection" | "reserve" | "multi" | "watch">

/** @internal */
export const makeExclusive = (pool: Pool.Pool<Conn.Conn>, observer: Observer): ExclusiveOps => {
  /** A connection of the caller's own: every command allowed, nothing retried, state tracked. */
  const connection = (conn: Conn.Conn, state: ConnState): Connection => {
    const sendOn = (args: ReadonlyArray<Resp.Arg>): Effect.Effect<Resp.Reply, RedisError> => {
      const name = commandName(args)
      track(state, name, args)
      state.active++
      return Effect.onExit(observer.observe(name, args, () => conn.send(args)), () => {
        state.active--
        return Effect.void
      })
    }
    const runOn = <A>(command: Command<A>): Effect.Effect<A, RedisError> =>
      command.invalid !== undefined
        ? Effect.fail(command.invalid)
        : Effect.flatMap(sendOn(command.args), decodeEffect(commandName(command.args), command))
    return {
      ...commandMethods(runOn),
      conn,
      discard: Effect.sync(() => void (state.failed = true)),
      send: (command, ...args) => sendOn([command, ...args]),
      run: runOn,
      pipeline: (items) => {
        const invalid = checkItems(items, false)
        if (invalid !== undefined) return Effect.fail(invalid)
        const batch = items.map(argsOf)
        for (const args of batch) track(state, commandName(args), args)
        return observer.observe(
          "PIPELINE",
          undefined,
          () => Effect.map(conn.sendBatch(batch), (replies) => batchResults(items, replies)),
          batch.length
        )
      },
      evalScript: evalScriptWith(sendOn)
    }
  }

  /** `f` on an exclusive connection, returned or closed afterwards by `Exclusive.release`'s rule. */
  const exclusive = <A, E, R>(
    f: (conn: Conn.Conn, state: ConnState) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | RedisError, R> =>
    pool.withConn((conn) => {
      const state = fresh()
      return Effect.onExit(
        Effect.suspend(() => f(conn, state)),
        (exit) => release(pool.remove, conn, state, Exit.hasInterrupts(exit))
      )
    })

  const withConnection = <A, E, R>(
    f: (connection: Connection) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | RedisError, R> => exclusive((conn, state) => f(connection(conn, state)))

  const reserve: Effect.Effect<Connection, RedisError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const conn = yield* restore(pool.get)
      const state = fresh()
      // Added after `get`'s own finalizer, so it runs first: the connection is cleaned up or closed
      // before the pool takes it back (a closed one the pool then finds nothing to return of).
      yield* Effect.addFinalizer((exit) => release(pool.remove, conn, state, Exit.hasInterrupts(exit)))
      return connection(conn, state)
    })
  )

  const transaction = <T extends ReadonlyArray<BatchItem>>(
    conn: Conn.Conn,
    state: ConnState,
    items: T
  ): Effect.Effect<BatchResults<T>, RedisError> => {
    const invalid = checkItems(items, true)
    if (invalid !== undefined) return Effect.fail(invalid)
    const batch: Array<ReadonlyArray<Resp.Arg>> = [["MULTI"], ...items.map(argsOf), ["EXEC"]]
    state.inMulti = true
    return Effect.flatMap(conn.sendBatch(batch), (replies) => {
      // EXEC (or its failure) ends the transaction and every WATCH.
      state.inMulti = false
      state.watching = false
      return transactionResults(items, replies)
    })
  }

  const multi = <const T extends ReadonlyArray<BatchItem>>(
    items: T
  ): Effect.Effect<BatchResults<T>, RedisError> =>
    observer.observe(
      "MULTI",
      undefined,
      () => exclusive((conn, state) => transaction(conn, state, items)),
      items.length
    )

  const watch: ExclusiveOps["watch"] = (keys, f) => {
    const invalid = watchKeysError(keys)
    if (invalid !== undefined) return Effect.fail(invalid)
    return exclusive((conn, state) => {
      const tx = connection(conn, state)
      return tx.send("WATCH", ...keys).pipe(
        Effect.andThen(Effect.suspend(() => f(tx))),
        Effect.flatMap((items) => observer.observe("MULTI", undefined, () => transaction(conn, state, items), items.length))
      )
    })
  }

  return { withConnection, reserve, multi, watch }
}
