/**
 * Parses `redis://`, `rediss://` and `unix://` URLs into options, with go-redis's
 * query parameters and rules:
 * - `redis://[user[:password]@]host[:port][/db][?param=value&...]`, `rediss://` for TLS,
 *   `unix://[user[:password]@]/path/to/socket[?db=N&...]`;
 * - a duration is read by `parseDurationText` (`./duration.ts`): a Go duration (`300ms`,
 *   `1.5s`, `2m`), a bare integer of seconds, or Effect's form (`500 millis`); zero or less
 *   disables it (no deadline, no expiry);
 * - when a parameter repeats, the last value wins;
 * - an unknown parameter is an error.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { InvalidArgumentError } from "../Errors.ts"
import { durationForms, parseDurationText } from "./duration.ts"

/** What a URL can say; every field is optional, absent means "the default". */
export interface UrlOptions {
  readonly host?: string
  readonly port?: number
  readonly path?: string
  readonly tls?: { readonly servername?: string; readonly rejectUnauthorized?: boolean }
  readonly username?: string
  readonly password?: Redacted.Redacted<string>
  readonly db?: number
  readonly protocol?: 2 | 3
  readonly clientName?: string
  readonly dialTimeout?: Duration.Duration
  readonly readTimeout?: Duration.Duration
  readonly writeTimeout?: Duration.Duration
  readonly poolSize?: number
  readonly poolTimeout?: Duration.Duration
  readonly poolFifo?: boolean
  readonly minIdleConns?: number
  readonly maxIdleConns?: number
  readonly maxActiveConns?: number
  readonly maxConcurrentDials?: number
  readonly connMaxIdleTime?: Duration.Duration
  readonly connMaxLifetime?: Duration.Duration
  readonly connMaxLifetimeJitter?: Duration.Duration
  readonly maxRetries?: number
  readonly minRetryBackoff?: Duration.Duration
  readonly maxRetryBackoff?: Duration.Duration
}

type Kind = "int" | "duration" | "backoff" | "bool" | "string" | "protocol"

/** Query parameter → [option name, kind]. Aliases are go-redis's older names. */
const params: Record<string, readonly [keyof UrlOptions, Kind]> = {
  db: ["db", "int"],
  protocol: ["protocol", "protocol"],
  client_name: ["clientName", "string"],
  dial_timeout: ["dialTimeout", "duration"],
  read_timeout: ["readTimeout", "duration"],
  write_timeout: ["writeTimeout", "duration"],
  pool_size: ["poolSize", "int"],
  pool_timeout: ["poolTimeout", "duration"],
  pool_fifo: ["poolFifo", "bool"],
  min_idle_conns: ["minIdleConns", "int"],
  max_idle_conns: ["maxIdleConns", "int"],
  max_active_conns: ["maxActiveConns", "int"],
  max_concurrent_dials: ["maxConcurrentDials", "int"],
  conn_max_idle_time: ["connMaxIdleTime", "duration"],
  idle_timeout: ["connMaxIdleTime", "duration"],
  conn_max_lifetime: ["connMaxLifetime", "duration"],
  max_conn_age: ["connMaxLifetime", "duration"],
  conn_max_lifetime_jitter: ["connMaxLifetimeJitter", "duration"],
  max_retries: ["maxRetries", "int"],
  min_retry_backoff: ["minRetryBackoff", "backoff"],
  max_retry_backoff: ["maxRetryBackoff", "backoff"],
  skip_verify: ["tls", "bool"]
}

const fail = (message: string, option?: string) =>
  Effect.fail(new InvalidArgumentError({ message: `invalid Redis URL: ${message}`, option }))

const decode = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

const parseInt10 = (text: string): number | undefined => /^[+-]?\d+$/.test(text) ? Number(text) : undefined

/**
 * Parses a Redis URL. The password never appears in an error message.
 */
