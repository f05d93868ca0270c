/**
 * One span and one duration sample per command, and a counter of failures by
 * error tag; nothing is logged.
 *
 * Spans cost an allocation and a clock read or two per command even when
 * nobody looks at them, so they are made only when a tracer that can export
 * them is installed: with Effect's built-in `nativeTracer` (no backend) or
 * with tracing disabled (`Effect.withTracerEnabled(false)`), commands run
 * without one.
 *
 * Metrics are pull-based: each operation's histogram and error counts live in
 * plain typed arrays updated in a few nanoseconds, and are registered once
 * with `Metric.registerUnsafe` (in the registry of the context that built the
 * service), so a snapshot or an exporter reads them. Pushing every sample
 * through `Metric.update` cost ~0.5 µs per command, a third of the budget.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Cause from "effect/Cause"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import type { Arg } from "../Resp.ts"
import { argText } from "./text.ts"

/** Distinct operation names tracked as separate series; beyond it they are `_OTHER` (caller-chosen names are unbounded). */
const maxOperations = 256

const boundaries = Metric.exponentialBoundaries({ start: 0.0001, factor: 2, count: 16 })

const cappedText = (arg: Arg): string => {
  const text = argText(arg)
  return text.length > 128 ? `${text.slice(0, 128)}…` : text
}

/** `db.query.text` when arguments may be traced: the command, each argument capped at 128 characters. */
const queryText = (args: ReadonlyArray<Arg>): string => {
  let out = ""
  for (let i = 0; i < args.length && out.length < 1024; i++) out += (i === 0 ? "" : " ") + cappedText(args[i]!)
  return out
}

const errorTag = (cause: Cause.Cause<unknown>): string | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") {
      const error = reason.error
      return typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"
    }
    if (reason._tag === "Die") return "Defect"
  }
  return undefined // interrupted: not a failure of the command
}

/** @internal */
export interface ObserverOptions {
  readonly tracing: boolean
  readonly traceArguments: boolean
  readonly metrics: boolean
  readonly serverAddress: string
  readonly serverPort: number | undefined
  readonly db: number
  readonly poolName: string
}

const bounds = Float64Array.from(boundaries)

