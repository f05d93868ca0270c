/**
 * Typed Redis commands as plain descriptors.
 *
 * Each constructor returns a `Command` (see the `Command` module): the argument
 * list to send and a decoder for its reply. Nothing here does I/O; the
 * `RedisPool` service runs them (as its methods: `redis.get(key)`), or any `send`
 * through `Command.executeWith`. This module holds command constructors only. Decoders accept both the RESP2 and
 * the RESP3 shape of a reply, so results have one type whatever the protocol.
 *
 * Conventions:
 * - nil is `null`, never `undefined`;
 * - replies that are always `OK` decode to `void`; 0/1 flags decode to `boolean`;
 * - sets (SMEMBERS) are arrays; hashes (HGETALL) and stream entries are plain records;
 * - times are `Duration.Input` (relative) or `Date` / epoch milliseconds (absolute),
 *   rounded up to whole milliseconds and sent in seconds when they are whole seconds;
 * - integers outside Number's safe range are a `ReplyTypeError` (use `send` for 64-bit counters);
 * - constructors never throw: a bad argument is reported in the command's `invalid`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { InvalidArgumentError } from "./Errors.ts"
import * as I from "./internal/commands.ts"
import type { Command, Execute, Script } from "./Command.ts"
import type * as Resp from "./Resp.ts"

// ---------------------------------------------------------------------------
// model
// ---------------------------------------------------------------------------

export type {
  /**
   * A typed command (see the `Command` module).
   *
   * @since 0.1.0
   * @category models
   */
  Command,
  /**
   * Runs a command (see the `Command` module).
   *
   * @since 0.1.0
   * @category models
   */
  Execute,
  /**
   * A Lua script with its SHA-1 (see `Command.script`).
   *
   * @since 0.1.0
   * @category models
   */
  Script
} from "./Command.ts"

/**
 * Field/value (or key/value) pairs: a record or an iterable of pairs (a `Map`, an array of tuples).
 *
 * @since 0.1.0
 * @category models
 */
export type Pairs = Readonly<Record<string, Resp.Arg>> | Iterable<readonly [string, Resp.Arg]>

/**
 * A sorted-set member with its score (`Infinity` / `-Infinity` for `inf` scores).
 *
 * @since 0.1.0
 * @category models
 */
export interface ScoredMember {
  readonly member: string
  readonly score: number
}

/**
 * One page of a SCAN-family command; `cursor` is `"0"` on the last page.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScanPage<A> {
  readonly cursor: string
  readonly items: ReadonlyArray<A>
}

/**
 * A stream entry: its id and its fields in the order the server sent them.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamEntry {
  readonly id: string
  readonly fields: Record<string, string>
}

/**
 * An entry of a consumer group's history (XREADGROUP with an id other than `>`)
 * that was deleted from the stream: the server sends its id with nil fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeletedStreamEntry {
  readonly id: string
  readonly fields: null
}

/**
 * The entries read from one stream by XREAD or XREADGROUP.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamMessages<Entry = StreamEntry> {
  readonly stream: string
  readonly entries: ReadonlyArray<Entry>
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const make = <A>(
  args: ReadonlyArray<Resp.Arg>,
  decode: I.Decode<A>,
  error: InvalidArgumentError | undefined
): Command<A> => error === undefined ? { args, decode } : { args, decode, invalid: error }

const asStrOrNull = (name: string): I.Decode<string | null> => (r) =>
  typeof r === "string" || r === null ? r : I.strOrNull(r, name)
const asStr = (name: string): I.Decode<string> => (r) => typeof r === "string" ? r : I.str(r, name)
const asInt = (name: string): I.Decode<number> => (r) =>
  typeof r === "number" && Number.isInteger(r) ? r : I.int(r, name)
const asBool = (name: string): I.Decode<boolean> => (r) => I.bool(r, name)
const asOk = (name: string): I.Decode<void> => (r) => I.ok(r, name)
const asDouble = (name: string): I.Decode<number> => (r) => I.double(r, name)
const asDoubleOrNull = (name: string): I.Decode<number | null> => (r) => I.doubleOrNull(r, name)
const asIntOrNull = (name: string): I.Decode<number | null> => (r) => r === null ? null : I.int(r, name)
const asStrings = (name: string): I.Decode<ReadonlyArray<string>> => (r) => I.strings(r, name)
const asStringsOrNull = (name: string): I.Decode<ReadonlyArray<string> | null> => (r) =>
  r === null ? null : I.strings(r, name)
const asNullableStrings = (name: string): I.Decode<ReadonlyArray<string | null>> => (r) => I.stringsOrNulls(r, name)
const asScored = (name: string): I.Decode<ReadonlyArray<ScoredMember>> => (r) => I.scored(r, name)
const identity: I.Decode<Resp.Reply> = (r) => r

const emptyList = (name: string, what: string) => I.invalid(name, `at least one ${what} is required`)

const badCount = (name: string, option: string, value: unknown, min = 0) =>
  I.isInt(value) && value >= min ? undefined : I.invalid(name, `${option} must be an integer >= ${min}`, option)

const badInt = (name: string, option: string, value: unknown) =>
  I.isInt(value) ? undefined : I.invalid(name, `${option} must be a safe integer`, option)

const badIndex = (name: string, option: string, value: Resp.Arg) =>
  I.isInt(value) || (typeof value === "string" && /^-?\d{1,18}$/.test(value))
    ? undefined
    : I.invalid(name, `${option} must be an integer index without by`, option)

const badNumber = (name: string, option: string, value: unknown) =>
  typeof value === "number" && !Number.isNaN(value) ? undefined : I.invalid(name, `${option} must be a number`, option)

const pushPairs = (name: string, args: Array<Resp.Arg>, input: Pairs): InvalidArgumentError | undefined => {
  const before = args.length
  if (Symbol.iterator in input) {
    for (const pair of input as Iterable<readonly [string, Resp.Arg]>) {
      if (!Array.isArray(pair) || pair.length !== 2 || pair[1] === undefined) {
        return I.invalid(name, "each pair must be [field, value]")
      }
      args.push(pair[0], pair[1])
    }
  } else {
    const record = input as Readonly<Record<string, Resp.Arg>>
    for (const field of Object.keys(record)) args.push(field, record[field]!)
  }
  return args.length === before ? emptyList(name, "field/value pair") : undefined
}

const variadic = (
  name: string,
  head: ReadonlyArray<Resp.Arg>,
  items: ReadonlyArray<Resp.Arg>,
  what: string
): { args: Array<Resp.Arg>; error: InvalidArgumentError | undefined } => ({
  args: [...head, ...items],
  error: items.length === 0 ? emptyList(name, what) : undefined
})

interface ExpiryOptions {
  readonly expire?: Duration.Input | undefined
  readonly expireAt?: Date | number | undefined
  readonly keepTtl?: boolean | undefined
  readonly persist?: boolean | undefined
}

const pushExpiry = (name: string, args: Array<Resp.Arg>, options: ExpiryOptions): InvalidArgumentError | undefined => {
  const given = (options.expire !== undefined ? 1 : 0) + (options.expireAt !== undefined ? 1 : 0) +
    (options.keepTtl === true ? 1 : 0) + (options.persist === true ? 1 : 0)
  if (given > 1) return I.invalid(name, "expire, expireAt, keepTtl and persist exclude each other")
  if (options.expire !== undefined) {
    const ms = I.toMillis(options.expire)
    if (ms === undefined || ms <= 0) return I.invalid(name, "expire must be a positive, finite duration", "expire")
    if (ms % 1000 === 0) args.push("EX", ms / 1000)
    else args.push("PX", ms)
  } else if (options.expireAt !== undefined) {
    const ms = I.toEpochMillis(options.expireAt)
    if (ms === undefined) return I.invalid(name, "expireAt must be a valid time after the epoch", "expireAt")
    if (ms % 1000 === 0) args.push("EXAT", ms / 1000)
    else args.push("PXAT", ms)
  } else if (options.keepTtl === true) {
    args.push("KEEPTTL")
  } else if (options.persist === true) {
    args.push("PERSIST")
  }
  return undefined
}

/** Seconds as Redis' blocking list commands take them (a double; 0 blocks forever). */
const blockSeconds = (name: string, timeout: Duration.Input): number | InvalidArgumentError => {
  const ms = I.toBlockMillis(timeout)
  return ms === undefined ? I.invalid(name, "timeout must be a non-negative duration", "timeout") : ms / 1000
}

