/**
 * The pool's options resolved: defaults applied, everything in milliseconds and
 * plain numbers, so the hot path never converts a `Duration`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { availableParallelism } from "node:os"
import type { PoolOptions } from "../Pool.ts"
import { invalidOption, poolSpecs, validate } from "./options.ts"

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
  readonly maxWaiters: number
  readonly closeTimeout: number
  readonly drainTimeout: number
  readonly maxInFlight: number
  readonly sharedGrowAt: number
  readonly sharedConns: number
  readonly sharedIdleTime: number
  readonly name: string
}

const millis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

/**
 * Checks every option (see `options.ts`), applies go-redis's defaults and the
 * rules between options; throws the `InvalidArgumentError` naming the first bad
 * option.
 *
 * @internal
 */
export const resolveUnsafe = (options: Omit<PoolOptions<never>, "dial">): Resolved => {
  validate(poolSpecs, options)
  const poolSize = options.poolSize ?? 10 * availableParallelism()
  const minIdleConns = options.minIdleConns ?? 0
  if (minIdleConns > poolSize) throw invalidOption("minIdleConns", `${minIdleConns} exceeds poolSize ${poolSize}`)
  const maxIdleConns = options.maxIdleConns ?? 0
  if (maxIdleConns > 0 && maxIdleConns < minIdleConns) {
    throw invalidOption("maxIdleConns", `${maxIdleConns} is below minIdleConns ${minIdleConns}`)
  }
  const maxInFlight = options.maxInFlight ?? 256
  const connMaxLifetime = millis(options.connMaxLifetime, 0)
  const probeBackoffMin = millis(options.probeBackoffMin, 100)
  const probeBackoffMax = millis(options.probeBackoffMax, 10_000)
  if (probeBackoffMax < probeBackoffMin) {
    throw invalidOption("probeBackoffMax", `${probeBackoffMax} ms is below probeBackoffMin ${probeBackoffMin} ms`)
  }
  return {
    poolSize,
    poolTimeout: millis(options.poolTimeout, 4_000),
    minIdleConns,
    maxIdleConns,
    maxActiveConns: options.maxActiveConns ?? 0,
    connMaxIdleTime: millis(options.connMaxIdleTime, 30 * 60_000),
    connMaxLifetime,
    connMaxLifetimeJitter: Math.min(millis(options.connMaxLifetimeJitter, 0), connMaxLifetime),
    poolFifo: options.poolFifo === true,
    // Zero disables it, as for every other duration: callers stay bounded by poolTimeout.
    dialTimeout: millis(options.dialTimeout, 5_000) || Infinity,
    breakerThreshold: options.breakerThreshold ?? poolSize,
    probeBackoffMin,
    probeBackoffMax,
    reaperFrequency: millis(options.reaperFrequency, 1_000),
    maxConcurrentDials: options.maxConcurrentDials ?? Math.min(poolSize, 4),
    maxWaiters: options.maxWaiters ?? 10_000,
    closeTimeout: millis(options.closeTimeout, 5_000),
    drainTimeout: millis(options.drainTimeout, 1_000),
    maxInFlight,
    sharedGrowAt: Math.min(options.sharedGrowAt ?? 32, maxInFlight),
    sharedConns: options.sharedConns ?? Infinity,
    sharedIdleTime: millis(options.sharedIdleTime, 5_000),
    name: options.name ?? "default"
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
