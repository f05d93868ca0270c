/**
 * The `RedisPool` service: what an Effect program talks to Redis through.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const redis = yield* RedisPool.RedisPool
 *   yield* redis.send("SET", "greeting", "hello")
 *   return yield* redis.send("GET", "greeting")
 * })
 * program.pipe(Effect.provide(RedisPool.layer({ url: "redis://localhost:6379" })))
 * ```
 *
 * ## Where a command runs
 *
 * Plain commands share pooled connections: many fibers pipeline on one socket
 * (see `Pool`'s shared checkout). Blocking commands (BLPOP, XREAD BLOCK,
 * WAIT, ...) go to an exclusive connection automatically, so they never delay
 * the commands of other fibers. Commands that change the state of their
 * connection (SELECT, WATCH, MULTI, SUBSCRIBE, CLIENT REPLY, ...) are refused
 * on the shared path with an `InvalidArgumentError` that names the API to
 * use instead: `multi`, `watch`, `withConnection` or pub/sub.
 *
 * ## Retries
 *
 * A failed command is retried (by default 3 times, with jittered exponential
 * backoff from `minRetryBackoff` to `maxRetryBackoff`, or under a
 * `retrySchedule` of your own) only when that is safe: when it was never
 * written, when the server refused to run it (`LOADING`, `TRYAGAIN`,
 * `MASTERDOWN`, `CLUSTERDOWN`, `READONLY`, `BUSY`, "max number of clients
 * reached"), or when it may have run but is idempotent (read-only commands,
 * `MSET`, plain `SET`, `EXPIREAT`, ...) and does not block. `INCR`, `RPUSH`,
 * `LPOP`, `EVAL`, `EXEC` and the like are never sent twice; neither are
 * commands on a connection of your own (`withConnection`, `watch`), and
 * neither are transactions.
 *
 * ## Transactions
 *
 * `multi` writes MULTI, the commands and EXEC in one go on an exclusive
 * connection. `watch(keys, f)` is optimistic locking: WATCH the keys, let `f`
 * read through the watched connection and return the commands to queue, then
 * MULTI/EXEC; a write by anyone else to a watched key in between makes EXEC
 * answer nil, which fails with `TransactionAbortedError`. A connection that
 * leaves a transaction or `withConnection` with state on it (interrupted,
 * WATCH or MULTI pending, SELECT, CLIENT REPLY, ...) is closed rather than
 * returned to the pool.
 *
 * ## Observability
 *
 * One span per command, named after it (`GET`), kind client, with
 * `db.system.name` redis, `db.operation.name`, `db.namespace`,
 * `server.address` and `server.port`; argument values only with
 * `traceArguments`. Spans are made only when a tracer that exports them is
 * installed (not with Effect's built-in native tracer, nor under
 * `Effect.withTracerEnabled(false)`), so untraced programs pay nothing for
 * them. Metrics: `db.client.operation.duration` (seconds, by operation) and
 * `db.client.operation.errors` (by operation and `error.type`, the error's
 * tag), plus the pool's `db.client.connection.*` metrics. Nothing is logged.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as CommandModule from "./Command.ts"
import type * as Commands from "./Commands.ts"
import * as Conn from "./Conn.ts"
import { ConnectionError, type InvalidArgumentError, type RedisError, type RedisReplyError, type ReplyTypeError } from "./Errors.ts"
import { type DurationKind, durationForms, parseDurationText } from "./internal/duration.ts"
import { serviceSpecs, type Spec } from "./internal/options.ts"
import { makeStandalone } from "./internal/redisPoolMake.ts"
import { resolve } from "./internal/redisPoolOptions.ts"
import * as Pool from "./Pool.ts"
import * as PubSub from "./PubSub.ts"
import type * as Resp from "./Resp.ts"

// -----------------------------------------------------------------------------
// options

/**
 * Options of {@link make} and {@link layer}: every connection option
 * (`Conn.ConnOptions`) and pool option (`Pool.PoolOptions`), with go-redis's
 * names (camelCase) and defaults, and the service's own: a URL, retries,
 * pub/sub and instrumentation. A `url` (`redis://`, `rediss://`, `unix://`
 * with go-redis's query parameters) supplies defaults that the explicit
 * options override. Durations accept any `Duration.Input` (a number is
 * milliseconds). Where the service's default differs from the pool's, the
 * option's line says so (`poolTimeout`, `maxInFlight`, `sharedGrowAt`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options
  extends Omit<Conn.ConnOptions, "password" | "onPush" | "unblock">, Omit<Pool.PoolOptions<Conn.Conn>, "dial">
{
  /**
   * `redis://[user[:password]@]host[:port][/db][?pool_size=..&dial_timeout=..]`, `rediss://` (TLS) or
   * `unix:///path`; `Redacted` when it carries a password.
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** Password; never logged, never in errors or spans. (go-redis `Password`) */
  readonly password?: Redacted.Redacted<string> | string | undefined

  /** The subscriber connection's buffer, overflow, reconnect and ping options (see `PubSub.SubscriberOptions`). */
  readonly pubsub?: Omit<PubSub.SubscriberOptions, "connect"> | undefined

  /** Retries of a failed command when safe; 0 (or -1, as in go-redis) disables them. Default 3. (go-redis `MaxRetries`) */
  readonly maxRetries?: number | undefined
  /** Backoff before the first retry (doubling, full jitter). Default 8 ms. (go-redis `MinRetryBackoff`) */
  readonly minRetryBackoff?: Duration.Input | undefined
  /** Largest backoff. Default 512 ms. (go-redis `MaxRetryBackoff`) */
  readonly maxRetryBackoff?: Duration.Input | undefined
  /** A retry policy replacing the three above; it still applies only to failures that are safe to retry. */
  readonly retrySchedule?: Schedule.Schedule<unknown, RedisError> | undefined

  /** One span per command when a tracer is installed. Default true. */
  readonly tracing?: boolean | undefined
  /** Command arguments in spans as `db.query.text` (values may be sensitive). Default false. */
  readonly traceArguments?: boolean | undefined
  /** Command duration and error metrics. Default true. */
  readonly metrics?: boolean | undefined

  /**
   * Build the service without connecting: the first command dials. Default false: building the service (its
   * layer) dials and handshakes one connection, or `minIdleConns` of them, and fails with the `ConnectionError`
   * when that fails, so a misconfigured app fails at startup.
   */
  readonly lazyConnect?: boolean | undefined
}

