/**
 * Which arguments of a command are keys, and so which hash slot the command
 * belongs to. The positions are those of the server's own key specs
 * (`COMMAND INFO`: first key, last key, step), with the commands whose keys
 * are counted by an argument (`EVAL`, `ZUNIONSTORE`, `LMPOP`, ...) or follow a
 * keyword (`XREAD ... STREAMS`, `SORT ... STORE`) read by hand.
 *
 * A command missing from the table takes its key positions from the server's
 * own command table once it is loaded (`clusterCommands.ts`); before that, or
 * when only the server can find its keys (`movablekeys`), it counts as keyless:
 * it goes to any master, and a `MOVED` reply brings it to the owner.
 *
 * @internal
 */
import type { Arg } from "../Resp.ts"
import { keySlot } from "./clusterSlot.ts"
import { argText } from "./text.ts"

/** `[first, last, step]`: `last` −1 is the last argument, −2 the one before it. */
export type Range = readonly [first: number, last: number, step: number]

const one: Range = [1, 1, 1]
const all: Range = [1, -1, 1]
const two: Range = [1, 2, 1]
const pairs: Range = [1, -1, 2]
const allButLast: Range = [1, -2, 1]

const ranges = new Map<string, Range>()
const define = (range: Range, names: string) => {
  for (const name of names.split(" ")) ranges.set(name, range)
}

define(
  one,
  "GET SET SETNX SETEX PSETEX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETSET GETDEL GETEX GETRANGE SETRANGE " +
    "SUBSTR TYPE TTL PTTL EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME PERSIST DUMP RESTORE " +
    "HSET HSETNX HGET HMSET HMGET HDEL HLEN HKEYS HVALS HGETALL HEXISTS HINCRBY HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD " +
    "HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME HPEXPIRETIME HPERSIST HGETDEL HGETEX HSETEX " +
    "LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS " +
    "SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN " +
    "ZADD ZREM ZCARD ZCOUNT ZINCRBY ZRANGE ZRANGEBYSCORE ZRANGEBYLEX ZREVRANGE ZREVRANGEBYSCORE ZREVRANGEBYLEX ZRANK " +
    "ZREVRANK ZSCORE ZMSCORE ZLEXCOUNT ZPOPMIN ZPOPMAX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZSCAN ZRANDMEMBER " +
    "XADD XLEN XRANGE XREVRANGE XDEL XTRIM XACK XCLAIM XAUTOCLAIM XPENDING XSETID " +
    "SETBIT GETBIT BITCOUNT BITPOS BITFIELD BITFIELD_RO PFADD GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEORADIUS_RO " +
    "GEORADIUSBYMEMBER_RO SORT_RO SPUBLISH"
)
define(
  all,
  "MGET DEL UNLINK EXISTS TOUCH WATCH PFCOUNT PFMERGE SINTER SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE"
)
define(pairs, "MSET MSETNX")
define(two, "RENAME RENAMENX SMOVE RPOPLPUSH LMOVE BLMOVE BRPOPLPUSH COPY LCS GEOSEARCHSTORE ZRANGESTORE")
define(allButLast, "BLPOP BRPOP BZPOPMIN BZPOPMAX")
define([2, -1, 1], "BITOP")

/** Commands whose key is their third argument, after a subcommand (`OBJECT ENCODING key`). */
const subcommandKey = new Set(["OBJECT", "MEMORY", "XINFO", "XGROUP"])

/** `[index of numkeys, index of the first key, index of a key before them or −1]` */
const counted = new Map<string, readonly [numkeys: number, first: number, before: number]>([
  ["EVAL", [2, 3, -1]],
  ["EVALSHA", [2, 3, -1]],
  ["EVAL_RO", [2, 3, -1]],
  ["EVALSHA_RO", [2, 3, -1]],
  ["FCALL", [2, 3, -1]],
  ["FCALL_RO", [2, 3, -1]],
  ["ZUNION", [1, 2, -1]],
  ["ZINTER", [1, 2, -1]],
  ["ZDIFF", [1, 2, -1]],
  ["ZINTERCARD", [1, 2, -1]],
  ["SINTERCARD", [1, 2, -1]],
  ["LMPOP", [1, 2, -1]],
  ["ZMPOP", [1, 2, -1]],
  ["BLMPOP", [2, 3, -1]],
  ["BZMPOP", [2, 3, -1]],
  ["ZUNIONSTORE", [2, 3, 1]],
  ["ZINTERSTORE", [2, 3, 1]],
  ["ZDIFFSTORE", [2, 3, 1]]
])

