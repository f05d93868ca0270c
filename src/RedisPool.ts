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
import type * as tls from "node:tls"
import type * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as CommandModule from "./Command.ts"
import * as Commands from "./Commands.ts"
import * as Conn from "./Conn.ts"
import {
  InvalidArgumentError,
  type RedisError,
  RedisReplyError,
  ReplyTypeError,
  TransactionAbortedError
} from "./Errors.ts"
import { commandName, isBlocking, statefulAdvice } from "./internal/commandTraits.ts"
import * as Exclusive from "./internal/exclusive.ts"
import { type DurationKind, durationForms, parseDurationText } from "./internal/duration.ts"
import { Observer } from "./internal/redisPoolObserve.ts"
import { resolve } from "./internal/redisPoolOptions.ts"
import { evalWithFallback, sha1 } from "./internal/script.ts"
import { isRetryable, retryAfter } from "./internal/redisPoolRetry.ts"
import * as Pool from "./Pool.ts"
import * as PubSub from "./PubSub.ts"
import type * as Resp from "./Resp.ts"

// -----------------------------------------------------------------------------
// options

/**
 * Options of {@link make} and {@link layer}: every connection and pool option
 * with go-redis's names (camelCase) and defaults. A `url` (`redis://`,
 * `rediss://`, `unix://` with go-redis's query parameters) supplies defaults
 * that the explicit options override. Durations accept any `Duration.Input`
 * (a number is milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user[:password]@]host[:port][/db][?pool_size=..&dial_timeout=..]`, `rediss://` (TLS) or `unix:///path`. */
  readonly url?: string | undefined

  // connection
  /** Host. Default `"127.0.0.1"`. (go-redis `Addr`) */
  readonly host?: string | undefined
  /** Port. Default 6379. (go-redis `Addr`) */
  readonly port?: number | undefined
  /** Unix socket path; overrides host and port. (go-redis `Network: "unix"`) */
  readonly path?: string | undefined
  /** TLS: `true` or Node's `tls.connect` options. (go-redis `TLSConfig`) */
  readonly tls?: boolean | tls.ConnectionOptions | undefined
  /** Dial plus handshake bound. Default 5 s. (go-redis `DialTimeout`) */
  readonly dialTimeout?: Duration.Input | undefined
  /** Reply deadline. Default 3 s; zero disables it. (go-redis `ReadTimeout`) */
  readonly readTimeout?: Duration.Input | undefined
  /** Bound on waiting to be written. Default `readTimeout`. (go-redis `WriteTimeout`) */
  readonly writeTimeout?: Duration.Input | undefined
  /** How long late replies may take before their connection is closed (after a timeout, or on return to the pool). Default: `readTimeout` for a timed-out reply, 1 s on return. */
  readonly drainTimeout?: Duration.Input | undefined
  /** Commands in flight per connection. Default 1000. */
  readonly maxPending?: number | undefined
  /** ACL user. (go-redis `Username`) */
  readonly username?: string | undefined
  /** Password; never logged, never in errors or spans. (go-redis `Password`) */
  readonly password?: Redacted.Redacted<string> | string | undefined
  /** Database. Default 0. (go-redis `DB`) */
  readonly db?: number | undefined
  /** RESP version. Default 3, falling back to 2. (go-redis `Protocol`) */
  readonly protocol?: 2 | 3 | undefined
  /** `CLIENT SETNAME`. (go-redis `ClientName`) */
  readonly clientName?: string | undefined
  /** `CLIENT SETINFO LIB-NAME`; `""` skips SETINFO. Default "effect-redis-pool". */
  readonly libName?: string | undefined
  /** `CLIENT SETINFO LIB-VER`. Default this library's version. */
  readonly libVer?: string | undefined
  /** Runs on each new connection after the handshake. (go-redis `OnConnect`) */
  readonly onConnect?: ((conn: Conn.Conn) => Effect.Effect<void, unknown>) | undefined
  /** Strings as `Uint8Array` in replies. Default false. */
  readonly bytes?: boolean | undefined
  /** Decoder limits (see `Resp.Decoder`). */
  readonly maxBulkLength?: number | undefined
  readonly maxAggregateLength?: number | undefined
  readonly maxDepth?: number | undefined

  // pool
  /** Connections at most, in all modes. Default 10 × CPUs. (go-redis `PoolSize`) */
  readonly poolSize?: number | undefined
  /** One deadline for a turn, the dial and the handshake. Default readTimeout + 1 s. (go-redis `PoolTimeout`) */
  readonly poolTimeout?: Duration.Input | undefined
  /** Idle connections kept ready. Default 0. (go-redis `MinIdleConns`) */
  readonly minIdleConns?: number | undefined
  /** Idle connections kept at most. Default 0 = unlimited. (go-redis `MaxIdleConns`) */
  readonly maxIdleConns?: number | undefined
  /** Open connections at most; beyond it a dial fails with `PoolExhaustedError`. Default 0 = unlimited. (go-redis `MaxActiveConns`) */
  readonly maxActiveConns?: number | undefined
  /** Idle time before a connection is closed. Default 30 min. (go-redis `ConnMaxIdleTime`) */
  readonly connMaxIdleTime?: Duration.Input | undefined
  /** Age at which a connection is closed. Default 0 = none. (go-redis `ConnMaxLifetime`) */
  readonly connMaxLifetime?: Duration.Input | undefined
  /** ± jitter on `connMaxLifetime`. Default 0. (go-redis `ConnMaxLifetimeJitter`) */
  readonly connMaxLifetimeJitter?: Duration.Input | undefined
  /** FIFO idle list. Default false (LIFO). (go-redis `PoolFIFO`) */
  readonly poolFifo?: boolean | undefined
  /** Consecutive dial failures that open the dial breaker. Default `poolSize`. */
  readonly breakerThreshold?: number | undefined
  /** Breaker probe backoff bounds. Default 100 ms .. 10 s. */
  readonly probeBackoffMin?: Duration.Input | undefined
  readonly probeBackoffMax?: Duration.Input | undefined
  /** Reaper period. Default 1 s. */
  readonly reaperFrequency?: Duration.Input | undefined
  /** Dials at once when refilling `minIdleConns`. Default min(poolSize, 4). (go-redis `MaxConcurrentDials`) */
  readonly maxConcurrentDials?: number | undefined
  /** How long closing waits for checked-out connections. Default 5 s. */
  readonly closeTimeout?: Duration.Input | undefined
  /** Callers at once on one shared connection. Default `maxPending` (1000). */
  readonly maxInFlight?: number | undefined
  /** Callers per shared connection at which the shared set grows. Default `maxInFlight` (grow only when full). */
  readonly sharedGrowAt?: number | undefined
  /** Unused shared connections go back to the idle list after this. Default 5 s. */
  readonly sharedIdleTime?: Duration.Input | undefined
  /** `db.client.connection.pool.name` on metrics. Default "default". */
  readonly name?: string | undefined

  // pub/sub
  /** The subscriber connection's buffer, overflow, reconnect and ping options (see `PubSub.SubscriberOptions`). */
  readonly pubsub?: Omit<PubSub.SubscriberOptions, "connect"> | undefined

  // retries
  /** Retries of a failed command when safe; 0 (or -1, as in go-redis) disables them. Default 3. (go-redis `MaxRetries`) */
  readonly maxRetries?: number | undefined
  /** Backoff before the first retry (doubling, full jitter). Default 8 ms. (go-redis `MinRetryBackoff`) */
  readonly minRetryBackoff?: Duration.Input | undefined
  /** Largest backoff. Default 512 ms. (go-redis `MaxRetryBackoff`) */
  readonly maxRetryBackoff?: Duration.Input | undefined
  /** A retry policy replacing the three above; it still applies only to failures that are safe to retry. */
  readonly retrySchedule?: Schedule.Schedule<unknown, RedisError> | undefined

  // observability
  /** One span per command when a tracer is installed. Default true. */
  readonly tracing?: boolean | undefined
  /** Command arguments in spans as `db.query.text` (values may be sensitive). Default false. */
  readonly traceArguments?: boolean | undefined
  /** Command duration and error metrics. Default true. */
  readonly metrics?: boolean | undefined
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


