import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { RedisReplyError } from "../../src/Errors.ts"
import {
  type ClusterTopologyError,
  formatAddress,
  masterOf,
  nodes,
  parseShards,
  parseSlots,
  parseTopology,
  shardOf,
  type Topology,
  type TopologyOptions
} from "../../src/internal/clusterTopology.ts"
import type * as Resp from "../../src/Resp.ts"
import * as RedisCluster from "../support/RedisCluster.ts"

// Hand-made replies --------------------------------------------------------------------------

interface NodeSpec {
  readonly id: string
  readonly port: number
  readonly endpoint?: string | null
  readonly ip?: string
  readonly role?: "master" | "replica"
  readonly health?: string
  readonly tlsPort?: number
  readonly hostname?: string
  readonly offset?: number
}
interface ShardSpec {
  readonly slots: ReadonlyArray<number>
  readonly nodes: ReadonlyArray<NodeSpec>
}

/** Wire forms: RESP2 (flat arrays), RESP3 (maps), and either with strings as bytes (map keys too). */
type Form = "resp2" | "resp3" | "resp2-bytes" | "resp3-bytes"
const forms: ReadonlyArray<Form> = ["resp2", "resp3", "resp2-bytes", "resp3-bytes"]

const encoder = new TextEncoder()
const str = (form: Form, text: string): Resp.Reply => (form.endsWith("bytes") ? encoder.encode(text) : text)
const record = (form: Form, entries: ReadonlyArray<readonly [string, Resp.Reply]>): Resp.Reply =>
  form.startsWith("resp3")
    ? new Map(entries.map(([key, value]) => [str(form, key), value]))
    : entries.flatMap(([key, value]) => [str(form, key), value])

/** A CLUSTER SHARDS reply as redis-server 7.0 sends it. */
const shardsReply = (form: Form, shards: ReadonlyArray<ShardSpec>): Resp.Reply =>
  shards.map((shard) =>
    record(form, [
      ["slots", [...shard.slots]],
      [
        "nodes",
        shard.nodes.map((node) => {
          const ip = node.ip ?? "127.0.0.1"
          const endpoint = node.endpoint === undefined ? ip : node.endpoint
          return record(form, [
            ["id", str(form, node.id)],
            ["port", node.port],
            ...(node.tlsPort === undefined ? [] : [["tls-port", node.tlsPort] as const]),
            ["ip", str(form, ip)],
            ["endpoint", endpoint === null ? null : str(form, endpoint)],
            ...(node.hostname === undefined ? [] : [["hostname", str(form, node.hostname)] as const]),
            ["role", str(form, node.role ?? "master")],
            ["replication-offset", node.offset ?? 100],
            ["health", str(form, node.health ?? "online")]
          ])
        })
      ]
    ])
  )

/** The CLUSTER SLOTS reply of the same cluster: one entry per contiguous range, failed replicas left out. */
const slotsReply = (form: Form, shards: ReadonlyArray<ShardSpec>): Resp.Reply => {
  const entries: Array<readonly [number, Resp.Reply]> = []
  const node = (spec: NodeSpec): Resp.Reply => {
    const endpoint = spec.endpoint === undefined ? spec.ip ?? "127.0.0.1" : spec.endpoint
    const metadata: Array<readonly [string, Resp.Reply]> = []
    if (endpoint !== (spec.ip ?? "127.0.0.1")) metadata.push(["ip", str(form, spec.ip ?? "127.0.0.1")])
    if (spec.hostname !== undefined) metadata.push(["hostname", str(form, spec.hostname)])
    return [endpoint === null ? null : str(form, endpoint), spec.port, str(form, spec.id), record(form, metadata)]
  }
  for (const shard of shards) {
    const master = shard.nodes.find((spec) => (spec.role ?? "master") === "master")!
    const replicas = shard.nodes.filter((spec) => spec.role === "replica" && spec.health !== "fail")
    for (let i = 0; i < shard.slots.length; i += 2) {
      entries.push([shard.slots[i]!, [shard.slots[i]!, shard.slots[i + 1]!, node(master), ...replicas.map(node)]])
    }
  }
  return entries.sort((a, b) => a[0] - b[0]).map(([, entry]) => entry)
}

const origin = { host: "127.0.0.1", port: 7001 }
const options: TopologyOptions = { origin }

