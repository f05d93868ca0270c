/**
 * Effect's `effect/persistence/Redis` service on this library's pool: swap
 * `NodeRedis.layer(...)` for {@link layerWithPool} (or {@link layer} on a
 * `RedisPool` you already have) and Effect's `RateLimiter`, `PersistedCache`
 * (through `Persistence.layerRedis`), `PersistedQueue` and `CircuitBreaker`
 * stores run on it.
 *
 * ```ts
 * import * as RateLimiter from "effect/persistence/RateLimiter"
 * import { Persistence } from "effect-redis-pool"
 *
 * const limiter = RateLimiter.layer.pipe(
 *   Layer.provide(RateLimiter.layerStoreRedis()),
 *   Layer.provide(Persistence.layerWithPool({ url: "redis://localhost:6379" }))
 * )
 * ```
 *
 * - `send` runs on the pool's shared, pipelined connections (blocking
 *   commands on exclusive ones), with its safe-only retries. The command name
 *   and arguments are sent as given. Replies come in node-redis's default
 *   shapes over RESP2, whatever protocol the pool speaks: strings, integers
 *   as numbers, nil as `null`, arrays; a RESP3 map becomes its flat key/value
 *   array, a set an array, a double (a score, a coordinate) a string. Scores
 *   are written in the shortest form that reads back as the same number, as
 *   Redis 7.2+ does over RESP2 (older servers write 17 digits: `0.1` where
 *   they sent `0.10000000000000001`).
 * - Every failure is a `Redis.RedisError` whose `cause` is this library's
 *   tagged error (`RedisReplyError`, `ConnectionError`, `PoolTimeoutError`,
 *   ...); a server's error reply stringifies to the server's text
 *   (`"NOSCRIPT No matching script..."`).
 * - `eval` runs `EVALSHA` with the script's SHA-1, computed once per script;
 *   when the server answers `NOSCRIPT` (a `SCRIPT FLUSH`, a restart, a new
 *   server) it runs `EVAL`, which loads the script again. No `SCRIPT LOAD`
 *   round trip, no error reaches the caller.
 * - `reserve` is an exclusive checkout from the same pool (its size limit
 *   holds for both). The connection goes back when the scope closes (a
 *   pending `WATCH` undone with `UNWATCH`), unless a command on it failed, was
 *   interrupted or is still running, or left other state behind (`MULTI`,
 *   `SELECT`, ...): then it is closed. Its commands are not retried. Closing the layer
 *   closes the connections still reserved, failing their commands. A
 *   connection used after its scope closed fails with `InvalidArgumentError`
 *   rather than reaching a connection someone else now holds.
 * - `subscribe` is served by the pool's single subscriber connection (one for
 *   every channel), renewed after a reconnect; the queue fails with a
 *   `RedisError` when the subscription is refused or lost for good. A slow
 *   consumer loses the oldest messages beyond the subscriber's `bufferSize`
 *   (or, with `overflow: "fail"`, gets a failure) instead of growing memory.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Conn from "./Conn.ts"
import { type ConnectionError, InvalidArgumentError, type RedisError, type RedisReplyError } from "./Errors.ts"
import { toNodeReply, toNodeScriptReply } from "./internal/persistenceReply.ts"
import { evalWithFallback, sha1 } from "./internal/script.ts"
import { commandName } from "./internal/commandTraits.ts"
import * as RedisPool from "./RedisPool.ts"
import type * as Resp from "./Resp.ts"

type Send = Redis.Redis["Service"]["send"]
type Eval = Redis.Redis["Service"]["eval"]

/** Our error as Effect's, with ours as its `cause`. */
const toRedisError = (cause: RedisError): Redis.RedisError => new Redis.RedisError({ cause })

const isNoScript = (error: RedisError): error is RedisReplyError =>
  error._tag === "RedisReplyError" && error.code === "NOSCRIPT"

const shas = new WeakMap<object, string>()

/** The script's SHA-1, computed once per script object (scripts are compared by identity, as in `Redis.make`). */
const shaOf = (script: Redis.Script<any>): string => {
  let sha = shas.get(script)
  if (sha === undefined) {
    sha = sha1(script.lua)
    shas.set(script, sha)
  }
  return sha
}

