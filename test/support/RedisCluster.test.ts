import * as fs from "node:fs"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { RedisReplyError } from "../../src/Errors.ts"
import type * as Resp from "../../src/Resp.ts"
import { isListening } from "./ports.ts"
import * as RedisCluster from "./RedisCluster.ts"
import * as RedisServer from "./RedisServer.ts"

/** Alive and not a zombie. */
const isAlive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}

/** Polls with real timers until `check` holds or the bound passes. */
const eventually = (check: () => boolean | Promise<boolean>, boundMillis = 15_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + boundMillis
    while (true) {
      if (await check()) return true
      if (Date.now() > deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })

const errorText = (reply: Resp.Reply): string => (reply instanceof RedisReplyError ? reply.message : `not an error: ${String(reply)}`)

const gone = (nodes: ReadonlyArray<RedisCluster.ClusterNode>, pids: ReadonlyArray<number>) =>
  eventually(async () => {
    for (const pid of pids) if (isAlive(pid)) return false
    for (const node of nodes) {
      if (fs.existsSync(node.dir)) return false
      if (await isListening(node.port)) return false
      if (await isListening(node.busPort)) return false
    }
    return true
  })

describe("RedisCluster", () => {
  it.effect("starts 3 masters with redis-cli's slot split and a linked replica each; all gone when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cluster = yield* RedisCluster.make().pipe(Scope.provide(scope))
      assert.strictEqual(cluster.all.length, 6)
      const nodes = yield* cluster.nodes
      const masters = nodes.filter((node) => node.role === "master")
      assert.deepStrictEqual(masters.map((node) => node.slots), [[[0, 5460]], [[5461, 10922]], [[10923, 16383]]])
      assert.deepStrictEqual(masters.map((node) => node.node.index), [0, 1, 2])
      const replicas = nodes.filter((node) => node.role === "replica")
      assert.deepStrictEqual(replicas.map((node) => node.masterId), masters.map((node) => node.id))
      for (const node of cluster.all) {
        assert.notStrictEqual(node.busPort, node.port)
        assert.isTrue(yield* Effect.promise(() => isListening(node.busPort)))
        assert.include(yield* cluster.cli(node, "CLUSTER", "INFO"), "cluster_state:ok")
        assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "cluster-node-timeout"), "cluster-node-timeout\n1000")
        assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "appendonly"), "appendonly\nno")
        assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "repl-diskless-sync-delay"), "repl-diskless-sync-delay\n0")
        assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "cluster-port"), `cluster-port\n${node.busPort}`)
      }
      for (const replica of replicas) {
        assert.include(yield* cluster.cli(replica, "INFO", "replication"), "master_link_status:up")
      }
      assert.deepStrictEqual(cluster.addresses, cluster.all.map((node) => `127.0.0.1:${node.port}`))
      // Seconds, not tens of seconds: the server's own floor is 2 s. Reported, not asserted tightly.
      console.log(`RedisCluster: 3 masters + 3 replicas healthy in ${cluster.startMillis} ms`)
      assert.isBelow(cluster.startMillis, 30_000)
      const pids = cluster.all.map((node) => node.pid)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* gone(cluster.all, pids))
    }))

  it.effect("counts, node timeout and appendonly are options", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.make({ masters: 2, replicasPerMaster: 2, nodeTimeoutMillis: 1500, appendonly: "always" })
      const nodes = yield* cluster.nodes
      assert.strictEqual(nodes.length, 6)
      const masters = nodes.filter((node) => node.role === "master")
      assert.deepStrictEqual(masters.map((node) => node.slots), [[[0, 8191]], [[8192, 16383]]])
      for (const master of masters) {
        assert.strictEqual(nodes.filter((node) => node.masterId === master.id).length, 2)
      }
      const node = cluster.all[3]!
      assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "cluster-node-timeout"), "cluster-node-timeout\n1500")
      assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "appendonly"), "appendonly\nyes")
      assert.strictEqual(yield* cluster.cli(node, "CONFIG", "GET", "appendfsync"), "appendfsync\nalways")
    }))

  it.effect("a missing binary fails at once with a typed error that says how to install it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RedisCluster.make({ binary: "/nonexistent/bin/redis-server" }))
      assert.strictEqual(error._tag, "RedisClusterError")
      assert.strictEqual(error.reason, "start")
      assert.include(error.message, "apt-get install -y redis-server")
    }))

  it.effect("interrupting the fiber that holds the scope stops every node", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<RedisCluster.RedisCluster>()
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        const cluster = yield* RedisCluster.make({ masters: 1, replicasPerMaster: 1 })
        yield* Deferred.succeed(started, cluster)
        return yield* Effect.never
      })))
      const cluster = yield* Deferred.await(started)
      const pids = cluster.all.map((node) => node.pid)
      assert.isTrue(pids.every(isAlive))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* gone(cluster.all, pids))
    }))

  it.effect("interrupting a start that is under way kills the nodes started so far", () =>
    Effect.gen(function*() {
      const before = new Set(RedisServer.livePids())
      const fiber = yield* Effect.forkChild(Effect.scoped(RedisCluster.make()))
      // Interrupt once all six processes run, i.e. while the cluster is being wired.
      assert.isTrue(yield* eventually(() => RedisServer.livePids().filter((pid) => !before.has(pid)).length === 6))
      const pids = RedisServer.livePids().filter((pid) => !before.has(pid))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* eventually(() => pids.every((pid) => !isAlive(pid))))
      assert.deepStrictEqual(RedisServer.livePids().filter((pid) => pids.includes(pid)), [])
    }))
})

