/**
 * A Redis Cluster's topology from one `CLUSTER SHARDS` (7.0+) or `CLUSTER
 * SLOTS` reply, RESP2 or RESP3, strings or bytes: shards (a master, its usable
 * replicas, its slot ranges) and a 16384-entry table from slot to shard index
 * (−1 where no usable shard owns the slot). The value is immutable; a refresh
 * builds a new one.
 *
 * Addresses follow the server's rules: a NULL endpoint means "the host this
 * reply came from"; `""` (the node does not know its IP) and `?` (hostname
 * preferred, none set) cannot be dialled, and such nodes are left out with
 * the reason in `skipped`. Port 0 (TLS-only nodes) becomes the node's
 * `tls-port`, else the origin's port. The address hook sees every address
 * before it is used. `CLUSTER SHARDS` replicas that are not `online` are left
 * out (7.0 calls a replica with replication offset 0 `loading`, and a failed
 * one `fail`); masters are kept whatever their health, as `CLUSTER SLOTS`
 * keeps them, so that both commands give the same topology.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { RedisReplyError } from "../Errors.ts"
import type { Reply } from "../Resp.ts"
import { SLOT_COUNT } from "./clusterSlot.ts"

/**
 * A reply that is not a topology: an error reply (`reason: "error-reply"`,
 * e.g. a server without `CLUSTER SHARDS`, or cluster support disabled;
 * `code` is its first word), or a value of another shape (`"malformed"`,
 * `path` says where).
 *
 * @internal
 */
export class ClusterTopologyError extends Data.TaggedError("ClusterTopologyError")<{
  readonly reason: "error-reply" | "malformed"
  readonly command: TopologyCommand
  readonly message: string
  readonly code?: string | undefined
  readonly path?: string | undefined
}> {}

/** @internal */
export type TopologyCommand = "CLUSTER SHARDS" | "CLUSTER SLOTS"

/** @internal */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * Options of the parsers.
 *
 * @internal
 */
export interface TopologyOptions {
  /** The address the reply came from, as the client dialled it. */
  readonly origin: Address
  /** Rewrites every node address (NAT, Docker, proxies); it sees the address after the endpoint rules. */
  readonly mapAddress?: ((host: string, port: number) => Address) | undefined
  /** Dial TLS: a node's `tls-port`, when the reply gives one, wins over its `port`. Default false. */
  readonly tls?: boolean | undefined
}

/**
 * One usable node.
 *
 * @internal
 */
export interface TopologyNode {
  readonly id: string
  /** Host and port to dial, after the endpoint rules and the address hook. */
  readonly host: string
  readonly port: number
  /** `host:port` (`[host]:port` for an IPv6 address): the key of the node's pool. */
  readonly address: string
  /** The node's `tls-port` when the reply gives one (`CLUSTER SHARDS` of a TLS-enabled node). */
  readonly tlsPort: number | undefined
  readonly role: "master" | "replica"
  /** `online`, `loading` or `fail` from `CLUSTER SHARDS`; undefined from `CLUSTER SLOTS`, which does not say. */
  readonly health: string | undefined
  readonly hostname: string | undefined
  readonly replicationOffset: number | undefined
}

/**
 * A master, its usable replicas and its slots (sorted, adjacent ranges merged).
 *
 * @internal
 */
export interface Shard {
  readonly master: TopologyNode
  readonly replicas: ReadonlyArray<TopologyNode>
  readonly slots: ReadonlyArray<readonly [start: number, end: number]>
}

/**
 * A node the reply named but the topology leaves out, and why.
 *
 * @internal
 */
export interface SkippedNode {
  readonly id: string
  readonly role: "master" | "replica"
  readonly endpoint: string | null
  readonly port: number
  readonly reason:
    | "unknown-endpoint" // "": the node does not know its own address
    | "unknown-hostname" // "?": hostnames preferred, the node announces none
    | "not-online" // a replica whose health is loading or fail
    | "no-slots" // a master that owns no slot (and its replicas)
    | "other-master" // a second master in one CLUSTER SHARDS entry (a failed old master)
    | "master-unusable" // a replica whose master was skipped
  readonly health: string | undefined
}