const commandMethods = (run: <A>(command: Command<A>) => Effect.Effect<A, RedisError>): CommandMethods => {
  const methods: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(Commands)) {
    if (typeof value !== "function") continue
    const constructor = value as (...args: Array<unknown>) => never
    methods[name] = name.endsWith("Stream")
      ? (...rest: Array<unknown>) => constructor(run, ...rest)
      : (...args: Array<unknown>) => run(constructor(...args))
  }
  return methods as CommandMethods
}

/**
 * A connection of your own, inside `withConnection` or `watch`. Every command
 * is allowed; nothing is retried. State left on it (a WATCH, a MULTI, a
 * SELECT, ...) is cleaned up or the connection closed when the block ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection extends Executor, CommandMethods {
  readonly conn: Conn.Conn
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
  /** The pool's counters. */
  readonly stats: Effect.Effect<Pool.PoolStats>
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

// -----------------------------------------------------------------------------
// implementation

const isCommand = (item: BatchItem): item is Command<any> => !Array.isArray(item) && "args" in item

const argsOf = (item: BatchItem): ReadonlyArray<Resp.Arg> => isCommand(item) ? item.args : item

const describe = (reply: Resp.Reply): string =>
  reply === null
    ? "nil"
    : Array.isArray(reply)
    ? "array"
    : reply instanceof Map
    ? "map"
    : reply instanceof Set
    ? "set"
    : reply instanceof Uint8Array
    ? "bytes"
    : typeof reply