// ---------------------------------------------------------------------------
// strings
// ---------------------------------------------------------------------------

const decodeGet = asStrOrNull("GET")

/**
 * `GET key` → the value, or `null` when the key does not exist.
 *
 * @since 0.1.0
 * @category strings
 */
export const get = (key: string): Command<string | null> => ({ args: ["GET", key], decode: decodeGet })

/**
 * Options of {@link set}. At most one of `expire` (EX, or PX when not whole
 * seconds), `expireAt` (EXAT, or PXAT; a Date or epoch ms) and `keepTtl` (KEEPTTL).
 *
 * @since 0.1.0
 * @category strings
 */
export interface SetOptions {
  readonly expire?: Duration.Input | undefined
  readonly expireAt?: Date | number | undefined
  readonly keepTtl?: boolean | undefined
  /** `NX`: only set when the key does not exist; `XX`: only when it does. */
  readonly condition?: "NX" | "XX" | undefined
  /** `GET`: return the old value instead of whether the value was set. */
  readonly get?: boolean | undefined
}

const decodeSet: I.Decode<boolean> = (r) => {
  if (r === "OK") return true
  if (r === null) return false
  I.ok(r, "SET")
  return true
}
const decodeSetGet = asStrOrNull("SET")

/**
 * `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]` → `true` when set,
 * `false` when NX/XX prevented it; with `get: true`, the old value or `null`
 * (then `null` may also mean that NX/XX prevented the write).
 *
 * @since 0.1.0
 * @category strings
 */
export const set: {
  (key: string, value: Resp.Arg, options?: SetOptions & { readonly get?: false | undefined }): Command<boolean>
  (key: string, value: Resp.Arg, options: SetOptions & { readonly get: true }): Command<string | null>
  (key: string, value: Resp.Arg, options?: SetOptions): Command<boolean | string | null>
} = (key: string, value: Resp.Arg, options?: SetOptions): any => {
  if (options === undefined) return { args: ["SET", key, value], decode: decodeSet }
  const args: Array<Resp.Arg> = ["SET", key, value]
  if (options.condition !== undefined) args.push(options.condition)
  if (options.get === true) args.push("GET")
  const error = pushExpiry("SET", args, options)
  return make<boolean | string | null>(args, options.get === true ? decodeSetGet : decodeSet, error)
}

const decodeMget = asNullableStrings("MGET")

/**
 * `MGET key...` → the values in key order, `null` for missing keys.
 *
 * @since 0.1.0
 * @category strings
 */
export const mget = (...keys: ReadonlyArray<string>): Command<ReadonlyArray<string | null>> => {
  const { args, error } = variadic("MGET", ["MGET"], keys, "key")
  return make(args, decodeMget, error)
}

const decodeMset = asOk("MSET")

/**
 * `MSET key value...` → void.
 *
 * @since 0.1.0
 * @category strings
 */
export const mset = (pairs: Pairs): Command<void> => {
  const args: Array<Resp.Arg> = ["MSET"]
  return make(args, decodeMset, pushPairs("MSET", args, pairs))
}

const decodeIncr = asInt("INCR")
const decodeIncrby = asInt("INCRBY")
const decodeDecr = asInt("DECR")
const decodeDecrby = asInt("DECRBY")
const decodeIncrbyfloat = asDouble("INCRBYFLOAT")

/**
 * `INCR key` → the new value.
 *
 * @since 0.1.0
 * @category strings
 */
export const incr = (key: string): Command<number> => ({ args: ["INCR", key], decode: decodeIncr })

/**
 * `INCRBY key increment` → the new value (`increment` a safe integer).
 *
 * @since 0.1.0
 * @category strings
 */
export const incrby = (key: string, increment: number): Command<number> =>
  make(["INCRBY", key, increment], decodeIncrby, badInt("INCRBY", "increment", increment))

/**
 * `INCRBYFLOAT key increment` → the new value as a number.
 *
 * @since 0.1.0
 * @category strings
 */
export const incrbyfloat = (key: string, increment: number): Command<number> =>
  make(
    ["INCRBYFLOAT", key, increment],
    decodeIncrbyfloat,
    Number.isFinite(increment) ? undefined : I.invalid("INCRBYFLOAT", "increment must be finite", "increment")
  )

/**
 * `DECR key` → the new value.
 *
 * @since 0.1.0
 * @category strings
 */
export const decr = (key: string): Command<number> => ({ args: ["DECR", key], decode: decodeDecr })

/**
 * `DECRBY key decrement` → the new value (`decrement` a safe integer).
 *
 * @since 0.1.0
 * @category strings
 */
export const decrby = (key: string, decrement: number): Command<number> =>
  make(["DECRBY", key, decrement], decodeDecrby, badInt("DECRBY", "decrement", decrement))

const decodeAppend = asInt("APPEND")

/**
 * `APPEND key value` → the new length of the string.
 *
 * @since 0.1.0
 * @category strings
 */
export const append = (key: string, value: Resp.Arg): Command<number> => ({
  args: ["APPEND", key, value],
  decode: decodeAppend
})

const decodeGetdel = asStrOrNull("GETDEL")

/**
 * `GETDEL key` → the value it deleted, or `null`.
 *
 * @since 0.1.0
 * @category strings
 */
export const getdel = (key: string): Command<string | null> => ({ args: ["GETDEL", key], decode: decodeGetdel })