// -----------------------------------------------------------------------------
// commands

/**
 * A typed command (see `Commands`): its arguments and how to decode its reply.
 *
 * @since 0.1.0
 * @category models
 */
export type Command<A> = CommandModule.Command<A>

/**
 * An item of a pipeline or transaction: a typed {@link Command} or raw
 * arguments (`["GET", "k"]`).
 *
 * @since 0.1.0
 * @category models
 */
export type BatchItem = Command<any> | ReadonlyArray<Resp.Arg>

/**
 * The result of one item of a batch: its decoded value, or the error reply
 * (or decode failure) it got, as a value.
 *
 * @since 0.1.0
 * @category models
 */
export type BatchResult<T> = T extends Command<infer A> ? A | RedisReplyError | ReplyTypeError
  : Resp.Reply

/**
 * The results of a batch, position by position.
 *
 * @since 0.1.0
 * @category models
 */
export type BatchResults<T extends ReadonlyArray<BatchItem>> = { -readonly [K in keyof T]: BatchResult<T[K]> }

/**
 * What can run commands: the service, and a connection of your own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Executor {
  /** One raw command; an error reply fails with `RedisReplyError`. */
  readonly send: (command: string, ...args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisError>
  /** One typed command. */
  readonly run: <A>(command: Command<A>) => Effect.Effect<A, RedisError>
  /**
   * Commands written in one go on one connection; error replies and decode
   * failures are values in the result, a connection failure fails the batch.
   */
  readonly pipeline: <const T extends ReadonlyArray<BatchItem>>(
    commands: T
  ) => Effect.Effect<BatchResults<T>, RedisError>
  /**
   * Runs `script` with EVALSHA, and with EVAL (which loads it) when the server
   * answers NOSCRIPT.
   */
  readonly evalScript: (
    script: string | CommandModule.Script,
    keys?: ReadonlyArray<Resp.Arg>,
    args?: ReadonlyArray<Resp.Arg>
  ) => Effect.Effect<Resp.Reply, RedisError>
}