const decodeWith = <A>(name: string, decode: (reply: Resp.Reply) => A, reply: Resp.Reply): A | ReplyTypeError => {
  try {
    return decode(reply)
  } catch (error) {
    if (error instanceof ReplyTypeError) return error
    if (error instanceof RedisReplyError) return error as never
    return new ReplyTypeError({
      command: name,
      expected: "a decodable reply",
      received: describe(reply),
      message: `${name}: could not decode the reply: ${error instanceof Error ? error.message : String(error)}`
    })
  }
}

const decodeReply = <A>(name: string, command: Command<A>, reply: Resp.Reply): Effect.Effect<A, RedisError> => {
  const value = decodeWith(name, command.decode, reply)
  return value instanceof ReplyTypeError || value instanceof RedisReplyError
    ? Effect.fail(value)
    : Effect.succeed(value as A)
}

const decodeEffect = <A>(name: string, command: Command<A>) => (reply: Resp.Reply): Effect.Effect<A, RedisError> =>
  decodeReply(name, command, reply)

const batchResults = <T extends ReadonlyArray<BatchItem>>(
  items: T,
  replies: ReadonlyArray<Resp.Reply>
): BatchResults<T> => {
  const out: Array<unknown> = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const reply = replies[i] ?? null
    out[i] = !isCommand(item) || reply instanceof RedisReplyError
      ? reply
      : decodeWith(commandName(item.args), item.decode, reply)
  }
  return out as BatchResults<T>
}

const checkItems = (items: ReadonlyArray<BatchItem>, shared: boolean): InvalidArgumentError | undefined => {
  if (!Array.isArray(items)) return new InvalidArgumentError({ message: "a batch must be an array of commands" })
  for (const item of items) {
    if (isCommand(item) && item.invalid !== undefined) return item.invalid
    const args = argsOf(item)
    if (!Array.isArray(args) || args.length === 0) {
      return new InvalidArgumentError({ message: "each command of a batch needs at least its name" })
    }
    if (shared) {
      const failure = refusal(commandName(args), args)
      if (failure !== undefined) return failure
    }
  }
  return undefined
}

const refusal = (name: string, args: ReadonlyArray<Resp.Arg>): InvalidArgumentError | undefined => {
  const advice = statefulAdvice(name, args)
  return advice === undefined ? undefined : new InvalidArgumentError({
    option: "command",
    message: `${name} changes the state of its connection and cannot run on a shared connection: ${advice}`
  })
}

