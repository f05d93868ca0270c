/**
 * The server's own command table (`COMMAND`), read once per cluster after its
 * first topology load: where a command's keys are (first key, last key, step,
 * or `movablekeys`) and its tips (`request_policy`, `response_policy`). It
 * routes what the hand-written tables of `clusterKeys.ts` and
 * `clusterFanout.ts` do not name: a command added in a later Redis, a module's
 * command, or a subcommand about the whole cluster (`FUNCTION LOAD`, `CONFIG
 * SET`, `MEMORY PURGE`, ...).
 *
 * The hand-written tables come first: they read keys the server's ranges cannot
 * express (`XREAD ... STREAMS`, `EVAL`'s numkeys), are checked against the
 * server's `COMMAND GETKEYS` in the tests, and need no round trip, so every
 * command routes before the table arrives. Where the tips and those tables
 * disagree, the tables decide on purpose: `PING` and `WAIT` (tips `all_shards`)
 * go to one node, since a caller pings its connection and waits for its own
 * writes; `RANDOMKEY` asks one master. A tip's `special` response, which no
 * generic merge can combine, sends the command to one node too.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import type { RedisError } from "../Errors.ts"
import type { Arg, Reply } from "../Resp.ts"
import { keysSlot, knownKeys, rangeKeys } from "./clusterKeys.ts"
import { argText, textOf } from "./text.ts"

/** Where a request goes, after the server's `request_policy` tip. */
export type RequestPolicy = "all_nodes" | "all_shards" | "multi_shard" | "special"

/** How the replies of a request sent to many nodes become one, after the server's `response_policy` tip. */
export type ResponsePolicy =
  | "one_succeeded"
  | "all_succeeded"
  | "agg_logical_and"
  | "agg_logical_or"
  | "agg_min"
  | "agg_max"
  | "agg_sum"
  | "special"

/** What the server says about one command or subcommand. */
export interface ServerCommand {
  /** Key positions (`first` 0: keyless); `last` −1 is the last argument. */
  readonly first: number
  readonly last: number
  readonly step: number
  /** Keys that only the server can find (`COMMAND GETKEYS`). */
  readonly movable: boolean
  readonly request: RequestPolicy | undefined
  readonly response: ResponsePolicy | undefined
}

/** Commands by upper-case name, subcommands as `NAME|SUB`. */
export type CommandTable = ReadonlyMap<string, ServerCommand>

const requestPolicies = new Set<string>(["all_nodes", "all_shards", "multi_shard", "special"])
const responsePolicies = new Set<string>([
  "one_succeeded",
  "all_succeeded",
  "agg_logical_and",
  "agg_logical_or",
  "agg_min",
  "agg_max",
  "agg_sum",
  "special"
])

const texts = (reply: Reply | undefined): Array<string> => {
  const items = Array.isArray(reply) ? reply : reply instanceof Set ? [...reply] : []
  const out: Array<string> = []
  for (const item of items) {
    const text = textOf(item)
    if (text !== undefined) out.push(text)
  }
  return out
}

const integer = (reply: Reply | undefined): number => typeof reply === "number" && Number.isInteger(reply) ? reply : 0

const readEntry = (reply: Reply, table: Map<string, ServerCommand>): void => {
  if (!Array.isArray(reply)) return
  const entry = reply as ReadonlyArray<Reply>
  const name = textOf(entry[0])
  if (name === undefined) return
  let request: RequestPolicy | undefined
  let response: ResponsePolicy | undefined
  for (const tip of texts(entry[7])) {
    const [kind, value = ""] = tip.split(":")
    if (kind === "request_policy" && requestPolicies.has(value)) request = value as RequestPolicy
    if (kind === "response_policy" && responsePolicies.has(value)) response = value as ResponsePolicy
  }
  table.set(name.toUpperCase(), {
    first: integer(entry[3]),
    last: integer(entry[4]),
    step: integer(entry[5]),
    movable: texts(entry[2]).includes("movablekeys"),
    request,
    response
  })
  const subcommands = entry[9]
  if (Array.isArray(subcommands)) for (const sub of subcommands as ReadonlyArray<Reply>) readEntry(sub, table)
}

/**
 * The table from a `COMMAND` reply (RESP2 or RESP3); entries it cannot read are left out.
 *
 * @internal
 */
export const readCommandTable = (reply: Reply): CommandTable => {
  const table = new Map<string, ServerCommand>()
  if (Array.isArray(reply)) for (const entry of reply as ReadonlyArray<Reply>) readEntry(entry, table)
  return table
}