/**
 * Options of {@link getex}: at most one of `expire` (EX/PX), `expireAt` (EXAT/PXAT) and `persist` (PERSIST).
 *
 * @since 0.1.0
 * @category strings
 */
export interface GetExOptions {
  readonly expire?: Duration.Input | undefined
  readonly expireAt?: Date | number | undefined
  readonly persist?: boolean | undefined
}

const decodeGetex = asStrOrNull("GETEX")

/**
 * `GETEX key [EX|PX|EXAT|PXAT|PERSIST]` → the value, or `null`.
 *
 * @since 0.1.0
 * @category strings
 */
export const getex = (key: string, options: GetExOptions = {}): Command<string | null> => {
  const args: Array<Resp.Arg> = ["GETEX", key]
  return make(args, decodeGetex, pushExpiry("GETEX", args, options))
}

const decodeStrlen = asInt("STRLEN")

/**
 * `STRLEN key` → the length in bytes (0 when missing).
 *
 * @since 0.1.0
 * @category strings
 */
export const strlen = (key: string): Command<number> => ({ args: ["STRLEN", key], decode: decodeStrlen })

// ---------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------

const decodeDel = asInt("DEL")
const decodeUnlink = asInt("UNLINK")
const decodeExists = asInt("EXISTS")

/**
 * `DEL key...` → the number of keys removed.
 *
 * @since 0.1.0
 * @category keys
 */
export const del = (...keys: ReadonlyArray<string>): Command<number> => {
  const { args, error } = variadic("DEL", ["DEL"], keys, "key")
  return make(args, decodeDel, error)
}

/**
 * `UNLINK key...` → the number of keys removed (memory reclaimed in the background).
 *
 * @since 0.1.0
 * @category keys
 */
export const unlink = (...keys: ReadonlyArray<string>): Command<number> => {
  const { args, error } = variadic("UNLINK", ["UNLINK"], keys, "key")
  return make(args, decodeUnlink, error)
}

/**
 * `EXISTS key...` → how many of the keys exist (a key named twice counts twice).
 *
 * @since 0.1.0
 * @category keys
 */
export const exists = (...keys: ReadonlyArray<string>): Command<number> => {
  const { args, error } = variadic("EXISTS", ["EXISTS"], keys, "key")
  return make(args, decodeExists, error)
}

/**
 * Options of {@link expire} and {@link pexpire}: `NX` (no expiry yet), `XX` (has one),
 * `GT` / `LT` (new expiry greater / less than the current one).
 *
 * @since 0.1.0
 * @category keys
 */
export interface ExpireOptions {
  readonly condition?: "NX" | "XX" | "GT" | "LT" | undefined
}

const decodeExpire = asBool("EXPIRE")
const decodePexpire = asBool("PEXPIRE")

const expireCommand = (
  name: "EXPIRE" | "PEXPIRE",
  key: string,
  ttl: Duration.Input,
  options: ExpireOptions | undefined
): Command<boolean> => {
  const ms = I.toMillis(ttl)
  const seconds = name === "EXPIRE" && ms !== undefined && ms % 1000 === 0
  const args: Array<Resp.Arg> = seconds ? ["EXPIRE", key, ms / 1000] : ["PEXPIRE", key, ms ?? 0]
  if (options?.condition !== undefined) args.push(options.condition)
  return make(
    args,
    seconds ? decodeExpire : decodePexpire,
    ms === undefined ? I.invalid(name, "ttl must be a finite duration", "ttl") : undefined
  )
}

/**
 * `EXPIRE key seconds [NX|XX|GT|LT]` (or `PEXPIRE` when `ttl` is not whole
 * seconds) → `true` when the timeout was set. A ttl of zero or less deletes the key.
 *
 * @since 0.1.0
 * @category keys
 */
export const expire = (key: string, ttl: Duration.Input, options?: ExpireOptions): Command<boolean> =>
  expireCommand("EXPIRE", key, ttl, options)

/**
 * `PEXPIRE key milliseconds [NX|XX|GT|LT]` → `true` when the timeout was set.
 *
 * @since 0.1.0
 * @category keys
 */
export const pexpire = (key: string, ttl: Duration.Input, options?: ExpireOptions): Command<boolean> =>
  expireCommand("PEXPIRE", key, ttl, options)

const decodeTtl = asInt("TTL")
const decodePttl = asInt("PTTL")

/**
 * `TTL key` → seconds to live; `-1` without expiry, `-2` when the key does not exist.
 *
 * @since 0.1.0
 * @category keys
 */
export const ttl = (key: string): Command<number> => ({ args: ["TTL", key], decode: decodeTtl })

/**
 * `PTTL key` → milliseconds to live; `-1` without expiry, `-2` when the key does not exist.
 *
 * @since 0.1.0
 * @category keys
 */
export const pttl = (key: string): Command<number> => ({ args: ["PTTL", key], decode: decodePttl })

const decodePersist = asBool("PERSIST")

/**
 * `PERSIST key` → `true` when an expiry was removed.
 *
 * @since 0.1.0
 * @category keys
 */
export const persist = (key: string): Command<boolean> => ({ args: ["PERSIST", key], decode: decodePersist })

const decodeType = asStr("TYPE")

/**
 * `TYPE key` → `"string"`, `"list"`, `"set"`, `"zset"`, `"hash"`, `"stream"`, ... or `"none"`.
 *
 * @since 0.1.0
 * @category keys
 */
export const type = (key: string): Command<string> => ({ args: ["TYPE", key], decode: decodeType })

const decodeRename = asOk("RENAME")

/**
 * `RENAME key newkey` → void (a missing key is an `ERR` reply).
 *
 * @since 0.1.0
 * @category keys
 */
export const rename = (key: string, newKey: string): Command<void> => ({
  args: ["RENAME", key, newKey],
  decode: decodeRename
})

/**
 * Options of the SCAN family: `match` (MATCH glob), `count` (COUNT hint, >= 1);
 * `type` (TYPE) is SCAN's only.
 *
 * @since 0.1.0
 * @category keys
 */
export interface ScanOptions {
  readonly match?: string | undefined
  readonly count?: number | undefined
  readonly type?: string | undefined
}

const pushScanOptions = (
  name: string,
  args: Array<Resp.Arg>,
  options: ScanOptions | undefined
): InvalidArgumentError | undefined => {
  if (options === undefined) return undefined
  if (options.match !== undefined) args.push("MATCH", options.match)
  if (options.count !== undefined) args.push("COUNT", options.count)
  if (options.type !== undefined) {
    if (name !== "SCAN") return I.invalid(name, "type is an option of SCAN only", "type")
    args.push("TYPE", options.type)
  }
  return options.count === undefined ? undefined : badCount(name, "count", options.count, 1)
}