/**
 * @internal
 */
export interface Topology {
  readonly command: TopologyCommand
  readonly origin: Address
  /** Sorted by their lowest slot. */
  readonly shards: ReadonlyArray<Shard>
  /** Slot → index in `shards`, −1 when no usable shard owns it. Do not write to it. */
  readonly slots: Readonly<Int16Array>
  /** Slots marked −1. */
  readonly uncovered: number
  readonly skipped: ReadonlyArray<SkippedNode>
}

/**
 * `host:port`, with IPv6 hosts in brackets.
 *
 * @internal
 */
export const formatAddress = (host: string, port: number): string => host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

/** @internal */
export const shardOf = (topology: Topology, slot: number): Shard | undefined => {
  const index = topology.slots[slot]
  return index === undefined || index < 0 ? undefined : topology.shards[index]
}

/** @internal */
export const masterOf = (topology: Topology, slot: number): TopologyNode | undefined => shardOf(topology, slot)?.master

/**
 * Every node of the topology, masters first (in shard order), then replicas.
 *
 * @internal
 */
export const nodes = (topology: Topology): ReadonlyArray<TopologyNode> => [
  ...topology.shards.map((shard) => shard.master),
  ...topology.shards.flatMap((shard) => shard.replicas)
]

/**
 * Parses a `CLUSTER SHARDS` reply.
 *
 * @internal
 */
export const parseShards = (reply: Reply, options: TopologyOptions): Effect.Effect<Topology, ClusterTopologyError> =>
  guard("CLUSTER SHARDS", () => buildShards(reply, options))

/**
 * Parses a `CLUSTER SLOTS` reply.
 *
 * @internal
 */
export const parseSlots = (reply: Reply, options: TopologyOptions): Effect.Effect<Topology, ClusterTopologyError> =>
  guard("CLUSTER SLOTS", () => buildSlots(reply, options))

/**
 * Parses the reply of either command.
 *
 * @internal
 */
export const parseTopology = (
  command: TopologyCommand,
  reply: Reply,
  options: TopologyOptions
): Effect.Effect<Topology, ClusterTopologyError> =>
  command === "CLUSTER SHARDS" ? parseShards(reply, options) : parseSlots(reply, options)

// Internals ------------------------------------------------------------------

/** Thrown by the builders, turned into a failure by `guard`; any other exception stays a defect. */
class Malformed {
  readonly path: string
  readonly message: string
  constructor(path: string, message: string) {
    this.path = path
    this.message = message
  }
}

const guard = (command: TopologyCommand, build: () => Omit<Topology, "command">) =>
  Effect.suspend((): Effect.Effect<Topology, ClusterTopologyError> => {
    try {
      return Effect.succeed({ command, ...build() })
    } catch (error) {
      if (error instanceof RedisReplyError) {
        return Effect.fail(new ClusterTopologyError({ reason: "error-reply", command, code: error.code, message: `${command}: ${error.message}` }))
      }
      if (error instanceof Malformed) {
        return Effect.fail(
          new ClusterTopologyError({ reason: "malformed", command, path: error.path, message: `${command} reply is not a topology: ${error.path}: ${error.message}` })
        )
      }
      throw error
    }
  })

const utf8 = new TextDecoder()

const shapeOf = (value: Reply | undefined): string =>
  value === undefined
    ? "missing"
    : value === null
    ? "null"
    : Array.isArray(value)
    ? `an array of ${value.length}`
    : value instanceof Map
    ? "a map"
    : value instanceof Set
    ? "a set"
    : value instanceof Uint8Array
    ? "bytes"
    : typeof value

const isText = (value: Reply | undefined): value is string | Uint8Array => typeof value === "string" || value instanceof Uint8Array

