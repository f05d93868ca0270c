/**
 * The service's options resolved: the URL merged under the explicit options,
 * every option checked, and split into what the connection, the pool, the
 * retry policy and the instrumentation each need.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Conn from "../Conn.ts"
import { InvalidArgumentError, type RedisError } from "../Errors.ts"
import type * as Pool from "../Pool.ts"
import type { Options } from "../RedisPool.ts"
import { backoffSchedule } from "./redisPoolRetry.ts"
import { parseUrl } from "./url.ts"

/** @internal */
export interface Resolved {
  readonly conn: Conn.ConnOptions
  readonly pool: Omit<Pool.PoolOptions<Conn.Conn>, "dial">
  readonly maxRetries: number
  readonly retrySchedule: Schedule.Schedule<unknown, RedisError>
  readonly tracing: boolean
  readonly traceArguments: boolean
  readonly metrics: boolean
  /** `server.address` / `server.port` of spans. */
  readonly serverAddress: string
  readonly serverPort: number | undefined
  readonly db: number
}

const invalid = (option: string, message: string) =>
  new InvalidArgumentError({ option, message: `invalid option ${option}: ${message}` })

const durationMillis = (option: string, input: Duration.Input | undefined, fallback: number): number => {
  if (input === undefined) return fallback
  let ms: number
  try {
    ms = Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    throw invalid(option, `not a duration: ${String(input)}`)
  }
  if (Number.isNaN(ms) || ms < 0) throw invalid(option, `must not be negative, got ${String(input)}`)
  return ms
}

const checkDuration = (option: string, input: Duration.Input | undefined): void => {
  durationMillis(option, input, 0)
}