const decodeScan: I.Decode<ScanPage<string>> = (r) => I.scanPage(r, "SCAN", I.strings)
const decodeSscan: I.Decode<ScanPage<string>> = (r) => I.scanPage(r, "SSCAN", I.strings)
const decodeHscan: I.Decode<ScanPage<readonly [string, string]>> = (r) => I.scanPage(r, "HSCAN", I.pairs)
const decodeZscan: I.Decode<ScanPage<ScoredMember>> = (r) => I.scanPage(r, "ZSCAN", I.scored)

/**
 * `SCAN cursor [MATCH] [COUNT] [TYPE]` → one page of key names; see {@link scanStream}.
 *
 * @since 0.1.0
 * @category keys
 */
export const scan = (cursor: string, options?: ScanOptions): Command<ScanPage<string>> => {
  const args: Array<Resp.Arg> = ["SCAN", cursor]
  return make(args, decodeScan, pushScanOptions("SCAN", args, options))
}

const cursorStream = <A, E, R>(
  execute: Execute<E, R>,
  page: (cursor: string) => Command<ScanPage<A>>
): Stream.Stream<A, E, R> =>
  Stream.paginate(
    "0",
    (cursor: string) =>
      Effect.map(
        execute(page(cursor)),
        (result) => [result.items, result.cursor === "0" ? Option.none<string>() : Option.some(result.cursor)] as const
      )
  )

/**
 * SCAN as a `Stream` of key names, following the cursor until `"0"`. As with SCAN
 * itself, a key present throughout is seen at least once; keys changed meanwhile may
 * be missed or repeated.
 *
 * @since 0.1.0
 * @category keys
 */
export const scanStream = <E, R = never>(execute: Execute<E, R>, options?: ScanOptions): Stream.Stream<string, E, R> =>
  cursorStream(execute, (cursor) => scan(cursor, options))

// ---------------------------------------------------------------------------
// hashes
// ---------------------------------------------------------------------------

const decodeHget = asStrOrNull("HGET")

/**
 * `HGET key field` → the value, or `null`.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hget = (key: string, field: string): Command<string | null> => ({
  args: ["HGET", key, field],
  decode: decodeHget
})

const decodeHset = asInt("HSET")

/**
 * `HSET key field value...` → the number of fields added (not updated).
 *
 * @since 0.1.0
 * @category hashes
 */
export const hset = (key: string, fields: Pairs): Command<number> => {
  const args: Array<Resp.Arg> = ["HSET", key]
  return make(args, decodeHset, pushPairs("HSET", args, fields))
}

const decodeHmget = asNullableStrings("HMGET")

/**
 * `HMGET key field...` → the values in field order, `null` for missing fields.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hmget = (key: string, ...fields: ReadonlyArray<string>): Command<ReadonlyArray<string | null>> => {
  const { args, error } = variadic("HMGET", ["HMGET", key], fields, "field")
  return make(args, decodeHmget, error)
}

const decodeHgetall: I.Decode<Record<string, string>> = (r) => I.record(r, "HGETALL")

/**
 * `HGETALL key` → the hash as a plain record (`{}` when missing), from a RESP2 flat array or a RESP3 map.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hgetall = (key: string): Command<Record<string, string>> => ({
  args: ["HGETALL", key],
  decode: decodeHgetall
})

const decodeHdel = asInt("HDEL")

/**
 * `HDEL key field...` → the number of fields removed.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hdel = (key: string, ...fields: ReadonlyArray<string>): Command<number> => {
  const { args, error } = variadic("HDEL", ["HDEL", key], fields, "field")
  return make(args, decodeHdel, error)
}

const decodeHincrby = asInt("HINCRBY")

/**
 * `HINCRBY key field increment` → the new value.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hincrby = (key: string, field: string, increment: number): Command<number> =>
  make(["HINCRBY", key, field, increment], decodeHincrby, badInt("HINCRBY", "increment", increment))

const decodeHexists = asBool("HEXISTS")

/**
 * `HEXISTS key field` → whether the field exists.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hexists = (key: string, field: string): Command<boolean> => ({
  args: ["HEXISTS", key, field],
  decode: decodeHexists
})

const decodeHlen = asInt("HLEN")

/**
 * `HLEN key` → the number of fields.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hlen = (key: string): Command<number> => ({ args: ["HLEN", key], decode: decodeHlen })

/**
 * `HSCAN key cursor [MATCH] [COUNT]` → one page of `[field, value]` pairs; see {@link hscanStream}.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hscan = (
  key: string,
  cursor: string,
  options?: ScanOptions
): Command<ScanPage<readonly [string, string]>> => {
  const args: Array<Resp.Arg> = ["HSCAN", key, cursor]
  return make(args, decodeHscan, pushScanOptions("HSCAN", args, options))
}

/**
 * HSCAN as a `Stream` of `[field, value]` pairs, following the cursor until `"0"`.
 *
 * @since 0.1.0
 * @category hashes
 */
export const hscanStream = <E, R = never>(
  execute: Execute<E, R>,
  key: string,
  options?: ScanOptions
): Stream.Stream<readonly [string, string], E, R> => cursorStream(execute, (cursor) => hscan(key, cursor, options))

// ---------------------------------------------------------------------------
// lists
// ---------------------------------------------------------------------------

const decodeLpush = asInt("LPUSH")
const decodeRpush = asInt("RPUSH")

/**
 * `LPUSH key element...` → the new length of the list.
 *
 * @since 0.1.0
 * @category lists
 */
export const lpush = (key: string, ...elements: ReadonlyArray<Resp.Arg>): Command<number> => {
  const { args, error } = variadic("LPUSH", ["LPUSH", key], elements, "element")
  return make(args, decodeLpush, error)
}

/**
 * `RPUSH key element...` → the new length of the list.
 *
 * @since 0.1.0
 * @category lists
 */
export const rpush = (key: string, ...elements: ReadonlyArray<Resp.Arg>): Command<number> => {
  const { args, error } = variadic("RPUSH", ["RPUSH", key], elements, "element")
  return make(args, decodeRpush, error)
}

const decodeLpop = asStrOrNull("LPOP")
const decodeRpop = asStrOrNull("RPOP")
const decodeLpopCount = asStringsOrNull("LPOP")
const decodeRpopCount = asStringsOrNull("RPOP")

const popCommand = (name: "LPOP" | "RPOP", key: string, count: number | undefined): Command<any> => {
  if (count === undefined) return { args: [name, key], decode: name === "LPOP" ? decodeLpop : decodeRpop }
  return make(
    [name, key, count],
    name === "LPOP" ? decodeLpopCount : decodeRpopCount,
    badCount(name, "count", count)
  )
}

/**
 * `LPOP key` → the first element or `null`; `LPOP key count` → up to `count`
 * elements, or `null` when the list does not exist.
 *
 * @since 0.1.0
 * @category lists
 */
export const lpop: {
  (key: string): Command<string | null>
  (key: string, count: number): Command<ReadonlyArray<string> | null>
} = (key: string, count?: number) => popCommand("LPOP", key, count)