const word = (arg: Arg | undefined): string => argText(arg).toUpperCase()

/** The arguments at a key range's positions. @internal */
export const rangeKeys = (args: ReadonlyArray<Arg>, [first, last, step]: Range): Array<Arg> => {
  const end = last >= 0 ? last : args.length + last
  const keys: Array<Arg> = []
  for (let i = first; i <= end && i < args.length; i += step) keys.push(args[i]!)
  return keys
}

/**
 * The keys of a command (`args[0]` is its name, any case), in order, or
 * undefined when this table does not know the command (it may still have
 * keys: see `clusterCommands.ts`, which asks the server).
 *
 * @internal
 */
export const knownKeys = (name: string, args: ReadonlyArray<Arg>): Array<Arg> | undefined => {
  const range = ranges.get(name)
  if (range !== undefined) return rangeKeys(args, range)
  const count = counted.get(name)
  if (count !== undefined) {
    const [at, first, before] = count
    const n = Number(argText(args[at]))
    const keys: Array<Arg> = before >= 0 && args[before] !== undefined ? [args[before]!] : []
    if (!Number.isInteger(n) || n < 0) return keys
    for (let i = first; i < first + n && i < args.length; i++) keys.push(args[i]!)
    return keys
  }
  if (subcommandKey.has(name)) return args.length > 2 ? [args[2]!] : []
  switch (name) {
    case "XREAD":
    case "XREADGROUP": {
      for (let i = 1; i < args.length; i++) {
        if (word(args[i]) === "STREAMS") {
          const rest = args.length - i - 1
          return args.slice(i + 1, i + 1 + Math.floor(rest / 2)) as Array<Arg>
        }
      }
      return []
    }
    case "SORT":
    case "GEORADIUS":
    case "GEORADIUSBYMEMBER": {
      const keys: Array<Arg> = args.length > 1 ? [args[1]!] : []
      for (let i = 2; i < args.length - 1; i++) {
        const option = word(args[i])
        if (option === "STORE" || option === "STOREDIST") keys.push(args[++i]!)
      }
      return keys
    }
    default:
      return undefined
  }
}

/**
 * The keys of a command, in order; empty for a keyless command or one this table does not know.
 *
 * @internal
 */
export const commandKeys = (name: string, args: ReadonlyArray<Arg>): Array<Arg> => knownKeys(name, args) ?? []

/** A key as `keySlot` takes it. */
const keyOf = (arg: Arg): string | Uint8Array => typeof arg === "string" || arg instanceof Uint8Array ? arg : String(arg)

/**
 * The slot of every key of the command, when they share one; `-1` for a
 * keyless command; `-2` when its keys hash to different slots (the server
 * would answer CROSSSLOT).
 *
 * @internal
 */
export const commandSlot = (name: string, args: ReadonlyArray<Arg>): number => keysSlot(commandKeys(name, args))

/** The slot shared by the keys of many commands: a slot, `-1` when none has a key, `-2` when they differ. */
export const commandsSlot = (
  commands: ReadonlyArray<ReadonlyArray<Arg>>,
  name: (args: ReadonlyArray<Arg>) => string,
  slotOf: (name: string, args: ReadonlyArray<Arg>) => number = commandSlot
): number => {
  let slot = -1
  for (const args of commands) {
    const next = slotOf(name(args), args)
    if (next === -2) return -2
    if (next === -1) continue
    if (slot === -1) slot = next
    else if (slot !== next) return -2
  }
  return slot
}

/** The slot of a list of keys (WATCH's): as {@link commandSlot}. */
export const keysSlot = (keys: ReadonlyArray<Arg>): number => {
  let slot = -1
  for (const key of keys) {
    const next = keySlot(keyOf(key))
    if (slot === -1) slot = next
    else if (slot !== next) return -2
  }
  return slot
}