/** The three-shard cluster of the reference notes, slot 866 moved from the first master to the second. */
const threeShards: ReadonlyArray<ShardSpec> = [
  {
    slots: [0, 865, 867, 5460],
    nodes: [{ id: "a".repeat(40), port: 7001 }, { id: "d".repeat(40), port: 7004, role: "replica" }]
  },
  {
    slots: [866, 866, 5461, 10922],
    nodes: [{ id: "b".repeat(40), port: 7002 }, { id: "e".repeat(40), port: 7005, role: "replica" }]
  },
  {
    slots: [10923, 16383],
    nodes: [{ id: "c".repeat(40), port: 7003 }, { id: "f".repeat(40), port: 7006, role: "replica" }]
  }
]

const parse = (command: "shards" | "slots", reply: Resp.Reply, parseOptions: TopologyOptions = options): Topology =>
  Effect.runSync(command === "shards" ? parseShards(reply, parseOptions) : parseSlots(reply, parseOptions))
const parseError = (command: "shards" | "slots", reply: Resp.Reply): ClusterTopologyError =>
  Effect.runSync(Effect.flip(command === "shards" ? parseShards(reply, options) : parseSlots(reply, options)))

/** What both commands must agree on: ids, addresses, roles and slots (SLOTS has no health or offsets). */
const shape = (topology: Topology) => ({
  shards: topology.shards.map((shard) => ({
    master: `${shard.master.id}@${shard.master.address}`,
    replicas: shard.replicas.map((replica) => `${replica.id}@${replica.address}`).sort(),
    slots: shard.slots.map(([start, end]) => `${start}-${end}`)
  })),
  uncovered: topology.uncovered,
  table: Array.from(topology.slots)
})