/** A command constructor (up to three overloads) as a method running the command. */
type Lift<F> = F extends {
  // `extends ReadonlyArray` so that variadic constructors (`del(...keys: ReadonlyArray<string>)`) match too.
  (...args: infer A1 extends ReadonlyArray<unknown>): CommandModule.Command<infer R1>
  (...args: infer A2 extends ReadonlyArray<unknown>): CommandModule.Command<infer R2>
  (...args: infer A3 extends ReadonlyArray<unknown>): CommandModule.Command<infer R3>
} ? {
    (...args: A1): Effect.Effect<R1, RedisError>
    (...args: A2): Effect.Effect<R2, RedisError>
    (...args: A3): Effect.Effect<R3, RedisError>
  }
  : never

/** A `...Stream(execute, ...rest)` helper as a method taking `...rest`. */
type LiftStream<F> = F extends (execute: any, ...rest: infer P extends ReadonlyArray<unknown>) => Stream.Stream<infer A, any, any>
  ? (...rest: P) => Stream.Stream<A, RedisError>
  : never

type Module = typeof Commands

// `Executor`'s own methods (`evalScript`: EVALSHA with EVAL as fallback) replace the constructors of the same name.
type CommandKey = {
  [K in keyof Module]: K extends keyof Executor | `${string}Stream` ? never
    : Module[K] extends (...args: ReadonlyArray<any>) => CommandModule.Command<any> ? K
    : never
}[keyof Module]

type StreamKey = { [K in keyof Module]: K extends `${string}Stream` ? K : never }[keyof Module]

/**
 * Every typed command of the `Commands` module as a method that runs it:
 * `redis.get(key)`, `redis.set(key, value, { expire: "10 seconds" })`,
 * `redis.hgetall(key)`, and the SCAN families as streams
 * (`redis.scanStream({ match: "user:*" })`). Derived from `Commands`, so the
 * arguments and results are exactly those of its constructors.
 *
 * @since 0.1.0
 * @category models
 */
export type CommandMethods =
  & { readonly [K in CommandKey]: Lift<Module[K]> }
  & { readonly [K in StreamKey]: LiftStream<Module[K]> }



