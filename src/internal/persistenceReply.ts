/**
 * Replies in the shapes Effect's persistence stores expect: node-redis's
 * defaults over RESP2. Strings stay strings, integers numbers, nil `null`,
 * arrays arrays; what only RESP3 has is turned into what RESP2 would have sent.
 *
 * @internal
 */
import { RedisReplyError } from "../Errors.ts"
import type { Reply } from "../Resp.ts"
import { utf8Text } from "./text.ts"


/** A RESP3 double (or a number outside the integers) as RESP2's bulk string. */
const doubleText = (n: number): string =>
  n === Infinity ? "inf" : n === -Infinity ? "-inf" : Number.isNaN(n) ? "nan" : String(n)

/**
 * RESP3-only values as RESP2 would send them: a map as its flat key/value
 * array, a set as an array, `true` as 1 and `false` as nil (Lua's RESP2
 * conversion), big numbers and non-integral doubles as strings, bytes as UTF-8.
 */
const generic = (reply: Reply): unknown => {
  switch (typeof reply) {
    case "string":
      return reply
    case "number":
      return Number.isInteger(reply) ? reply : doubleText(reply)
    case "bigint":
      return reply.toString()
    case "boolean":
      return reply ? 1 : null
  }
  if (reply === null || reply instanceof RedisReplyError) return reply
  if (Array.isArray(reply)) return mapArray(reply as ReadonlyArray<Reply>, generic)
  if (reply instanceof Uint8Array) return utf8Text(reply)
  if (reply instanceof Map) {
    const out: Array<unknown> = []
    for (const [key, value] of reply as ReadonlyMap<Reply, Reply>) out.push(generic(key), generic(value))
    return out
  }
  if (reply instanceof Set) return Array.from(reply as ReadonlySet<Reply>, generic)
  return reply
}

/** Maps the elements only when one of them changes, so the common reply (strings, numbers) is not copied. */
const mapArray = (array: ReadonlyArray<Reply>, f: (reply: Reply) => unknown): ReadonlyArray<unknown> => {
  for (let i = 0; i < array.length; i++) {
    const element = array[i]!
    const mapped = f(element)
    if (mapped !== element) {
      const out: Array<unknown> = array.slice(0, i)
      out.push(mapped)
      for (let j = i + 1; j < array.length; j++) out.push(f(array[j]!))
      return out
    }
  }
  return array
}

/** Every number (a score, a float) as RESP2's bulk string. */
const scores = (reply: unknown): unknown =>
  typeof reply === "number"
    ? doubleText(reply)
    : Array.isArray(reply)
    ? reply.map(scores)
    : reply

/** RESP3's `[[member, score], ...]` as RESP2's `[member, score, ...]`, scores as strings. */
const flatScores = (reply: unknown): unknown => {
  if (!Array.isArray(reply)) return scores(reply)
  const out: Array<unknown> = []
  for (const element of reply) {
    if (Array.isArray(element)) for (const part of element) out.push(scores(part))
    else out.push(scores(element))
  }
  return out
}

const hasWord = (args: ReadonlyArray<string>, word: string): boolean => {
  for (const arg of args) if (arg.toUpperCase() === word) return true
  return false
}

/** A coordinate as RESP2's `%.17Lf` with trailing zeros trimmed. */
const coordinate = (reply: unknown): unknown =>
  typeof reply === "number"
    ? Number.isFinite(reply) ? reply.toFixed(17).replace(/\.?0+$/, "") : doubleText(reply)
    : Array.isArray(reply)
    ? reply.map(coordinate)
    : reply

/** GEO searches: each item is `[name, dist?, hash?, [lon, lat]?]`; dist and coordinates are doubles, the hash an integer. */
const geoItems = (args: ReadonlyArray<string>, reply: unknown): unknown => {
  const dist = hasWord(args, "WITHDIST")
  const coord = hasWord(args, "WITHCOORD")
  if (!Array.isArray(reply) || (!dist && !coord)) return reply
  return reply.map((item) => {
    if (!Array.isArray(item)) return item
    const out = item.slice()
    if (dist && out.length > 1) out[1] = scores(out[1])
    if (coord && out.length > 1) out[out.length - 1] = coordinate(out[out.length - 1])
    return out
  })
}

/**
 * Commands whose RESP3 replies carry doubles (which the decoder cannot tell
 * from integers once they are JavaScript numbers) or score pairs, and how to
 * give them RESP2's shape.
 */
const byCommand: Record<string, (args: ReadonlyArray<string>, reply: unknown) => unknown> = {
  ZSCORE: (_, reply) => scores(reply),
  ZMSCORE: (_, reply) => scores(reply),
  ZINCRBY: (_, reply) => scores(reply),
  ZADD: (args, reply) => hasWord(args, "INCR") ? scores(reply) : reply,
  INCRBYFLOAT: (_, reply) => scores(reply),
  HINCRBYFLOAT: (_, reply) => scores(reply),
  GEODIST: (_, reply) => scores(reply),
  GEOPOS: (_, reply) => coordinate(reply),
  BZPOPMIN: (_, reply) => scores(reply),
  BZPOPMAX: (_, reply) => scores(reply),
  ZMPOP: (_, reply) => scores(reply),
  BZMPOP: (_, reply) => scores(reply),
  ZRANGE: (_, reply) => flatScores(reply),
  ZRANGEBYSCORE: (_, reply) => flatScores(reply),
  ZREVRANGE: (_, reply) => flatScores(reply),
  ZREVRANGEBYSCORE: (_, reply) => flatScores(reply),
  ZRANDMEMBER: (_, reply) => flatScores(reply),
  ZUNION: (_, reply) => flatScores(reply),
  ZINTER: (_, reply) => flatScores(reply),
  ZDIFF: (_, reply) => flatScores(reply),
  ZPOPMIN: (_, reply) => flatScores(reply),
  ZPOPMAX: (_, reply) => flatScores(reply),
  ZRANK: (_, reply) => Array.isArray(reply) && reply.length === 2 ? [reply[0], scores(reply[1])] : reply,
  ZREVRANK: (_, reply) => Array.isArray(reply) && reply.length === 2 ? [reply[0], scores(reply[1])] : reply,
  GEOSEARCH: geoItems,
  GEORADIUS: geoItems,
  GEORADIUS_RO: geoItems,
  GEORADIUSBYMEMBER: geoItems,
  GEORADIUSBYMEMBER_RO: geoItems
}

// Raw command name → its conversion (or null); bounded like any cache of caller input.
const conversions = new Map<string, ((args: ReadonlyArray<string>, reply: unknown) => unknown) | null>()

const conversionOf = (command: string) => {
  let conversion = conversions.get(command)
  if (conversion === undefined) {
    conversion = byCommand[command.toUpperCase()] ?? null
    if (conversions.size < 512) conversions.set(command, conversion)
  }
  return conversion
}

/**
 * `reply` to `command args...` as node-redis would return it over RESP2.
 *
 * @internal
 */
export const toNodeReply = (command: string, args: ReadonlyArray<string>, reply: Reply): unknown => {
  if (typeof reply === "string" || reply === null) return reply
  const conversion = conversionOf(command)
  return generic(conversion === null ? reply : conversion(args, reply) as Reply)
}

/**
 * A script's reply as node-redis would return it over RESP2.
 *
 * @internal
 */
export const toNodeScriptReply = (reply: Reply): unknown =>
  typeof reply === "string" || reply === null ? reply : generic(reply)
