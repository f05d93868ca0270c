/**
 * What the pool counts: the stats snapshot users read, and the OpenTelemetry
 * metrics (`db.client.connection.*`).
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import type { ConnectionError } from "../Errors.ts"

/** @internal */
export type RemovalReason = "idleTime" | "lifetime" | "unhealthy" | "maxIdle" | "error" | "closed" | "retired"

/** @internal */
export interface Stats {
  readonly hits: number
  readonly misses: number
  readonly timeouts: number
  readonly waitCount: number
  readonly waitDurationMillis: number
  readonly total: number
  readonly idle: number
  readonly inUse: number
  readonly shared: number
  readonly sharedInFlight: number
  readonly draining: number
  readonly dialing: number
  readonly turnsInUse: number
  readonly pendingWaiters: number
  readonly removals: Readonly<Record<RemovalReason, number>>
  readonly breaker: {
    readonly state: "closed" | "open"
    readonly failures: number
    readonly since: number | undefined
    readonly lastError: ConnectionError | undefined
  }
  readonly closed: boolean
}

/** @internal */
export interface Metrics {
  readonly idle: Metric.Gauge<number>
  readonly used: Metric.Gauge<number>
  readonly pendingRequests: Metric.Gauge<number>
  readonly timeouts: Metric.Counter<number>
  readonly waitTime: Metric.Histogram<number>
  readonly createTime: Metric.Histogram<number>
}

export const makeMetrics = (name: string): Metrics => {
  const pool = { "db.client.connection.pool.name": name }
  const seconds = Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 18 })
  return {
    idle: Metric.gauge("db.client.connection.count", {
      description: "Connections by state",
      attributes: { ...pool, "db.client.connection.state": "idle" }
    }),
    used: Metric.gauge("db.client.connection.count", {
      description: "Connections by state",
      attributes: { ...pool, "db.client.connection.state": "used" }
    }),
    pendingRequests: Metric.gauge("db.client.connection.pending_requests", {
      description: "Callers waiting for a connection",
      attributes: pool
    }),
    timeouts: Metric.counter("db.client.connection.timeouts", {
      description: "Checkouts that timed out",
      attributes: pool,
      incremental: true
    }),
    waitTime: Metric.histogram("db.client.connection.wait_time", {
      description: "Time in seconds a caller waited for a connection (slow path only)",
      attributes: pool,
      boundaries: seconds
    }),
    createTime: Metric.histogram("db.client.connection.create_time", {
      description: "Time in seconds to dial and handshake a connection",
      attributes: pool,
      boundaries: seconds
    })
  }
}