/**
 * `RPOP key` → the last element or `null`; `RPOP key count` → up to `count`
 * elements, or `null` when the list does not exist.
 *
 * @since 0.1.0
 * @category lists
 */
export const rpop: {
  (key: string): Command<string | null>
  (key: string, count: number): Command<ReadonlyArray<string> | null>
} = (key: string, count?: number) => popCommand("RPOP", key, count)

const decodeLrange = asStrings("LRANGE")

/**
 * `LRANGE key start stop` → the elements (negative indexes count from the end).
 *
 * @since 0.1.0
 * @category lists
 */
export const lrange = (key: string, start: number, stop: number): Command<ReadonlyArray<string>> =>
  make(["LRANGE", key, start, stop], decodeLrange, badInt("LRANGE", "start", start) ?? badInt("LRANGE", "stop", stop))

const decodeLlen = asInt("LLEN")

/**
 * `LLEN key` → the length of the list (0 when missing).
 *
 * @since 0.1.0
 * @category lists
 */
export const llen = (key: string): Command<number> => ({ args: ["LLEN", key], decode: decodeLlen })

const decodeLtrim = asOk("LTRIM")

/**
 * `LTRIM key start stop` → void.
 *
 * @since 0.1.0
 * @category lists
 */
export const ltrim = (key: string, start: number, stop: number): Command<void> =>
  make(["LTRIM", key, start, stop], decodeLtrim, badInt("LTRIM", "start", start) ?? badInt("LTRIM", "stop", stop))

const decodeLrem = asInt("LREM")

/**
 * `LREM key count element` → the number removed (`count` > 0 from the head, < 0 from the tail, 0 all).
 *
 * @since 0.1.0
 * @category lists
 */
export const lrem = (key: string, count: number, element: Resp.Arg): Command<number> =>
  make(["LREM", key, count, element], decodeLrem, badInt("LREM", "count", count))

/**
 * The result of BLPOP / BRPOP: the list it popped from and the element.
 *
 * @since 0.1.0
 * @category lists
 */
export interface PoppedElement {
  readonly key: string
  readonly element: string
}

const poppedDecoder = (name: string): I.Decode<PoppedElement | null> => (r) => {
  if (r === null) return null
  if (!Array.isArray(r) || r.length !== 2) return I.fail(name, "a [key, element] pair or nil", r)
  return { key: I.str(r[0]!, name), element: I.str(r[1]!, name) }
}
const decodeBlpop = poppedDecoder("BLPOP")
const decodeBrpop = poppedDecoder("BRPOP")

const blockingPop = (
  name: "BLPOP" | "BRPOP",
  keys: string | ReadonlyArray<string>,
  timeout: Duration.Input
): Command<PoppedElement | null> => {
  const list = typeof keys === "string" ? [keys] : keys
  const seconds = blockSeconds(name, timeout)
  const ok = typeof seconds === "number"
  return make(
    [name, ...list, ok ? seconds : 0],
    name === "BLPOP" ? decodeBlpop : decodeBrpop,
    !ok ? seconds : list.length === 0 ? emptyList(name, "key") : undefined
  )
}

/**
 * `BLPOP key... timeout` → the first element of the first non-empty list, or
 * `null` when `timeout` passed (zero or an infinite duration blocks forever).
 *
 * @since 0.1.0
 * @category lists
 */
export const blpop = (keys: string | ReadonlyArray<string>, timeout: Duration.Input): Command<PoppedElement | null> =>
  blockingPop("BLPOP", keys, timeout)

/**
 * `BRPOP key... timeout` → the last element of the first non-empty list, or `null` when `timeout` passed.
 *
 * @since 0.1.0
 * @category lists
 */
export const brpop = (keys: string | ReadonlyArray<string>, timeout: Duration.Input): Command<PoppedElement | null> =>
  blockingPop("BRPOP", keys, timeout)

const decodeBlmove = asStrOrNull("BLMOVE")

/**
 * `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout` → the moved element, or `null` when `timeout` passed.
 *
 * @since 0.1.0
 * @category lists
 */
export const blmove = (
  source: string,
  destination: string,
  from: "LEFT" | "RIGHT",
  to: "LEFT" | "RIGHT",
  timeout: Duration.Input
): Command<string | null> => {
  const seconds = blockSeconds("BLMOVE", timeout)
  return typeof seconds === "number"
    ? { args: ["BLMOVE", source, destination, from, to, seconds], decode: decodeBlmove }
    : make(["BLMOVE", source, destination, from, to, 0], decodeBlmove, seconds)
}

// ---------------------------------------------------------------------------
// sets
// ---------------------------------------------------------------------------

const decodeSadd = asInt("SADD")
const decodeSrem = asInt("SREM")

/**
 * `SADD key member...` → the number of members added.
 *
 * @since 0.1.0
 * @category sets
 */
export const sadd = (key: string, ...members: ReadonlyArray<Resp.Arg>): Command<number> => {
  const { args, error } = variadic("SADD", ["SADD", key], members, "member")
  return make(args, decodeSadd, error)
}

/**
 * `SREM key member...` → the number of members removed.
 *
 * @since 0.1.0
 * @category sets
 */
export const srem = (key: string, ...members: ReadonlyArray<Resp.Arg>): Command<number> => {
  const { args, error } = variadic("SREM", ["SREM", key], members, "member")
  return make(args, decodeSrem, error)
}

const decodeSmembers = asStrings("SMEMBERS")

/**
 * `SMEMBERS key` → the members as an array (RESP3 sets too), in no particular order.
 *
 * @since 0.1.0
 * @category sets
 */
export const smembers = (key: string): Command<ReadonlyArray<string>> => ({
  args: ["SMEMBERS", key],
  decode: decodeSmembers
})

const decodeSismember = asBool("SISMEMBER")

/**
 * `SISMEMBER key member` → whether `member` is in the set.
 *
 * @since 0.1.0
 * @category sets
 */
export const sismember = (key: string, member: Resp.Arg): Command<boolean> => ({
  args: ["SISMEMBER", key, member],
  decode: decodeSismember
})

const decodeScard = asInt("SCARD")

/**
 * `SCARD key` → the number of members.
 *
 * @since 0.1.0
 * @category sets
 */
export const scard = (key: string): Command<number> => ({ args: ["SCARD", key], decode: decodeScard })

/**
 * `SSCAN key cursor [MATCH] [COUNT]` → one page of members; see {@link sscanStream}.
 *
 * @since 0.1.0
 * @category sets
 */
export const sscan = (key: string, cursor: string, options?: ScanOptions): Command<ScanPage<string>> => {
  const args: Array<Resp.Arg> = ["SSCAN", key, cursor]
  return make(args, decodeSscan, pushScanOptions("SSCAN", args, options))
}

/**
 * SSCAN as a `Stream` of members, following the cursor until `"0"`.
 *
 * @since 0.1.0
 * @category sets
 */
export const sscanStream = <E, R = never>(
  execute: Execute<E, R>,
  key: string,
  options?: ScanOptions
): Stream.Stream<string, E, R> => cursorStream(execute, (cursor) => sscan(key, cursor, options))

