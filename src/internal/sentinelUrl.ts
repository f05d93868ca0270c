/**
 * Parses a Sentinel URL in go-redis's `ParseFailoverURL` form:
 *
 * `redis[s]://[user[:password]@]host[:port][/db]?master_name=<name>[&addr=host2:port2&addr=...][&...]`
 *
 * - the host and port are the first sentinel (port 26379 when absent); every `addr`
 *   parameter adds one more, in order;
 * - the user info is the sentinels' credentials (go-redis's `SentinelUsername` and
 *   `SentinelPassword`); the data nodes' are the `username` and `password` parameters;
 * - `rediss://` is TLS to the sentinels and to the data nodes alike;
 * - `master_name` is required; `read_from` (`master` or `replica`) is ours;
 * - the other parameters are those of a `redis://` URL (`./url.ts`: `db`, `pool_size`,
 *   `dial_timeout`, ...), with its rules (last value wins, an unknown one is an error).
 *
 * No password reaches an error: when the query holds a `password`, errors about the
 * query quote no parameter name or value (an unencoded `&` in the password would make a
 * piece of it a name, or the value of the next parameter).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { InvalidArgumentError } from "../Errors.ts"
import type { Options, SentinelOptions } from "../Sentinel.ts"
import type { Address } from "./sentinelDiscovery.ts"
import { parseUrl, type UrlOptions } from "./url.ts"

/** What a Sentinel URL says. */
export interface SentinelUrlOptions {
  readonly sentinel: Partial<Omit<SentinelOptions, "sentinels">> & { readonly sentinels: ReadonlyArray<Address> }
  /** The data nodes' options. */
  readonly service: Partial<Omit<Options, "sentinel" | "url">>
}

const fail = (message: string, option?: string) =>
  Effect.fail(new InvalidArgumentError({ message: `invalid Sentinel URL: ${message}`, option }))

const decode = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part.replace(/\+/g, " "))
  } catch {
    return undefined
  }
}

const addressPattern = /^(?:\[([^\]]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/

const own = new Set(["master_name", "addr", "username", "password", "read_from"])

/** Parses a Sentinel URL; no password ever appears in an error. */
export const parseSentinelUrl = (input: string): Effect.Effect<SentinelUrlOptions, InvalidArgumentError> => {
  if (typeof input !== "string") return fail("must be a string", "url")
  const scheme = /^\s*([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input)?.[1]?.toLowerCase()
  if (scheme !== "redis" && scheme !== "rediss") {
    return fail(
      `expected redis:// or rediss:// (go-redis's form: redis://[user:password@]host:port[/db]?master_name=<name>&addr=host2:port2)`,
      "url"
    )
  }
  const queryAt = input.indexOf("?")
  const query = queryAt === -1 ? "" : input.slice(queryAt + 1)
  const hasPassword = /(^|&)password=/.test(query)
  const ours = new Map<string, Array<string>>()
  const rest: Array<string> = []
  for (const pair of query.split("&")) {
    if (pair === "") continue
    const eq = pair.indexOf("=")
    const name = decode(eq === -1 ? pair : pair.slice(0, eq))
    const value = decode(eq === -1 ? "" : pair.slice(eq + 1))
    if (name === undefined || value === undefined) return fail("malformed percent-encoding in the query", "url")
    if (own.has(name)) {
      const values = ours.get(name) ?? []
      values.push(value)
      ours.set(name, values)
    } else rest.push(pair)
  }
  const last = (name: string): string | undefined => {
    const values = ours.get(name)
    const value = values?.[values.length - 1]
    return value === "" ? undefined : value
  }

  const base = (queryAt === -1 ? input : input.slice(0, queryAt)) + (rest.length > 0 ? `?${rest.join("&")}` : "")
  return Effect.flatMap(
    Effect.mapError(parseUrl(base), (error) => {
      // The standalone parser quotes parameter names and values of the query; a password in it may have
      // spilled into either (an unencoded "&").
      if (hasPassword && (error.message.includes("parameter") || error.message.includes("\""))) {
        return new InvalidArgumentError({
          message: "invalid Sentinel URL: a parameter is unknown or invalid (not quoted: the query holds a password; " +
            "a & or # inside a password must be percent-encoded as %26 or %23)",
          option: "url"
        })
      }
      return new InvalidArgumentError({
        message: error.message.replace(/^invalid Redis URL/, "invalid Sentinel URL"),
        option: error.option
      })
    }),
    (parsed: UrlOptions) => {
      const masterName = last("master_name")
      if (masterName === undefined) return fail("master_name is required (?master_name=<name>)", "sentinel.masterName")
      const sentinels: Array<Address> = [{ host: parsed.host ?? "localhost", port: parsed.port ?? 26379 }]
      for (const [i, addr] of (ours.get("addr") ?? []).entries()) {
        const match = addressPattern.exec(addr)
        const port = match === null ? Number.NaN : Number(match[3])
        if (match === null || port < 1 || port > 65535) {
          return fail(`addr parameter ${i + 1} is not host:port`, "sentinel.sentinels")
        }
        sentinels.push({ host: match[1] ?? match[2]!, port })
      }
      const readFrom = last("read_from")
      if (readFrom !== undefined && readFrom !== "master" && readFrom !== "replica") {
        return fail(`read_from must be master or replica, got "${readFrom}"`, "readFrom")
      }
      const {
        host: _host,
        password: sentinelPassword,
        path: _path,
        port: _port,
        tls: parsedTls,
        username: sentinelUsername,
        ...service
      } = parsed
      // Each connection's own host is its server name (one URL names many hosts).
      const tls = parsedTls === undefined
        ? undefined
        : parsedTls.rejectUnauthorized === undefined
        ? true
        : { rejectUnauthorized: parsedTls.rejectUnauthorized }
      const username = last("username")
      const password = last("password")
      return Effect.succeed<SentinelUrlOptions>({
        sentinel: {
          masterName,
          sentinels,
          ...(sentinelUsername !== undefined ? { username: sentinelUsername } : {}),
          ...(sentinelPassword !== undefined ? { password: sentinelPassword } : {}),
          ...(tls !== undefined ? { tls } : {})
        },
        service: {
          ...service,
          ...(tls !== undefined ? { tls } : {}),
          ...(username !== undefined ? { username } : {}),
          ...(password !== undefined ? { password: Redacted.make(password) } : {}),
          ...(readFrom !== undefined ? { readFrom } : {})
        }
      })
    }
  )
}
