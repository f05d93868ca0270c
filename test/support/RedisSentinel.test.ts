import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { isListening } from "./ports.ts"
import * as RawSocket from "./RawSocket.ts"
import * as RedisSentinel from "./RedisSentinel.ts"

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

const gone = (nodes: ReadonlyArray<RedisSentinel.SentinelGroupNode>, pids: ReadonlyArray<number>) =>
  eventually(async () => {
    for (const pid of pids) if (isAlive(pid)) return false
    for (const node of nodes) {
      if (fs.existsSync(node.dir)) return false
      if (await isListening(node.port)) return false
    }
    return true
  })

/** The directory of the `redis-sentinel` link a sentinel process was started from (its argv[0]). */
const linkDirOf = (pid: number) => path.dirname(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!)

/** `SENTINEL MASTER <name>` of one sentinel as a record. */
const masterFields = (group: RedisSentinel.RedisSentinel, sentinel: RedisSentinel.SentinelGroupNode) =>
  Effect.map(group.cli(sentinel, "SENTINEL", "MASTER", group.masterName), (out) => {
    const lines = out.split("\n")
    const fields: Record<string, string> = {}
    for (let i = 0; i + 1 < lines.length; i += 2) fields[lines[i]!] = lines[i + 1]!
    return fields
  })

const role = (group: RedisSentinel.RedisSentinel, node: RedisSentinel.SentinelGroupNode) =>
  Effect.map(group.cli(node, "ROLE"), (out) => out.split("\n"))

describe("RedisSentinel", () => {
  it.effect("starts a master, a linked replica and 3 sentinels that agree on it and know each other; all gone when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const group = yield* RedisSentinel.make().pipe(Scope.provide(scope))
      assert.strictEqual(group.data.length, 2)
      assert.strictEqual(group.sentinels.length, 3)
      const [master, replica] = group.data
      assert.deepStrictEqual(yield* group.masterAddress, { host: "127.0.0.1", port: master!.port })
      assert.strictEqual((yield* group.master).port, master!.port)
      assert.strictEqual((yield* role(group, master!))[0], "master")
      assert.include(yield* group.cli(replica!, "INFO", "replication"), "master_link_status:up")
      for (const sentinel of group.sentinels) {
        assert.include(yield* group.cli(sentinel, "INFO", "server"), "redis_mode:sentinel")
        const fields = yield* masterFields(group, sentinel)
        assert.strictEqual(fields["port"], String(master!.port))
        assert.strictEqual(fields["quorum"], "2")
        assert.strictEqual(fields["down-after-milliseconds"], "1000")
        assert.strictEqual(fields["failover-timeout"], "5000")
        assert.strictEqual(fields["num-slaves"], "1")
        assert.strictEqual(fields["num-other-sentinels"], "2")
        // Sentinel rewrote its own, fresh file with what it learnt.
        assert.include(fs.readFileSync(path.join(sentinel.dir, "redis.conf"), "utf8"), "sentinel myid ")
      }
      assert.deepStrictEqual(group.sentinelAddresses, group.sentinels.map((node) => `127.0.0.1:${node.port}`))
      console.log(`RedisSentinel: master + replica + 3 sentinels healthy in ${group.startMillis} ms`)
      assert.isBelow(group.startMillis, 30_000)
      // Its own link directory (other runs on the machine may have theirs), removed with the group.
      const linkDir = linkDirOf(group.sentinels[0]!.pid)
      assert.isTrue(path.basename(linkDir).startsWith("erp-sentinel-bin-"), linkDir)
      assert.isTrue(fs.existsSync(linkDir))
      const all = [...group.data, ...group.sentinels]
      const pids = all.map((node) => node.pid)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* gone(all, pids))
      assert.isFalse(fs.existsSync(linkDir))
    }))

  it.effect("a missing binary fails at once with a typed error that says how to install it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RedisSentinel.make({ binary: "/nonexistent/bin/redis-server" }))
      assert.strictEqual(error._tag, "RedisSentinelError")
      assert.strictEqual(error.reason, "start")
      assert.include(error.message, "apt-get install -y redis-server")
    }))

  it.effect("interrupting the fiber that holds the scope stops every process", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<RedisSentinel.RedisSentinel>()
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        const group = yield* RedisSentinel.make({ replicas: 0, sentinels: 1, quorum: 1 })
        yield* Deferred.succeed(started, group)
        return yield* Effect.never
      })))
      const group = yield* Deferred.await(started)
      const all = [...group.data, ...group.sentinels]
      const pids = all.map((node) => node.pid)
      assert.isTrue(pids.every(isAlive))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* gone(all, pids))
    }))
})