/**
 * A connection of your own, inside `withConnection`, `watch` or `reserve`.
 * Every command is allowed; nothing is retried. When the block (or the scope)
 * ends it goes back to the pool only if it carries nothing: a pending WATCH is
 * undone with UNWATCH; a MULTI, a SELECT or another state change, a command
 * still running or an interruption closes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection extends Executor, CommandMethods {
  readonly conn: Conn.Conn
  /** Closes the connection when the block ends instead of returning it (you know it carries something). */
  readonly discard: Effect.Effect<void>
}

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Executor, CommandMethods {
  /** MULTI, the commands and EXEC on an exclusive connection; never retried. EXEC nil → `TransactionAbortedError`. */
  readonly multi: <const T extends ReadonlyArray<BatchItem>>(
    commands: T
  ) => Effect.Effect<BatchResults<T>, RedisError>
  /**
   * Optimistic locking: WATCH `keys` on an exclusive connection, run `f` with
   * it (read with it, decide), then MULTI/the commands `f` returned/EXEC.
   * A change to a watched key by anyone else in between fails with
   * `TransactionAbortedError`; nothing is retried (retry the whole `watch`
   * yourself, e.g. `Effect.retry({ while: (e) => e._tag === "TransactionAbortedError" })`).
   */
  readonly watch: <const T extends ReadonlyArray<BatchItem>, E, R>(
    keys: ReadonlyArray<Resp.Arg>,
    f: (tx: Connection) => Effect.Effect<T, E, R>
  ) => Effect.Effect<BatchResults<T>, E | RedisError, R>
  /**
   * An exclusive connection for as long as the current scope lasts (Effect's
   * `Redis.reserve`), returned or closed when the scope closes by the same rule
   * as `withConnection`'s.
   */
  readonly reserve: Effect.Effect<Connection, RedisError, Scope.Scope>
  /** Runs `f` with an exclusive connection, returned (or closed, if it carries state) afterwards. */
  readonly withConnection: <A, E, R>(
    f: (connection: Connection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RedisError, R>
  /**
   * Messages of `channels` as a `Stream` of `PubSub.PubSubEvent`s (`Subscribed`,
   * `Message`, `Resubscribed` after a reconnect, `Dropped` when the consumer
   * fell behind), subscribed while the stream runs. One dedicated connection,
   * outside the pool, serves every subscription of the service; it is opened on
   * the first subscription. `PubSub.messages` keeps only the messages.
   */
  readonly subscribe: (...channels: ReadonlyArray<string>) => Stream.Stream<PubSub.PubSubEvent, RedisError>
  /** As `subscribe`, for glob patterns (PSUBSCRIBE). */
  readonly psubscribe: (...patterns: ReadonlyArray<string>) => Stream.Stream<PubSub.PubSubEvent, RedisError>
  /** As `subscribe`, for shard channels (SSUBSCRIBE, Redis 7+). */
  readonly ssubscribe: (...channels: ReadonlyArray<string>) => Stream.Stream<PubSub.PubSubEvent, RedisError>
  /** The subscriber shared by `subscribe`, `psubscribe` and `ssubscribe` (and its `subscribeQueue` and `stats`). */
  readonly subscriber: PubSub.Subscriber
  /** The pool's counters (for a service over many servers, summed over their pools). */
  readonly stats: Effect.Effect<Pool.PoolStats>
}

/**
 * The service on one server (what {@link make} builds), with the pool it runs
 * on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Standalone extends Service {
  /** The underlying pool. */
  readonly pool: Pool.Pool<Conn.Conn>
}

/**
 * The service key.
 *
 * @since 0.1.0
 * @category services
 */
export class RedisPool extends Context.Service<RedisPool, Service>()("effect-redis-pool/RedisPool") {}

/**
 * Builds the service on a pool made in the current scope; closing the scope
 * closes the pool. It connects before it returns: one connection (or
 * `minIdleConns` of them) is dialed and handshaked, and a server that cannot be
 * reached, refuses the password or does not answer within `poolTimeout` fails
 * `make` with a `ConnectionError` (`lazyConnect: true` skips this, and the first
 * command dials). Invalid options fail with `InvalidArgumentError` naming the
 * option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisPool } from "effect-redis-pool"
 *
 * // A transfer that retries itself when someone else changed a balance in between.
 * const transfer = (from: string, to: string, amount: number) =>
 *   Effect.scoped(Effect.gen(function*() {
 *     const redis = yield* RedisPool.make({ url: "redis://localhost:6379" })
 *     return yield* redis.watch([from, to], (tx) =>
 *       Effect.gen(function*() {
 *         const balance = Number((yield* tx.get(from)) ?? 0)
 *         if (balance < amount) return []
 *         return [["DECRBY", from, amount], ["INCRBY", to, amount]] as const
 *       })).pipe(Effect.retry({ while: (e) => e._tag === "TransactionAbortedError", times: 10 }))
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Standalone, InvalidArgumentError | ConnectionError, Scope.Scope> =>
  Effect.flatMap(resolve(options), (resolved) => makeStandalone(options, resolved, Conn.make))

/**
 * A layer providing {@link RedisPool}; the pool closes with the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisPool } from "effect-redis-pool"
 *
 * const visit = Effect.gen(function*() {
 *   const redis = yield* RedisPool.RedisPool
 *   const visits: number = yield* redis.incr("visits")
 *   const greeting: string | null = yield* redis.get("greeting")
 *   return { visits, greeting }
 * })
 *
 * const main = visit.pipe(
 *   Effect.catchTags({
 *     PoolTimeoutError: (e) => Effect.succeed({ visits: 0, greeting: `busy: ${e.message}` }),
 *     CircuitOpenError: (e) => Effect.succeed({ visits: 0, greeting: `down since ${e.since}` })
 *   }),
 *   Effect.provide(RedisPool.layer({ url: "redis://localhost:6379/0?pool_size=20", readTimeout: "1 second" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<RedisPool, InvalidArgumentError | ConnectionError> =>
  Layer.effect(RedisPool, make(options))

// -----------------------------------------------------------------------------
// config

/** A duration in configuration, read by the same rule as a URL parameter (see `internal/duration.ts`). */
const durationConfig = (name: string, kind: DurationKind): Config.Config<Duration.Duration> =>
  Config.schema(
    Schema.String.pipe(Schema.decodeTo(
      Schema.Duration,
      SchemaTransformation.transformEffect({
        decode: (text: string) => {
          const duration = parseDurationText(text, kind)
          return duration === undefined
            ? Effect.fail(new SchemaIssue.InvalidValue({ message: `expected ${durationForms}, got "${text}"` }))
            : Effect.succeed(duration)
        },
        encode: (duration: Duration.Duration) =>
          Effect.succeed(Duration.isFinite(duration) ? `${Duration.toMillis(duration)}ms` : "Infinity")
      })
    )),
    name
  )

/** How configuration text reads into an option of this kind, if it can. */
const configReader = (spec: Spec): ((name: string) => Config.Config<unknown>) | undefined => {
  switch (spec.kind) {
    case "duration":
      return (name) => durationConfig(name, spec.text ?? "limit")
    case "integer":
      return Config.Int
    case "string":
      return Config.String
    case "boolean":
    case "tls":
      return Config.Boolean
    case "secret":
      return Config.Redacted
    case "protocol":
      return (name) => Config.Literals([2, 3, "2", "3"], name)
    case "function":
    case "schedule":
    case "object":
      return undefined
  }
}

/** `poolSize` → `POOL_SIZE`. */
const constantCase = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

/**
 * The options read from configuration, every key optional: `URL`, then each
 * option under its name in CONSTANT_CASE (`POOL_SIZE`, `READ_TIMEOUT`,
 * `MAX_RETRIES`, ...), `PASSWORD` as `Redacted`, `PROTOCOL` 2 or 3, durations
 * as Effect duration strings (`"500 millis"`, `"3 seconds"`), booleans as
 * `true`/`false`. Under `prefix` (default `"REDIS"`), so from the environment
 * these are `REDIS_URL`, `REDIS_POOL_SIZE`, `REDIS_PASSWORD`, ...; an empty
 * prefix reads the bare names.
 *
 * @since 0.1.0
 * @category config
 */
export const config = (prefix = "REDIS"): Config.Config<Options> => {
  const fields: Record<string, Config.Config<unknown>> = {}
  const optional = <A>(key: string, make: (name: string) => Config.Config<A>) => {
    fields[key] = Config.option(make(constantCase(key))).pipe(
      Config.map((value) => value._tag === "Some" ? value.value : undefined)
    )
  }
  for (const key in serviceSpecs) {
    const read = configReader(serviceSpecs[key as keyof Options])
    // functions, schedules and objects are given in code only
    if (read !== undefined) optional(key, read)
  }
  const all = Config.all(fields).pipe(
    Config.map((values) => {
      const out: Record<string, unknown> = {}
      for (const key in values) if (values[key] !== undefined) out[key] = values[key]
      if (out.protocol !== undefined) out.protocol = Number(out.protocol)
      return out as Options
    })
  )
  return prefix === "" ? all : Config.nested(all, prefix)
}

/**
 * A layer whose options come from configuration: by default {@link config}
 * (`REDIS_URL`, `REDIS_POOL_SIZE`, `REDIS_PASSWORD`, ... from the environment
 * with `ConfigProvider.fromEnv`), or any `Config` of options, or a record of
 * `Config`s per option (`{ url: Config.String("CACHE_URL") }`).
 *
 * @example
 * ```ts
 * import { Config, ConfigProvider, Effect, Layer } from "effect"
 * import { RedisPool } from "effect-redis-pool"
 *
 * // REDIS_URL, REDIS_POOL_SIZE, REDIS_READ_TIMEOUT ("500ms", "3s", "3" or "500 millis"), REDIS_PASSWORD, ...
 * const fromEnv = RedisPool.layerConfig()
 *
 * // any Config per option
 * const cache = RedisPool.layerConfig({
 *   url: Config.Redacted("CACHE_URL").pipe(Config.map((url) => String(url))),
 *   poolSize: Config.Int("CACHE_POOL_SIZE")
 * })
 *
 * // a provider of your own, here a fixed record
 * const fixed = fromEnv.pipe(
 *   Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { REDIS_URL: "redis://cache:6379/1" } })))
 * )
 * const layers = [fromEnv, cache, fixed]
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> | Config.Wrap<Options> = config()
): Layer.Layer<RedisPool, InvalidArgumentError | ConnectionError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(Config.unwrap(options as Config.Wrap<Options>), (resolved: Options) => layer(resolved))
  )