describe("clusterTopology: hand-made replies", () => {
  for (const form of forms) {
    it(`CLUSTER SHARDS and CLUSTER SLOTS (${form}) give one topology: shards by lowest slot, ranges merged, a full slot table`, () => {
      const shards = parse("shards", shardsReply(form, threeShards))
      const slots = parse("slots", slotsReply(form, threeShards))
      assert.strictEqual(shards.command, "CLUSTER SHARDS")
      assert.strictEqual(slots.command, "CLUSTER SLOTS")
      assert.deepStrictEqual(shape(shards), shape(slots))
      assert.deepStrictEqual(shards.shards.map((shard) => shard.slots), [[[0, 865], [867, 5460]], [[866, 866], [5461, 10922]], [[10923, 16383]]])
      assert.strictEqual(shards.uncovered, 0)
      assert.strictEqual(shards.slots.length, 16384)
      assert.strictEqual(shards.slots[865], 0)
      assert.strictEqual(shards.slots[866], 1)
      assert.strictEqual(shards.slots[867], 0)
      assert.strictEqual(shards.slots[16383], 2)
      const first = shards.shards[0]!
      assert.deepStrictEqual(first.master, {
        id: "a".repeat(40),
        host: "127.0.0.1",
        port: 7001,
        address: "127.0.0.1:7001",
        tlsPort: undefined,
        role: "master",
        health: "online",
        hostname: undefined,
        replicationOffset: 100
      })
      assert.deepStrictEqual(first.replicas.map((replica) => [replica.id, replica.role, replica.port]), [["d".repeat(40), "replica", 7004]])
      assert.strictEqual(slots.shards[0]!.master.health, undefined)
      assert.deepStrictEqual(shards.skipped, [])
    })
  }

  it("SLOTS ranges of one master become one shard, adjacent ranges merged", () => {
    const reply = slotsReply("resp2", [{ slots: [0, 99, 100, 199, 300, 399], nodes: [{ id: "a", port: 7001 }] }])
    assert.strictEqual((reply as ReadonlyArray<Resp.Reply>).length, 3)
    const topology = parse("slots", reply)
    assert.deepStrictEqual(topology.shards.map((shard) => shard.slots), [[[0, 199], [300, 399]]])
    assert.strictEqual(topology.uncovered, 16384 - 300)
  })

  it("slots nobody owns are −1 and counted; lookups answer undefined there", () => {
    const topology = parse("shards", shardsReply("resp3", [{ slots: [0, 99], nodes: [{ id: "a", port: 7001 }] }]))
    assert.strictEqual(topology.uncovered, 16284)
    assert.strictEqual(topology.slots[99], 0)
    assert.strictEqual(topology.slots[100], -1)
    assert.strictEqual(masterOf(topology, 5)?.id, "a")
    assert.isUndefined(masterOf(topology, 100))
    assert.isUndefined(shardOf(topology, 16383))
    const empty = parse("slots", [])
    assert.strictEqual(empty.uncovered, 16384)
    assert.deepStrictEqual(empty.shards, [])
  })

  it("a NULL endpoint is the host the reply came from (SLOTS NULL; SHARDS sends \"\" next to a known ip)", () => {
    const spec: ReadonlyArray<ShardSpec> = [{
      slots: [0, 16383],
      nodes: [{ id: "a", port: 7001, endpoint: null }, { id: "b", port: 7002, endpoint: null, role: "replica" }]
    }]
    const fromSlots = parse("slots", slotsReply("resp3", spec), { origin: { host: "10.0.0.9", port: 6379 } })
    assert.deepStrictEqual(nodes(fromSlots).map((node) => node.address), ["10.0.0.9:7001", "10.0.0.9:7002"])
    // What 7.0 sends for CLUSTER SHARDS under `cluster-preferred-endpoint-type unknown-endpoint`.
    const sharded = [{ ...spec[0]!, nodes: spec[0]!.nodes.map((node) => ({ ...node, endpoint: "" })) }]
    const fromShards = parse("shards", shardsReply("resp2", sharded), { origin: { host: "10.0.0.9", port: 6379 } })
    assert.deepStrictEqual(nodes(fromShards).map((node) => node.address), ["10.0.0.9:7001", "10.0.0.9:7002"])
    assert.deepStrictEqual(fromShards.skipped, [])
  })

  it("\"\" (own address unknown) and \"?\" (no hostname) cannot be dialled: skipped with the reason; a skipped master's slots are −1", () => {
    const spec: ReadonlyArray<ShardSpec> = [
      {
        slots: [0, 8191],
        nodes: [
          { id: "a", port: 7001 },
          { id: "b", port: 7002, role: "replica", endpoint: "", ip: "" },
          { id: "c", port: 7003, role: "replica", endpoint: "?" }
        ]
      },
      { slots: [8192, 16383], nodes: [{ id: "d", port: 7004, endpoint: "?" }, { id: "e", port: 7005, role: "replica" }] }
    ]
    for (const command of ["shards", "slots"] as const) {
      const reply = command === "shards" ? shardsReply("resp3", spec) : slotsReply("resp2", spec)
      const topology = parse(command, reply)
      assert.deepStrictEqual(topology.shards.map((shard) => shard.master.id), ["a"])
      assert.deepStrictEqual(topology.shards[0]!.replicas, [])
      assert.strictEqual(topology.uncovered, 8192)
      assert.strictEqual(topology.slots[8192], -1)
      assert.deepStrictEqual(
        topology.skipped.map((node) => [node.id, node.role, node.reason, node.endpoint]),
        [["b", "replica", "unknown-endpoint", ""], ["c", "replica", "unknown-hostname", "?"], ["d", "master", "unknown-hostname", "?"], [
          "e",
          "replica",
          "master-unusable",
          "127.0.0.1"
        ]],
        command
      )
    }
  })

  it("a hostname endpoint is dialled as it is; the hostname is kept", () => {
    const spec: ReadonlyArray<ShardSpec> = [{ slots: [0, 16383], nodes: [{ id: "a", port: 7001, endpoint: "node-a.example", hostname: "node-a.example" }] }]
    for (const topology of [parse("shards", shardsReply("resp3", spec)), parse("slots", slotsReply("resp3", spec))]) {
      assert.strictEqual(topology.shards[0]!.master.address, "node-a.example:7001")
      assert.strictEqual(topology.shards[0]!.master.hostname, "node-a.example")
    }
  })

  it("port 0 (TLS-only) becomes the tls-port, else the origin's port; `tls` prefers the tls-port", () => {
    const spec: ReadonlyArray<ShardSpec> = [{
      slots: [0, 16383],
      nodes: [{ id: "a", port: 0, tlsPort: 8001 }, { id: "b", port: 7002, tlsPort: 8002, role: "replica" }]
    }]
    const plain = parse("shards", shardsReply("resp3", spec))
    assert.deepStrictEqual(nodes(plain).map((node) => [node.port, node.tlsPort]), [[8001, 8001], [7002, 8002]])
    const tls = parse("shards", shardsReply("resp2", spec), { origin, tls: true })
    assert.deepStrictEqual(nodes(tls).map((node) => node.port), [8001, 8002])
    const fromSlots = parse("slots", slotsReply("resp2", [{ slots: [0, 16383], nodes: [{ id: "a", port: 0 }] }]), {
      origin: { host: "redis.example", port: 6380 }
    })
    assert.strictEqual(fromSlots.shards[0]!.master.address, "127.0.0.1:6380")
  })

  it("replicas that are not online are skipped; a failed master is kept; a slotless failed master is skipped", () => {
    const spec: ReadonlyArray<ShardSpec> = [
      {
        slots: [0, 16383],
        nodes: [
          { id: "a", port: 7001, health: "fail" },
          { id: "b", port: 7002, role: "replica", health: "loading", offset: 0 },
          { id: "c", port: 7003, role: "replica", health: "fail" },
          { id: "d", port: 7004, role: "replica" }
        ]
      },
      { slots: [], nodes: [{ id: "e", port: 7005, health: "fail" }] }
    ]
    const topology = parse("shards", shardsReply("resp3", spec))
    assert.strictEqual(topology.shards[0]!.master.health, "fail")
    assert.deepStrictEqual(topology.shards[0]!.replicas.map((replica) => replica.id), ["d"])
    assert.deepStrictEqual(topology.skipped.map((node) => [node.id, node.reason, node.health]), [
      ["b", "not-online", "loading"],
      ["c", "not-online", "fail"],
      ["e", "no-slots", "fail"]
    ])
  })

  it("of two masters in one SHARDS entry (a failed old one beside its successor), the online one leads", () => {
    const spec: ReadonlyArray<ShardSpec> = [{
      slots: [0, 16383],
      nodes: [{ id: "old", port: 7001, health: "fail" }, { id: "new", port: 7002 }, { id: "r", port: 7003, role: "replica" }]
    }]
    const topology = parse("shards", shardsReply("resp2", spec))
    assert.strictEqual(topology.shards[0]!.master.id, "new")
    assert.deepStrictEqual(topology.skipped.map((node) => [node.id, node.reason]), [["old", "other-master"]])
  })

  it("the address hook rewrites every node, NULL-endpoint ones included", () => {
    const spec: ReadonlyArray<ShardSpec> = [
      { slots: [0, 8191], nodes: [{ id: "a", port: 7001 }, { id: "b", port: 7002, role: "replica" }] },
      { slots: [8192, 16383], nodes: [{ id: "c", port: 7003, endpoint: null }] }
    ]
    const seen: Array<string> = []
    const mapAddress = (host: string, port: number) => {
      seen.push(`${host}:${port}`)
      return { host: `nat-${port}.example`, port: port + 1000 }
    }
    const topology = parse("slots", slotsReply("resp2", spec), { origin, mapAddress })
    assert.deepStrictEqual(nodes(topology).map((node) => node.address), ["nat-7001.example:8001", "nat-7003.example:8003", "nat-7002.example:8002"])
    assert.deepStrictEqual(seen.sort(), ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"])
  })

  it("the value is immutable", () => {
    const topology = parse("shards", shardsReply("resp3", threeShards))
    assert.isTrue(Object.isFrozen(topology.shards))
    assert.isTrue(Object.isFrozen(topology.shards[0]))
    assert.isTrue(Object.isFrozen(topology.shards[0]!.master))
    assert.isTrue(Object.isFrozen(topology.shards[0]!.replicas))
    assert.isTrue(Object.isFrozen(topology.shards[0]!.slots))
    assert.isTrue(Object.isFrozen(topology.skipped))
  })

  it("IPv6 hosts are bracketed in addresses", () => {
    assert.strictEqual(formatAddress("::1", 7001), "[::1]:7001")
    assert.strictEqual(formatAddress("10.0.0.1", 7001), "10.0.0.1:7001")
    const topology = parse("slots", slotsReply("resp3", [{ slots: [0, 16383], nodes: [{ id: "a", port: 7001, endpoint: "::1" }] }]))
    assert.strictEqual(topology.shards[0]!.master.address, "[::1]:7001")
  })

  it("an error reply is a typed failure with its code (so a client can fall back from SHARDS to SLOTS)", () => {
    const error = parseError("shards", RedisReplyError.fromText("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP."))
    assert.strictEqual(error._tag, "ClusterTopologyError")
    assert.strictEqual(error.reason, "error-reply")
    assert.strictEqual(error.code, "ERR")
    assert.strictEqual(error.command, "CLUSTER SHARDS")
    assert.include(error.message, "unknown subcommand")
    const disabled = parseError("slots", RedisReplyError.fromText("ERR This instance has cluster support disabled"))
    assert.strictEqual(disabled.reason, "error-reply")
    assert.strictEqual(disabled.command, "CLUSTER SLOTS")
  })

  it("replies that are not a topology are typed failures that say where", () => {
    const good = shardsReply("resp2", threeShards) as ReadonlyArray<ReadonlyArray<Resp.Reply>>
    const cases: ReadonlyArray<readonly [command: "shards" | "slots", reply: Resp.Reply, path: string]> = [
      ["shards", "OK", "reply"],
      ["shards", null, "reply"],
      ["shards", 42, "reply"],
      ["shards", [["slots", [0, 100]]], "shard 0 nodes"],
      ["shards", [["slots", [0], "nodes", []]], "shard 0 slots"],
      ["shards", [["slots", [0, 16384], "nodes", []]], "shard 0 slots[0]"],
      ["shards", [["slots", [10, 5], "nodes", []]], "shard 0 slots[0]"],
      ["shards", [["slots", [0, 5], "nodes", [["id", "a", "port", 1, "role", "leader"]]]], "shard 0 node 0 role"],
      ["shards", [["slots", [0, 5], "nodes", [["port", 1, "role", "master"]]]], "shard 0 node 0 id"],
      ["shards", [["slots", [0, 5], "nodes", [["id", "a", "port", 70000, "role", "master", "endpoint", "h"]]]], "shard 0 node 0 port"],
      ["shards", [["slots", [0, 5], "nodes", [["id", "a", "port"]]]], "shard 0 node 0"],
      ["shards", [good[0]!, good[0]!], "shard 1"],
      ["slots", [[0, 100]], "range 0"],
      ["slots", [[0, 100, ["h"]]], "range 0 master"],
      ["slots", [[0, 100, ["h", "x", "id"]]], "range 0 master port"],
      ["slots", [[0, 100, [42, 7001, "id"]]], "range 0 master endpoint"],
      ["slots", [["a", 100, ["h", 7001, "id"]]], "range 0"],
      ["slots", [[0, 100, ["h", 7001, "a"]], [50, 200, ["h", 7002, "b"]]], "range 1"]
    ]
    for (const [command, reply, path] of cases) {
      const error = parseError(command, reply)
      assert.strictEqual(error.reason, "malformed", JSON.stringify(reply))
      assert.strictEqual(error.path, path, JSON.stringify(reply))
      assert.include(error.message, "is not a topology", JSON.stringify(reply))
    }
  })

  it("parseTopology dispatches on the command", () => {
    const viaShards = Effect.runSync(parseTopology("CLUSTER SHARDS", shardsReply("resp3", threeShards), options))
    const viaSlots = Effect.runSync(parseTopology("CLUSTER SLOTS", slotsReply("resp3", threeShards), options))
    assert.deepStrictEqual(shape(viaShards), shape(viaSlots))
  })
})

// Against a real cluster -----------------------------------------------------------------------

const topologies = (cluster: RedisCluster.RedisCluster, node: RedisCluster.NodeRef) =>
  Effect.gen(function*() {
    const results: Array<readonly [string, Topology]> = []
    const from = { origin: { host: "127.0.0.1", port: cluster.node(node).port } }
    for (const resp3 of [false, true]) {
      const [shards, slots] = yield* cluster.sendBatch(node, [["CLUSTER", "SHARDS"], ["CLUSTER", "SLOTS"]], { resp3 })
      results.push([`SHARDS resp${resp3 ? 3 : 2}`, yield* parseShards(shards!, from)])
      results.push([`SLOTS resp${resp3 ? 3 : 2}`, yield* parseSlots(slots!, from)])
    }
    return results
  })

/** Every running node's SHARDS and SLOTS, in both protocols, give the same topology; returns it. */
const agreedTopology = (cluster: RedisCluster.RedisCluster) =>
  Effect.gen(function*() {
    let agreed: ReturnType<typeof shape> | undefined
    let first: Topology | undefined
    for (const node of cluster.all.filter((node) => node.running && !node.paused)) {
      for (const [what, topology] of yield* topologies(cluster, node)) {
        assert.strictEqual(topology.uncovered, 0, `${what} from ${node.port}`)
        if (agreed === undefined) {
          agreed = shape(topology)
          first = topology
        } else assert.deepStrictEqual(shape(topology), agreed, `${what} from ${node.port}`)
      }
    }
    return first!
  })

/** The topology as the support's CLUSTER NODES view has it. */
const expectedShape = (cluster: RedisCluster.RedisCluster) =>
  Effect.map(cluster.nodes, (list) =>
    list
      .filter((node) => node.role === "master" && node.slots.length > 0)
      .map((master) => ({
        master: `${master.id}@${master.address}`,
        replicas: list
          .filter((node) => node.masterId === master.id && node.node.running && !node.flags.includes("fail"))
          .map((node) => `${node.id}@${node.address}`)
          .sort(),
        slots: master.slots.map(([start, end]) => `${start}-${end}`)
      }))
      .sort((a, b) => Number.parseInt(a.slots[0]!, 10) - Number.parseInt(b.slots[0]!, 10)))

layer(RedisCluster.layer())("clusterTopology against a real cluster", (it) => {
  it.effect("SHARDS and SLOTS, RESP2 and RESP3, from every node, agree with each other and with CLUSTER NODES", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const topology = yield* agreedTopology(cluster)
      assert.deepStrictEqual(shape(topology).shards, yield* expectedShape(cluster))
      assert.strictEqual(topology.shards.length, 3)
      for (const shard of topology.shards) {
        assert.strictEqual(shard.replicas.length, 1)
        assert.strictEqual(shard.master.health, "online")
      }
      assert.deepStrictEqual(topology.skipped, [])
    }))

  it.effect("mid-migration the source still owns the slot; once finished, every reply moves it", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const source = yield* cluster.masterOf(866)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.send(source, "SET", "hello", "world")
      yield* cluster.migrateSlot(866, target, { finish: false, keys: ["hello"] })
      const during = yield* agreedTopology(cluster)
      assert.strictEqual(masterOf(during, 866)?.id, source.id)
      yield* cluster.migrateSlot(866, target, { finish: true })
      const after = yield* agreedTopology(cluster)
      assert.strictEqual(masterOf(after, 866)?.id, target.id)
      assert.strictEqual(masterOf(after, 865)?.id, source.id)
      assert.strictEqual(masterOf(after, 867)?.id, source.id)
      const moved = shardOf(after, 866)!
      assert.isTrue(moved.slots.some(([start, end]) => start <= 866 && 866 <= end))
      assert.isTrue(shardOf(after, 865)!.slots.some(([, end]) => end === 865))
      assert.deepStrictEqual(shape(after).shards, yield* expectedShape(cluster))
    }))

  it.effect("after a graceful failover the promoted replica leads the shard and its old master is its replica", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const master = yield* cluster.masterOf(12182)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.failover(replica)
      const topology = yield* agreedTopology(cluster)
      const shard = shardOf(topology, 12182)!
      assert.strictEqual(shard.master.id, replica.id)
      assert.deepStrictEqual(shard.replicas.map((node) => node.id), [master.id])
      assert.deepStrictEqual(shape(topology).shards, yield* expectedShape(cluster))
    }))

  it.effect("after a master is killed and failed over, it is gone from the topology; SHARDS records it as skipped", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const master = yield* cluster.masterOf(5061)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.kill(master)
      yield* cluster.waitHealthy()
      const topology = yield* agreedTopology(cluster)
      const shard = shardOf(topology, 5061)!
      assert.strictEqual(shard.master.id, replica.id)
      assert.deepStrictEqual(shard.replicas, [])
      assert.notInclude(nodes(topology).map((node) => node.id), master.id)
      const survivor = cluster.all.find((node) => node.running)!
      const [shards] = yield* cluster.sendBatch(survivor, [["CLUSTER", "SHARDS"]])
      const fromShards = yield* parseShards(shards!, { origin: { host: "127.0.0.1", port: survivor.port } })
      const dead = fromShards.skipped.find((node) => node.id === master.id)
      assert.isDefined(dead)
      assert.strictEqual(dead!.health, "fail")
      yield* cluster.restart(master)
      yield* cluster.waitHealthy()
      const healed = yield* agreedTopology(cluster)
      assert.deepStrictEqual(shardOf(healed, 5061)!.replicas.map((node) => node.id), [master.id])
    }))
})