// ---------------------------------------------------------------------------
// sorted sets
// ---------------------------------------------------------------------------

/**
 * Options of {@link zadd} and {@link zaddIncr}: `condition` NX (only add) or XX
 * (only update), `comparison` GT / LT (only update when the new score is greater /
 * less; not with NX), `ch` (count changed members, not only added ones).
 *
 * @since 0.1.0
 * @category sorted sets
 */
export interface ZAddOptions {
  readonly condition?: "NX" | "XX" | undefined
  readonly comparison?: "GT" | "LT" | undefined
  readonly ch?: boolean | undefined
}

const pushZaddOptions = (name: string, args: Array<Resp.Arg>, options: ZAddOptions | undefined) => {
  if (options === undefined) return undefined
  if (options.condition !== undefined) args.push(options.condition)
  if (options.comparison !== undefined) args.push(options.comparison)
  if (options.ch === true) args.push("CH")
  return options.condition === "NX" && options.comparison !== undefined
    ? I.invalid(name, "NX excludes GT and LT", "comparison")
    : undefined
}

const decodeZadd = asInt("ZADD")
const decodeZaddIncr = asDoubleOrNull("ZADD")

/**
 * `ZADD key [NX|XX] [GT|LT] [CH] score member...` → the number of members added
 * (added or changed with `ch`).
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zadd = (
  key: string,
  members: ReadonlyArray<{ readonly member: Resp.Arg; readonly score: number }>,
  options?: ZAddOptions
): Command<number> => {
  const args: Array<Resp.Arg> = ["ZADD", key]
  let error = pushZaddOptions("ZADD", args, options)
  for (const { member, score } of members) {
    error ??= badNumber("ZADD", "score", score)
    args.push(score, member)
  }
  return make(args, decodeZadd, error ?? (members.length === 0 ? emptyList("ZADD", "member") : undefined))
}

/**
 * `ZADD key [NX|XX] [GT|LT] INCR increment member` → the member's new score, or
 * `null` when a condition prevented the update.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zaddIncr = (
  key: string,
  member: Resp.Arg,
  increment: number,
  options?: ZAddOptions
): Command<number | null> => {
  const args: Array<Resp.Arg> = ["ZADD", key]
  const error = pushZaddOptions("ZADD", args, options) ?? badNumber("ZADD", "increment", increment)
  args.push("INCR", increment, member)
  return make(args, decodeZaddIncr, error)
}

const decodeZrem = asInt("ZREM")

/**
 * `ZREM key member...` → the number of members removed.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zrem = (key: string, ...members: ReadonlyArray<Resp.Arg>): Command<number> => {
  const { args, error } = variadic("ZREM", ["ZREM", key], members, "member")
  return make(args, decodeZrem, error)
}

/**
 * Options of {@link zrange}: `by` SCORE or LEX (then `start`/`stop` are scores such as
 * `"(1"`, `"-inf"` or lex bounds such as `"[a"`), `rev` (REV), `limit` (LIMIT, needs `by`).
 *
 * @since 0.1.0
 * @category sorted sets
 */
export interface ZRangeOptions {
  readonly by?: "SCORE" | "LEX" | undefined
  readonly rev?: boolean | undefined
  readonly limit?: { readonly offset: number; readonly count: number } | undefined
}

const zrangeArgs = (
  key: string,
  start: Resp.Arg,
  stop: Resp.Arg,
  options: ZRangeOptions | undefined,
  withScores: boolean
) => {
  const args: Array<Resp.Arg> = ["ZRANGE", key, start, stop]
  let error: InvalidArgumentError | undefined
  if (options?.by !== undefined) args.push(options.by === "SCORE" ? "BYSCORE" : "BYLEX")
  if (options?.rev === true) args.push("REV")
  if (options?.limit !== undefined) {
    args.push("LIMIT", options.limit.offset, options.limit.count)
    error = options.by === undefined
      ? I.invalid("ZRANGE", "limit needs by: SCORE or LEX", "limit")
      : badCount("ZRANGE", "limit.offset", options.limit.offset) ?? badInt("ZRANGE", "limit.count", options.limit.count)
  }
  if (withScores) {
    args.push("WITHSCORES")
    if (options?.by === "LEX") error ??= I.invalid("ZRANGE", "scores cannot be read with by: LEX", "by")
  }
  if (options?.by === undefined) error ??= badIndex("ZRANGE", "start", start) ?? badIndex("ZRANGE", "stop", stop)
  return { args, error }
}

const decodeZrange = asStrings("ZRANGE")
const decodeZrangeWithScores = asScored("ZRANGE")

/**
 * `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]` → the members.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zrange = (
  key: string,
  start: Resp.Arg,
  stop: Resp.Arg,
  options?: ZRangeOptions
): Command<ReadonlyArray<string>> => {
  const { args, error } = zrangeArgs(key, start, stop, options, false)
  return make(args, decodeZrange, error)
}

/**
 * `ZRANGE ... WITHSCORES` → `{ member, score }` objects, from a RESP2 flat array or RESP3 pairs.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zrangeWithScores = (
  key: string,
  start: Resp.Arg,
  stop: Resp.Arg,
  options?: ZRangeOptions
): Command<ReadonlyArray<ScoredMember>> => {
  const { args, error } = zrangeArgs(key, start, stop, options, true)
  return make(args, decodeZrangeWithScores, error)
}

const decodeZscore = asDoubleOrNull("ZSCORE")

/**
 * `ZSCORE key member` → the score, or `null` when the member or key is missing.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zscore = (key: string, member: Resp.Arg): Command<number | null> => ({
  args: ["ZSCORE", key, member],
  decode: decodeZscore
})

const decodeZincrby = asDouble("ZINCRBY")

/**
 * `ZINCRBY key increment member` → the new score.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zincrby = (key: string, increment: number, member: Resp.Arg): Command<number> =>
  make(["ZINCRBY", key, increment, member], decodeZincrby, badNumber("ZINCRBY", "increment", increment))

const decodeZcard = asInt("ZCARD")

/**
 * `ZCARD key` → the number of members.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zcard = (key: string): Command<number> => ({ args: ["ZCARD", key], decode: decodeZcard })

const decodeZrank = asIntOrNull("ZRANK")

/**
 * `ZRANK key member` → the 0-based rank by ascending score, or `null`.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zrank = (key: string, member: Resp.Arg): Command<number | null> => ({
  args: ["ZRANK", key, member],
  decode: decodeZrank
})

/**
 * `ZSCAN key cursor [MATCH] [COUNT]` → one page of `{ member, score }`; see {@link zscanStream}.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zscan = (key: string, cursor: string, options?: ScanOptions): Command<ScanPage<ScoredMember>> => {
  const args: Array<Resp.Arg> = ["ZSCAN", key, cursor]
  return make(args, decodeZscan, pushScanOptions("ZSCAN", args, options))
}

/**
 * ZSCAN as a `Stream` of `{ member, score }`, following the cursor until `"0"`.
 *
 * @since 0.1.0
 * @category sorted sets
 */