const transactionResults = <T extends ReadonlyArray<BatchItem>>(
  items: T,
  replies: ReadonlyArray<Resp.Reply>
): Effect.Effect<BatchResults<T>, RedisError> => {
  // replies: MULTI's OK, one QUEUED (or error) per command, then EXEC's reply.
  const multi = replies[0] ?? null
  if (multi instanceof RedisReplyError) return Effect.fail(multi)
  const exec = replies[items.length + 1] ?? null
  if (exec === null) {
    return Effect.fail(
      new TransactionAbortedError({ message: "EXEC answered nil: a watched key changed; nothing ran" })
    )
  }
  if (exec instanceof RedisReplyError) {
    for (let i = 0; i < items.length; i++) {
      const queued = replies[i + 1]
      if (queued instanceof RedisReplyError) {
        return Effect.fail(
          new RedisReplyError({
            code: exec.code,
            message: `${exec.message} (command ${i + 1}, ${commandName(argsOf(items[i]!))}: ${queued.message})`
          })
        )
      }
    }
    return Effect.fail(exec)
  }
  if (!Array.isArray(exec)) {
    return Effect.fail(
      new ReplyTypeError({
        command: "EXEC",
        expected: "array",
        received: describe(exec),
        message: `EXEC: expected an array, got ${describe(exec)}`
      })
    )
  }
  return Effect.succeed(batchResults(items, exec as ReadonlyArray<Resp.Reply>))
}

const failureOf = <E>(cause: Cause.Cause<E>): E | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Interrupt") return undefined
  }
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") return reason.error
  }
  return undefined
}