/** `eval` over a sender: EVALSHA, and EVAL (which loads the script) on NOSCRIPT. */
const makeEval = (send: (args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisError>): Eval =>
(script) =>
(...params) =>
  Effect.suspend(() =>
    evalWithFallback(send, script.lua, shaOf(script), [
      String(script.numberOfKeys(...params)),
      ...script.params(...params).map(String)
    ]).pipe(Effect.mapBoth({ onFailure: toRedisError, onSuccess: (reply) => toNodeScriptReply(reply) as any }))
  )

/** What a reserved connection may not run: pub/sub and MONITOR replies never answer a command. */
const refusedOnReserved = new Set(["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"])

/**
 * Builds the `Redis` service on the `RedisPool` in context. Connections
 * reserved when the scope closes are closed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Redis.Redis["Service"], never, RedisPool.RedisPool | Scope.Scope> = Effect.gen(
  function*() {
    const redis = yield* RedisPool.RedisPool

    const send: Send = <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
      Effect.mapBoth(redis.send(command, ...args), {
        onFailure: toRedisError,
        onSuccess: (reply) => toNodeReply(command, args, reply) as A
      })

    // Closing the layer closes the connections still reserved, failing what runs on them.
    const reserved = new Set<Conn.Conn>()
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const conns = [...reserved]
        reserved.clear()
        return Effect.forEach(conns, (conn) => conn.close, { discard: true })
      })
    )

    const reserveConnection = (connection: RedisPool.Connection, released: () => boolean): Redis.Connection => {
      const sendArgs = (args: ReadonlyArray<Resp.Arg>): Effect.Effect<Resp.Reply, RedisError> =>
        Effect.suspend(() => {
          if (released()) {
            return Effect.fail(
              new InvalidArgumentError({
                option: "reserve",
                message: "this reserved connection was released when its scope closed: reserve another one"
              })
            )
          }
          const name = commandName(args)
          if (refusedOnReserved.has(name)) {
            return Effect.fail(
              new InvalidArgumentError({
                option: "command",
                message: `${name} cannot run on a reserved connection: use subscribe`
              })
            )
          }
          return Effect.onExit(connection.send(String(args[0]), ...args.slice(1)), (exit) => {
            if (Exit.isFailure(exit)) {
              const error = Cause.findErrorOption(exit.cause)
              // A NOSCRIPT on EVALSHA is answered by `eval` with EVAL; the connection is in sync. Any other
              // failure (an error reply too, as node-redis's reserved connections do) closes it at release.
              if (!(error._tag === "Some" && name === "EVALSHA" && isNoScript(error.value))) return connection.discard
            }
            return Effect.void
          })
        })
      return {
        send: <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
          Effect.mapBoth(sendArgs([command, ...args]), {
            onFailure: toRedisError,
            onSuccess: (reply) => toNodeReply(command, args, reply) as A
          }),
        eval: makeEval(sendArgs)
      }
    }

    const reserve: Effect.Effect<Redis.Connection, Redis.RedisError, Scope.Scope> = Effect.uninterruptibleMask(
      (restore) =>
        Effect.gen(function*() {
          const connection = yield* Effect.mapError(restore(redis.reserve), toRedisError)
          let released = false
          reserved.add(connection.conn)
          // Runs first (added last): later commands on it are refused rather than reach a connection the
          // pool may have handed to someone else.
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              released = true
              reserved.delete(connection.conn)
            })
          )
          return reserveConnection(connection, () => released)
        })
    )

    const subscribe = (channel: string) =>
      Effect.gen(function*() {
        const source = yield* redis.subscriber.subscribeQueue(channel)
        const queue = yield* Queue.bounded<Redis.RedisMessage, Redis.RedisError>(64)
        yield* Effect.addFinalizer(() => Queue.shutdown(queue))
        yield* Effect.forkScoped(relay(source, queue))
        return Queue.asDequeue(queue)
      })

    return Redis.Redis.of({ send, eval: makeEval(([command, ...args]) => redis.send(String(command), ...args)), reserve, subscribe })
  }
)

/**
 * Moves messages from the subscriber's queue (bounded, its overflow policy
 * applies when this side is full) to the caller's, and its failure over as a
 * `Redis.RedisError`.
 */
const relay = (
  source: Queue.Dequeue<{ readonly channel: string; readonly message: string }, RedisError>,
  target: Queue.Queue<Redis.RedisMessage, Redis.RedisError>
): Effect.Effect<void> =>
  Effect.forever(Effect.flatMap(Queue.takeAll(source), (messages) => Queue.offerAll(target, messages))).pipe(
    Effect.catchCause((cause) => {
      const error = Cause.findErrorOption(cause)
      return error._tag === "Some"
        ? Queue.fail(target, toRedisError(error.value))
        : Queue.shutdown(target)
    }),
    Effect.asVoid
  )

/**
 * The `Redis` service of `effect/persistence/Redis` on the `RedisPool` in
 * context.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import * as RateLimiter from "effect/persistence/RateLimiter"
 * import { Persistence, RedisPool } from "effect-redis-pool"
 *
 * const limited = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.RateLimiter
 *   return yield* limiter.consume({ key: "api:alice", limit: 10, window: "1 minute", onExceeded: "fail" })
 * })
 *
 * const layers = RateLimiter.layer.pipe(
 *   Layer.provide(RateLimiter.layerStoreRedis()),
 *   Layer.provide(Persistence.layer),
 *   Layer.provide(RedisPool.layer({ url: "redis://localhost:6379" }))
 * )
 * const main = limited.pipe(Effect.provide(layers))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Redis.Redis, never, RedisPool.RedisPool> = Layer.effect(Redis.Redis, make)

/** A pool that cannot connect at startup fails the layer as `NodeRedis.layer` does: a `RedisError` carrying ours. */
const failedToConnect = (error: ConnectionError) => Layer.effect(RedisPool.RedisPool, Effect.fail(toRedisError(error)))

/**
 * A `RedisPool` built from `options` and the `Redis` service on it, both
 * provided: the one-line replacement for `NodeRedis.layer`. Like it, the layer
 * connects when it is built and fails with a `Redis.RedisError` (whose `cause`
 * is the `ConnectionError`) when it cannot, unless `lazyConnect: true`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithPool = (
  options: RedisPool.Options = {}
): Layer.Layer<Redis.Redis | RedisPool.RedisPool, InvalidArgumentError | Redis.RedisError> =>
  Layer.provideMerge(layer, Layer.catchTag(RedisPool.layer(options), "ConnectionError", failedToConnect))

/**
 * As {@link layerWithPool}, with the options from configuration (by default
 * `RedisPool.config()`: `REDIS_URL`, `REDIS_POOL_SIZE`, ...).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithPoolConfig = (
  options?: Config.Config<RedisPool.Options> | Config.Wrap<RedisPool.Options>
): Layer.Layer<Redis.Redis | RedisPool.RedisPool, InvalidArgumentError | Redis.RedisError | Config.ConfigError> =>
  Layer.provideMerge(layer, Layer.catchTag(RedisPool.layerConfig(options), "ConnectionError", failedToConnect))