export const zscanStream = <E, R = never>(
  execute: Execute<E, R>,
  key: string,
  options?: ScanOptions
): Stream.Stream<ScoredMember, E, R> => cursorStream(execute, (cursor) => zscan(key, cursor, options))

// ---------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------

/**
 * Options of {@link xadd}: `id` (default `"*"`), trimming by `maxLen` (MAXLEN) or
 * `minId` (MINID), `approximate` (`~`), `limit` (LIMIT, needs `approximate`),
 * `noMkStream` (NOMKSTREAM: do not create a missing stream).
 *
 * @since 0.1.0
 * @category streams
 */
export interface XAddOptions {
  readonly id?: string | undefined
  readonly maxLen?: number | undefined
  readonly minId?: string | undefined
  readonly approximate?: boolean | undefined
  readonly limit?: number | undefined
  readonly noMkStream?: boolean | undefined
}

const decodeXadd = asStrOrNull("XADD")

/**
 * `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id field value...`
 * → the new entry's id, or `null` with `noMkStream` when the stream does not exist.
 *
 * @since 0.1.0
 * @category streams
 */
export const xadd = (key: string, fields: Pairs, options: XAddOptions = {}): Command<string | null> => {
  const args: Array<Resp.Arg> = ["XADD", key]
  let error: InvalidArgumentError | undefined
  if (options.noMkStream === true) args.push("NOMKSTREAM")
  if (options.maxLen !== undefined && options.minId !== undefined) {
    error = I.invalid("XADD", "maxLen and minId exclude each other", "minId")
  }
  const threshold = options.maxLen ?? options.minId
  if (threshold !== undefined) {
    args.push(options.maxLen !== undefined ? "MAXLEN" : "MINID", options.approximate === true ? "~" : "=", threshold)
    if (options.maxLen !== undefined) error ??= badCount("XADD", "maxLen", options.maxLen)
    if (options.limit !== undefined) {
      args.push("LIMIT", options.limit)
      error ??= options.approximate === true
        ? badCount("XADD", "limit", options.limit)
        : I.invalid("XADD", "limit needs approximate: true", "limit")
    }
  } else if (options.limit !== undefined || options.approximate !== undefined) {
    error ??= I.invalid("XADD", "approximate and limit need maxLen or minId", "limit")
  }
  args.push(options.id ?? "*")
  const fieldsError = pushPairs("XADD", args, fields)
  return make(args, decodeXadd, error ?? fieldsError)
}

const decodeXlen = asInt("XLEN")

/**
 * `XLEN key` → the number of entries.
 *
 * @since 0.1.0
 * @category streams
 */
export const xlen = (key: string): Command<number> => ({ args: ["XLEN", key], decode: decodeXlen })

const entry = (reply: Resp.Reply, command: string): StreamEntry | DeletedStreamEntry => {
  if (!Array.isArray(reply) || reply.length !== 2) return I.fail(command, "an [id, fields] entry", reply)
  const fields = reply[1]!
  return { id: I.str(reply[0]!, command), fields: fields === null ? null : I.record(fields, command) }
}

const entries = (reply: Resp.Reply, command: string): Array<StreamEntry> => {
  const items = I.array(reply, command)
  const out: Array<StreamEntry> = []
  for (const item of items) {
    const e = entry(item, command)
    if (e.fields === null) return I.fail(command, "an entry with fields", item)
    out.push(e as StreamEntry)
  }
  return out
}

const groupEntries = (reply: Resp.Reply, command: string): Array<StreamEntry | DeletedStreamEntry> =>
  I.array(reply, command).map((item) => entry(item, command))

const streamsReply = <Entry>(
  reply: Resp.Reply,
  command: string,
  read: (reply: Resp.Reply, command: string) => ReadonlyArray<Entry>
): Array<StreamMessages<Entry>> | null => {
  if (reply === null) return null
  const out: Array<StreamMessages<Entry>> = []
  if (reply instanceof Map) {
    for (const [stream, items] of reply) out.push({ stream: I.str(stream, command), entries: read(items, command) })
    return out
  }
  for (const item of I.array(reply, command)) {
    if (!Array.isArray(item) || item.length !== 2) return I.fail(command, "a [stream, entries] pair", item)
    out.push({ stream: I.str(item[0]!, command), entries: read(item[1]!, command) })
  }
  return out
}

const decodeXrange: I.Decode<ReadonlyArray<StreamEntry>> = (r) => entries(r, "XRANGE")

/**
 * `XRANGE key start end [COUNT count]` → the entries (`start` default `"-"`, `end` default `"+"`).
 *
 * @since 0.1.0
 * @category streams
 */
export const xrange = (
  key: string,
  start = "-",
  end = "+",
  options?: { readonly count?: number | undefined }
): Command<ReadonlyArray<StreamEntry>> => {
  const args: Array<Resp.Arg> = ["XRANGE", key, start, end]
  if (options?.count !== undefined) args.push("COUNT", options.count)
  return make(
    args,
    decodeXrange,
    options?.count === undefined ? undefined : badCount("XRANGE", "count", options.count)
  )
}

/**
 * Streams to read and the id to read after, per stream: a record or pairs (`"$"`:
 * only new entries, `">"` with XREADGROUP: never-delivered entries).
 *
 * @since 0.1.0
 * @category streams
 */
export type StreamIds = Readonly<Record<string, string>> | Iterable<readonly [string, string]>

/**
 * Options of {@link xread}: `count` (COUNT per stream), `block` (BLOCK; zero or an infinite duration waits forever).
 *
 * @since 0.1.0
 * @category streams
 */
export interface XReadOptions {
  readonly count?: number | undefined
  readonly block?: Duration.Input | undefined
}

const pushReadOptions = (
  name: string,
  args: Array<Resp.Arg>,
  options: XReadGroupOptions | undefined,
  streams: StreamIds
): InvalidArgumentError | undefined => {
  let error: InvalidArgumentError | undefined
  if (options?.count !== undefined) {
    args.push("COUNT", options.count)
    error = badCount(name, "count", options.count, 1)
  }
  if (options?.block !== undefined) {
    const ms = I.toBlockMillis(options.block)
    args.push("BLOCK", ms ?? 0)
    if (ms === undefined) error ??= I.invalid(name, "block must be a non-negative duration", "block")
  }
  if (options?.noAck === true) args.push("NOACK")
  args.push("STREAMS")
  const keys: Array<string> = []
  const ids: Array<string> = []
  if (Symbol.iterator in streams) {
    for (const [key, id] of streams as Iterable<readonly [string, string]>) {
      keys.push(key)
      ids.push(id)
    }
  } else {
    const record = streams as Readonly<Record<string, string>>
    for (const key of Object.keys(record)) {
      keys.push(key)
      ids.push(record[key]!)
    }
  }
  args.push(...keys, ...ids)
  return error ?? (keys.length === 0 ? emptyList(name, "stream") : undefined)
}