const asText = (value: Reply | undefined, path: string): string => {
  if (typeof value === "string") return value
  if (value instanceof Uint8Array) return utf8.decode(value)
  throw new Malformed(path, `expected a string, got ${shapeOf(value)}`)
}

const optionalText = (value: Reply | undefined, path: string): string | undefined =>
  value === undefined || value === null ? undefined : asText(value, path)

const asInteger = (value: Reply | undefined, path: string, min: number, max: number): number => {
  let n: number = Number.NaN
  if (typeof value === "number") n = value
  else if (typeof value === "bigint") n = Number(value)
  else if (isText(value)) {
    const text = asText(value, path)
    if (/^-?\d+$/.test(text)) n = Number(text)
  }
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Malformed(path, `expected an integer in [${min}, ${max}], got ${typeof value === "number" ? value : shapeOf(value)}`)
  }
  return n
}

const asArray = (value: Reply | undefined, path: string): ReadonlyArray<Reply> => {
  if (Array.isArray(value)) return value
  throw new Malformed(path, `expected an array, got ${shapeOf(value)}`)
}

/** A RESP3 map or a RESP2 flat `[key, value, ...]` array, as a map with text keys. */
const asFields = (value: Reply | undefined, path: string): Map<string, Reply> => {
  const fields = new Map<string, Reply>()
  if (value instanceof Map) {
    for (const [key, field] of value) fields.set(asText(key, `${path} key`), field)
    return fields
  }
  const flat = asArray(value, path)
  if (flat.length % 2 !== 0) throw new Malformed(path, `expected key/value pairs, got ${flat.length} elements`)
  for (let i = 0; i < flat.length; i += 2) fields.set(asText(flat[i], `${path}[${i}]`), flat[i + 1]!)
  return fields
}

const isPlainPort = (port: number) => port > 0

interface RawNode {
  readonly id: string
  readonly endpoint: string | null
  /** Whether a `""` endpoint may stand for "the origin host" (SHARDS with a known `ip`, see `resolve`). */
  readonly emptyMeansOrigin: boolean
  readonly port: number
  readonly tlsPort: number | undefined
  readonly role: "master" | "replica"
  readonly health: string | undefined
  readonly hostname: string | undefined
  readonly replicationOffset: number | undefined
}

type Resolved = { readonly node: TopologyNode } | { readonly skipped: SkippedNode }

const skip = (raw: RawNode, reason: SkippedNode["reason"]): SkippedNode => ({
  id: raw.id,
  role: raw.role,
  endpoint: raw.endpoint,
  port: raw.port,
  reason,
  health: raw.health
})

const resolve = (raw: RawNode, options: TopologyOptions): Resolved => {
  let host: string
  if (raw.endpoint === null) host = options.origin.host
  else if (raw.endpoint === "?") return { skipped: skip(raw, "unknown-hostname") }
  else if (raw.endpoint === "") {
    // CLUSTER SHARDS has no NULL: with `cluster-preferred-endpoint-type unknown-endpoint` it sends ""
    // where CLUSTER SLOTS sends NULL (measured on 7.0). A node that knows its IP would send that IP
    // as the endpoint under the default type, so "" next to a known IP can only mean "unknown-endpoint".
    if (!raw.emptyMeansOrigin) return { skipped: skip(raw, "unknown-endpoint") }
    host = options.origin.host
  } else host = raw.endpoint
  const tlsPort = raw.tlsPort !== undefined && isPlainPort(raw.tlsPort) ? raw.tlsPort : undefined
  let port = options.tls === true && tlsPort !== undefined ? tlsPort : raw.port
  if (port === 0) port = tlsPort ?? options.origin.port
  if (options.mapAddress !== undefined) {
    const mapped = options.mapAddress(host, port)
    host = mapped.host
    port = mapped.port
  }
  return {
    node: Object.freeze({
      id: raw.id,
      host,
      port,
      address: formatAddress(host, port),
      tlsPort,
      role: raw.role,
      health: raw.health,
      hostname: raw.hostname,
      replicationOffset: raw.replicationOffset
    })
  }
}

