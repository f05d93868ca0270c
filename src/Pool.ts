/**
 * A connection pool with the semantics of go-redis's `ConnPool`, generic over
 * what it pools so that it can be tested with fakes and measured without I/O.
 *
 * ## Design
 *
 * **Turns.** `poolSize` turns bound every connection the pool owns. A turn is
 * held by each exclusive checkout, by each connection in the shared set, by
 * each dial under way and by each connection draining late replies; idle
 * connections hold none. The turns are a counter with a FIFO queue of waiters
 * and direct hand-off: a released turn goes to the oldest waiter, never to a
 * newcomer (go-redis's semaphore lets newcomers barge). Why not an Effect
 * `Semaphore`: every take and release is an extra effect and a scheduled
 * wake-up, and a `Semaphore` + idle-array pool runs at about half of
 * `effect/Pool`'s speed (the "Semaphore-turn sketch" in `bench/pool.ts`), far
 * from the 1.5× this pool must reach; so the turns are synchronous
 * bookkeeping. They keep the `Semaphore` contract that matters: a turn is
 * released by the checkout's finalizer (`onExit` for `withConn`, the caller's
 * `Scope` for `get`) and by the cancellation hook of a waiting caller, so no
 * failure or interruption leaks one (the property tests check this).
 *
 * **State.** All state is one mutable record changed only in synchronous
 * sections (atomic on Node's single thread), instead of a `Ref`: a `Ref`
 * update is an effect per step on the hot path and buys nothing here.
 *
 * **Exclusive checkout** (`get`, `withConn`). Fast path, fully synchronous:
 * a free turn, nobody queued, a healthy idle connection (LIFO by default,
 * `poolFifo` for FIFO; expired, idle-too-long or unhealthy ones are closed and
 * counted, and the next is tried). Slow path: queue for a turn, then pop an
 * idle connection or dial. One deadline, `poolTimeout`, covers the queue, the
 * dial and the handshake (the `dial` effect includes the handshake) and fails
 * with `PoolTimeoutError` saying which phase was under way. Every waiter has
 * the same timeout, so arrival order is deadline order: one sweeper fiber
 * sleeps until the first deadline and fails the expired waiters, instead of
 * a timer race per wait. Dials run in
 * fibers owned by the pool, not by the caller: a caller who leaves (timeout
 * or interruption) does not abort its dial; the new connection goes to the
 * idle list and the turn to the next waiter, who takes it.
 *
 * **Return.** The finalizer decides from the `Exit` and the connection:
 * unhealthy, or failed with a `ConnectionError`/`ProtocolError` (or a
 * defect) → closed; healthy with replies still pending (the caller was
 * interrupted mid-command) → kept with its turn for at most `drainTimeout`
 * while they land, then idle (or closed if they did not come); otherwise back
 * to the idle list unless `maxIdleConns` is reached.
 *
 * **Shared checkout** (`withShared`, the pipelining path). No turn, scope or
 * fiber per call: pick the least loaded connection of the shared set that is
 * under `maxInFlight`, synchronously. When every shared connection has
 * `sharedGrowAt` callers or more, the set grows by one (an idle connection at
 * once, or a dial) if a turn is free; when nothing can take a caller, it waits
 * under `poolTimeout`. A connection is never both shared and exclusive. An
 * exclusive caller queued for a turn retires one shared connection (it takes
 * no new callers and goes back to the idle list, freeing its turn, when its
 * last caller leaves), and the reaper moves shared connections unused for
 * `sharedIdleTime` back to the idle list.
 *
 * **`maxActiveConns`** keeps go-redis's meaning: a dial that would make more
 * than `maxActiveConns` connections fails at once with `PoolExhaustedError`;
 * `poolSize` is the limit callers wait on.
 *
 * **Breaker.** After `breakerThreshold` consecutive failed dials (default
 * `poolSize`), every checkout that needs a dial fails at once with
 * `CircuitOpenError { lastError, since, failures }`; idle connections are
 * still served. One probe fiber dials with exponential backoff
 * (`probeBackoffMin` .. `probeBackoffMax`, ±50 % jitter); any successful dial
 * closes the breaker and the probe's connection joins the idle list.
 * Handshake failures count: `dial` includes the handshake, and a server that
 * refuses every handshake (wrong password, `maxclients`, `LOADING`) is as
 * unusable as one that refuses the socket, so failing fast spares it a storm.
 * So do connections that dial fine but fail (a connection or protocol error)
 * before any checkout on them succeeded: `breakerThreshold` of those in a row
 * open the breaker too, and then it is half-open: the probe's connections
 * serve callers, the breaker closes when one of them serves a caller, and the
 * probe keeps backing off while they die.
 *
 * **Reaper.** A fiber on `Schedule.spaced(reaperFrequency)` in the pool's
 * scope closes idle connections past `connMaxIdleTime` or their lifetime
 * (`connMaxLifetime` ± `connMaxLifetimeJitter`), retires idle shared
 * connections and refills `minIdleConns` with at most `maxConcurrentDials`
 * dials at once. Refills also run after a checkout or removal, as in go-redis.
 * Times come from Effect's `Clock`, so `TestClock` drives them. The checkout
 * fast path reads the clock only for a connection whose lifetime or idle time
 * ends before the reaper's next tick (a clock read costs ~110 ns on the test
 * machine, a third of a checkout); the reaper evicts the rest, so expiry is
 * exact while the event loop keeps the reaper on time. Idle time counts from
 * the connection's own `usedAt` (its last I/O), as in go-redis.
 *
 * **Close** (the pool's scope closes): stop admitting (`PoolClosedError` for
 * new and queued callers), interrupt the reaper, probe and dials, close idle
 * connections, wait up to `closeTimeout` for checked-out ones, close the rest.
 *
 * @since 0.1.0
 */
