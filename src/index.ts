/**
 * effect-redis-pool: a Redis connection pool and client for Effect 4.
 *
 * @since 0.1.0
 */
/**
 * Every tagged error users can catch.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"
/**
 * The RESP2/RESP3 codec: command encoding and a streaming reply decoder.
 *
 * @since 0.1.0
 */
export * as Resp from "./Resp.ts"
/**
 * One connection: dial, handshake, pipelined commands, deadlines, health.
 *
 * @since 0.1.0
 */
export * as Conn from "./Conn.ts"
/**
 * The connection pool: turns, the idle list, limits, lifetimes, the dial breaker, the reaper, stats.
 *
 * @since 0.1.0
 */
export * as Pool from "./Pool.ts"
/**
 * The `RedisPool` service and its layers.
 *
 * @since 0.1.0
 */
export * as RedisPool from "./RedisPool.ts"
/**
 * A typed command: its arguments, its reply decoder, and how to run one over any `send`.
 *
 * @since 0.1.0
 */
export * as Command from "./Command.ts"
/**
 * The typed command constructors.
 *
 * @since 0.1.0
 */
export * as Commands from "./Commands.ts"
/**
 * Subscriptions as streams on one subscriber connection.
 *
 * @since 0.1.0
 */
export * as PubSub from "./PubSub.ts"
/**
 * `effect/persistence/Redis` on this pool.
 *
 * @since 0.1.0
 */
export * as Persistence from "./Persistence.ts"
/**
 * The `RedisPool` service over a master that Redis Sentinel manages.
 *
 * @since 0.1.0
 */
export * as Sentinel from "./Sentinel.ts"

/**
 * The `RedisPool` service over a Redis Cluster.
 *
 * @since 0.1.0
 */
export * as Cluster from "./Cluster.ts"
