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
import type * as Schedule from "effect/Schedule"
import type * as Conn from "../Conn.ts"
import { InvalidArgumentError, type RedisError } from "../Errors.ts"
import type { ObserverOptions } from "./redisPoolObserve.ts"
import { connSpecs, durationMillis, invalidOption, poolSpecs, serviceSpecs, validate } from "./options.ts"
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
  /** A `retrySchedule` was given: retries run even with `maxRetries` 0. */
  readonly customRetrySchedule: boolean
  /** What the spans and metrics need. */
  readonly observer: ObserverOptions
}

const withoutUndefined = <A extends object>(options: A): Partial<A> => {
  const out: Record<string, unknown> = {}
  for (const key in options) {
    const value = options[key]
    if (value !== undefined) out[key] = value
  }
  return out as Partial<A>
}

/** The options of `options` that `specs` names, without the absent ones. */
const pick = <A>(specs: object, options: Options): A => {
  const out: Record<string, unknown> = {}
  for (const key in specs) {
    const value = (options as Record<string, unknown>)[key]
    if (value !== undefined) out[key] = value
  }
  return out as A
}

const millis = (option: string, input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : durationMillis(option, input)

const resolveUnsafe = (options: Options): Resolved => {
  const o = options
  validate(serviceSpecs, o)
  const readTimeout = millis("readTimeout", o.readTimeout, 3_000)
  const maxRetries = o.maxRetries === undefined ? 3 : Math.max(o.maxRetries, 0)
  const minRetryBackoff = millis("minRetryBackoff", o.minRetryBackoff, 8)
  const maxRetryBackoff = millis("maxRetryBackoff", o.maxRetryBackoff, 512)
  if (maxRetryBackoff < minRetryBackoff) {
    throw invalidOption("maxRetryBackoff", `${maxRetryBackoff} ms is below minRetryBackoff ${minRetryBackoff} ms`)
  }
  const conn: Conn.ConnOptions = {
    ...pick<Conn.ConnOptions>(connSpecs, o),
    ...(typeof o.password === "string" ? { password: Redacted.make(o.password) } : {})
  }
  const pool: Omit<Pool.PoolOptions<Conn.Conn>, "dial"> = {
    ...pick<Omit<Pool.PoolOptions<Conn.Conn>, "dial">>(poolSpecs, o),
    // go-redis: readTimeout + 1 s.
    ...(o.poolTimeout === undefined && readTimeout > 0 && Number.isFinite(readTimeout)
      ? { poolTimeout: readTimeout + 1_000 }
      : {}),
    // A shared connection takes as many callers as it may have commands in flight (`maxPending`), but the
    // callers are spread over up to three connections, 16 at least on each: on one connection the client and
    // the server take turns (the server idles while the client handles a batch of replies and writes the next
    // batch, and the other way round), on two or three one's batch is handled while the server works on
    // another's. Measured with the one-step command path (bench/RESULTS.md, "Shared connections"): 1.5-1.7x
    // the throughput of one connection at c = 50 and 500; more connections than that only add writes and
    // wake-ups (16 or 32 connections at c = 500 ran at 0.6x of two).
    maxInFlight: o.maxInFlight ?? o.maxPending ?? 1000,
    sharedGrowAt: o.sharedGrowAt ?? 16,
    sharedConns: o.sharedConns ?? 3
  }
  return {
    conn,
    pool,
    maxRetries,
    retrySchedule: o.retrySchedule ?? backoffSchedule(maxRetries, minRetryBackoff, maxRetryBackoff),
    customRetrySchedule: o.retrySchedule !== undefined,
    observer: {
      tracing: o.tracing !== false,
      traceArguments: o.traceArguments === true,
      metrics: o.metrics !== false,
      serverAddress: o.path ?? o.host ?? "127.0.0.1",
      serverPort: o.path !== undefined ? undefined : o.port ?? 6379,
      db: o.db ?? 0,
      poolName: o.name ?? "default"
    }
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
  const url = options.url
  const merged = url === undefined
    ? Effect.succeed(options)
    : typeof url !== "string" && !Redacted.isRedacted(url)
    ? Effect.fail(invalidOption("url", "must be a string or a Redacted string"))
    : Effect.map(
      parseUrl(typeof url === "string" ? url : Redacted.value(url)),
      (fromUrl): Options => ({ ...fromUrl, ...withoutUndefined(options) })
    )
  return Effect.flatMap(merged, (merged) =>
    Effect.try({
      try: () => resolveUnsafe(merged),
      catch: (error) => {
        if (error instanceof InvalidArgumentError) return error
        throw error
      }
    }))
}