/**
 * Builds the service on a pool made in the current scope; closing the scope
 * closes the pool. Connections are dialed on demand (and `minIdleConns` in
 * the background), so an unreachable server fails the first command, not
 * `make`. Invalid options fail with `InvalidArgumentError` naming the option.
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
export const make = (options: Options = {}): Effect.Effect<Service, InvalidArgumentError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const pool = yield* Pool.make<Conn.Conn>({ ...resolved.pool, dial: Conn.make(resolved.conn) })
    const subscriber = yield* PubSub.make({ ...options.pubsub, connect: Conn.make(resolved.conn) })
    const observer = new Observer({
      tracing: resolved.tracing,
      traceArguments: resolved.traceArguments,
      metrics: resolved.metrics,
      serverAddress: resolved.serverAddress,
      serverPort: resolved.serverPort,
      db: resolved.db,
      poolName: resolved.pool.name ?? "default"
    }, yield* Effect.context<never>())
    yield* Effect.addFinalizer(() => Effect.sync(() => observer.close()))
    const schedule = resolved.retrySchedule
    const retries = resolved.maxRetries > 0 || options.retrySchedule !== undefined

    const withRetry = <A>(
      attempt: Effect.Effect<A, RedisError>,
      retryable: (error: RedisError) => boolean
    ): Effect.Effect<A, RedisError> =>
      retries
        ? Effect.catchCause(attempt, (cause) => {
          // One frame and no filter on the success path; only a typed failure (not a defect or an
          // interruption) is considered for a retry.
          const error = failureOf(cause)
          return error !== undefined && retryable(error)
            ? retryAfter(attempt, error, schedule, retryable)
            : Effect.failCause(cause)
        })
        : attempt

    const metrics = resolved.metrics

    /**
     * The shared path: pipelined unless blocking, retried when safe, observed, and the reply
     * decoded by `command` when given. Without a span, metrics, retries and decoding share one
     * match frame, so a command that succeeds at once pays one frame and one `Exit` above the
     * pool's (measured: +7 to +21 % ops/s at 50 and 500 fibers, `npm run bench clients`).
     */
    const exec = <A = Resp.Reply>(
      args: ReadonlyArray<Resp.Arg>,
      command?: Command<A>
    ): Effect.Effect<A, RedisError> => {
      const name = commandName(args)
      const refused = refusal(name, args)
      if (refused !== undefined) return Effect.fail(refused)
      const blocking = isBlocking(args)
      return Effect.withFiber((fiber) => {
        // Per run (an Effect may run many times at once): whether the attempt got a connection; a
        // failure before that (a dial, its handshake) never wrote the command.
        let sent = false
        const body = (conn: Conn.Conn) => {
          sent = true
          return conn.send(args)
        }
        const once: Effect.Effect<Resp.Reply, RedisError> = blocking ? pool.withConn(body) : pool.withShared(body)
        const retryable = (error: RedisError) => {
          const result = isRetryable(error, name, args, blocking, sent)
          sent = false
          return result
        }
        if (observer.spans(fiber)) {
          // The span covers the retries; decoding follows it.
          const observed = observer.observe(name, args, () => withRetry(once, retryable))
          return command === undefined
            ? observed as Effect.Effect<A, RedisError>
            : Effect.flatMap(observed, decodeEffect(name, command))
        }
        const operation = metrics ? observer.operation(name) : ""
        const start = metrics ? performance.now() : 0
        return Effect.matchCauseEffect(once, {
          onSuccess: (reply): Effect.Effect<A, RedisError> => {
            if (metrics) observer.record(operation, start, undefined)
            return command === undefined ? Effect.succeed(reply as A) : decodeReply(name, command, reply)
          },
          onFailure: (cause): Effect.Effect<A, RedisError> => {
            // Only a typed failure (not a defect or an interruption) is considered for a retry.
            const error = retries ? failureOf(cause) : undefined
            if (error === undefined || !retryable(error)) {
              if (metrics) observer.record(operation, start, cause)
              return Effect.failCause(cause)
            }
            let retried = retryAfter(once, error, schedule, retryable)
            if (metrics) {
              retried = Effect.onExitPrimitive(retried, (exit) => {
                observer.record(operation, start, exit._tag === "Failure" ? exit.cause : undefined)
                return undefined
              }, true)
            }
            return command === undefined
              ? retried as Effect.Effect<A, RedisError>
              : Effect.flatMap(retried, decodeEffect(name, command))
          }
        })
      })
    }

    const send = (command: string, ...args: ReadonlyArray<Resp.Arg>) => exec([command, ...args])

    const run = <A>(command: Command<A>): Effect.Effect<A, RedisError> => {
      if (command.invalid !== undefined) return Effect.fail(command.invalid)
      return exec(command.args, command)
    }

    const pipeline = <const T extends ReadonlyArray<BatchItem>>(
      items: T
    ): Effect.Effect<BatchResults<T>, RedisError> => {
      const invalid = checkItems(items, true)
      if (invalid !== undefined) return Effect.fail(invalid)
      const batch = items.map(argsOf)
      const blocking = batch.some(isBlocking)
      const attempt = () => {
        let sent = false
        const body = (conn: Conn.Conn) => {
          sent = true
          return conn.sendBatch(batch)
        }
        const once: Effect.Effect<Array<Resp.Reply>, RedisError> = blocking ? pool.withConn(body) : pool.withShared(body)
        return withRetry(once, (error) => {
          const result = batch.every((args) => isRetryable(error, commandName(args), args, blocking, sent))
          sent = false
          return result
        })
      }
      return observer.observe(
        "PIPELINE",
        undefined,
        () => Effect.map(attempt(), (replies) => batchResults(items, replies)),
        batch.length
      )
    }

    const evalScriptWith = (
      sendArgs: (args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisError>
    ) =>
    (
      script: string | CommandModule.Script,
      keys: ReadonlyArray<Resp.Arg> = [],
      args: ReadonlyArray<Resp.Arg> = []
    ): Effect.Effect<Resp.Reply, RedisError> => {
      const source = typeof script === "string" ? script : script?.source
      if (typeof source !== "string") {
        return Effect.fail(new InvalidArgumentError({ option: "script", message: "a script must be a string" }))
      }
      const digest = typeof script === "string" ? sha1(script) : script.sha1
      return evalWithFallback(sendArgs, source, digest, [keys.length, ...keys, ...args])
    }

    /** A connection of the caller's own: every command allowed, nothing retried, state tracked. */
    const connection = (conn: Conn.Conn, state: Exclusive.ConnState): Connection => {
      const sendOn = (args: ReadonlyArray<Resp.Arg>): Effect.Effect<Resp.Reply, RedisError> => {
        const name = commandName(args)
        Exclusive.track(state, name, args)
        return observer.observe(name, args, () => conn.send(args))
      }
      const runOn = <A>(command: Command<A>): Effect.Effect<A, RedisError> =>
        command.invalid !== undefined
          ? Effect.fail(command.invalid)
          : Effect.flatMap(sendOn(command.args), decodeEffect(commandName(command.args), command))
      return {
        ...commandMethods(runOn),
        conn,
        send: (command, ...args) => sendOn([command, ...args]),
        run: runOn,
        pipeline: (items) => {
          const invalid = checkItems(items, false)
          if (invalid !== undefined) return Effect.fail(invalid)
          const batch = items.map(argsOf)
          for (const args of batch) Exclusive.track(state, commandName(args), args)
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
      f: (conn: Conn.Conn, state: Exclusive.ConnState) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | RedisError, R> =>
      pool.withConn((conn) => {
        const state = Exclusive.fresh()
        return Effect.onExit(
          Effect.suspend(() => f(conn, state)),
          (exit) => Exclusive.release(pool.remove, conn, state, Exit.hasInterrupts(exit))
        )
      })

    const withConnection = <A, E, R>(
      f: (connection: Connection) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | RedisError, R> => exclusive((conn, state) => f(connection(conn, state)))

    const transaction = <T extends ReadonlyArray<BatchItem>>(
      conn: Conn.Conn,
      state: Exclusive.ConnState,
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

    const watch = <const T extends ReadonlyArray<BatchItem>, E, R>(
      keys: ReadonlyArray<Resp.Arg>,
      f: (tx: Connection) => Effect.Effect<T, E, R>
    ): Effect.Effect<BatchResults<T>, E | RedisError, R> => {
      if (!Array.isArray(keys) || keys.length === 0) {
        return Effect.fail(new InvalidArgumentError({ option: "keys", message: "watch needs at least one key" }))
      }
      return exclusive((conn, state) => {
        const tx = connection(conn, state)
        return tx.send("WATCH", ...keys).pipe(
          Effect.andThen(Effect.suspend(() => f(tx))),
          Effect.flatMap((items) => observer.observe("MULTI", undefined, () => transaction(conn, state, items), items.length))
        )
      })
    }

    return RedisPool.of({
      ...commandMethods(run),
      send,
      run,
      pipeline,
      evalScript: evalScriptWith(exec),
      multi,
      watch,
      withConnection,
      subscribe: subscriber.subscribe,
      psubscribe: subscriber.psubscribe,
      ssubscribe: subscriber.ssubscribe,
      subscriber,
      stats: pool.stats,
      pool
    })
  })

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
export const layer = (options: Options = {}): Layer.Layer<RedisPool, InvalidArgumentError> =>
  Layer.effect(RedisPool, make(options))

// -----------------------------------------------------------------------------
// config

const durationKeys = [
  "dialTimeout",
  "readTimeout",
  "writeTimeout",
  "drainTimeout",
  "poolTimeout",
  "connMaxIdleTime",
  "connMaxLifetime",
  "connMaxLifetimeJitter",
  "probeBackoffMin",
  "probeBackoffMax",
  "reaperFrequency",
  "closeTimeout",
  "sharedIdleTime",
  "minRetryBackoff",
  "maxRetryBackoff"
] as const

const intKeys = [
  "port",
  "db",
  "maxPending",
  "maxBulkLength",
  "maxAggregateLength",
  "maxDepth",
  "poolSize",
  "minIdleConns",
  "maxIdleConns",
  "maxActiveConns",
  "breakerThreshold",
  "maxConcurrentDials",
  "maxInFlight",
  "sharedGrowAt",
  "maxRetries"
] as const

const stringKeys = ["url", "host", "path", "username", "clientName", "libName", "libVer", "name"] as const

const booleanKeys = ["tls", "poolFifo", "bytes", "tracing", "traceArguments", "metrics"] as const

const backoffKeys: ReadonlySet<string> = new Set(["minRetryBackoff", "maxRetryBackoff"])

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
  for (const key of durationKeys) optional(key, (name) => durationConfig(name, backoffKeys.has(key) ? "backoff" : "limit"))
  for (const key of intKeys) optional(key, Config.Int)
  for (const key of stringKeys) optional(key, Config.String)
  for (const key of booleanKeys) optional(key, Config.Boolean)
  optional("password", Config.Redacted)
  optional("protocol", (name) => Config.Literals([2, 3, "2", "3"], name))
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
): Layer.Layer<RedisPool, InvalidArgumentError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(Config.unwrap(options as Config.Wrap<Options>), (resolved: Options) => layer(resolved))
  )