interface RawShard {
  readonly path: string
  readonly masters: ReadonlyArray<RawNode>
  readonly replicas: ReadonlyArray<RawNode>
  readonly ranges: Array<readonly [number, number]>
}

/** Sorts and merges ranges (`0-865` + `866-866` → `0-866`). */
const normalize = (ranges: ReadonlyArray<readonly [number, number]>): ReadonlyArray<readonly [number, number]> => {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && start <= last[1] + 1) last[1] = Math.max(last[1], end)
    else merged.push([start, end])
  }
  return Object.freeze(merged.map((range) => Object.freeze(range) as readonly [number, number]))
}

const assemble = (raws: ReadonlyArray<RawShard>, options: TopologyOptions): Omit<Topology, "command"> => {
  const skipped: Array<SkippedNode> = []
  const built: Array<{ shard: Shard; path: string }> = []
  for (const raw of raws) {
    if (raw.ranges.length === 0) {
      for (const node of [...raw.masters, ...raw.replicas]) skipped.push(skip(node, "no-slots"))
      continue
    }
    const chosen = raw.masters.find((node) => node.health === undefined || node.health === "online") ?? raw.masters[0]
    for (const other of raw.masters) if (other !== chosen) skipped.push(skip(other, "other-master"))
    const master = chosen === undefined ? undefined : resolve(chosen, options)
    if (master === undefined || "skipped" in master) {
      if (master !== undefined) skipped.push(master.skipped)
      for (const node of raw.replicas) skipped.push(skip(node, "master-unusable"))
      continue
    }
    const replicas: Array<TopologyNode> = []
    for (const node of raw.replicas) {
      if (node.health !== undefined && node.health !== "online") {
        skipped.push(skip(node, "not-online"))
        continue
      }
      const replica = resolve(node, options)
      if ("skipped" in replica) skipped.push(replica.skipped)
      else replicas.push(replica.node)
    }
    built.push({ shard: Object.freeze({ master: master.node, replicas: Object.freeze(replicas), slots: normalize(raw.ranges) }), path: raw.path })
  }
  built.sort((a, b) => a.shard.slots[0]![0] - b.shard.slots[0]![0])
  const slots = new Int16Array(SLOT_COUNT).fill(-1)
  let covered = 0
  built.forEach(({ path, shard }, index) => {
    for (const [start, end] of shard.slots) {
      for (let slot = start; slot <= end; slot++) {
        if (slots[slot] !== -1) throw new Malformed(path, `slot ${slot} is claimed by two shards`)
        slots[slot] = index
      }
      covered += end - start + 1
    }
  })
  return {
    origin: options.origin,
    shards: Object.freeze(built.map(({ shard }) => shard)),
    slots,
    uncovered: SLOT_COUNT - covered,
    skipped: Object.freeze(skipped)
  }
}

const readRange = (startValue: Reply | undefined, endValue: Reply | undefined, path: string): readonly [number, number] => {
  const start = asInteger(startValue, path, 0, SLOT_COUNT - 1)
  const end = asInteger(endValue, path, 0, SLOT_COUNT - 1)
  if (end < start) throw new Malformed(path, `slot range ${start}-${end} ends before it starts`)
  return [start, end]
}