import { Clock } from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as RcMap from "effect/RcMap"
import * as Scope from "effect/Scope"
import * as Conn from "./Conn.ts"
import type { ConnectionError, PoolError } from "./Errors.ts"
import { InvalidArgumentError, PoolClosedError } from "./Errors.ts"
import * as internal from "./internal/pool.ts"
import { type CountOptions, type DurationOptions, resolveUnsafe } from "./internal/poolOptions.ts"

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
export interface PoolOptions<C extends Poolable> extends DurationOptions, CountOptions {
  /**
   * Dials and handshakes one connection. The pool gives each connection its
   * own scope and closes that scope to close the connection.
   */
  readonly dial: Effect.Effect<C, ConnectionError, Scope.Scope>
  /** Turns: the limit on all connections, idle, exclusive and shared. Default 10 × CPUs. */
  readonly poolSize?: number | undefined
  /** One deadline for the wait for a turn, the dial and the handshake. Default 4 s (readTimeout 3 s + 1 s). */
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
  /** How long closing waits for checked-out connections. Default 5 s. */
  readonly closeTimeout?: Duration.Input | undefined
  /** How long a returned connection may take to receive its pending replies. Default 1 s. */
  readonly drainTimeout?: Duration.Input | undefined
  /** Callers at once on one shared connection. Default 256. */
  readonly maxInFlight?: number | undefined
  /** The shared set grows when every shared connection has this many callers. Default 32. */
  readonly sharedGrowAt?: number | undefined
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
 * on them; `turnsInUse` every turn held (checkouts, shared, dials, drains).
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
  /** Closes a connection now, wherever it is, and frees its turn (go-redis `Remove`). */
  readonly remove: (conn: C) => Effect.Effect<void>
  /** The pool's counters. */
  readonly stats: Effect.Effect<PoolStats>
  /** The pool's counters, synchronously. */
  readonly statsUnsafe: () => PoolStats
}

const runBody = <C extends Poolable, A, E, R>(
  f: (conn: C) => Effect.Effect<A, E, R>,
  conn: C
): Effect.Effect<A, E, R> => {
  try {
    return f(conn)
  } catch (defect) {
    return Effect.die(defect)
  }
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
    const pool = new internal.PoolImpl<C>(resolved, options.dial, clock, context, connsScope, bgScope, runFork)
    // Added last so that it runs first: the graceful close, before the child
    // scopes are closed by their own finalizers.
    yield* Scope.addFinalizer(scope, pool.close())
    pool.startReaper()
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
  const withConnSlow = <A, E, R>(f: (conn: C) => Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(pool.acquireSlow()),
        (entry) => Effect.onExitPrimitive(restore(runBody(f, entry.conn)), (exit) => pool.releaseExclusive(entry, exit))
      )
    )
  const withConn = <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | PoolError | ConnectionError, R> =>
    Effect.withFiber(() => {
      const entry = pool.tryTakeIdle()
      if (entry === undefined) return withConnSlow(f)
      return Effect.onExitPrimitive(runBody(f, entry.conn), (exit) => pool.releaseExclusive(entry, exit))
    })
  const withSharedSlow = <A, E, R>(f: (conn: C) => Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(pool.acquireSharedSlow()),
        (entry) => Effect.onExitPrimitive(restore(runBody(f, entry.conn)), (exit) => pool.releaseShared(entry, exit))
      )
    )
  const withShared = <A, E, R>(
    f: (conn: C) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | PoolError | ConnectionError, R> =>
    Effect.withFiber(() => {
      if (pool.closed) return Effect.fail(new PoolClosedError({ message: "the pool is closed" }))
      const entry = pool.takeShared()
      if (entry === undefined) return withSharedSlow(f)
      return Effect.onExitPrimitive(runBody(f, entry.conn), (exit) => pool.releaseShared(entry, exit))
    })
  return {
    [internal.ImplKey]: pool,
    get,
    withConn,
    withShared,
    remove: (conn) => Effect.sync(() => pool.remove(conn)),
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
 * the scope that made the keyed pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedPool<K, C extends Poolable> {
  /** The pool for `key`, made on first use with `options(key)`. */
  readonly get: (key: K) => Effect.Effect<Pool<C>, InvalidArgumentError>
  /** Closes the pool for `key` (the next `get` makes a new one). */
  readonly invalidate: (key: K) => Effect.Effect<void>
  /** The keys that have a pool. */
  readonly keys: Effect.Effect<ReadonlyArray<K>>
}

/**
 * Builds a {@link KeyedPool} on `RcMap`: pools live until the scope closes,
 * or until unused for `idleTimeToLive` when one is given.
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
      get: (key: K) => Effect.scoped(RcMap.get(map, key)),
      invalidate: (key: K) => RcMap.invalidate(map, key),
      keys: Effect.map(RcMap.keys(map), (keys) => Array.from(keys))
    })
  )
