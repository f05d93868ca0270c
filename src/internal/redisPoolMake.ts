/**
 * The service over one pool, given how a connection is dialed: `RedisPool.make`
 * dials the configured address, `Sentinel.make` asks the sentinels first.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Conn from "../Conn.ts"
import { ConnectionError, type InvalidArgumentError, type RedisError } from "../Errors.ts"
import * as Pool from "../Pool.ts"
import * as PubSub from "../PubSub.ts"
import type { Options, Standalone } from "../RedisPool.ts"
import { makeExclusive } from "./exclusive.ts"
import { commandMethods } from "./methods.ts"
import * as PoolInternal from "./pool.ts"
import { Observer } from "./redisPoolObserve.ts"
import type { Resolved } from "./redisPoolOptions.ts"
import { makeShared } from "./shared.ts"

/** Dials and handshakes one connection with these options, closed with the scope. */
export type Dial = (options: Conn.ConnOptions) => Effect.Effect<Conn.Conn, ConnectionError, Scope.Scope>

/** @internal */
export const makeStandalone = (
  options: Options,
  resolved: Resolved,
  dial: Dial,
  /** Sees every failure of an attempt on the shared path, before it is retried. */
  onFailure?: (error: RedisError) => void,
  /** How the pub/sub subscriber dials, if not as the pool does. */
  subscriberDial: Dial = dial
): Effect.Effect<Standalone, ConnectionError | InvalidArgumentError, Scope.Scope> =>
  Effect.gen(function*() {
    // A blocking command whose caller left is released by a CLIENT UNBLOCK on another connection of this pool
    // (see `Conn.ConnOptions.unblock`), checked out for it alone: the UNBLOCK is sent again and again while the
    // server is stalled, and on a pipelined connection whose earlier requests a faulty middlebox swallowed its
    // reply would be taken for another caller's. Alone on its connection, a lost reply strands only itself.
    let unblock: (clientId: number) => Effect.Effect<boolean, unknown> = () => Effect.succeed(false)
    const connOptions: Conn.ConnOptions = { ...resolved.conn, unblock: (clientId) => unblock(clientId) }
    const pool = yield* Pool.make<Conn.Conn>({ ...resolved.pool, dial: dial(connOptions) })
    unblock = (clientId) =>
      PoolInternal.withHousekeeping(pool, (conn) =>
        Effect.map(conn.send(["CLIENT", "UNBLOCK", clientId]), (released) => released === 1))
    if (options.lazyConnect !== true) yield* connectAtStart(pool, resolved.pool.minIdleConns ?? 0)
    const subscriber = yield* PubSub.make({ ...options.pubsub, connect: subscriberDial(resolved.conn) })
    const observer = new Observer(resolved.observer, yield* Effect.context<never>())
    yield* Effect.addFinalizer(() => Effect.sync(() => observer.close()))
    const shared = makeShared(pool, observer, resolved, onFailure)
    const exclusive = makeExclusive(pool, observer)

    const service: Standalone = {
      ...commandMethods(shared.run),
      ...shared,
      ...exclusive,
      subscribe: subscriber.subscribe,
      psubscribe: subscriber.psubscribe,
      ssubscribe: subscriber.ssubscribe,
      subscriber,
      stats: pool.stats,
      pool
    }
    return service
  })

/**
 * One connection dialed and handshaked through the pool (it stays idle, ready for the first command), or,
 * with `minIdleConns`, the pool's own refill awaited; any failure is the `ConnectionError` that says why.
 */
const connectAtStart = (pool: Pool.Pool<Conn.Conn>, minIdleConns: number): Effect.Effect<void, ConnectionError> =>
  (minIdleConns > 0 ? PoolInternal.implOf<Conn.Conn>(pool).awaitWarm() : PoolInternal.withHousekeeping(pool, () => Effect.void)).pipe(
    Effect.mapError((error): ConnectionError => {
      switch (error._tag) {
        case "ConnectionError":
          return error
        case "CircuitOpenError":
          return error.lastError
        default:
          return new ConnectionError({
            reason: error._tag === "PoolTimeoutError" ? "timeout" : "unknown",
            message: `could not connect at startup: ${error.message}`,
            cause: error
          })
      }
    })
  )
