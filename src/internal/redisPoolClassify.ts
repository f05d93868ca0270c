/**
 * What the service needs to know about a command before and after sending it:
 * its name, whether it must not run on a shared (pipelined) connection, and
 * whether repeating it after it may have run is safe.
 *
 * @internal
 */
import type { Arg } from "../Resp.ts"

const decoder = new TextDecoder()

const text = (arg: Arg | undefined): string =>
  arg === undefined ? "" : typeof arg === "string" ? arg : arg instanceof Uint8Array ? decoder.decode(arg) : String(arg)

const upper = (arg: Arg | undefined): string => text(arg).toUpperCase()

// Raw first arguments seen so far → upper-cased name. Bounded: commands are a small vocabulary, anything
// beyond the bound is upper-cased on each call.
const names = new Map<string, string>()

/**
 * The command's name, upper-cased (`"GET"`, `"CLIENT"`). Cached for string
 * names so the hot path does not upper-case on every call.
 *
 * @internal
 */
export const commandName = (args: ReadonlyArray<Arg>): string => {
  const first = args[0]
  if (typeof first !== "string") return upper(first)
  let name = names.get(first)
  if (name === undefined) {
    name = first.toUpperCase()
    if (names.size < 512) names.set(first, name)
  }
  return name
}

/** Commands that change the state of the connection they run on; their value is the advice given. */
const stateful: Record<string, string> = {
  SELECT: "use the `db` option, or `withConnection` for one exclusive connection",
  SWAPDB: "",
  WATCH: "use `watch(keys, f)`",
  UNWATCH: "use `watch(keys, f)`",
  MULTI: "use `multi(commands)` or `watch(keys, f)`",
  EXEC: "use `multi(commands)` or `watch(keys, f)`",
  DISCARD: "use `multi(commands)` or `watch(keys, f)`",
  SUBSCRIBE: "use the pub/sub API (`subscribe`)",
  PSUBSCRIBE: "use the pub/sub API (`psubscribe`)",
  SSUBSCRIBE: "use the pub/sub API (`ssubscribe`)",
  UNSUBSCRIBE: "use the pub/sub API",
  PUNSUBSCRIBE: "use the pub/sub API",
  SUNSUBSCRIBE: "use the pub/sub API",
  MONITOR: "use `withConnection`",
  SYNC: "use `withConnection`",
  PSYNC: "use `withConnection`",
  QUIT: "the pool closes connections itself",
  RESET: "use `withConnection`",
  HELLO: "use the `protocol`, `username`, `password` and `clientName` options",
  AUTH: "use the `username` and `password` options",
  READONLY: "use `withConnection`",
  READWRITE: "use `withConnection`"
}

const statefulClient: Record<string, string> = {
  REPLY: "use `withConnection`",
  SETNAME: "use the `clientName` option",
  TRACKING: "use `withConnection`",
  CACHING: "use `withConnection`",
  "NO-EVICT": "use `withConnection`",
  "NO-TOUCH": "use `withConnection`",
  SETINFO: "use the `libName`/`libVer` options"
}

/**
 * When the command changes connection state (SELECT, WATCH, MULTI, SUBSCRIBE,
 * CLIENT REPLY, ...), the advice for the caller; `undefined` otherwise.
 *
 * @internal
 */
export const statefulAdvice = (name: string, args: ReadonlyArray<Arg>): string | undefined => {
  const advice = stateful[name]
  if (advice !== undefined) return advice === "" ? "use `withConnection`" : advice
  if (name === "CLIENT") return statefulClient[upper(args[1])]
  return undefined
}