const checkInteger = (option: string, input: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void => {
  if (input === undefined) return
  if (typeof input !== "number" || !Number.isInteger(input) || input < min || input > max) {
    throw invalid(option, `must be an integer in [${min}, ${max}], got ${String(input)}`)
  }
}

const checkString = (option: string, input: unknown, pattern?: RegExp): void => {
  if (input === undefined) return
  if (typeof input !== "string" || input === "") throw invalid(option, "must be a non-empty string")
  if (pattern !== undefined && !pattern.test(input)) throw invalid(option, `"${input}" is not allowed`)
}

const withoutUndefined = <A extends object>(options: A): Partial<A> => {
  const out: Record<string, unknown> = {}
  for (const key in options) {
    const value = options[key]
    if (value !== undefined) out[key] = value
  }
  return out as Partial<A>
}

const resolveUnsafe = (options: Options): Resolved => {
  const o = options
  checkString("host", o.host)
  checkInteger("port", o.port, 1, 65535)
  checkString("path", o.path)
  checkInteger("db", o.db, 0)
  if (o.protocol !== undefined && o.protocol !== 2 && o.protocol !== 3) {
    throw invalid("protocol", `must be 2 or 3, got ${String(o.protocol)}`)
  }
  // Redis refuses names with spaces or newlines; catching it here beats a failed handshake on every dial.
  checkString("clientName", o.clientName, /^[!-~]+$/)
  checkString("username", o.username)
  if (o.password !== undefined && typeof o.password !== "string" && !Redacted.isRedacted(o.password)) {
    throw invalid("password", "must be a string or a Redacted string")
  }
  checkInteger("maxPending", o.maxPending, 1)
  checkInteger("maxBulkLength", o.maxBulkLength, 1)
  checkInteger("maxAggregateLength", o.maxAggregateLength, 1)
  checkInteger("maxDepth", o.maxDepth, 1)
  checkDuration("dialTimeout", o.dialTimeout)
  checkDuration("writeTimeout", o.writeTimeout)
  checkDuration("drainTimeout", o.drainTimeout)
  const readTimeout = durationMillis("readTimeout", o.readTimeout, 3_000)
  if (o.maxRetries !== undefined) checkInteger("maxRetries", o.maxRetries, -1)
  const maxRetries = o.maxRetries === undefined ? 3 : Math.max(o.maxRetries, 0)
  const minRetryBackoff = durationMillis("minRetryBackoff", o.minRetryBackoff, 8)
  const maxRetryBackoff = durationMillis("maxRetryBackoff", o.maxRetryBackoff, 512)
  if (maxRetryBackoff < minRetryBackoff) {
    throw invalid("maxRetryBackoff", `${maxRetryBackoff} ms is below minRetryBackoff ${minRetryBackoff} ms`)
  }
  if (o.retrySchedule !== undefined && !Schedule.isSchedule(o.retrySchedule)) {
    throw invalid("retrySchedule", "must be a Schedule")
  }
  if (o.onConnect !== undefined && typeof o.onConnect !== "function") throw invalid("onConnect", "must be a function")

  const password = o.password === undefined
    ? undefined
    : typeof o.password === "string"
    ? Redacted.make(o.password)
    : o.password
  const conn: Conn.ConnOptions = withoutUndefined({
    host: o.host,
    port: o.port,
    path: o.path,
    tls: o.tls,
    dialTimeout: o.dialTimeout,
    readTimeout: o.readTimeout,
    writeTimeout: o.writeTimeout,
    drainTimeout: o.drainTimeout,
    maxPending: o.maxPending,
    username: o.username,
    password,
    db: o.db,
    protocol: o.protocol,
    clientName: o.clientName,
    libName: o.libName,
    libVer: o.libVer,
    onConnect: o.onConnect,
    bytes: o.bytes,
    maxBulkLength: o.maxBulkLength,
    maxAggregateLength: o.maxAggregateLength,
    maxDepth: o.maxDepth
  })
  const pool: Omit<Pool.PoolOptions<Conn.Conn>, "dial"> = withoutUndefined({
    poolSize: o.poolSize,
    // go-redis: readTimeout + 1 s.
    poolTimeout: o.poolTimeout ?? (readTimeout > 0 && Number.isFinite(readTimeout) ? readTimeout + 1_000 : undefined),
    minIdleConns: o.minIdleConns,
    maxIdleConns: o.maxIdleConns,
    maxActiveConns: o.maxActiveConns,
    connMaxIdleTime: o.connMaxIdleTime,
    connMaxLifetime: o.connMaxLifetime,
    connMaxLifetimeJitter: o.connMaxLifetimeJitter,
    poolFifo: o.poolFifo,
    dialTimeout: o.dialTimeout,
    breakerThreshold: o.breakerThreshold,
    probeBackoffMin: o.probeBackoffMin,
    probeBackoffMax: o.probeBackoffMax,
    reaperFrequency: o.reaperFrequency,
    maxConcurrentDials: o.maxConcurrentDials,
    closeTimeout: o.closeTimeout,
    drainTimeout: o.drainTimeout,
    // One pipelined connection keeps a Redis core busy from Node; spreading callers over more connections
    // only adds writes and wake-ups (measured with 500 fibers: 2 shared connections ran at 0.5x of one,
    // 8 or 32 callers per connection at 0.3-0.6x), so a shared connection takes as many callers as it
    // may have commands in flight (`maxPending`), and the shared set grows only when one is full.
    maxInFlight: o.maxInFlight ?? o.maxPending ?? 1000,
    sharedGrowAt: o.sharedGrowAt ?? o.maxInFlight ?? o.maxPending ?? 1000,
    sharedIdleTime: o.sharedIdleTime,
    name: o.name
  })
  return {
    conn,
    pool,
    maxRetries,
    retrySchedule: o.retrySchedule ?? backoffSchedule(maxRetries, minRetryBackoff, maxRetryBackoff),
    tracing: o.tracing !== false,
    traceArguments: o.traceArguments === true,
    metrics: o.metrics !== false,
    serverAddress: o.path ?? o.host ?? "127.0.0.1",
    serverPort: o.path !== undefined ? undefined : o.port ?? 6379,
    db: o.db ?? 0
  }
}

/**
 * Merges the URL (when given) under the explicit options and resolves them.
 * Fails with the `InvalidArgumentError` naming the first bad option.
 *
 * @internal
 */
export const resolve = (options: Options): Effect.Effect<Resolved, InvalidArgumentError> => {
  if (typeof options !== "object" || options === null) {
    return Effect.fail(new InvalidArgumentError({ message: "options must be an object" }))
  }
  const merged = options.url === undefined
    ? Effect.succeed(options)
    : typeof options.url !== "string"
    ? Effect.fail(invalid("url", "must be a string"))
    : Effect.map(parseUrl(options.url), (fromUrl): Options => ({ ...fromUrl, ...withoutUndefined(options) }))
  return Effect.flatMap(merged, (merged) =>
    Effect.try({
      try: () => resolveUnsafe(merged),
      catch: (error) => {
        if (error instanceof InvalidArgumentError) return error
        throw error
      }
    }))
}
