/**
 * Every option of the library in one table: its kind and its bounds. From it come
 * the one validator (used by `Conn.make`, `Pool.make` and the `RedisPool` service)
 * and the `REDIS_*` configuration keys. The options themselves, with their doc
 * lines and defaults, are declared once: `Conn.ConnOptions`, `Pool.PoolOptions`
 * and, extending both, `RedisPool.Options`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Conn from "../Conn.ts"
import { InvalidArgumentError } from "../Errors.ts"
import type * as Pool from "../Pool.ts"
import type { Options } from "../RedisPool.ts"
import type { SentinelOptions } from "../Sentinel.ts"
import type { DurationKind } from "./duration.ts"

/** What an option holds, and how configuration text reads into it (`text`: not from configuration). */
export type Spec =
  | { readonly kind: "duration"; readonly positive?: boolean; readonly text?: DurationKind }
  | { readonly kind: "integer"; readonly min: number; readonly max?: number }
  | { readonly kind: "string"; readonly empty?: boolean; readonly pattern?: RegExp }
  | { readonly kind: "boolean" }
  | { readonly kind: "secret" }
  | { readonly kind: "protocol" }
  | { readonly kind: "tls" }
  | { readonly kind: "function" }
  | { readonly kind: "schedule" }
  | { readonly kind: "object" }

const duration = (positive = false): Spec => ({ kind: "duration", positive })
const integer = (min: number, max?: number): Spec => max === undefined ? { kind: "integer", min } : { kind: "integer", min, max }
const string: Spec = { kind: "string" }
const boolean: Spec = { kind: "boolean" }

/** The connection's options (`Conn.ConnOptions`). */
export const connSpecs: { readonly [K in keyof Conn.ConnOptions]-?: Spec } = {
  host: string,
  port: integer(1, 65535),
  path: string,
  tls: { kind: "tls" },
  dialTimeout: duration(),
  readTimeout: duration(),
  writeTimeout: duration(),
  drainTimeout: duration(),
  maxPending: integer(1),
  username: string,
  password: { kind: "secret" },
  db: integer(0),
  protocol: { kind: "protocol" },
  // Redis refuses names with spaces or newlines; catching it here beats a failed handshake on every dial.
  clientName: { kind: "string", pattern: /^[!-~]+$/ },
  libName: { kind: "string", empty: true },
  libVer: string,
  onConnect: { kind: "function" },
  onPush: { kind: "function" },
  unblock: { kind: "function" },
  bytes: boolean,
  maxBulkLength: integer(1),
  maxAggregateLength: integer(1),
  maxDepth: integer(1)
}

/** The pool's options (`Pool.PoolOptions`, without `dial`). */
export const poolSpecs: { readonly [K in keyof Omit<Pool.PoolOptions<never>, "dial">]-?: Spec } = {
  poolSize: integer(1),
  poolTimeout: duration(true),
  minIdleConns: integer(0),
  maxIdleConns: integer(0),
  maxActiveConns: integer(0),
  connMaxIdleTime: duration(),
  connMaxLifetime: duration(),
  connMaxLifetimeJitter: duration(),
  poolFifo: boolean,
  dialTimeout: duration(),
  breakerThreshold: integer(1),
  probeBackoffMin: duration(true),
  probeBackoffMax: duration(true),
  reaperFrequency: duration(true),
  maxConcurrentDials: integer(1),
  maxWaiters: integer(0),
  closeTimeout: duration(),
  drainTimeout: duration(),
  maxInFlight: integer(1),
  sharedGrowAt: integer(1),
  sharedConns: integer(1),
  sharedIdleTime: duration(),
  name: string
}