export const parseUrl = (input: string): Effect.Effect<UrlOptions, InvalidArgumentError> => {
  const schemeEnd = input.indexOf("://")
  if (schemeEnd === -1) return fail("expected redis://, rediss:// or unix://", "url")
  const scheme = input.slice(0, schemeEnd).toLowerCase()
  if (scheme !== "redis" && scheme !== "rediss" && scheme !== "unix") {
    return fail(`unsupported scheme "${scheme}:" (expected redis:, rediss: or unix:)`, "url")
  }
  let rest = input.slice(schemeEnd + 3)
  const hashAt = rest.indexOf("#")
  if (hashAt !== -1) rest = rest.slice(0, hashAt)
  const queryAt = rest.indexOf("?")
  const query = queryAt === -1 ? "" : rest.slice(queryAt + 1)
  if (queryAt !== -1) rest = rest.slice(0, queryAt)

  const out: Record<string, unknown> = {}
  // userinfo: everything before the last "@" (passwords may contain "@" when not encoded)
  const at = rest.lastIndexOf("@")
  if (at !== -1) {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(":")
    const user = decode(colon === -1 ? userinfo : userinfo.slice(0, colon))
    const password = colon === -1 ? undefined : decode(userinfo.slice(colon + 1))
    if (user === undefined || (colon !== -1 && password === undefined)) {
      return fail("malformed percent-encoding in the user info", "url")
    }
    if (user !== "") out.username = user
    if (password !== undefined && password !== "") out.password = Redacted.make(password)
  }

  if (scheme === "unix") {
    const path = decode(rest)
    if (path === undefined || path.trim() === "") return fail("a unix:// URL needs a socket path", "path")
    out.path = path
  } else {
    const slash = rest.indexOf("/")
    const authority = slash === -1 ? rest : rest.slice(0, slash)
    const dbPath = slash === -1 ? "" : rest.slice(slash + 1)
    let host = authority
    let port: string | undefined
    if (authority.startsWith("[")) {
      const close = authority.indexOf("]")
      if (close === -1) return fail("unterminated IPv6 address", "host")
      host = authority.slice(1, close)
      const after = authority.slice(close + 1)
      if (after !== "") {
        if (!after.startsWith(":")) return fail(`unexpected "${after}" after the IPv6 address`, "host")
        port = after.slice(1)
      }
    } else {
      const colon = authority.lastIndexOf(":")
      if (colon !== -1) {
        host = authority.slice(0, colon)
        port = authority.slice(colon + 1)
      }
    }
    if (host !== "" && !/^[A-Za-z0-9._:%-]+$/.test(host)) return fail(`invalid host "${host}"`, "host")
    out.host = host === "" ? "localhost" : host
    if (port !== undefined && port !== "") {
      const n = parseInt10(port)
      if (n === undefined || n < 1 || n > 65535) return fail(`invalid port "${port}"`, "port")
      out.port = n
    }
    const dbParts = dbPath.split("/").filter((p) => p !== "")
    if (dbParts.length > 1) return fail(`invalid path "/${dbPath}" (expected /<db>)`, "db")
    if (dbParts.length === 1) {
      const db = parseInt10(dbParts[0]!)
      if (db === undefined || db < 0) return fail(`invalid database number "${dbParts[0]}"`, "db")
      out.db = db
    }
    if (scheme === "rediss") out.tls = { servername: out.host as string }
  }

  const values = new Map<string, string>()
  if (query !== "") {
    for (const pair of query.split("&")) {
      if (pair === "") continue
      const eq = pair.indexOf("=")
      const name = decode((eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, " "))
      const value = decode((eq === -1 ? "" : pair.slice(eq + 1)).replace(/\+/g, " "))
      if (name === undefined || value === undefined) return fail("malformed percent-encoding in the query", "url")
      values.set(name, value)
    }
  }
  const unknown = [...values.keys()].filter((name) => !(name in params)).sort()
  if (unknown.length > 0) return fail(`unknown parameter(s): ${unknown.join(", ")}`, unknown[0])

  for (const [name, value] of values) {
    if (value === "") continue // blank = the default, as in go-redis
    const [option, kind] = params[name]!
    switch (kind) {
      case "string":
        out[option] = value
        break
      case "int": {
        const n = parseInt10(value)
        if (n === undefined) return fail(`${name} must be an integer, got "${value}"`, option)
        if (option === "db" && n < 0) return fail(`invalid database number "${value}"`, option)
        out[option] = option === "maxRetries" && n < 0 ? 0 : n
        break
      }
      case "protocol": {
        if (value !== "2" && value !== "3") return fail(`protocol must be 2 or 3, got "${value}"`, option)
        out[option] = Number(value)
        break
      }
      case "bool": {
        if (value !== "true" && value !== "false" && value !== "1" && value !== "0") {
          return fail(`${name} must be true, false, 1 or 0, got "${value}"`, option)
        }
        const flag = value === "true" || value === "1"
        if (name === "skip_verify") {
          if (scheme !== "rediss") return fail("skip_verify needs a rediss:// URL", option)
          out.tls = { ...(out.tls as object), rejectUnauthorized: !flag }
        } else {
          out[option] = flag
        }
        break
      }
      case "duration":
      case "backoff": {
        const duration = parseDurationText(value, kind === "backoff" ? "backoff" : "limit")
        if (duration === undefined) return fail(`${name} must be ${durationForms}, got "${value}"`, option)
        out[option] = duration
        break
      }
    }
  }
  return Effect.succeed(out as UrlOptions)
}