const buildShards = (reply: Reply, options: TopologyOptions): Omit<Topology, "command"> => {
  if (reply instanceof RedisReplyError) throw reply
  const raws = asArray(reply, "reply").map((entry, i): RawShard => {
    const path = `shard ${i}`
    const fields = asFields(entry, path)
    const slotList = asArray(fields.get("slots"), `${path} slots`)
    if (slotList.length % 2 !== 0) throw new Malformed(`${path} slots`, "expected start/end pairs")
    const ranges: Array<readonly [number, number]> = []
    for (let s = 0; s < slotList.length; s += 2) ranges.push(readRange(slotList[s], slotList[s + 1], `${path} slots[${s}]`))
    const masters: Array<RawNode> = []
    const replicas: Array<RawNode> = []
    asArray(fields.get("nodes"), `${path} nodes`).forEach((value, n) => {
      const where = `${path} node ${n}`
      const node = asFields(value, where)
      const role = asText(node.get("role"), `${where} role`)
      if (role !== "master" && role !== "replica") throw new Malformed(`${where} role`, `unknown role ${JSON.stringify(role)}`)
      const ip = optionalText(node.get("ip"), `${where} ip`)
      const tlsPort = node.get("tls-port")
      const offset = node.get("replication-offset")
      const raw: RawNode = {
        id: asText(node.get("id"), `${where} id`),
        endpoint: optionalText(node.get("endpoint"), `${where} endpoint`) ?? null,
        emptyMeansOrigin: ip !== undefined && ip !== "" && ip !== "?",
        // A TLS-only node may leave `port` out altogether.
        port: node.has("port") ? asInteger(node.get("port"), `${where} port`, 0, 65535) : 0,
        tlsPort: tlsPort === undefined || tlsPort === null ? undefined : asInteger(tlsPort, `${where} tls-port`, 0, 65535),
        role,
        health: optionalText(node.get("health"), `${where} health`),
        hostname: optionalText(node.get("hostname"), `${where} hostname`) || undefined,
        replicationOffset: offset === undefined || offset === null ? undefined : asInteger(offset, `${where} replication-offset`, -Infinity, Infinity)
      }
      ;(role === "master" ? masters : replicas).push(raw)
    })
    return { path, masters, replicas, ranges }
  })
  return assemble(raws, options)
}

const buildSlots = (reply: Reply, options: TopologyOptions): Omit<Topology, "command"> => {
  if (reply instanceof RedisReplyError) throw reply
  const readNode = (value: Reply | undefined, path: string, role: "master" | "replica"): RawNode => {
    const node = asArray(value, path)
    if (node.length < 2) throw new Malformed(path, `expected [endpoint, port, id, ...], got ${node.length} elements`)
    const endpoint = node[0] === null ? null : asText(node[0], `${path} endpoint`)
    const port = asInteger(node[1], `${path} port`, 0, 65535)
    const metadata = node[3] === undefined ? undefined : asFields(node[3], `${path} metadata`)
    return {
      // Before Redis 4 nodes had no id here; the address stands in.
      id: node[2] === undefined ? `${endpoint ?? options.origin.host}:${port}` : asText(node[2], `${path} id`),
      endpoint,
      emptyMeansOrigin: false,
      port,
      tlsPort: undefined,
      role,
      health: undefined,
      hostname: optionalText(metadata?.get("hostname"), `${path} hostname`) || undefined,
      replicationOffset: undefined
    }
  }
  // One entry per contiguous range: entries of one master become one shard, as CLUSTER SHARDS has it.
  const byMaster = new Map<string, { path: string; master: RawNode; replicas: Map<string, RawNode>; ranges: Array<readonly [number, number]> }>()
  asArray(reply, "reply").forEach((value, i) => {
    const path = `range ${i}`
    const entry = asArray(value, path)
    if (entry.length < 3) throw new Malformed(path, `expected [start, end, master, ...replicas], got ${entry.length} elements`)
    const range = readRange(entry[0], entry[1], path)
    const master = readNode(entry[2], `${path} master`, "master")
    let shard = byMaster.get(master.id)
    if (shard === undefined) {
      shard = { path, master, replicas: new Map(), ranges: [] }
      byMaster.set(master.id, shard)
    }
    shard.ranges.push(range)
    for (let r = 3; r < entry.length; r++) {
      const replica = readNode(entry[r], `${path} replica ${r - 3}`, "replica")
      if (!shard.replicas.has(replica.id)) shard.replicas.set(replica.id, replica)
    }
  })
  return assemble(
    [...byMaster.values()].map((shard) => ({ path: shard.path, masters: [shard.master], replicas: [...shard.replicas.values()], ranges: shard.ranges })),
    options
  )
}