layer(RedisSentinel.layer())("RedisSentinel operations", (it) => {
  it.effect("a killed master is replaced: every sentinel publishes +switch-master and names the replica, which answers ROLE master", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const replica = group.data.find((node) => node.port !== master.port)!
      const subscribers = yield* Effect.forEach(group.sentinels, (sentinel) =>
        Effect.gen(function*() {
          const socket = yield* RawSocket.connect(sentinel.port)
          yield* socket.write("SUBSCRIBE +switch-master\r\n")
          yield* socket.waitFor(RawSocket.contains("subscribe"))
          return socket
        }))
      yield* group.kill(master)
      assert.isFalse(isAlive(master.pid))
      const promoted = yield* group.waitForNewMaster(master)
      assert.strictEqual(promoted.port, replica.port)
      const announced = `${group.masterName} 127.0.0.1 ${master.port} 127.0.0.1 ${replica.port}`
      for (const socket of subscribers) yield* socket.waitFor(RawSocket.contains(announced), 30_000)
      assert.deepStrictEqual(yield* group.masterAddress, { host: "127.0.0.1", port: replica.port })
      assert.strictEqual((yield* role(group, replica))[0], "master")
      assert.strictEqual(yield* group.cli(replica, "SET", "after", "failover"), "OK")
    }))

  it.effect("restarted with its old config, the killed master comes back claiming master; Sentinel then makes it a replica", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      // The master killed by the previous test; when run alone, kill one here.
      let master = yield* group.master
      let old = group.data.find((node) => !node.running)
      if (old === undefined) {
        old = master
        yield* group.kill(old)
        master = yield* group.waitForNewMaster(old)
      }
      // Its file still has no `replicaof`: it starts as a master of its own, and a sentinel tells it to replicate.
      // Its log says both, whenever its ROLE is read: a node started as a replica connects to its master without
      // a REPLICAOF request. (Reading ROLE right after the restart raced with the sentinels on a loaded machine, and
      // pausing them for the read made them see the master down on resume and fail over to this node.)
      yield* group.restart(old)
      yield* group.waitHealthy()
      const [kind, host, port] = yield* role(group, old)
      assert.deepStrictEqual([kind, host, port], ["slave", "127.0.0.1", String(master.port)])
      assert.strictEqual((yield* group.master).port, master.port)
      const log = yield* old.server.log
      const sinceRestart = log.slice(log.lastIndexOf("Ready to accept connections"))
      assert.match(sinceRestart, new RegExp(`REPLICAOF 127\\.0\\.0\\.1:${master.port} enabled \\(user request from '[^']*name=sentinel`))
    }))

  it.effect("failover() hands the master role to the replica through SENTINEL FAILOVER", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const replica = group.data.find((node) => node.port !== master.port)!
      const promoted = yield* group.failover()
      assert.strictEqual(promoted.port, replica.port)
      assert.deepStrictEqual(yield* group.masterAddress, { host: "127.0.0.1", port: replica.port })
      assert.strictEqual((yield* role(group, replica))[0], "master")
      for (const sentinel of group.sentinels) {
        assert.strictEqual((yield* masterFields(group, sentinel))["port"], String(replica.port))
      }
    }))
})
