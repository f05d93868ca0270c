/**
 * The Sentinel layer's options checked and split: the sentinels' addresses and
 * how to talk to them, and the service's options for the master's connections.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Conn from "../Conn.ts"
import { InvalidArgumentError } from "../Errors.ts"
import type * as RedisPool from "../RedisPool.ts"
import type { Options, SentinelOptions, UrlOptions } from "../Sentinel.ts"
import { sentinelSpecs, validate } from "./options.ts"
import type { Address } from "./sentinelDiscovery.ts"
import { parseSentinelUrl } from "./sentinelUrl.ts"

/** @internal */
export interface ResolvedSentinel {
  readonly masterName: string
  readonly sentinels: ReadonlyArray<Address>
  /** Options of a connection to a sentinel. */
  readonly conn: Conn.ConnOptions
  readonly followSwitches: boolean
  /** Where read-only commands go. */
  readonly readFrom: "master" | "replica"
  /** The service's options, without `sentinel`. */
  readonly service: RedisPool.Options
}

const invalid = (option: string, message: string) =>
  new InvalidArgumentError({ option, message: `invalid option ${option}: ${message}` })

/** `"host:port"`, `"[v6]:port"` or `{ host, port }` as an address. */
const parseAddress = (value: unknown, i: number): Address => {
  const option = `sentinel.sentinels[${i}]`
  if (typeof value === "object" && value !== null) {
    const { host, port } = value as { host?: unknown; port?: unknown }
    if (typeof host !== "string" || host === "") throw invalid(option, "host must be a non-empty string")
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalid(option, `port must be an integer in [1, 65535], got ${String(port)}`)
    }
    return { host, port }
  }
  if (typeof value !== "string") throw invalid(option, "must be \"host:port\" or { host, port }")
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(value.trim())
  const port = match === null ? Number.NaN : Number(match[3])
  if (match === null || port < 1 || port > 65535) throw invalid(option, `"${value}" is not host:port`)
  return { host: match[1] ?? match[2]!, port }
}

const resolveUnsafe = (options: Options): ResolvedSentinel => {
  if (typeof options !== "object" || options === null) throw new InvalidArgumentError({ message: "options must be an object" })
  const sentinel = options.sentinel as SentinelOptions | undefined
  if (typeof sentinel !== "object" || sentinel === null) {
    throw invalid("sentinel", "must be an object with masterName and sentinels")
  }
  for (const key of ["url", "host", "port", "path"] as const) {
    if ((options as unknown as Record<string, unknown>)[key] !== undefined) {
      throw invalid(key, "the sentinels name the master's address; give the sentinels' addresses in sentinel.sentinels")
    }
  }
  try {
    validate(sentinelSpecs, sentinel)
  } catch (error) {
    if (error instanceof InvalidArgumentError && error.option !== undefined) {
      throw invalid(`sentinel.${error.option}`, error.message.replace(/^invalid option [^:]+: /, ""))
    }
    throw error
  }
  if (sentinel.masterName === undefined) throw invalid("sentinel.masterName", "is required")
  if (!Array.isArray(sentinel.sentinels) || sentinel.sentinels.length === 0) {
    throw invalid("sentinel.sentinels", "must be a non-empty array of \"host:port\" or { host, port }")
  }
  const sentinels = sentinel.sentinels.map(parseAddress)
  const timeout = sentinel.timeout === undefined ? 500 : Duration.toMillis(Duration.fromInputUnsafe(sentinel.timeout))
  const conn: Conn.ConnOptions = {
    dialTimeout: timeout,
    readTimeout: timeout,
    // Sentinels before 7.2 do not know CLIENT SETINFO.
    libName: "",
    ...(sentinel.username !== undefined ? { username: sentinel.username } : {}),
    ...(sentinel.password !== undefined
      ? { password: typeof sentinel.password === "string" ? Redacted.make(sentinel.password) : sentinel.password }
      : {}),
    ...(sentinel.tls !== undefined ? { tls: sentinel.tls } : {})
  }
  const { readFrom = "master", sentinel: _sentinel, ...service } = options
  if (readFrom !== "master" && readFrom !== "replica") {
    throw invalid("readFrom", `must be "master" or "replica", got ${JSON.stringify(readFrom)}`)
  }
  return {
    readFrom,
    masterName: sentinel.masterName,
    sentinels,
    conn,
    followSwitches: sentinel.followSwitches !== false,
    service
  }
}

const withoutUndefined = <A extends object>(options: A): Partial<A> =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<A>

/** The URL's options (when there is one) under the explicit ones: an explicit option wins. */
const mergeUrl = (options: Options | UrlOptions): Effect.Effect<Options, InvalidArgumentError> => {
  if (typeof options !== "object" || options === null || options.url === undefined) {
    return Effect.succeed(options as Options)
  }
  const url = options.url
  if (typeof url !== "string" && !Redacted.isRedacted(url)) {
    return Effect.fail(invalid("url", "must be a string or a Redacted string"))
  }
  return Effect.map(parseSentinelUrl(typeof url === "string" ? url : Redacted.value(url)), (fromUrl): Options => {
    const { sentinel, url: _url, ...rest } = options
    return {
      ...fromUrl.service,
      ...withoutUndefined(rest),
      sentinel: {
        ...fromUrl.sentinel,
        ...(typeof sentinel === "object" && sentinel !== null ? withoutUndefined(sentinel) : {})
      } as SentinelOptions
    }
  })
}

/** Checks and splits the options; fails with the `InvalidArgumentError` naming the first bad one. */
export const resolveSentinel = (options: Options | UrlOptions): Effect.Effect<ResolvedSentinel, InvalidArgumentError> =>
  Effect.flatMap(mergeUrl(options), (merged) =>
    Effect.try({
      try: () => resolveUnsafe(merged),
      catch: (error) => {
        if (error instanceof InvalidArgumentError) return error
        throw error
      }
    }))
