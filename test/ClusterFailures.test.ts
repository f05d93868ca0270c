/**
 * Cluster failures that need a cluster of their own (they break it): a MOVED
 * to a node that takes no connections, and a cluster that stays down past the
 * retry budget. Three masters, no replicas, so that a killed master's slots
 * stay unserved.
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Cluster from "../src/Cluster.ts"
import { keySlot } from "../src/internal/clusterSlot.ts"
import { eventually, failure, tagOf } from "./support/effects.ts"
import { freePort } from "./support/ports.ts"
import * as RawServer from "./support/RawServer.ts"
import * as RedisCluster from "./support/RedisCluster.ts"

/** A key of `slot`'s hash tag. */
const tagFor = (slot: number): string => {
  for (let i = 0; ; i++) if (keySlot(`t${i}`) === slot) return `t${i}`
}

it.live("a MOVED to a node that refuses connections is a stale owner: no redirect spent, refreshes until the map says where to go", () =>
  Effect.gen(function*() {
    const cluster = yield* RedisCluster.make({ masters: 3, replicasPerMaster: 0 })
    const slot = 3000
    const key = `{${tagFor(slot)}}k`
    const source = yield* cluster.masterOf(slot)
    const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
    // While `refuse` holds, the client dials the slot's new owner at a port where nothing listens.
    const dead = yield* Effect.promise(() => freePort())
    let refuse = false
    const redis = yield* Cluster.make({
      nodes: [source.address],
      // One redirect only: a MOVED whose target refuses must not use it up.
      maxRedirects: 1,
      retryTimeout: "30 seconds",
      dialTimeout: 500,
      mapAddress: (host, port) => refuse && port === target.port ? { host, port: dead } : { host, port }
    })
    yield* redis.set(key, "before")
    yield* cluster.migrateSlot(slot, target, { finish: true })
    refuse = true
    const refreshesBefore = yield* redis.refreshes
    // The client's map still says `source`; `source` answers MOVED to `target`, which refuses.
    const get = yield* Effect.forkChild(redis.get(key))
    // Once the client has refreshed a few times (each map still leading to the refusing address), the node is back.
    assert.isTrue(yield* eventually(Effect.map(redis.refreshes, (n) => n >= refreshesBefore + 3), 30_000))
    refuse = false
    assert.strictEqual(yield* Fiber.join(get), "before")
    assert.isAtLeast((yield* redis.redirects).moved, 1)
    // And a second command has its redirect budget whole: the map is right now, so it needs none.
    assert.strictEqual(yield* redis.get(key), "before")
  }), 120_000)

// The test above cannot tell whether a stale owner spends a redirect: after one refresh its map leads straight to the
// refusing node, so no second MOVED comes. Here a scripted node that owns every slot by its own map keeps answering
// MOVED to a dead address, three times: with one redirect allowed, the second MOVED would exceed the budget if the
// first (whose target refused) had spent it.
it.live("MOVEDs to a node that refuses connections spend no redirect, however many come before the answer", () =>
  Effect.gen(function*() {
    const dead = yield* Effect.promise(() => freePort())
    const key = "k"
    let moved = 0
    let port = 0
    const node = yield* RawServer.make({
      respond: RawServer.handshakeReplies((command, args) => {
        const sub = (args[1] ?? "").toUpperCase()
        if (command === "CLUSTER" && sub === "SHARDS") return "-ERR unknown subcommand 'SHARDS'\r\n"
        if (command === "CLUSTER" && sub === "SLOTS") {
          return `*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:${port}\r\n$40\r\n${"a".repeat(40)}\r\n`
        }
        if (command === "COMMAND") return "-ERR unknown command 'COMMAND'\r\n"
        if (command === "GET") {
          if (moved >= 3) return "$6\r\nbefore\r\n"
          moved++
          return `-MOVED ${keySlot(key)} 127.0.0.1:${dead}\r\n`
        }
        return undefined
      })
    })
    port = node.port
    const redis = yield* Cluster.make({ nodes: [{ host: "127.0.0.1", port }], maxRedirects: 1, retryTimeout: "30 seconds", dialTimeout: 500 })
    assert.strictEqual(yield* redis.get(key), "before")
    assert.strictEqual(moved, 3)
    assert.strictEqual((yield* redis.redirects).moved, 3)
  }), 60_000)

it.live("CLUSTERDOWN past the retry budget is a ClusterDownError keeping the server's reply", () =>
  Effect.gen(function*() {
    const cluster = yield* RedisCluster.make({ masters: 3, replicasPerMaster: 0, config: ["cluster-require-full-coverage yes"] })
    const redis = yield* Cluster.make({ nodes: cluster.addresses, retryTimeout: "300 millis", dialTimeout: 500 })
    const masters = yield* cluster.masters
    const [dead, alive] = [masters[0]!, masters[1]!]
    const key = `{${tagFor(alive.slots[0]![0])}}k`
    yield* redis.set(key, "1")
    yield* cluster.kill(dead)
    // Without replicas nobody takes the dead master's slots: after the node timeout the cluster says CLUSTERDOWN.
    const down = Effect.map(cluster.send(alive, "GET", key), (reply) => reply instanceof Error && reply.message.startsWith("CLUSTERDOWN"))
    assert.isTrue(yield* eventually(down, 30_000))
    const exit = yield* Effect.exit(redis.get(key))
    assert.strictEqual(tagOf(exit), "ClusterDownError")
    const error = failure(exit) as { command: string; cause: { _tag: string; code: string } }
    assert.strictEqual(error.command, "GET")
    assert.strictEqual(error.cause._tag, "RedisReplyError")
    assert.strictEqual(error.cause.code, "CLUSTERDOWN")
    // A write too: it did not run, and the caller is told the same way.
    assert.strictEqual(tagOf(yield* Effect.exit(redis.incr(key))), "ClusterDownError")

    // Every node down: each failing command asks for a refresh, and each refresh fails. They back off (100 ms
    // doubling to 2 s, at least half of that each time) instead of coming every 100 ms cooldown.
    for (const node of masters.slice(1)) yield* cluster.kill(node)
    const before = (yield* redis.refreshTimes).failed
    const started = Date.now()
    yield* Effect.forEach(Array.from({ length: 20 }), () =>
      Effect.exit(Effect.forever(Effect.andThen(Effect.exit(redis.get(key)), Effect.sleep(10))).pipe(Effect.timeout(3_000))), { concurrency: "unbounded" })
    const elapsed = Date.now() - started
    const failed = (yield* redis.refreshTimes).failed - before
    assert.isAtLeast(failed, 2)
    // At most one per 100 ms for the first two, one per 200 ms for the third, one per 400 ms from then on, plus the
    // ones under way at the edges; without the backoff it is one per 100 ms, about 30 here.
    assert.isAtMost(failed, 5 + elapsed / 400)
  }), 120_000)
