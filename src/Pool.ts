/**
 * A connection pool with the semantics of go-redis's `ConnPool`, generic over
 * what it pools (`Poolable`; `Conn` is one), so it can be tested with fakes.
 *
 * - `poolSize` turns bound every connection the pool owns: each exclusive
 *   checkout, each connection in the shared set, each dial and each drain holds
 *   one; idle connections hold none. The turns are an Effect `Semaphore`
 *   (`pool.turns`), FIFO with direct hand-off; the idle list is an Effect `Ref`.
 * - `withConn` / `get`: an exclusive connection. One deadline, `poolTimeout`,
 *   covers the wait for a turn, the dial and the handshake (`PoolTimeoutError`
 *   says which). The connection goes back when the caller's effect or scope
 *   ends, and is closed instead when it failed at the socket or protocol level.
 * - `withShared`: a connection shared by up to `maxInFlight` callers (the
 *   pipelining path), never one in exclusive use.
 * - After `breakerThreshold` consecutive failed dials, checkouts that need a dial
 *   fail at once with `CircuitOpenError` until a probe fiber dials again.
 * - A reaper fiber evicts idle connections past `connMaxIdleTime` or their
 *   lifetime and refills `minIdleConns`. Closing the pool's scope fails every
 *   waiter (`PoolClosedError`), interrupts the pool's fibers, waits up to
 *   `closeTimeout` for checked-out connections and closes the rest.
 *
 * The design, its go-redis mapping and the measurements behind it are in
 * `docs/design/pool.md`.
 *
 * @since 0.1.0
 */
import { Clock } from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RcMap from "effect/RcMap"
import * as Scope from "effect/Scope"
import type * as Semaphore from "effect/Semaphore"
import * as Conn from "./Conn.ts"
import type { ConnectionError, PoolError } from "./Errors.ts"
import { InvalidArgumentError, PoolClosedError } from "./Errors.ts"
import * as internal from "./internal/pool.ts"
import { startReaper } from "./internal/poolReaper.ts"
import { resolveUnsafe } from "./internal/poolOptions.ts"

/**
 * What the pool needs from a connection. `src/Conn.ts`'s `Conn` satisfies it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Poolable {
  /** `false` once the socket closed, errored or received bytes nobody asked for. */
  readonly isHealthy: boolean
  /** Epoch milliseconds of the dial. */
  readonly createdAt: number
  /** Epoch milliseconds of the last I/O. */
  readonly usedAt: number
  /** Commands written whose replies have not arrived (0 = in sync). */
  readonly pending: number
  /** Completes when `pending` reaches 0 (or the connection closes). */
  readonly awaitIdle: Effect.Effect<void>
}

