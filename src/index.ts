/**
 * effect-redis-pool: a Redis connection pool and client for Effect 4.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"
export * as Resp from "./Resp.ts"
export * as Conn from "./Conn.ts"
export * as Pool from "./Pool.ts"
export * as RedisPool from "./RedisPool.ts"
export * as Commands from "./Commands.ts"
export * as PubSub from "./PubSub.ts"
export * as Persistence from "./Persistence.ts"
