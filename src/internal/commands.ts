/**
 * Reply decoders and argument helpers shared by the typed commands.
 *
 * Every decoder accepts both the RESP2 and the RESP3 shape of its reply and
 * throws `ReplyTypeError` for anything else. Decoders are built once per
 * command name at module load, so decoding allocates nothing beyond the result.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import { InvalidArgumentError, ReplyTypeError } from "../Errors.ts"
import type * as Resp from "../Resp.ts"
import { parseDouble } from "./respDouble.ts"
import { utf8Text } from "./text.ts"

/** @internal */
export type Decode<A> = (reply: Resp.Reply) => A


/** @internal */
export const describeReply = (reply: Resp.Reply): string => {
  if (reply === null) return "nil"
  switch (typeof reply) {
    case "string":
    case "number":
    case "bigint":
    case "boolean":
      return typeof reply
  }
  if (reply instanceof Uint8Array) return "bytes"
  if (Array.isArray(reply)) return "array"
  if (reply instanceof Map) return "map"
  if (reply instanceof Set) return "set"
  return "error reply"
}

/** @internal */
export const fail = (command: string, expected: string, reply: Resp.Reply): never => {
  const received = describeReply(reply)
  throw new ReplyTypeError({
    command,
    expected,
    received,
    message: `${command}: expected ${expected}, received ${received}`
  })
}

// ---------------------------------------------------------------------------
// element converters: (reply, command name) -> value
// ---------------------------------------------------------------------------

/** @internal */
export const str = (reply: Resp.Reply, command: string): string => {
  if (typeof reply === "string") return reply
  if (reply instanceof Uint8Array) return utf8Text(reply)
  return fail(command, "a string", reply)
}

/** @internal */
export const strOrNull = (reply: Resp.Reply, command: string): string | null =>
  reply === null ? null : str(reply, command)

/** @internal */
export const int = (reply: Resp.Reply, command: string): number => {
  if (typeof reply === "number" && Number.isInteger(reply)) return reply
  if (typeof reply === "bigint") return fail(command, "an integer within Number's safe range", reply)
  return fail(command, "an integer", reply)
}

/** Integers sent as strings (TIME, cursors of some proxies). @internal */
export const intText = (reply: Resp.Reply, command: string): number => {
  if (typeof reply === "number" && Number.isInteger(reply)) return reply
  const text = typeof reply === "string" || reply instanceof Uint8Array ? str(reply, command) : undefined
  if (text !== undefined && /^-?\d{1,15}$/.test(text)) return Number(text)
  return fail(command, "an integer", reply)
}

/** @internal */
export const bool = (reply: Resp.Reply, command: string): boolean => {
  if (reply === 1 || reply === true) return true
  if (reply === 0 || reply === false) return false
  return fail(command, "0, 1 or a boolean", reply)
}


/** RESP3 double, integer, or RESP2 bulk string holding a double (`inf`, `-inf` included). @internal */
export const double = (reply: Resp.Reply, command: string): number => {
  if (typeof reply === "number") return reply
  if (typeof reply === "string" || reply instanceof Uint8Array) {
    const value = parseDouble(str(reply, command))
    if (value !== undefined && !Number.isNaN(value)) return value
  }
  return fail(command, "a double", reply)
}

/** @internal */
export const doubleOrNull = (reply: Resp.Reply, command: string): number | null =>
  reply === null ? null : double(reply, command)

/** An array, or a RESP3 set read as an array. @internal */
export const array = (reply: Resp.Reply, command: string): ReadonlyArray<Resp.Reply> => {
  if (Array.isArray(reply)) return reply
  if (reply instanceof Set) return Array.from(reply)
  return fail(command, "an array", reply)
}

/** An array of strings; returns the reply itself when it already is one. @internal */
export const strings = (reply: Resp.Reply, command: string): Array<string> => {
  const items = array(reply, command)
  let copy: Array<string> | undefined
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    if (typeof item === "string" && copy === undefined) continue
    if (copy === undefined) copy = items.slice(0, i) as Array<string>
    copy.push(str(item, command))
  }
  return copy ?? (items as Array<string>)
}

/** @internal */
export const stringsOrNulls = (reply: Resp.Reply, command: string): Array<string | null> => {
  const items = array(reply, command)
  const out = new Array<string | null>(items.length)
  for (let i = 0; i < items.length; i++) out[i] = strOrNull(items[i]!, command)
  return out
}

/** Sets a field, a field named `__proto__` included. @internal */
export const setField = (record: Record<string, string>, field: string, value: string) => {
  if (field === "__proto__") {
    Object.defineProperty(record, field, { value, enumerable: true, writable: true, configurable: true })
  } else {
    record[field] = value
  }
}