/**
 * Options, with go-redis's names and defaults. Durations accept any
 * `Duration.Input` (a number is milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolOptions<C extends Poolable> {
  /**
   * Dials and handshakes one connection. The pool gives each connection its
   * own scope and closes that scope to close the connection.
   */
  readonly dial: Effect.Effect<C, ConnectionError, Scope.Scope>
  /** Turns: the limit on all connections, idle, exclusive and shared. Default 10 × CPUs. */
  readonly poolSize?: number | undefined
  /** One deadline for the wait for a turn, the dial and the handshake. Default 4 s; the service: `readTimeout` + 1 s. (go-redis `PoolTimeout`) */
  readonly poolTimeout?: Duration.Input | undefined
  /** Idle connections kept ready, a subset of `poolSize`. Default 0. */
  readonly minIdleConns?: number | undefined
  /** Connections beyond this many idle ones are closed on return. Default 0 = unlimited. */
  readonly maxIdleConns?: number | undefined
  /** A dial beyond this many open connections fails at once with `PoolExhaustedError`. Default 0 = unlimited. */
  readonly maxActiveConns?: number | undefined
  /** Idle connections unused this long are closed. Default 30 min; 0 = never. */
  readonly connMaxIdleTime?: Duration.Input | undefined
  /** Connections older than this are closed when idle. Default 0 = no limit. */
  readonly connMaxLifetime?: Duration.Input | undefined
  /** Uniform jitter in ± this around `connMaxLifetime` (capped at it). Default 0. */
  readonly connMaxLifetimeJitter?: Duration.Input | undefined
  /** FIFO instead of LIFO idle list: closes stale connections sooner. Default false. */
  readonly poolFifo?: boolean | undefined
  /**
   * Bound on one dial, handshake included; failing it is a `ConnectionError` with reason `timeout`. Default 5 s;
   * zero disables it (callers still wait at most `poolTimeout`; closing the pool interrupts a dial).
   */
  readonly dialTimeout?: Duration.Input | undefined
  /** Consecutive dial failures (or connections failing before their first success) that open the breaker. Default `poolSize`. */
  readonly breakerThreshold?: number | undefined
  /** First backoff of the breaker's probe. Default 100 ms. */
  readonly probeBackoffMin?: Duration.Input | undefined
  /** Largest backoff of the breaker's probe. Default 10 s. */
  readonly probeBackoffMax?: Duration.Input | undefined
  /** How often the reaper runs. Default 1 s. */
  readonly reaperFrequency?: Duration.Input | undefined
  /** Dials at once when refilling `minIdleConns`. Default min(poolSize, 4). */
  readonly maxConcurrentDials?: number | undefined
  /**
   * Callers waiting for a connection at most (exclusive and shared together); beyond it a caller fails at once with
   * `PoolQueueFullError`. A waiting caller costs about 1.5 KB (its fiber included). Default 10 000; 0 = unlimited.
   */
  readonly maxWaiters?: number | undefined
  /** How long closing waits for checked-out connections. Default 5 s. */
  readonly closeTimeout?: Duration.Input | undefined
  /** How long a returned connection may take to receive its pending replies. Default 1 s. */
  readonly drainTimeout?: Duration.Input | undefined
  /** Callers at once on one shared connection. Default 256; the service: `maxPending` (1000). */
  readonly maxInFlight?: number | undefined
  /** The shared set grows when every shared connection has this many callers. Default 32; the service: 16. */
  readonly sharedGrowAt?: number | undefined
  /**
   * Shared connections the set grows to at `sharedGrowAt`; past this many it grows only when every one is full
   * (`maxInFlight`). Default no limit; the service: 3.
   */
  readonly sharedConns?: number | undefined
  /** A shared connection unused this long goes back to the idle list. Default 5 s. */
  readonly sharedIdleTime?: Duration.Input | undefined
  /** `db.client.connection.pool.name` on the pool's metrics. Default "default". */
  readonly name?: string | undefined
}

/**
 * Removal counts by reason.
 *
 * @since 0.1.0
 * @category models
 */
export type RemovalReason = internal.RemovalReason

/**
 * A snapshot of the pool's counters. `inUse` counts exclusive checkouts;
 * `shared` the connections in the shared set and `sharedInFlight` the callers
 * on them; `turnsInUse` every turn held (checkouts, shared, dials, drains);
 * `pendingWaiters` the callers waiting for a turn or a shared connection (what
 * `maxWaiters` bounds; the shared set's own growth queued for a turn is no caller).
 *
 * @since 0.1.0
 * @category models
 */
export type PoolStats = internal.Stats

/**
 * A pool of connections of type `C`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pool<C extends Poolable> {
  /** An exclusive connection until the caller's scope closes. */
  readonly get: Effect.Effect<C, PoolError | ConnectionError, Scope.Scope>
  /** Runs `f` with an exclusive connection and returns it afterwards. */
  readonly withConn: <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError | ConnectionError, R>
  /**
   * Runs `f` on a shared connection, alongside up to `maxInFlight` other
   * callers (for pipelined commands that need no connection state).
   */
  readonly withShared: <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PoolError | ConnectionError, R>
  /**
   * The pool's turns: an Effect `Semaphore` of `poolSize` permits, one held by
   * each checkout, shared connection, dial and drain. Permits taken through it
   * (`Semaphore.withPermits(pool.turns, 2)`, `take`, `takeScoped`) hold that
   * much capacity back from the pool; `resize` changes `poolSize` (a smaller
   * size closes idle connections beyond it and lets busy ones finish).
   */
  readonly turns: Semaphore.Semaphore
  /** Closes a connection now, wherever it is, and frees its turn (go-redis `Remove`). */
  readonly remove: (conn: C) => Effect.Effect<void>
  /**
   * Retires the connections `predicate` picks (go-redis `Filter`, e.g. those to a
   * server that was replaced): idle ones close now, shared ones take no new
   * callers and close when the last one leaves, checked-out ones close when they
   * are returned. Succeeds with how many it picked; counted in `removals.retired`.
   */
  readonly retire: (predicate: (conn: C) => boolean) => Effect.Effect<number>
  /** The pool's counters. */
  readonly stats: Effect.Effect<PoolStats>
  /** The pool's counters, synchronously. */
  readonly statsUnsafe: () => PoolStats
}