layer(RedisCluster.layer())("RedisCluster operations", (it) => {
  it.effect("a killed master's replica takes over its slots; restarted, the old master comes back as that replica's replica", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const master = yield* cluster.masterOf(866)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      // Acknowledged by the replica before the kill, so it survives the failover.
      assert.deepStrictEqual(yield* cluster.sendBatch(master, [["SET", "hello", "world"], ["WAIT", 1, 5000]]), ["OK", 1])
      yield* cluster.kill(master)
      assert.isFalse(master.running)
      assert.isFalse(isAlive(master.pid))
      yield* cluster.waitHealthy()
      const owner = yield* cluster.masterOf(866)
      assert.strictEqual(owner.id, replica.id)
      const view = (yield* cluster.nodes).find((node) => node.id === master.id)!
      assert.include(view.flags, "fail")
      assert.strictEqual(yield* cluster.send(replica, "GET", "hello"), "world")
      assert.strictEqual(errorText(yield* cluster.send(cluster.all.find((node) => node.id !== master.id && node.id !== replica.id)!, "GET", "hello")), `MOVED 866 ${replica.address}`)

      yield* cluster.restart(master)
      assert.isTrue(master.running)
      yield* cluster.waitHealthy()
      const back = (yield* cluster.nodes).find((node) => node.id === master.id)!
      assert.strictEqual(back.role, "replica")
      assert.strictEqual(back.masterId, replica.id)
      assert.deepStrictEqual(back.flags, [])
      assert.strictEqual(errorText(yield* cluster.send(master, "GET", "hello")), `MOVED 866 ${replica.address}`)
    }))

  it.effect("failover promotes a replica gracefully: its old master becomes its replica and redirects to it", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const master = yield* cluster.masterOf(12182) // "foo"
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.send(master, "SET", "foo", "bar")
      yield* cluster.failover(replica)
      assert.strictEqual((yield* cluster.masterOf(12182)).id, replica.id)
      const demoted = (yield* cluster.nodes).find((node) => node.id === master.id)!
      assert.strictEqual(demoted.role, "replica")
      assert.strictEqual(demoted.masterId, replica.id)
      assert.strictEqual(errorText(yield* cluster.send(master, "GET", "foo")), `MOVED 12182 ${replica.address}`)
      assert.strictEqual(yield* cluster.send(replica, "GET", "foo"), "bar")
      const refused = yield* Effect.flip(cluster.failover(replica))
      assert.strictEqual(refused.reason, "state")
    }))

  it.effect("a half-migrated slot answers ASK and TRYAGAIN as the server does mid-migration; finishing moves the slot", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const source = yield* cluster.masterOf(866) // "hello", "{hello}x"
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      const bystander = (yield* cluster.masters).find((node) => node.id !== source.id && node.id !== target.id)!
      yield* cluster.send(source, "SET", "hello", "world")
      yield* cluster.send(source, "SET", "{hello}x", "1")
      const moved = yield* cluster.migrateSlot(866, target, { finish: false, keys: ["hello"] })
      assert.strictEqual(moved.source.id, source.id)
      assert.strictEqual(moved.target.id, target.id)

      // The source serves what it still has, sends the rest away with ASK, and refuses a multi-key mix.
      assert.strictEqual(yield* cluster.send(source, "GET", "{hello}x"), "1")
      assert.strictEqual(errorText(yield* cluster.send(source, "GET", "hello")), `ASK 866 ${target.address}`)
      assert.strictEqual(errorText(yield* cluster.send(source, "SET", "hello", "again")), `ASK 866 ${target.address}`)
      assert.strictEqual(errorText(yield* cluster.send(source, "MGET", "hello", "{hello}x")), "TRYAGAIN Multiple keys request during rehashing of slot")
      // The target wants ASKING, for one command only; the others still point at the source.
      assert.strictEqual(errorText(yield* cluster.send(target, "GET", "hello")), `MOVED 866 ${source.address}`)
      const asking = yield* cluster.sendBatch(target, [["ASKING"], ["GET", "hello"], ["GET", "hello"]])
      assert.deepStrictEqual(asking.slice(0, 2), ["OK", "world"])
      assert.strictEqual(errorText(asking[2]!), `MOVED 866 ${source.address}`)
      assert.strictEqual(errorText(yield* cluster.send(bystander, "GET", "hello")), `MOVED 866 ${source.address}`)
      const tx = yield* cluster.sendBatch(target, [["ASKING"], ["MULTI"], ["GET", "hello"], ["SET", "{hello}y", "2"], ["EXEC"]])
      assert.match(errorText(tx[4]!), /^TRYAGAIN/)
      assert.strictEqual((yield* cluster.masterOf(866)).id, source.id)

      yield* cluster.migrateSlot(866, target, { finish: true })
      assert.strictEqual((yield* cluster.masterOf(866)).id, target.id)
      for (const node of [source, bystander]) {
        assert.strictEqual(errorText(yield* cluster.send(node, "GET", "hello")), `MOVED 866 ${target.address}`)
      }
      assert.strictEqual(yield* cluster.send(target, "GET", "hello"), "world")
      assert.strictEqual(yield* cluster.send(target, "GET", "{hello}x"), "1")
      assert.strictEqual(yield* cluster.send(source, "CLUSTER", "COUNTKEYSINSLOT", 866), 0)
      const range = (yield* cluster.nodes).find((node) => node.id === target.id)!.slots
      assert.isTrue(range.some(([start, end]) => start <= 866 && 866 <= end))
    }))

  it.effect("a paused master is failed over like a dead one; resumed, it rejoins as a replica", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const master = yield* cluster.masterOf(5061) // "foo{bar}{zap}"
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.pause(master)
      assert.isTrue(master.paused)
      yield* cluster.waitHealthy()
      assert.strictEqual((yield* cluster.masterOf(5061)).id, replica.id)
      yield* cluster.resume(master)
      yield* cluster.waitHealthy()
      const back = (yield* cluster.nodes).find((node) => node.id === master.id)!
      assert.strictEqual(back.role, "replica")
      assert.strictEqual(back.masterId, replica.id)
    }))
})