/** Every option of the service (`RedisPool.Options`): the connection's, the pool's and its own. */
export const serviceSpecs: { readonly [K in keyof Options]-?: Spec } = {
  ...connSpecs,
  ...poolSpecs,
  url: { kind: "secret" },
  password: { kind: "secret" },
  pubsub: { kind: "object" },
  maxRetries: integer(-1),
  minRetryBackoff: { kind: "duration", text: "backoff" },
  maxRetryBackoff: { kind: "duration", text: "backoff" },
  retrySchedule: { kind: "schedule" },
  tracing: boolean,
  traceArguments: boolean,
  metrics: boolean,
  lazyConnect: boolean
}

/**
 * The `sentinel` options of `Sentinel.Options` (`sentinels` is checked address by address in
 * `sentinelOptions.ts`), named as in `sentinel.<key>` when one is invalid.
 */
export const sentinelSpecs: { readonly [K in keyof SentinelOptions]-?: Spec } = {
  masterName: string,
  sentinels: { kind: "object" },
  username: string,
  password: { kind: "secret" },
  tls: { kind: "tls" },
  timeout: duration(true),
  followSwitches: boolean
}

const invalid = (option: string, message: string) =>
  new InvalidArgumentError({ option, message: `invalid option ${option}: ${message}` })

/** `input` as milliseconds; throws the `InvalidArgumentError` naming `option` when it is not a duration. */
export const durationMillis = (option: string, input: Duration.Input): number => {
  let ms: number
  try {
    ms = Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    throw invalid(option, `not a duration: ${String(input)}`)
  }
  if (Number.isNaN(ms) || ms < 0) throw invalid(option, `must not be negative, got ${String(input)}`)
  return ms
}

const check = (option: string, spec: Spec, value: unknown): void => {
  switch (spec.kind) {
    case "duration": {
      const ms = durationMillis(option, value as Duration.Input)
      if (spec.positive === true && ms === 0) throw invalid(option, "must be greater than zero")
      return
    }
    case "integer": {
      const max = spec.max ?? Number.MAX_SAFE_INTEGER
      if (typeof value !== "number" || !Number.isInteger(value) || value < spec.min || value > max) {
        throw invalid(option, `must be an integer in [${spec.min}, ${max}], got ${String(value)}`)
      }
      return
    }
    case "string":
      if (typeof value !== "string" || (value === "" && spec.empty !== true)) {
        throw invalid(option, "must be a non-empty string")
      }
      if (spec.pattern !== undefined && !spec.pattern.test(value)) throw invalid(option, `"${value}" is not allowed`)
      return
    case "boolean":
      if (typeof value !== "boolean") throw invalid(option, `must be true or false, got ${String(value)}`)
      return
    case "secret":
      // Never echoed: it may be a password, or a URL that carries one.
      if (typeof value !== "string" && !Redacted.isRedacted(value)) throw invalid(option, "must be a string or a Redacted string")
      return
    case "protocol":
      if (value !== 2 && value !== 3) throw invalid(option, `must be 2 or 3, got ${String(value)}`)
      return
    case "tls":
      if (typeof value !== "boolean" && (typeof value !== "object" || value === null)) {
        throw invalid(option, "must be true, false or Node's tls.connect options")
      }
      return
    case "function":
      if (typeof value !== "function") throw invalid(option, "must be a function")
      return
    case "schedule":
      if (!Schedule.isSchedule(value)) throw invalid(option, "must be a Schedule")
      return
    case "object":
      if (typeof value !== "object" || value === null) throw invalid(option, "must be an object")
      return
  }
}

/**
 * Checks every option of `options` that `specs` knows; throws the
 * `InvalidArgumentError` naming the first bad one. Absent (`undefined`) options
 * are not checked: they take their defaults.
 */
export const validate = (specs: { readonly [key: string]: Spec }, options: object): void => {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError({ message: "options must be an object" })
  }
  for (const key in specs) {
    const value = (options as Record<string, unknown>)[key]
    if (value !== undefined) check(key, specs[key]!, value)
  }
}

/** An `InvalidArgumentError` naming `option`, for rules between options. */
export const invalidOption = invalid