/** The entry of a command, its subcommand's when it has one (`SCRIPT LOAD` is `SCRIPT|LOAD`). */
export const lookup = (table: CommandTable, name: string, args: ReadonlyArray<Arg>): ServerCommand | undefined => {
  if (args.length > 1) {
    const sub = table.get(`${name}|${argText(args[1]).toUpperCase()}`)
    if (sub !== undefined) return sub
  }
  return table.get(name)
}

/**
 * The slot of a command, as `commandSlot`, with the server's key positions for
 * a command the hand-written table does not know. A command whose keys only
 * the server can find (`movablekeys`) stays keyless: it goes to any master and
 * a `MOVED` brings it to the owner.
 *
 * @internal
 */
export const slotWith = (table: CommandTable | undefined, name: string, args: ReadonlyArray<Arg>): number => {
  // One lookup in the hand-written table, which comes first.
  const keys = knownKeys(name, args)
  if (keys !== undefined || table === undefined) return keysSlot(keys ?? [])
  const entry = lookup(table, name, args)
  if (entry === undefined || entry.first <= 0 || entry.movable || entry.step <= 0) return -1
  return keysSlot(rangeKeys(args, [entry.first, entry.last, entry.step]))
}

/** Commands whose tips say "every shard" that go to one node all the same (see the module's comment). */
const oneNode = new Set(["PING", "WAIT", "WAITAOF", "RANDOMKEY", "ECHO"])

/** A keyless command the tips send to many nodes: which ones, and how their outcomes become one. */
export interface Spread {
  readonly nodes: "masters" | "all"
  readonly combine: (exits: ReadonlyArray<Exit.Exit<Reply, RedisError>>) => Exit.Exit<Reply, RedisError>
}

const numbers = (replies: ReadonlyArray<Reply>, op: (a: number, b: number) => number): Reply => {
  const firstReply = replies[0]
  if (Array.isArray(firstReply)) {
    const out: Array<number> = []
    for (const reply of replies) {
      if (!Array.isArray(reply)) continue
      ;(reply as ReadonlyArray<Reply>).forEach((value, i) => {
        const n = typeof value === "number" ? value : value === true ? 1 : 0
        out[i] = out[i] === undefined ? n : op(out[i]!, n)
      })
    }
    return out
  }
  let total: number | undefined
  for (const reply of replies) {
    const n = typeof reply === "number" ? reply : reply === true ? 1 : 0
    total = total === undefined ? n : op(total, n)
  }
  return total ?? null
}

/** Replies with no policy: arrays joined (a listing per node), otherwise the first. */
const joined = (replies: ReadonlyArray<Reply>): Reply =>
  Array.isArray(replies[0]) ? replies.flatMap((reply) => (Array.isArray(reply) ? reply as ReadonlyArray<Reply> : [])) : replies[0] ?? null

const merges: Record<Exclude<ResponsePolicy, "one_succeeded" | "special">, (replies: ReadonlyArray<Reply>) => Reply> = {
  all_succeeded: (replies) => replies[0] ?? null,
  agg_sum: (replies) => numbers(replies, (a, b) => a + b),
  agg_min: (replies) => numbers(replies, Math.min),
  agg_max: (replies) => numbers(replies, Math.max),
  agg_logical_and: (replies) => numbers(replies, (a, b) => (a && b ? 1 : 0)),
  agg_logical_or: (replies) => numbers(replies, (a, b) => (a || b ? 1 : 0))
}

/**
 * How the server's tips spread a keyless command the hand-written fan-out
 * table does not name, or undefined when it goes to one node.
 *
 * @internal
 */
export const spreadWith = (table: CommandTable | undefined, name: string, args: ReadonlyArray<Arg>): Spread | undefined => {
  if (table === undefined || oneNode.has(name)) return undefined
  const entry = lookup(table, name, args)
  if (entry === undefined || (entry.request !== "all_shards" && entry.request !== "all_nodes")) return undefined
  const response = entry.response
  if (response === "special") return undefined
  const nodes = entry.request === "all_nodes" ? "all" : "masters"
  if (response === "one_succeeded") {
    return { nodes, combine: (exits) => exits.find((exit) => exit._tag === "Success") ?? exits[0]! }
  }
  const merge = response === undefined ? joined : merges[response]
  return {
    nodes,
    combine: (exits) => {
      const replies: Array<Reply> = []
      for (const exit of exits) {
        if (exit._tag === "Failure") return exit
        replies.push(exit.value)
      }
      return Exit.succeed(merge(replies))
    }
  }
}