/** Read-only commands: repeating them changes nothing. */
const readOnly = new Set([
  "GET",
  "MGET",
  "GETRANGE",
  "SUBSTR",
  "STRLEN",
  "LCS",
  "EXISTS",
  "TYPE",
  "TTL",
  "PTTL",
  "EXPIRETIME",
  "PEXPIRETIME",
  "TOUCH",
  "KEYS",
  "SCAN",
  "RANDOMKEY",
  "DUMP",
  "DBSIZE",
  "PING",
  "ECHO",
  "INFO",
  "TIME",
  "LASTSAVE",
  "ROLE",
  "LOLWUT",
  "HGET",
  "HMGET",
  "HGETALL",
  "HEXISTS",
  "HLEN",
  "HKEYS",
  "HVALS",
  "HSTRLEN",
  "HSCAN",
  "HRANDFIELD",
  "HTTL",
  "HPTTL",
  "HEXPIRETIME",
  "HPEXPIRETIME",
  "LRANGE",
  "LLEN",
  "LINDEX",
  "LPOS",
  "SMEMBERS",
  "SISMEMBER",
  "SMISMEMBER",
  "SCARD",
  "SRANDMEMBER",
  "SINTER",
  "SINTERCARD",
  "SUNION",
  "SDIFF",
  "SSCAN",
  "ZRANGE",
  "ZRANGEBYSCORE",
  "ZRANGEBYLEX",
  "ZREVRANGE",
  "ZREVRANGEBYSCORE",
  "ZREVRANGEBYLEX",
  "ZSCORE",
  "ZMSCORE",
  "ZCARD",
  "ZCOUNT",
  "ZLEXCOUNT",
  "ZRANK",
  "ZREVRANK",
  "ZRANDMEMBER",
  "ZINTER",
  "ZINTERCARD",
  "ZUNION",
  "ZDIFF",
  "ZSCAN",
  "XRANGE",
  "XREVRANGE",
  "XLEN",
  "XINFO",
  "XPENDING",
  "BITCOUNT",
  "BITPOS",
  "GETBIT",
  "BITFIELD_RO",
  "PFCOUNT",
  "GEOPOS",
  "GEODIST",
  "GEOHASH",
  "GEOSEARCH",
  "GEORADIUS_RO",
  "GEORADIUSBYMEMBER_RO",
  "EVAL_RO",
  "EVALSHA_RO",
  "FCALL_RO",
  "OBJECT",
  "MEMORY",
  "COMMAND",
  "SORT_RO",
  "PUBSUB"
])

/**
 * Writes that leave the same state and give the same reply when applied twice.
 * `SET` qualifies only in its plain form (see {@link isIdempotent}).
 */
const idempotentWrites = new Set([
  "SETEX",
  "PSETEX",
  "MSET",
  "HMSET",
  "LSET",
  "EXPIREAT",
  "PEXPIREAT",
  "FLUSHDB",
  "FLUSHALL"
])

const idempotentSubcommands: Record<string, ReadonlySet<string>> = {
  CLIENT: new Set(["ID", "INFO", "LIST", "GETNAME"]),
  CONFIG: new Set(["GET"]),
  SCRIPT: new Set(["EXISTS", "LOAD"]),
  FUNCTION: new Set(["LIST", "DUMP", "STATS"]),
  SLOWLOG: new Set(["GET", "LEN"]),
  CLUSTER: new Set(["INFO", "NODES", "SLOTS", "SHARDS", "MYID", "KEYSLOT", "COUNTKEYSINSLOT"])
}

/** What a connection of a caller's own carries after the commands sent on it so far. */
export interface ConnState {
  watching: boolean
  inMulti: boolean
  /** A command changed the connection beyond WATCH/MULTI (SELECT, CLIENT REPLY, ...): close it rather than reuse it. */
  dirty: boolean
}

/** Updates `state` for one command about to be sent on the connection it describes. */
export const track = (state: ConnState, name: string, args: ReadonlyArray<Arg>): void => {
  switch (name) {
    case "WATCH":
      state.watching = true
      return
    case "UNWATCH":
      state.watching = false
      return
    case "MULTI":
      state.inMulti = true
      return
    case "EXEC":
    case "DISCARD":
      state.inMulti = false
      state.watching = false
      return
    default:
      if (statefulAdvice(name, args) !== undefined) state.dirty = true
  }
}

/**
 * Whether sending the command twice is as good as sending it once: read-only
 * commands, and writes whose second application changes neither the state nor
 * the reply (`MSET`, `SETEX`, `EXPIREAT`, ...). `SET` counts only without `NX`,
 * `XX` and `GET` (a repeated `SET NX` answers nil after it succeeded, a
 * repeated `SET GET` returns its own value); `SET ... EX` restarts the expiry
 * from the repeat. Counters, list and stream writes, `DEL`, `EVAL`,
 * `EXEC` and blocking commands never count.
 *
 * @internal
 */
export const isIdempotent = (name: string, args: ReadonlyArray<Arg>): boolean => {
  if (readOnly.has(name) || idempotentWrites.has(name)) return true
  if (name === "SET") {
    for (let i = 3; i < args.length; i++) {
      const word = upper(args[i])
      if (word === "NX" || word === "XX" || word === "GET") return false
      if (word === "EX" || word === "PX" || word === "EXAT" || word === "PXAT") i++
    }
    return true
  }
  if (name === "XREAD") {
    // Without BLOCK it reads; XREADGROUP moves entries to the PEL, so it is not listed.
    for (let i = 1; i < args.length; i++) {
      const word = upper(args[i])
      if (word === "STREAMS") return true
      if (word === "BLOCK") return false
    }
    return true
  }
  const subcommands = idempotentSubcommands[name]
  return subcommands !== undefined && subcommands.has(upper(args[1]))
}