/** One operation's duration histogram, in the shape of `Metric.HistogramState`. */
class Durations {
  readonly counts = new Float64Array(bounds.length + 1)
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE
  add(seconds: number): void {
    let i = 0
    while (i < bounds.length && seconds > bounds[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += seconds
    if (seconds < this.min) this.min = seconds
    if (seconds > this.max) this.max = seconds
  }
  state(): Metric.HistogramState {
    const buckets: Array<[number, number]> = []
    let cumulated = 0
    for (let i = 0; i < bounds.length; i++) {
      cumulated += this.counts[i]!
      buckets.push([bounds[i]!, cumulated])
    }
    return { buckets, count: this.count, min: this.min, max: this.max, sum: this.sum }
  }
}

const ignoreUpdate = () => {}

/** @internal */
export class Observer {
  readonly options: ObserverOptions
  readonly context: Context.Context<never>
  readonly durations = new Map<string, Durations>()
  readonly errors = new Map<string, { count: number }>()
  readonly registrations: Array<Metric.Registration> = []
  constructor(options: ObserverOptions, context: Context.Context<never>) {
    this.options = options
    this.context = context
  }

  /** Removes every series from the registry (when the service's scope closes). */
  close(): void {
    for (const registration of this.registrations) registration.remove()
    this.registrations.length = 0
  }

  operation(name: string): string {
    return this.durations.has(name) || this.durations.size < maxOperations ? name : "_OTHER"
  }

  /** The series of `operation` (and `tag`) in `series`, made and registered with `metric` on first use. */
  private series<S>(
    series: Map<string, S>,
    key: string,
    make: () => S,
    metric: (attributes: Record<string, string>) => Metric.Metric<any, any>,
    state: (series: S) => unknown,
    operation: string,
    tag?: string
  ): S {
    let found = series.get(key)
    if (found === undefined) {
      const created = make()
      found = created
      series.set(key, created)
      const attributes: Record<string, string> = {
        "db.system.name": "redis",
        "db.operation.name": operation,
        "db.client.connection.pool.name": this.options.poolName
      }
      if (tag !== undefined) attributes["error.type"] = tag
      this.registrations.push(
        Metric.registerUnsafe(metric(attributes), this.context, {
          get: () => state(created) as never,
          update: ignoreUpdate,
          modify: ignoreUpdate
        })
      )
    }
    return found
  }

  /**
   * A counter read from `read` whenever the registry is read (the service keeps the count; nothing is done per
   * event), with this client's pool name and `attributes`; removed with the others on `close`.
   */
  registerCounter(name: string, description: string, attributes: Record<string, string>, read: () => number): void {
    this.registrations.push(
      Metric.registerUnsafe(
        Metric.counter(name, {
          description,
          attributes: { "db.system.name": "redis", "db.client.connection.pool.name": this.options.poolName, ...attributes },
          incremental: true
        }),
        this.context,
        { get: () => ({ count: read(), incremental: true }) as never, update: ignoreUpdate, modify: ignoreUpdate }
      )
    )
  }

  duration(operation: string): Durations {
    return this.series(
      this.durations,
      operation,
      () => new Durations(),
      (attributes) =>
        Metric.histogram("db.client.operation.duration", {
          description: "Duration of Redis commands in seconds, from the call to the reply (retries included)",
          attributes,
          boundaries
        }),
      (created) => created.state(),
      operation
    )
  }

  error(operation: string, tag: string): { count: number } {
    return this.series(
      this.errors,
      `${operation}\u0000${tag}`,
      () => ({ count: 0 }),
      (attributes) =>
        Metric.counter("db.client.operation.errors", {
          description: "Failed Redis commands by error tag",
          attributes,
          incremental: true
        }),
      (created) => ({ count: created.count, incremental: true }),
      operation,
      tag
    )
  }

  spanAttributes(operation: string, args: ReadonlyArray<Arg> | undefined, batchSize: number | undefined) {
    const o = this.options
    const attributes: Record<string, unknown> = {
      "db.system.name": "redis",
      "db.operation.name": operation,
      "db.namespace": String(o.db),
      "server.address": o.serverAddress
    }
    if (o.serverPort !== undefined) attributes["server.port"] = o.serverPort
    if (batchSize !== undefined) attributes["db.operation.batch.size"] = batchSize
    if (o.traceArguments && args !== undefined) attributes["db.query.text"] = queryText(args)
    return attributes
  }

  /** Whether a command run by `fiber` gets a span: tracing on and a tracer that exports spans. */
  spans(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.options.tracing && fiber.getRef(References.TracerEnabled) &&
      fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer
  }

  /** `effect`, its duration since `start` recorded as `name`'s when it ends, however it ends (with metrics on). */
  timedFrom<A, E, R>(effect: Effect.Effect<A, E, R>, name: string, start: number): Effect.Effect<A, E, R> {
    if (!this.options.metrics) return effect
    const operation = this.operation(name)
    return Effect.onExitPrimitive(effect, (exit) => {
      this.record(operation, start, exit._tag === "Failure" ? exit.cause : undefined)
      return undefined
    }, true)
  }

  /** A command that succeeded at once: its duration since `start` (with metrics on). */
  succeeded(name: string, start: number): void {
    if (this.options.metrics) this.record(this.operation(name), start, undefined)
  }

  /** One duration sample since `start` (from `performance.now()`), and the failure's tag if `cause` is one. */
  record(operation: string, start: number, cause: Cause.Cause<unknown> | undefined): void {
    this.duration(operation).add((performance.now() - start) / 1000)
    if (cause === undefined) return
    const tag = errorTag(cause)
    if (tag !== undefined) this.error(operation, tag).count++
  }

  /**
   * Runs the effect made by `make` (once per run, so it may hold per-run
   * state) as one command (or batch) named `name`. `args` feeds
   * `db.query.text` when `traceArguments` is on; `batchSize` is set for
   * pipelines and transactions.
   */
  observe<A, E, R>(
    name: string,
    args: ReadonlyArray<Arg> | undefined,
    make: () => Effect.Effect<A, E, R>,
    batchSize?: number
  ): Effect.Effect<A, E, R> {
    const o = this.options
    if (!o.tracing && !o.metrics) return Effect.suspend(make)
    return Effect.withFiber((fiber) => {
      const operation = this.operation(name)
      let observed = make()
      if (this.spans(fiber)) {
        observed = Effect.withSpan(observed, operation, {
          kind: "client",
          attributes: this.spanAttributes(operation, args, batchSize),
          captureStackTrace: false
        })
      }
      if (!o.metrics) return observed
      const start = performance.now()
      // A match frame rather than `onExit`: no `Exit` is allocated for each command (measured: ~1.4x
      // throughput at 500 fibers).
      return Effect.matchCauseEffect(observed, {
        onSuccess: (value) => {
          this.record(operation, start, undefined)
          return Effect.succeed(value)
        },
        onFailure: (cause) => {
          this.record(operation, start, cause)
          return Effect.failCause(cause)
        }
      })
    })
  }
}