const decodeXread: I.Decode<ReadonlyArray<StreamMessages> | null> = (r) => streamsReply(r, "XREAD", entries)

/**
 * `XREAD [COUNT] [BLOCK] STREAMS key... id...` → the entries per stream (RESP2
 * array or RESP3 map), or `null` when nothing arrived before the block timeout.
 *
 * @since 0.1.0
 * @category streams
 */
export const xread = (streams: StreamIds, options?: XReadOptions): Command<ReadonlyArray<StreamMessages> | null> => {
  const args: Array<Resp.Arg> = ["XREAD"]
  return make(args, decodeXread, pushReadOptions("XREAD", args, options, streams))
}

/**
 * Options of {@link xreadgroup}: those of XREAD plus `noAck` (NOACK).
 *
 * @since 0.1.0
 * @category streams
 */
export interface XReadGroupOptions extends XReadOptions {
  readonly noAck?: boolean | undefined
}

const decodeXreadgroup: I.Decode<ReadonlyArray<StreamMessages<StreamEntry | DeletedStreamEntry>> | null> = (r) =>
  streamsReply(r, "XREADGROUP", groupEntries)

/**
 * `XREADGROUP GROUP group consumer [COUNT] [BLOCK] [NOACK] STREAMS key... id...`
 * → the entries per stream, or `null` on timeout; history entries deleted since
 * delivery have `fields: null`.
 *
 * @since 0.1.0
 * @category streams
 */
export const xreadgroup = (
  group: string,
  consumer: string,
  streams: StreamIds,
  options?: XReadGroupOptions
): Command<ReadonlyArray<StreamMessages<StreamEntry | DeletedStreamEntry>> | null> => {
  const args: Array<Resp.Arg> = ["XREADGROUP", "GROUP", group, consumer]
  return make(args, decodeXreadgroup, pushReadOptions("XREADGROUP", args, options, streams))
}

const decodeXack = asInt("XACK")

/**
 * `XACK key group id...` → the number of entries acknowledged.
 *
 * @since 0.1.0
 * @category streams
 */
export const xack = (key: string, group: string, ...ids: ReadonlyArray<string>): Command<number> => {
  const { args, error } = variadic("XACK", ["XACK", key, group], ids, "id")
  return make(args, decodeXack, error)
}

const decodeXgroupCreate = asOk("XGROUP")

/**
 * `XGROUP CREATE key group id [MKSTREAM]` → void (`id` default `"$"`: only new
 * entries); an existing group is a `BUSYGROUP` reply error.
 *
 * @since 0.1.0
 * @category streams
 */
export const xgroupCreate = (
  key: string,
  group: string,
  id = "$",
  options?: { readonly mkStream?: boolean | undefined }
): Command<void> => ({
  args: options?.mkStream === true
    ? ["XGROUP", "CREATE", key, group, id, "MKSTREAM"]
    : ["XGROUP", "CREATE", key, group, id],
  decode: decodeXgroupCreate
})

// ---------------------------------------------------------------------------
// scripts
// ---------------------------------------------------------------------------

const scriptArgs = (
  name: string,
  body: string,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<Resp.Arg>
): Array<Resp.Arg> => [name, body, keys.length, ...keys, ...args]

/**
 * `EVAL script numkeys key... arg...` → the script's raw reply (Lua tables are arrays, nil is `null`).
 *
 * @since 0.1.0
 * @category scripts
 */
export const evalScript = (
  source: string | Script,
  keys: ReadonlyArray<string> = [],
  args: ReadonlyArray<Resp.Arg> = []
): Command<Resp.Reply> => ({
  args: scriptArgs("EVAL", typeof source === "string" ? source : source.source, keys, args),
  decode: identity
})

/**
 * `EVALSHA sha1 numkeys key... arg...` → the script's raw reply; an unknown script is a `NOSCRIPT` reply error.
 *
 * @since 0.1.0
 * @category scripts
 */
export const evalsha = (
  sha1: string | Script,
  keys: ReadonlyArray<string> = [],
  args: ReadonlyArray<Resp.Arg> = []
): Command<Resp.Reply> => ({
  args: scriptArgs("EVALSHA", typeof sha1 === "string" ? sha1 : sha1.sha1, keys, args),
  decode: identity
})

const decodeScriptLoad = asStr("SCRIPT")

/**
 * `SCRIPT LOAD script` → the script's SHA1.
 *
 * @since 0.1.0
 * @category scripts
 */
export const scriptLoad = (source: string | Script): Command<string> => ({
  args: ["SCRIPT", "LOAD", typeof source === "string" ? source : source.source],
  decode: decodeScriptLoad
})

// ---------------------------------------------------------------------------
// server
// ---------------------------------------------------------------------------

const decodePing = asStr("PING")

/**
 * `PING [message]` → `"PONG"`, or `message`.
 *
 * @since 0.1.0
 * @category server
 */
export const ping = (message?: string): Command<string> => ({
  args: message === undefined ? ["PING"] : ["PING", message],
  decode: decodePing
})

const decodeInfo = asStr("INFO")

/**
 * `INFO [section...]` → the raw text; see {@link parseInfo}.
 *
 * @since 0.1.0
 * @category server
 */
export const info = (...sections: ReadonlyArray<string>): Command<string> => ({
  args: ["INFO", ...sections],
  decode: decodeInfo
})

const decodeDbsize = asInt("DBSIZE")

/**
 * `DBSIZE` → the number of keys in the selected database.
 *
 * @since 0.1.0
 * @category server
 */
export const dbsize = (): Command<number> => ({ args: ["DBSIZE"], decode: decodeDbsize })

const decodeFlushdb = asOk("FLUSHDB")

/**
 * `FLUSHDB [ASYNC|SYNC]` → void.
 *
 * @since 0.1.0
 * @category server
 */
export const flushdb = (mode?: "ASYNC" | "SYNC"): Command<void> => ({
  args: mode === undefined ? ["FLUSHDB"] : ["FLUSHDB", mode],
  decode: decodeFlushdb
})

/**
 * The server's clock as TIME reports it.
 *
 * @since 0.1.0
 * @category server
 */
export interface ServerTime {
  readonly seconds: number
  readonly microseconds: number
}

const decodeTime: I.Decode<ServerTime> = (r) => {
  if (!Array.isArray(r) || r.length !== 2) return I.fail("TIME", "a [seconds, microseconds] pair", r)
  return { seconds: I.intText(r[0]!, "TIME"), microseconds: I.intText(r[1]!, "TIME") }
}

/**
 * `TIME` → `{ seconds, microseconds }` since the epoch.
 *
 * @since 0.1.0
 * @category server
 */
export const time = (): Command<ServerTime> => ({ args: ["TIME"], decode: decodeTime })
