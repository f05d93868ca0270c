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
 *
 * The URL itself is read by the platform's WHATWG `URL` (user info, percent-encoding,
 * IPv6 literals, ports). go-redis's rules it cannot express are handled here: user info
 * before an empty host (`unix://user:pw@/path`, which WHATWG refuses), IPv6 zones
 * (`[fe80::1%25eth0]`, also refused), port 0 and host names with characters a
 * resolver would not take (both accepted), and error messages that say what is wrong
 * (WHATWG only says "Invalid URL").
 *
 * Nothing of the user info reaches an error, message or field. An unencoded `#`, `?` or
 * `/` in a password cuts the URL early and spills the rest of the password into the port,
 * path, query or fragment, so: a fragment is refused, an `@` after the host is refused,
 * and messages about the host, the port or a URL that does not parse quote none of it.
 */
import * as net from "node:net"
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

/** What to do about a delimiter inside the user info; said wherever one may be the cause. */
const encodeHint = "a #, ?, /, @ or : inside the user name or password must be percent-encoded (%23, %3F, %2F, %40, %3A)"

const decode = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

const parseInt10 = (text: string): number | undefined => /^[+-]?\d+$/.test(text) ? Number(text) : undefined

const hostName = /^[A-Za-z0-9._-]+$/
const zoneId = /^[A-Za-z0-9._~-]+$/

/** Where the authority (`user:pw@host:port`) of `text` ends: at the first `/`, `?`, `#` or `\` after `from`. */
const authorityEnd = (text: string, from: number): number => {
  const match = /[/?#\\]/.exec(text.slice(from))
  return match === null ? text.length : from + match.index
}

/**
 * Why `authority` does not parse, quoting none of it: when a password holds an unencoded
 * delimiter, the host and port seen here may be pieces of it.
 */
const diagnose = (authority: string): readonly [message: string, option: string] => {
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1)
  let port: string | undefined
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]")
    if (close === -1) return ["unterminated IPv6 address", "host"]
    const after = hostPort.slice(close + 1)
    if (after !== "" && !after.startsWith(":")) return ["unexpected text after the IPv6 address", "host"]
    if (after !== "") port = after.slice(1)
  } else {
    const colon = hostPort.lastIndexOf(":")
    if (colon !== -1) port = hostPort.slice(colon + 1)
  }
  if (port !== undefined && (!/^\d*$/.test(port) || Number(port) > 65535)) {
    return ["invalid port (expected a number from 1 to 65535)", "port"]
  }
  return [hostPort.startsWith("[") ? "invalid IPv6 address" : "invalid host", "host"]
}

/**
 * Parses a Redis URL. No part of the user info ever appears in an error.
 */
export const parseUrl = (input: string): Effect.Effect<UrlOptions, InvalidArgumentError> => {
  const schemeEnd = input.indexOf("://")
  if (schemeEnd === -1) return fail("expected redis://, rediss:// or unix://", "url")
  const scheme = input.slice(0, schemeEnd).trim().toLowerCase()
  if (scheme !== "redis" && scheme !== "rediss" && scheme !== "unix") {
    const shown = /^[a-z][a-z0-9+.-]*$/.test(scheme) ? ` "${scheme}:"` : ""
    return fail(`unsupported scheme${shown} (expected redis:, rediss: or unix:)`, "url")
  }
  // Any "#" is a fragment, or a cut in a password that was not encoded: either way, refused.
  if (input.includes("#")) return fail(`a URL has no fragment (#...); ${encodeHint}`, "url")
  const hint = input.includes("@") ? `; ${encodeHint}` : ""

  // Rewrite what WHATWG refuses but go-redis accepts: an empty host after user info
  // (unix://user:pw@/path) gets a placeholder, an IPv6 zone is taken out and put back.
  const authorityStart = schemeEnd + 3
  const end = authorityEnd(input, authorityStart)
  const authority = input.slice(authorityStart, end)
  const at = authority.lastIndexOf("@")
  let hostPort = authority.slice(at + 1)
  let placeholder = false
  let zone: string | undefined
  if (scheme === "unix" && at !== -1 && hostPort === "") {
    hostPort = "localhost"
    placeholder = true
  }
  const zoned = /^\[([^\]%]*)%25([^\]]*)\](.*)$/.exec(hostPort)
  if (zoned !== null) {
    zone = decode(zoned[2]!)
    if (zone === undefined || !zoneId.test(zone)) return fail("invalid IPv6 zone", "host")
    hostPort = `[${zoned[1]}]${zoned[3]}`
  }
  const text = input.slice(0, authorityStart) + authority.slice(0, at + 1) + hostPort + input.slice(end)

  let url: URL
  try {
    url = new URL(text)
  } catch {
    const [message, option] = diagnose(authority)
    return fail(`${message}${hint}`, option)
  }
  // An "@" after the host: most likely the end of user info whose password holds an unencoded
  // "?" or "/", and what follows the cut is password. (Encode an "@" meant for the path or query.)
  if (url.pathname.includes("@") || url.search.includes("@")) {
    return fail(`an "@" after the host; ${encodeHint}`, "url")
  }

  const out: Record<string, unknown> = {}
  if (url.username !== "" || url.password !== "") {
    const user = decode(url.username)
    const password = decode(url.password)
    if (user === undefined || password === undefined) return fail("malformed percent-encoding in the user info", "url")
    if (user !== "") out.username = user
    if (password !== "") out.password = Redacted.make(password)
  }

  if (scheme === "unix") {
    if (!placeholder && url.hostname !== "") {
      return fail(`a unix:// URL takes a socket path, not a host: unix:///path/to/socket${hint}`, "path")
    }
    const path = decode(url.pathname)
    if (path === undefined || path.trim() === "") return fail("a unix:// URL needs a socket path", "path")
    out.path = path
  } else {
    let host = url.hostname
    if (host.startsWith("[")) {
      host = host.slice(1, -1)
      if (zone !== undefined) host = `${host}%${zone}`
    } else if (host !== "" && !hostName.test(host)) {
      return fail(`invalid host (expected a host name, an IPv4 address or an [IPv6] address)${hint}`, "host")
    }
    out.host = host === "" ? "localhost" : host
    if (url.port !== "") {
      const n = Number(url.port)
      if (n < 1) return fail(`invalid port (expected a number from 1 to 65535)${hint}`, "port")
      out.port = n
    }
    const dbPath = url.pathname.startsWith("/") ? url.pathname.slice(1) : url.pathname
    const dbParts = dbPath.split("/").filter((p) => p !== "")
    if (dbParts.length > 1) return fail(`invalid path "/${dbPath}" (expected /<db>)`, "db")
    if (dbParts.length === 1) {
      const db = parseInt10(decode(dbParts[0]!) ?? "")
      if (db === undefined || db < 0) return fail(`invalid database number "${dbParts[0]}"`, "db")
      out.db = db
    }
    // SNI carries host names only (RFC 6066): an IP address gets none (Node would warn, DEP0123).
    if (scheme === "rediss") out.tls = net.isIP(out.host as string) === 0 ? { servername: out.host as string } : {}
  }

  const query = url.search.slice(1)
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
