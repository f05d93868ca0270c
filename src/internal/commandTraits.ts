/**
 * What a command is, read from its arguments: its name, whether it blocks on the
 * server (and for how long), whether it changes the state of the connection it runs
 * on, and whether sending it twice is as good as once. The connection gives a
 * blocking command its block time plus a margin as read deadline; the service routes
 * blocking and stateful commands away from shared connections and retries only what
 * is safe to repeat.
 *
 * @internal
 */
import type { Arg } from "../Resp.ts"
import { argText } from "./text.ts"

// -----------------------------------------------------------------------------
// name

const upper = (arg: Arg | undefined): string => argText(arg).toUpperCase()

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

// -----------------------------------------------------------------------------
// blocking

/** Seconds (may be fractional) as milliseconds; undefined when not a number. */
const seconds = (arg: Arg | undefined): number | undefined => {
  const value = arg === undefined ? NaN : Number(argText(arg))
  return Number.isFinite(value) && value >= 0 ? Math.ceil(value * 1000) : undefined
}

const millis = (arg: Arg | undefined): number | undefined => {
  const value = arg === undefined ? NaN : Number(argText(arg))
  return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined
}

/** The value following `option` (case-insensitive) before `stop`, searching from `from`. */
const optionValue = (args: ReadonlyArray<Arg>, from: number, option: string, stop: string): Arg | undefined => {
  for (let i = from; i < args.length - 1; i++) {
    const word = argText(args[i]).toUpperCase()
    if (word === stop) return undefined
    if (word === option) return args[i + 1]
  }
  return undefined
}

/** `undefined`: not blocking; otherwise the block time in milliseconds, 0 meaning "forever". */
const blockTime = (args: ReadonlyArray<Arg>): number | undefined => {
  const first = args[0]
  if (first === undefined) return undefined
  // Cheap filter first: every blocking command starts with B, X or W.
  let c: number
  if (typeof first === "string") c = first.charCodeAt(0)
  else if (first instanceof Uint8Array) c = first[0] ?? 0
  else return undefined
  c |= 0x20
  if (c !== 0x62 /* b */ && c !== 0x78 /* x */ && c !== 0x77 /* w */) return undefined
  const name = argText(first).toUpperCase()
  switch (name) {
    case "BLPOP":
    case "BRPOP":
    case "BLMOVE":
    case "BRPOPLPUSH":
    case "BZPOPMIN":
    case "BZPOPMAX":
      return seconds(args[args.length - 1]) ?? 0
    case "BLMPOP":
    case "BZMPOP":
      return seconds(args[1]) ?? 0
    case "XREAD":
    case "XREADGROUP": {
      const block = optionValue(args, 1, "BLOCK", "STREAMS")
      return block === undefined ? undefined : millis(block) ?? 0
    }
    case "WAIT":
    case "WAITAOF":
      return millis(args[args.length - 1]) ?? 0
    default:
      return undefined
  }
}

/**
 * Whether `args` is a command that blocks on the server: BLPOP, BRPOP, BLMOVE,
 * BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BLMPOP, BZMPOP, XREAD/XREADGROUP with BLOCK,
 * WAIT, WAITAOF.
 *
 * @internal
 */
export const isBlocking = (args: ReadonlyArray<Arg>): boolean => blockTime(args) !== undefined

/**
 * How long a blocking command may block on the server, in milliseconds
 * (`0`: without limit), or `undefined` when the command does not block.
 *
 * @internal
 */
export const blockingMillis: (args: ReadonlyArray<Arg>) => number | undefined = blockTime

// -----------------------------------------------------------------------------
// stateful and idempotent

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
 * Whether the command only reads (so a replica may serve it in a cluster).
 *
 * @internal
 */
export const isReadOnly = (name: string): boolean => readOnly.has(name)

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

/**
 * Read-only commands that are not about the server answering them (`INFO`,
 * `ROLE`, `TIME`, `PING`, `MEMORY`, `PUBSUB`, ...) nor scripts: they read keys,
 * so a replica answers them as the master would (with its replication lag).
 */
const serverLocal = new Set([
  "PING",
  "ECHO",
  "INFO",
  "TIME",
  "LASTSAVE",
  "ROLE",
  "LOLWUT",
  "TOUCH",
  "OBJECT",
  "MEMORY",
  "COMMAND",
  "PUBSUB",
  "EVAL_RO",
  "EVALSHA_RO",
  "FCALL_RO"
])

/**
 * Whether a replica may answer the command (a Sentinel service with `readFrom:
 * "replica"`): a read of keys, by the server's `readonly` flag (GET, MGET, HGET,
 * HGETALL, LRANGE, SMEMBERS, ZRANGE, EXISTS, TTL, the SCAN family, ...), that
 * neither blocks nor asks about the server itself, nor runs a script.
 *
 * @internal
 */
export const isReplicaRead = (name: string): boolean => readOnly.has(name) && !serverLocal.has(name)
