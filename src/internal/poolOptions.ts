/**
 * Defaults and validation for the pool's options: everything in milliseconds and
 * plain numbers once resolved, so the hot path never converts a `Duration`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { availableParallelism } from "node:os"
import { InvalidArgumentError } from "../Errors.ts"

/** @internal */
export interface DurationOptions {
  readonly poolTimeout?: Duration.Input | undefined
  readonly connMaxIdleTime?: Duration.Input | undefined
  readonly connMaxLifetime?: Duration.Input | undefined
  readonly connMaxLifetimeJitter?: Duration.Input | undefined
  readonly dialTimeout?: Duration.Input | undefined
  readonly probeBackoffMin?: Duration.Input | undefined
  readonly probeBackoffMax?: Duration.Input | undefined
  readonly reaperFrequency?: Duration.Input | undefined
  readonly closeTimeout?: Duration.Input | undefined
  readonly drainTimeout?: Duration.Input | undefined
  readonly sharedIdleTime?: Duration.Input | undefined
}

/** @internal */
export interface CountOptions {
  readonly poolSize?: number | undefined
  readonly minIdleConns?: number | undefined
  readonly maxIdleConns?: number | undefined
  readonly maxActiveConns?: number | undefined
  readonly breakerThreshold?: number | undefined
  readonly maxConcurrentDials?: number | undefined
  readonly maxInFlight?: number | undefined
  readonly sharedGrowAt?: number | undefined
  readonly poolFifo?: boolean | undefined
  readonly name?: string | undefined
}

/** @internal */
export interface Resolved {
  readonly poolSize: number
  readonly poolTimeout: number
  readonly minIdleConns: number
  readonly maxIdleConns: number
  readonly maxActiveConns: number
  readonly connMaxIdleTime: number
  readonly connMaxLifetime: number
  readonly connMaxLifetimeJitter: number
  readonly poolFifo: boolean
  readonly dialTimeout: number
  readonly breakerThreshold: number
  readonly probeBackoffMin: number
  readonly probeBackoffMax: number
  readonly reaperFrequency: number
  readonly maxConcurrentDials: number
  readonly closeTimeout: number
  readonly drainTimeout: number
  readonly maxInFlight: number
  readonly sharedGrowAt: number
  readonly sharedIdleTime: number
  readonly name: string
}

const invalid = (option: string, message: string) =>
  new InvalidArgumentError({ option, message: `invalid pool option ${option}: ${message}` })

const millis = (
  option: string,
  input: Duration.Input | undefined,
  fallback: number,
  allowZero: boolean
): number => {
  if (input === undefined) return fallback
  let ms: number
  try {
    ms = Duration.toMillis(input)
  } catch {
    throw invalid(option, `not a duration: ${String(input)}`)
  }
  if (Number.isNaN(ms) || ms < 0) throw invalid(option, `must not be negative, got ${String(input)}`)
  if (!allowZero && ms === 0) throw invalid(option, "must be greater than zero")
  return ms
}

const count = (option: string, input: number | undefined, fallback: number, min: number): number => {
  if (input === undefined) return fallback
  if (typeof input !== "number" || !Number.isInteger(input)) throw invalid(option, `must be an integer, got ${String(input)}`)
  if (input < min) throw invalid(option, `must be at least ${min}, got ${input}`)
  return input
}

/**
 * Applies go-redis's defaults and checks every option; throws the
 * `InvalidArgumentError` naming the first bad option.
 *
 * @internal
 */
export const resolveUnsafe = (options: DurationOptions & CountOptions): Resolved => {
  const poolSize = count("poolSize", options.poolSize, 10 * availableParallelism(), 1)
  const minIdleConns = count("minIdleConns", options.minIdleConns, 0, 0)
  if (minIdleConns > poolSize) throw invalid("minIdleConns", `${minIdleConns} exceeds poolSize ${poolSize}`)
  const maxIdleConns = count("maxIdleConns", options.maxIdleConns, 0, 0)
  if (maxIdleConns > 0 && maxIdleConns < minIdleConns) {
    throw invalid("maxIdleConns", `${maxIdleConns} is below minIdleConns ${minIdleConns}`)
  }
  const maxInFlight = count("maxInFlight", options.maxInFlight, 256, 1)
  const connMaxLifetime = millis("connMaxLifetime", options.connMaxLifetime, 0, true)
  const connMaxLifetimeJitter = millis("connMaxLifetimeJitter", options.connMaxLifetimeJitter, 0, true)
  const probeBackoffMin = millis("probeBackoffMin", options.probeBackoffMin, 100, false)
  const probeBackoffMax = millis("probeBackoffMax", options.probeBackoffMax, 10_000, false)
  if (probeBackoffMax < probeBackoffMin) {
    throw invalid("probeBackoffMax", `${probeBackoffMax} ms is below probeBackoffMin ${probeBackoffMin} ms`)
  }
  const name = options.name ?? "default"
  if (typeof name !== "string") throw invalid("name", "must be a string")
  return {
    poolSize,
    poolTimeout: millis("poolTimeout", options.poolTimeout, 4_000, false),
    minIdleConns,
    maxIdleConns,
    maxActiveConns: count("maxActiveConns", options.maxActiveConns, 0, 0),
    connMaxIdleTime: millis("connMaxIdleTime", options.connMaxIdleTime, 30 * 60_000, true),
    connMaxLifetime,
    connMaxLifetimeJitter: Math.min(connMaxLifetimeJitter, connMaxLifetime),
    poolFifo: options.poolFifo === true,
    // Zero disables it, as for every other duration: callers stay bounded by poolTimeout.
    dialTimeout: millis("dialTimeout", options.dialTimeout, 5_000, true) || Infinity,
    breakerThreshold: count("breakerThreshold", options.breakerThreshold, poolSize, 1),
    probeBackoffMin,
    probeBackoffMax,
    reaperFrequency: millis("reaperFrequency", options.reaperFrequency, 1_000, false),
    maxConcurrentDials: count("maxConcurrentDials", options.maxConcurrentDials, Math.min(poolSize, 4), 1),
    closeTimeout: millis("closeTimeout", options.closeTimeout, 5_000, true),
    drainTimeout: millis("drainTimeout", options.drainTimeout, 1_000, true),
    maxInFlight,
    sharedGrowAt: Math.min(count("sharedGrowAt", options.sharedGrowAt, 32, 1), maxInFlight),
    sharedIdleTime: millis("sharedIdleTime", options.sharedIdleTime, 5_000, true),
    name
  }
}

/**
 * A connection's expiry under `connMaxLifetime` with a uniform jitter in
 * `[-jitter, +jitter]`; `Infinity` when lifetimes are off.
 *
 * @internal
 */
export const expiresAt = (createdAt: number, lifetime: number, jitter: number, random: number): number => {
  if (lifetime <= 0) return Infinity
  if (jitter <= 0) return createdAt + lifetime
  return createdAt + lifetime + (random * 2 - 1) * jitter
}