/** A RESP3 map or a RESP2 flat array of field, value pairs, as a plain record. @internal */
export const record = (reply: Resp.Reply, command: string): Record<string, string> => {
  const out: Record<string, string> = {}
  if (reply instanceof Map) {
    for (const [field, value] of reply) setField(out, str(field, command), str(value, command))
    return out
  }
  const items = array(reply, command)
  if (items.length % 2 !== 0) return fail(command, "an even number of elements", reply)
  for (let i = 0; i < items.length; i += 2) setField(out, str(items[i]!, command), str(items[i + 1]!, command))
  return out
}

/** Field, value pairs from a RESP3 map or a flat array. @internal */
export const pairs = (reply: Resp.Reply, command: string): Array<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  if (reply instanceof Map) {
    for (const [field, value] of reply) out.push([str(field, command), str(value, command)])
    return out
  }
  const items = array(reply, command)
  if (items.length % 2 !== 0) return fail(command, "an even number of elements", reply)
  for (let i = 0; i < items.length; i += 2) out.push([str(items[i]!, command), str(items[i + 1]!, command)])
  return out
}

/** @internal */
export interface ScoredMember {
  readonly member: string
  readonly score: number
}

/** RESP2 flat `member, score, ...` or RESP3 `[[member, score], ...]` (either shape per element). @internal */
export const scored = (reply: Resp.Reply, command: string): Array<ScoredMember> => {
  const items = array(reply, command)
  const out: Array<ScoredMember> = []
  let i = 0
  while (i < items.length) {
    const item = items[i]!
    if (Array.isArray(item)) {
      if (item.length !== 2) return fail(command, "a [member, score] pair", item)
      out.push({ member: str(item[0]!, command), score: double(item[1]!, command) })
      i += 1
    } else {
      if (i + 1 >= items.length) return fail(command, "an even number of elements", reply)
      out.push({ member: str(item, command), score: double(items[i + 1]!, command) })
      i += 2
    }
  }
  return out
}

/** A `[cursor, items]` page of a SCAN-family command. @internal */
export const scanPage = <A>(
  reply: Resp.Reply,
  command: string,
  items: (reply: Resp.Reply, command: string) => ReadonlyArray<A>
): { readonly cursor: string; readonly items: ReadonlyArray<A> } => {
  if (!Array.isArray(reply) || reply.length !== 2) return fail(command, "a [cursor, items] pair", reply)
  const cursor = reply[0]!
  return {
    cursor: typeof cursor === "number" ? String(cursor) : str(cursor, command),
    items: items(reply[1]!, command)
  }
}

/** @internal */
export const ok = (reply: Resp.Reply, command: string): void => {
  if (reply === "OK") return
  if (reply instanceof Uint8Array && reply.length === 2 && reply[0] === 79 && reply[1] === 75) return
  fail(command, "OK", reply)
}

// ---------------------------------------------------------------------------
// argument helpers
// ---------------------------------------------------------------------------

/** @internal */
export const invalid = (command: string, message: string, option?: string): InvalidArgumentError =>
  new InvalidArgumentError(
    option === undefined ? { message: `${command}: ${message}` } : { message: `${command}: ${message}`, option }
  )

// Duration reads NaN, a tuple holding NaN or a stray object as zero; here they are invalid.
const plausible = (input: Duration.Input): boolean => {
  switch (typeof input) {
    case "number":
      return !Number.isNaN(input)
    case "bigint":
    case "string":
      return true
  }
  if (Array.isArray(input)) return input.length === 2 && Number.isFinite(input[0]) && Number.isFinite(input[1])
  return Duration.isDuration(input)
}

/** A plausible duration in milliseconds (possibly infinite or negative), or undefined. */
const rawMillis = (input: Duration.Input): number | undefined => {
  if (!plausible(input)) return undefined
  try {
    return Duration.toMillis(input)
  } catch {
    return undefined
  }
}

/** A duration in whole milliseconds (rounded up), or undefined when it is not a finite duration. @internal */
export const toMillis = (input: Duration.Input): number | undefined => {
  if (typeof input === "number") return Number.isFinite(input) ? Math.ceil(input) : undefined
  const ms = rawMillis(input)
  return ms !== undefined && Number.isFinite(ms) ? Math.ceil(ms) : undefined
}

/**
 * A block timeout in milliseconds for BLPOP, XREAD BLOCK and the like: an infinite
 * duration or zero is 0 (block forever); negative or invalid is undefined.
 *
 * @internal
 */
export const toBlockMillis = (input: Duration.Input): number | undefined => {
  const ms = rawMillis(input)
  if (ms === Infinity) return 0
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? Math.ceil(ms) : undefined
}

/** Epoch milliseconds (rounded up) of a Date or epoch-ms number; undefined unless finite and after the epoch. @internal */
export const toEpochMillis = (at: Date | number): number | undefined => {
  const ms = typeof at === "number" ? at : at.getTime()
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : undefined
}

/** @internal */
export const isInt = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n)

/** @internal */
export const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0