/**
 * Builds a pool in the current scope; closing the scope closes the pool (see
 * the module notes). Invalid options fail with `InvalidArgumentError` naming
 * the option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Conn, Pool } from "effect-redis-pool"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const pool = yield* Pool.make({
 *     dial: Conn.make({ port: 6379 }),
 *     poolSize: 4,
 *     minIdleConns: 1,
 *     connMaxIdleTime: "5 minutes",
 *     poolTimeout: "2 seconds"
 *   })
 *   // An exclusive turn: the connection is the caller's until the effect ends.
 *   const id = yield* pool.withConn((conn) => conn.send(["CLIENT", "ID"]))
 *   const stats = yield* pool.stats
 *   return { id, open: stats.total, idle: stats.idle }
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <C extends Poolable>(
  options: PoolOptions<C>
): Effect.Effect<Pool<C>, InvalidArgumentError, Scope.Scope> =>
  Effect.uninterruptible(Effect.gen(function*() {
    let resolved
    try {
      resolved = resolveUnsafe(options)
    } catch (error) {
      if (error instanceof InvalidArgumentError) return yield* Effect.fail(error)
      throw error
    }
    const scope = yield* Effect.scope
    const context = yield* Effect.context<never>()
    const clock = yield* Clock
    const connsScope = yield* Scope.fork(scope)
    const bgScope = yield* Scope.fork(scope)
    const runFork = yield* internal.makeFiberRunner(bgScope)
    const pool = new internal.PoolImpl<C>({ options: resolved, dial: options.dial, clock, context, connsScope, bgScope, runFork })
    // Added last so that it runs first: the graceful close, before the child
    // scopes are closed by their own finalizers.
    yield* Scope.addFinalizer(scope, pool.close())
    startReaper(pool)
    return fromImpl(pool)
  }))

const fromImpl = <C extends Poolable>(pool: internal.PoolImpl<C>): Pool<C> & internal.HasImpl<C> => {
  const getSlow = (scope: Scope.Scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(pool.acquireSlow()), (entry) =>
        Effect.as(
          Scope.addFinalizerExit(scope, (exit) => {
            pool.releaseExclusive(entry, exit)
            return Effect.void
          }),
          entry.conn
        ))
    )
  // Fast path: the finalizer goes into the caller's scope first, then the
  // connection is taken in the same synchronous step that records it, so
  // interruption at any point leaves nothing to return or a finalizer that
  // returns it. (Should the idle connection vanish in between, the slow path
  // runs with that finalizer already in place.)
  const get: Effect.Effect<C, PoolError | ConnectionError, Scope.Scope> = Effect.withFiber((fiber) => {
    const scope = Context.getUnsafe(fiber.context, Scope.Scope)
    // A closed scope runs a finalizer at once: take the path that adds it last.
    // Stryker disable next-line BooleanLiteral: equivalent, chooses between the fast and slow paths, which end alike (the fast path falls back to the slow one with its finalizer in place)
    if (!pool.canTakeIdle() || scope.state._tag === "Closed") return getSlow(scope)
    let held: internal.Entry<C> | undefined
    return Effect.flatMap(
      Scope.addFinalizerExit(scope, (exit) => {
        if (held !== undefined) pool.releaseExclusive(held, exit)
        return Effect.void
      }),
      () => {
        const entry = pool.tryTakeIdle()
        if (entry !== undefined) {
          held = entry
          return entry.success
        }
        return Effect.uninterruptibleMask((restore) =>
          Effect.map(restore(pool.acquireSlow()), (entry) => {
            held = entry
            return entry.conn
          })
        )
      }
    )
  })
  const withConn = <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | PoolError | ConnectionError, R> => internal.withExclusive(pool, f, true)
  const withSharedSlow = <A, E, R>(f: (conn: C) => Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(pool.shared.acquireSlow()),
        (entry) => Effect.onExitPrimitive(restore(internal.runBody(f, entry.conn)), (exit) => pool.shared.release(entry, exit))
      )
    )
  const withShared = <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | PoolError | ConnectionError, R> =>
    Effect.withFiber(() => {
      if (pool.closed) return Effect.fail(new PoolClosedError({ message: "the pool is closed" }))
      const entry = pool.shared.take()
      if (entry === undefined) return withSharedSlow(f)
      return Effect.onExitPrimitive(internal.runBody(f, entry.conn), (exit) => pool.shared.release(entry, exit))
    })
  return {
    [internal.ImplKey]: pool,
    turns: pool.turns,
    get,
    withConn,
    withShared,
    remove: (conn) => Effect.sync(() => pool.remove(conn)),
    retire: (predicate) => Effect.sync(() => pool.retire(predicate)),
    stats: Effect.sync(() => pool.stats()),
    statsUnsafe: () => pool.stats()
  }
}

/**
 * A pool of real Redis connections: `conn` are the options of each
 * `Conn.make` (address, credentials, timeouts, handshake). `poolTimeout`
 * defaults to the connection's `readTimeout` + 1 s, as in go-redis.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConnPool = (
  options: Omit<PoolOptions<Conn.Conn>, "dial"> & { readonly conn?: Conn.ConnOptions | undefined }
): Effect.Effect<Pool<Conn.Conn>, InvalidArgumentError, Scope.Scope> => {
  const conn = options.conn ?? {}
  const readTimeout = conn.readTimeout === undefined ? 3_000 : Duration.toMillis(conn.readTimeout)
  return make({
    ...options,
    poolTimeout: options.poolTimeout ?? (Number.isFinite(readTimeout) && readTimeout > 0 ? readTimeout + 1_000 : 30_000),
    dial: Conn.make(conn)
  })
}

/**
 * One pool per key (a server address), created on first use and closed with
 * the scope that made the keyed pool. A pool is held by whoever got it, for as
 * long as their scope (or `withPool`) lasts: it is never closed under a
 * holder, neither by `idleTimeToLive` nor by `invalidate`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedPool<K, C extends Poolable> {
  /** The pool for `key`, made on first use with `options(key)`, held until the caller's scope closes. */
  readonly get: (key: K) => Effect.Effect<Pool<C>, InvalidArgumentError, Scope.Scope>
  /** Runs `f` with the pool for `key`, held while `f` runs. */
  readonly withPool: <A, E, R>(
    key: K,
    f: (pool: Pool<C>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | InvalidArgumentError, R>
  /** Forgets the pool for `key` (the next `get` makes a new one); it closes when its last holder lets go. */
  readonly invalidate: (key: K) => Effect.Effect<void>
  /** The keys that have a pool. */
  readonly keys: Effect.Effect<ReadonlyArray<K>>
}

/**
 * Builds a {@link KeyedPool} on `RcMap`: pools live until the scope closes,
 * or until no one has held them for `idleTimeToLive` when one is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyed = <K, C extends Poolable>(options: {
  readonly options: (key: K) => PoolOptions<C>
  readonly idleTimeToLive?: Duration.Input | undefined
}): Effect.Effect<KeyedPool<K, C>, never, Scope.Scope> =>
  Effect.map(
    RcMap.make({
      lookup: (key: K) => make(options.options(key)),
      idleTimeToLive: options.idleTimeToLive ?? Duration.infinity
    }),
    (map) => ({
      get: (key: K) => RcMap.get(map, key),
      withPool: (key, f) => Effect.scoped(Effect.flatMap(RcMap.get(map, key), f)),
      invalidate: (key: K) => RcMap.invalidate(map, key),
      keys: Effect.map(RcMap.keys(map), (keys) => Array.from(keys))
    })
  )
