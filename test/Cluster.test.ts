import { assert, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Cluster from "../src/Cluster.ts"
import { keySlot } from "../src/internal/clusterSlot.ts"
import type { RedisError } from "../src/Errors.ts"
import * as RedisPool from "../src/RedisPool.ts"
import { eventually, failure, tagOf } from "./support/effects.ts"
import * as FaultProxy from "./support/FaultProxy.ts"
import * as RedisCluster from "./support/RedisCluster.ts"

/** A key of `slot`'s hash tag: `{tag}suffix` where the tag hashes to `slot`. */
const tagFor = (slot: number): string => {
  for (let i = 0; ; i++) if (keySlot(`t${i}`) === slot) return `t${i}`
}

const service = (cluster: RedisCluster.RedisCluster, options: Partial<Cluster.Options> = {}) =>
  Cluster.make({ nodes: cluster.addresses.slice(0, 1), ...options })

/** A program written against `RedisPool` only: nothing in it knows about clusters. */
const program: Effect.Effect<
  { readonly greeting: string | null; readonly visits: number; readonly fields: Record<string, string>; readonly piped: ReadonlyArray<unknown> },
  RedisError,
  RedisPool.RedisPool
> = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  yield* redis.set("program:greeting", "hello")
  const greeting = yield* redis.get("program:greeting")
  yield* redis.del("program:visits")
  yield* redis.incr("program:visits")
  const visits = yield* redis.incr("program:visits")
  yield* redis.hset("program:h", { a: "1", b: "2" })
  const fields = yield* redis.hgetall("program:h")
  const piped = yield* redis.pipeline([["SET", "program:p1", "x"], ["GET", "program:p1"], ["GET", "program:greeting"]] as const)
  return { greeting, visits, fields, piped }
})

layer(RedisCluster.layer(), { timeout: 120_000, excludeTestServices: true })("Cluster", (it) => {
  it.effect("routes every key to the master that owns its slot", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const keys = Array.from({ length: 300 }, (_, i) => `route:${i}`)
      yield* Effect.forEach(keys, (key) => redis.set(key, `v-${key}`), { concurrency: 50, discard: true })
      const read = yield* Effect.forEach(keys, (key) => redis.get(key), { concurrency: 50 })
      assert.deepStrictEqual(read, keys.map((key) => `v-${key}`))
      // Each key is where the server says its slot lives, and nowhere else.
      const owners = new Map<number, RedisCluster.ClusterNode>()
      for (const key of keys) {
        const slot = keySlot(key)
        let owner = owners.get(slot)
        if (owner === undefined) owners.set(slot, owner = yield* cluster.masterOf(slot))
        assert.strictEqual(yield* cluster.send(owner, "GET", key), `v-${key}`)
      }
      assert.isAbove(new Set([...owners.values()].map((node) => node.id)).size, 1)
      // Keyless commands go to some master.
      assert.strictEqual(yield* redis.send("PING"), "PONG")
    })))

  it.effect("a program written against RedisPool runs unchanged on the cluster layer", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const result = yield* program.pipe(Effect.provide(Cluster.layer({ nodes: cluster.addresses })))
      assert.deepStrictEqual(result, {
        greeting: "hello",
        visits: 2,
        fields: { a: "1", b: "2" },
        piped: ["OK", "x", "hello"]
      })
    }))

  it.effect("keys of one command, transaction or WATCH in different slots fail with CrossSlotError before sending", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      assert.notStrictEqual(keySlot("a"), keySlot("b"))
      assert.strictEqual(tagOf(yield* Effect.exit(redis.send("SINTER", "a", "b"))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.send("RENAME", "a", "b"))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.send("MSETNX", "a", "1", "b", "1"))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.send("EVAL", "return 1", 2, "a", "b"))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.multi([["SET", "a", "1"], ["SET", "b", "1"]]))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.watch(["a", "b"], () => Effect.succeed([])))), "CrossSlotError")
      assert.strictEqual(tagOf(yield* Effect.exit(redis.pipeline([["SINTER", "a", "b"]]))), "CrossSlotError")
      // Nothing was written by the refused transaction.
      assert.strictEqual(yield* redis.exists("a"), 0)
      // Hash tags keep keys together.
      yield* redis.mset({ "{user:1}:name": "ada", "{user:1}:mail": "ada@example.com" })
      assert.deepStrictEqual(yield* redis.mget("{user:1}:name", "{user:1}:mail"), ["ada", "ada@example.com"])
      const tx = yield* redis.multi([["INCR", "{user:1}:n"], ["INCR", "{user:1}:n"]])
      assert.deepStrictEqual(tx, [1, 2])
    })))

  it.effect("MGET, MSET, DEL, EXISTS across slots are split by slot and merged; KEYS, DBSIZE, FLUSHALL run on every master", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const keys = Array.from({ length: 20 }, (_, i) => `split:${i}`)
      assert.isAbove(new Set(keys.map(keySlot)).size, 10)
      yield* redis.mset(Object.fromEntries(keys.map((key) => [key, `v${key}`])))
      assert.deepStrictEqual(yield* redis.mget(...keys, "split:missing"), [...keys.map((key) => `v${key}`), null])
      assert.strictEqual(yield* redis.exists(...keys, "split:missing"), 20)
      const found = yield* redis.send("KEYS", "split:*")
      assert.deepStrictEqual([...(found as Array<string>)].sort(), [...keys].sort())
      let total = 0
      for (const master of yield* cluster.masters) total += (yield* cluster.send(master, "DBSIZE")) as number
      assert.strictEqual(yield* redis.dbsize(), total)
      assert.strictEqual(yield* redis.del(...keys.slice(0, 10)), 10)
      assert.strictEqual(yield* redis.exists(...keys), 10)
      yield* redis.send("FLUSHALL")
      assert.strictEqual(yield* redis.dbsize(), 0)
    })))

  it.effect("SCAN walks every master under one cursor: scanStream and a raw cursor loop see every key once", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const keys = Array.from({ length: 200 }, (_, i) => `scan:${i}`)
      yield* redis.mset(Object.fromEntries(keys.map((key) => [key, "1"])))
      const streamed = yield* Stream.runCollect(redis.scanStream({ match: "scan:*", count: 7 }))
      assert.deepStrictEqual([...new Set(streamed)].sort(), [...keys].sort())
      const raw: Array<string> = []
      let cursor = "0"
      let pages = 0
      do {
        const [next, batch] = (yield* redis.send("SCAN", cursor, "MATCH", "scan:*", "COUNT", 50)) as [string, Array<string>]
        assert.match(next, /^\d+$/)
        raw.push(...batch)
        cursor = next
        pages++
      } while (cursor !== "0")
      assert.isAtLeast(pages, 3)
      assert.deepStrictEqual([...new Set(raw)].sort(), [...keys].sort())
      assert.strictEqual(tagOf(yield* Effect.exit(redis.send("SCAN", "x"))), "InvalidArgumentError")
      yield* redis.del(...keys)
    })))

  it.effect("a command the key table does not know routes by the server's own key positions (COMMAND); where COMMAND is refused, it follows MOVED from some master without refreshing the map", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const keys = Array.from({ length: 30 }, (_, i) => `blind:${i}`)
      const redis = yield* service(cluster)
      for (const key of keys) yield* redis.send("PFADD", key, "a")
      // PFDEBUG GETREG <key>: a key in third place, which the hand-written key table does not list; the
      // server's table (first key 2) sends each to its owner.
      for (const key of keys) assert.isArray(yield* redis.send("PFDEBUG", "GETREG", key))
      assert.strictEqual((yield* redis.redirects).moved, 0)
      // A user who may not run COMMAND: the client routes with its own tables alone, PFDEBUG as keyless.
      yield* Effect.forEach(cluster.all, (node) => cluster.send(node, "ACL", "SETUSER", "nocommand", "on", ">secret", "~*", "&*", "+@all", "-command"), { discard: true })
      yield* Effect.gen(function*() {
        const blind = yield* service(cluster, { username: "nocommand", password: "secret" })
        const before = yield* blind.refreshes
        for (const key of keys) assert.isArray(yield* blind.send("PFDEBUG", "GETREG", key))
        assert.isAbove((yield* blind.redirects).moved, 0)
        assert.strictEqual(yield* blind.refreshes, before)
      }).pipe(Effect.ensuring(Effect.forEach(cluster.all, (node) => Effect.ignore(cluster.send(node, "ACL", "DELUSER", "nocommand")), { discard: true })))
    })))

  it.effect("keyless commands the server's tips send to every shard or node reach them all: FUNCTION LOAD/DELETE on every master, CONFIG SET on every node", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const masters = yield* cluster.masters
      const code = "#!lua name=tipslib\nredis.register_function('tipsget', function(keys) return redis.call('GET', keys[1]) end)"
      // request_policy:all_shards, response_policy:all_succeeded: one reply (the library's name) once all loaded it.
      assert.strictEqual(yield* redis.send("FUNCTION", "LOAD", "REPLACE", code), "tipslib")
      for (const master of masters) assert.lengthOf((yield* cluster.send(master, "FUNCTION", "LIST", "LIBRARYNAME", "tipslib")) as Array<unknown>, 1)
      // So the function runs on a key of every shard.
      const keys = masters.map((master) => `tips:${tagFor(master.slots[0]![0])}`)
      for (const key of keys) yield* redis.set(key, `value of ${key}`)
      for (const key of keys) assert.strictEqual(yield* redis.send("FCALL", "tipsget", 1, key), `value of ${key}`)
      assert.strictEqual(yield* redis.send("FUNCTION", "DELETE", "tipslib"), "OK")
      for (const master of masters) assert.lengthOf((yield* cluster.send(master, "FUNCTION", "LIST", "LIBRARYNAME", "tipslib")) as Array<unknown>, 0)
      // request_policy:all_nodes: replicas too.
      const original = (yield* cluster.send(cluster.all[0]!, "CONFIG", "GET", "slowlog-max-len")) as Array<string>
      assert.strictEqual(yield* redis.send("CONFIG", "SET", "slowlog-max-len", "97"), "OK")
      for (const node of cluster.all) {
        assert.deepStrictEqual(yield* cluster.send(node, "CONFIG", "GET", "slowlog-max-len"), ["slowlog-max-len", "97"])
      }
      yield* redis.send("CONFIG", "SET", "slowlog-max-len", original[1]!)
      // PING's tips say every shard too; a caller pings one node, and gets one PONG.
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      yield* redis.del(...keys)
    })))

  it.effect("a pipeline across nodes is split by node and its results come back in the caller's order", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const keys = Array.from({ length: 60 }, (_, i) => `pipe:${i}`)
      const sets = yield* redis.pipeline(keys.map((key) => ["SET", key, key] as const))
      assert.deepStrictEqual(sets, keys.map(() => "OK"))
      const gets = yield* redis.pipeline([...keys.map((key) => ["GET", key] as const), ["PING"] as const])
      assert.deepStrictEqual(gets, [...keys, "PONG"])
      // One slot's commands keep their order.
      const ordered = yield* redis.pipeline([["DEL", "pipe:o"], ["RPUSH", "pipe:o", "1"], ["RPUSH", "pipe:o", "2"], ["LRANGE", "pipe:o", 0, -1]])
      assert.deepStrictEqual(ordered, [0, 1, 2, ["1", "2"]])
      // Commands that span nodes themselves run as they would alone, their results in place.
      const spanning = yield* redis.pipeline([["MGET", "pipe:0", "pipe:1", "pipe:2"], ["GET", "pipe:3"], ["DEL", "pipe:58", "pipe:59"], ["EXISTS", "pipe:58"]])
      assert.deepStrictEqual(spanning, [["pipe:0", "pipe:1", "pipe:2"], "pipe:3", 2, 0])
      const stats = yield* redis.stats
      assert.isAtLeast(stats.total, 3)
    })))

  it.effect("a pipeline whose connection to one node breaks after the write: that node's commands go again when all may be repeated, else the pipeline fails and nothing ran twice", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const near = `{${tagFor(1000)}}cut`
      const far = `{${tagFor(15000)}}cut`
      const master = yield* cluster.masterOf(1000)
      // The first shard's master is reached through a proxy that can drop a reply and cut the connection.
      const proxy = yield* FaultProxy.make({ port: master.port })
      const redis = yield* service(cluster, {
        mapAddress: (host, port) => port === master.port ? { host: "127.0.0.1", port: proxy.port } : { host, port }
      })
      yield* redis.mset({ [near]: "n", [far]: "f" })
      yield* redis.del(`${near}:count`)
      // Reads only: the cut node's part is sent again, and every result is the caller's.
      yield* proxy.cutOnNextReply
      assert.deepStrictEqual(yield* redis.pipeline([["GET", near], ["GET", far], ["GET", near]]), ["n", "f", "n"])
      assert.strictEqual((yield* proxy.stats).cuts, 1)
      // An INCR in the cut part may have run: sending it again could count twice, so the pipeline fails as on one node.
      yield* proxy.cutOnNextReply
      const cut = yield* Effect.exit(redis.pipeline([["INCR", `${near}:count`], ["GET", near], ["GET", far]]))
      assert.strictEqual(tagOf(cut), "ConnectionError")
      assert.isTrue((failure(cut) as { written?: boolean }).written)
      assert.strictEqual((yield* proxy.stats).cuts, 2)
      // It did run, once: the server applied it before its reply was dropped.
      assert.strictEqual(yield* cluster.send(master, "GET", `${near}:count`), "1")
    })))

  it.effect("after a slot migration, MOVED is followed at once and the map refreshed", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const tag = tagFor(866)
      yield* redis.set(`{${tag}}moved`, "before")
      const source = yield* cluster.masterOf(866)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(866, target, { finish: true })
      assert.strictEqual(yield* redis.get(`{${tag}}moved`), "before")
      yield* redis.set(`{${tag}}moved`, "after")
      assert.strictEqual(yield* cluster.send(target, "GET", `{${tag}}moved`), "after")
      assert.isTrue(yield* eventually(Effect.map(redis.refreshes, (n) => n >= 1)))
      assert.deepStrictEqual(yield* redis.redirects, { moved: 1, ask: 0 })
      // A burst: 200 commands of a slot that just moved, all at once, all MOVED; the refreshes they ask for coalesce.
      const burstSlot = 5000
      const burstTag = tagFor(burstSlot)
      const burstKeys = Array.from({ length: 200 }, (_, i) => `{${burstTag}}burst${i}`)
      yield* redis.mset(Object.fromEntries(burstKeys.map((key) => [key, "b"])))
      const burstSource = yield* cluster.masterOf(burstSlot)
      const burstTarget = (yield* cluster.masters).find((node) => node.id !== burstSource.id)!
      yield* cluster.migrateSlot(burstSlot, burstTarget, { finish: true })
      const refreshesBefore = yield* redis.refreshes
      const values = yield* Effect.forEach(burstKeys, (key) => redis.get(key), { concurrency: "unbounded" })
      assert.deepStrictEqual(values, burstKeys.map(() => "b"))
      assert.isAbove((yield* redis.redirects).moved, 1)
      assert.isTrue(yield* eventually(Effect.map(redis.refreshes, (n) => n > refreshesBefore)))
      assert.isAtMost((yield* redis.refreshes) - refreshesBefore, 3)
      // Their cost is counted: some time spent, none failed, the slowest within the total.
      const times = yield* redis.refreshTimes
      assert.strictEqual(times.failed, 0)
      assert.isAtLeast(times.totalMillis, times.maxMillis)
    })))

  it.effect("with a map made stale by a migration, pipelines and transactions follow MOVED and keep their order", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 4000
      const tag = tagFor(slot)
      const [a, b] = [`{${tag}}a`, `{${tag}}b`]
      yield* redis.mset({ [a]: "1", [b]: "1" })
      const source = yield* cluster.masterOf(slot)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(slot, target, { finish: true })
      // The client has not seen the move: every command of the slot gets MOVED, and is sent again in order.
      const piped = yield* redis.pipeline([["INCR", a], ["INCR", a], ["GET", a], ["PING"], ["INCR", b]])
      assert.deepStrictEqual(piped, [2, 3, "3", "PONG", 2])
      const source2 = yield* cluster.masterOf(slot)
      const target2 = (yield* cluster.masters).find((node) => node.id !== source2.id)!
      yield* cluster.migrateSlot(slot, target2, { finish: true })
      // A queued command's MOVED aborts the transaction (EXECABORT, nothing ran); it runs on the new owner.
      assert.deepStrictEqual(yield* redis.multi([["INCR", a], ["INCR", b]]), [4, 3])
      assert.strictEqual(yield* cluster.send(target2, "GET", a), "4")
    })))

  it.effect("a blocking pop waits on the owner of its key without holding up other commands", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const list = "blocking:list"
      const popped = yield* Effect.forkChild(redis.send("BLPOP", list, 0))
      // Other commands on the same node keep flowing while the pop waits.
      for (let i = 0; i < 20; i++) yield* redis.set(`{blocking:list}x${i}`, String(i))
      const owner = yield* cluster.masterOf(keySlot(list))
      assert.isTrue(yield* eventually(Effect.map(cluster.send(owner, "CLIENT", "LIST"), (reply) => String(reply).includes("cmd=blpop"))))
      yield* redis.send("RPUSH", list, "item")
      assert.deepStrictEqual(yield* Fiber.join(popped), [list, "item"])
    })))

  it.effect("during a migration, ASK sends ASKING and the command to the importing node without changing the map", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 1000
      const tag = tagFor(slot)
      const [moving, staying, fresh] = [`{${tag}}moving`, `{${tag}}staying`, `{${tag}}fresh`]
      yield* redis.mset({ [moving]: "m", [staying]: "s" })
      const source = yield* cluster.masterOf(slot)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(slot, target, { finish: false, keys: [moving] })
      const before = yield* redis.refreshes
      // Moved key: ASK → ASKING + GET on the target.
      assert.strictEqual(yield* redis.get(moving), "m")
      // A key still on the source is served there.
      assert.strictEqual(yield* redis.get(staying), "s")
      // A new key: the source does not have it, so ASK; it is written on the target.
      yield* redis.set(fresh, "f")
      assert.deepStrictEqual(yield* cluster.sendBatch(target, [["ASKING"], ["EXISTS", fresh]]), ["OK", 1])
      // Batches: ASK in a pipeline, and a transaction on the importing node (ASKING before MULTI).
      assert.deepStrictEqual(yield* redis.pipeline([["GET", moving], ["GET", staying]]), ["m", "s"])
      assert.deepStrictEqual(yield* redis.multi([["GET", moving]]), ["m"])
      // The map did not change: no MOVED, so no refresh.
      assert.strictEqual(yield* redis.refreshes, before)
      // One ASK each: GET of the moved key, SET of the new one, the pipeline's GET, the transaction.
      assert.deepStrictEqual(yield* redis.redirects, { moved: 0, ask: 4 })
      // A multi-key command over a moved and a staying key gets TRYAGAIN until the migration ends.
      const mget = yield* Effect.forkChild(redis.mget(moving, staying))
      yield* cluster.migrateSlot(slot, target, { finish: true })
      assert.deepStrictEqual(yield* Fiber.join(mget), ["m", "s"])
    })))

  it.effect("budgets: past maxRedirects a MaxRedirectsError carrying the last MOVED; past retryTimeout the server's TRYAGAIN", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const strict = yield* service(cluster, { maxRedirects: 0, retryTimeout: "50 millis" })
      const slot = 2000
      const tag = tagFor(slot)
      const [a, b] = [`{${tag}}a`, `{${tag}}b`]
      yield* strict.mset({ [a]: "1", [b]: "2" })
      const source = yield* cluster.masterOf(slot)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(slot, target, { finish: false, keys: [a] })
      // A key on both sides of a half-done migration: TRYAGAIN until the budget is spent.
      const tryAgain = yield* Effect.exit(strict.mget(a, b))
      assert.strictEqual(tagOf(tryAgain), "RedisReplyError")
      assert.strictEqual((failure(tryAgain) as { code: string }).code, "TRYAGAIN")
      yield* cluster.migrateSlot(slot, target, { finish: true })
      const moved = yield* Effect.exit(strict.get(b))
      assert.strictEqual(tagOf(moved), "MaxRedirectsError")
      const cause = (failure(moved) as { cause: { code: string; message: string } }).cause
      assert.strictEqual(cause.code, "MOVED")
      assert.include(cause.message, `${slot} ${target.address}`)
    })))

  it.effect("watch runs on the owner of the keys' slot, follows a MOVED of WATCH itself, and checks the slot of what it queues", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 7000
      const tag = tagFor(slot)
      const [from, to] = [`{${tag}}from`, `{${tag}}to`]
      yield* redis.mset({ [from]: "10", [to]: "0" })
      const transfer = redis.watch([from, to], (tx) =>
        Effect.gen(function*() {
          const balance = Number(yield* tx.get(from))
          return balance < 3 ? [] as const : [["DECRBY", from, 3], ["INCRBY", to, 3]] as const
        }))
      assert.deepStrictEqual(yield* transfer, [7, 3])
      // The map is stale after a migration this client has not seen: WATCH gets MOVED before the block runs.
      const source = yield* cluster.masterOf(slot)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(slot, target, { finish: true })
      assert.deepStrictEqual(yield* transfer, [4, 6])
      assert.strictEqual(yield* cluster.send(target, "GET", to), "6")
      // Queued commands of another slot: refused before MULTI, nothing ran.
      const stray = yield* Effect.exit(redis.watch([from], () => Effect.succeed([["SET", "elsewhere", "1"]] as const)))
      assert.strictEqual(tagOf(stray), "CrossSlotError")
      assert.strictEqual(yield* redis.exists("elsewhere"), 0)
    })))

  it.effect("subscribe receives what is published through any node", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const events = yield* redis.subscribe("cluster-news").pipe(
        Stream.tap((event) =>
          event._tag === "Subscribed"
            ? Effect.forEach(cluster.all.slice(0, 3), (node) => cluster.send(node, "PUBLISH", "cluster-news", `from ${node.port}`), { discard: true })
            : Effect.void
        ),
        Stream.take(4),
        Stream.runCollect
      )
      assert.deepStrictEqual(events.map((event) => event._tag), ["Subscribed", "Message", "Message", "Message"])
      assert.deepStrictEqual(
        events.slice(1).map((event) => (event as { message: string }).message).sort(),
        cluster.all.slice(0, 3).map((node) => `from ${node.port}`).sort()
      )
    })))

  it.effect("ssubscribe listens on the owner of the channel's slot and follows the slot when it moves", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 9000
      const channel = `{${tagFor(slot)}}news`
      const events: Array<{ readonly _tag: string; readonly message?: string }> = []
      const fiber = yield* Effect.forkChild(
        redis.ssubscribe(channel).pipe(Stream.runForEach((event) => Effect.sync(() => void events.push(event))))
      )
      const messages = () => events.flatMap((event) => (event._tag === "Message" ? [event.message] : []))
      assert.isTrue(yield* eventually(() => events.some((event) => event._tag === "Subscribed")))
      assert.strictEqual(yield* redis.send("SPUBLISH", channel, "one"), 1)
      assert.isTrue(yield* eventually(() => messages().includes("one")))
      const source = yield* cluster.masterOf(slot)
      const target = (yield* cluster.masters).find((node) => node.id !== source.id)!
      yield* cluster.migrateSlot(slot, target, { finish: true })
      assert.isTrue(yield* eventually(() => events.some((event) => event._tag === "Resubscribed")))
      // Published through the router on the new owner, once the renewed subscription is there.
      assert.isTrue(yield* eventually(Effect.map(redis.send("SPUBLISH", channel, "two"), (receivers) => receivers === 1)))
      assert.isTrue(yield* eventually(() => messages().includes("two")))
      assert.strictEqual(yield* cluster.send(target, "PUBSUB", "SHARDNUMSUB", channel).pipe(Effect.map((reply) => (reply as Array<unknown>)[1])), 1)
      yield* Fiber.interrupt(fiber)
      const mixed = yield* Effect.exit(Stream.runDrain(redis.ssubscribe("a", "b")))
      assert.strictEqual(tagOf(mixed), "CrossSlotError")
    })))

  it.effect("ssubscribe follows its shard through a failover: resubscribed on the promoted replica, messages published there arrive", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 11000
      const channel = `{${tagFor(slot)}}alerts`
      const events: Array<{ readonly _tag: string; readonly message?: string }> = []
      yield* Effect.forkScoped(
        redis.ssubscribe(channel).pipe(Stream.runForEach((event) => Effect.sync(() => void events.push(event))))
      )
      const messages = () => events.flatMap((event) => (event._tag === "Message" ? [event.message] : []))
      assert.isTrue(yield* eventually(() => events.some((event) => event._tag === "Subscribed")))
      assert.strictEqual(yield* redis.send("SPUBLISH", channel, "before"), 1)
      assert.isTrue(yield* eventually(() => messages().includes("before")))
      const master = yield* cluster.masterOf(slot)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.failover(replica)
      assert.strictEqual((yield* cluster.masterOf(slot)).id, replica.id)
      assert.isTrue(yield* eventually(() => events.some((event) => event._tag === "Resubscribed")))
      // The subscription now lives on the promoted replica: a message published there reaches it.
      assert.isTrue(yield* eventually(Effect.map(cluster.send(replica, "PUBSUB", "SHARDNUMSUB", channel), (reply) => (reply as Array<unknown>)[1] === 1)))
      assert.strictEqual(yield* redis.send("SPUBLISH", channel, "after"), 1)
      assert.isTrue(yield* eventually(() => messages().includes("after")))
      assert.deepStrictEqual(messages(), ["before", "after"])
    })))

  it.effect("RedisCluster: the shard map, per-node stats, forEachMaster and refresh", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      yield* Effect.gen(function*() {
        const redis = yield* Cluster.RedisCluster
        assert.strictEqual(yield* RedisPool.RedisPool, redis)
        yield* redis.refresh
        const shards = yield* redis.shards
        const masters = yield* cluster.masters
        assert.deepStrictEqual(
          shards.map((shard) => [shard.master.id, shard.slots.map(([a, b]) => [a, b])]).sort(),
          masters.map((master) => [master.id, master.slots.map(([a, b]) => [a, b])]).sort()
        )
        for (const shard of shards) {
          assert.strictEqual(shard.master.role, "master")
          assert.deepStrictEqual(shard.replicas.map((replica) => replica.role), ["replica"])
        }
        const ids = yield* redis.forEachMaster((master) => master.send("CLUSTER", "MYID"))
        assert.deepStrictEqual(ids, shards.map((shard) => shard.master.id))
        yield* redis.mset({ "fem:a": "1", "fem:b": "2", "fem:c": "3" })
        const sizes = yield* redis.forEachMaster((master) => master.dbsize())
        assert.strictEqual(sizes.reduce((a, b) => a + b, 0), yield* redis.dbsize())
        const perNode = yield* redis.nodeStats
        assert.includeMembers([...perNode.keys()], shards.map((shard) => shard.master.address))
        const before = yield* redis.refreshes
        yield* redis.refresh
        assert.strictEqual(yield* redis.refreshes, before + 1)
        // The same counts as metrics in Effect's registry, under this client's name.
        const metric = (id: string, redirect?: string) =>
          Effect.map(Metric.snapshot, (snapshot) => {
            const found = snapshot.find((m) =>
              m.id === id && m.attributes?.["db.client.connection.pool.name"] === "metered" &&
              m.attributes?.["redis.cluster.redirect"] === redirect
            )
            return (found?.state as { count?: number } | undefined)?.count
          })
        assert.strictEqual(yield* metric("redis.cluster.topology.refreshes"), before + 1)
        assert.strictEqual(yield* metric("redis.cluster.topology.refresh.failures"), (yield* redis.refreshTimes).failed)
        assert.strictEqual(yield* metric("redis.cluster.topology.refresh.time"), (yield* redis.refreshTimes).totalMillis)
        assert.strictEqual(yield* metric("redis.cluster.redirects", "MOVED"), (yield* redis.redirects).moved)
        assert.strictEqual(yield* metric("redis.cluster.redirects", "ASK"), (yield* redis.redirects).ask)
      }).pipe(Effect.provide(Cluster.layer({ nodes: cluster.addresses, name: "metered" })))
    }))

  it.effect("after a failover, commands reach the promoted replica", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster)
      const slot = 12000
      const tag = tagFor(slot)
      yield* redis.set(`{${tag}}f`, "1")
      const master = yield* cluster.masterOf(slot)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* cluster.failover(replica)
      assert.strictEqual((yield* cluster.masterOf(slot)).id, replica.id)
      assert.strictEqual(yield* redis.incr(`{${tag}}f`), 2)
      assert.strictEqual(yield* cluster.send(replica, "GET", `{${tag}}f`), "2")
    })))

  it.effect("readFrom replica: reads go to a replica of the key's shard (READONLY in the handshake), writes to its master", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster, { readFrom: "replica" })
      const slot = 14000
      const key = `{${tagFor(slot)}}replicated`
      const master = yield* cluster.masterOf(slot)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* redis.set(key, "v")
      const onReplica = Effect.map(cluster.sendBatch(replica, [["READONLY"], ["GET", key]]), (replies) => replies[1] === "v")
      assert.isTrue(yield* eventually(onReplica))
      const gets = (node: RedisCluster.NodeRef) =>
        Effect.map(cluster.send(node, "INFO", "commandstats"), (info) => Number(/cmdstat_get:calls=(\d+)/.exec(String(info))?.[1] ?? 0))
      const [replicaBefore, masterBefore] = [yield* gets(replica), yield* gets(master)]
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* redis.get(key), "v")
      assert.strictEqual((yield* gets(replica)) - replicaBefore, 5)
      assert.strictEqual((yield* gets(master)) - masterBefore, 0)
      assert.strictEqual(yield* redis.incr(`{${tagFor(slot)}}counter`), 1)
      assert.strictEqual(tagOf(yield* Effect.exit(service(cluster, { readFrom: "closest" as "replica" }))), "InvalidArgumentError")
    })))

  it.effect("readFrom nearest: reads go to the node of the key's shard with the shortest round trip, measured again after a refresh", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const slot = 3000
      const key = `{${tagFor(slot)}}near`
      const master = yield* cluster.masterOf(slot)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      // The shard's master and replica are reached through proxies that can add a delay each way.
      const toMaster = yield* FaultProxy.make({ port: master.port })
      const toReplica = yield* FaultProxy.make({ port: replica.port })
      const via = new Map([[master.port, toMaster.port], [replica.port, toReplica.port]])
      yield* toMaster.setDelay(40)
      const redis = yield* service(cluster, {
        readFrom: "nearest",
        mapAddress: (host, port) => via.has(port) ? { host: "127.0.0.1", port: via.get(port)! } : { host, port }
      })
      const gets = (node: RedisCluster.NodeRef) =>
        Effect.map(cluster.send(node, "INFO", "commandstats"), (info) => Number(/cmdstat_get:calls=(\d+)/.exec(String(info))?.[1] ?? 0))
      yield* redis.set(key, "v")
      assert.isTrue(yield* eventually(Effect.map(cluster.sendBatch(replica, [["READONLY"], ["GET", key]]), (replies) => replies[1] === "v")))
      // The master is 80 ms away, its replica next door: reads go to the replica, writes still to the master.
      const [replicaBefore, masterBefore] = [yield* gets(replica), yield* gets(master)]
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* redis.get(key), "v")
      assert.strictEqual((yield* gets(replica)) - replicaBefore, 5)
      assert.strictEqual((yield* gets(master)) - masterBefore, 0)
      assert.strictEqual(yield* redis.incr(`{${tagFor(slot)}}near-counter`), 1)
      // Now the replica is the far one: after a refresh has measured again, reads go to the master.
      yield* toMaster.setDelay(0)
      yield* toReplica.setDelay(40)
      yield* redis.refresh
      const masterNow = yield* gets(master)
      assert.isTrue(yield* eventually(Effect.gen(function*() {
        const before = yield* gets(master)
        yield* redis.get(key)
        return (yield* gets(master)) > before
      })))
      const [replicaThen, masterThen] = [yield* gets(replica), yield* gets(master)]
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* redis.get(key), "v")
      assert.strictEqual((yield* gets(master)) - masterThen, 5)
      assert.strictEqual((yield* gets(replica)) - replicaThen, 0)
      assert.isAbove(masterThen, masterNow)
    })))

  it.effect("a master killed under writes: the writes resume on the promoted replica, each acknowledged one readable; its pool is closed", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const redis = yield* service(cluster, { retryTimeout: "30 seconds", dialTimeout: 500, nodeCloseDelay: 0 })
      const slot = 8000
      const tag = tagFor(slot)
      const master = yield* cluster.masterOf(slot)
      const replica = (yield* cluster.replicas).find((node) => node.masterId === master.id)!
      yield* redis.set(`{${tag}}k0`, "0")
      // Wait until the replica has it, so the kill cannot lose it.
      const replicated = Effect.map(cluster.sendBatch(replica, [["READONLY"], ["GET", `{${tag}}k0`]]), (replies) => replies[1] === "0")
      assert.isTrue(yield* eventually(replicated))
      assert.isTrue((yield* redis.nodeStats).has(master.address))
      yield* cluster.kill(master)
      // Idempotent writes keep being retried until the replica takes over; each one that succeeded is there.
      for (let i = 1; i <= 5; i++) yield* redis.set(`{${tag}}k${i}`, String(i))
      yield* cluster.waitHealthy()
      assert.strictEqual((yield* cluster.masterOf(slot)).id, replica.id)
      for (let i = 1; i <= 5; i++) assert.strictEqual(yield* redis.get(`{${tag}}k${i}`), String(i))
      // While the master was gone its replica was asked for its ROLE (to see the promotion as it happened), and the
      // asking stopped once the map named the new master.
      const roles = Effect.map(cluster.send(replica, "INFO", "commandstats"), (info) => Number(/cmdstat_role:calls=(\d+)/.exec(String(info))?.[1] ?? 0))
      const asked = yield* roles
      assert.isAbove(asked, 0)
      yield* Effect.sleep(300)
      assert.strictEqual(yield* roles, asked)
      // The dead node left the map (a failed replica is not usable): its pool goes.
      assert.notStrictEqual(master.address, cluster.addresses[0])
      yield* redis.refresh
      assert.isFalse((yield* redis.shards).some((shard) => shard.master.id === master.id || shard.replicas.some((r) => r.id === master.id)))
      assert.isTrue(yield* eventually(Effect.map(redis.nodeStats, (stats) => !stats.has(master.address))))
    })))

  it.effect("layerConfig reads REDIS_CLUSTER_NODES and the per-node options from the environment", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const env = { REDIS_CLUSTER_NODES: ` ${cluster.addresses[0]}, ${cluster.addresses[1]} `, REDIS_POOL_SIZE: "2", REDIS_CLUSTER_MAX_REDIRECTS: "4" }
      const options = yield* Cluster.config().pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
      assert.deepStrictEqual(options.nodes, cluster.addresses.slice(0, 2))
      assert.strictEqual(options.poolSize, 2)
      assert.strictEqual(options.maxRedirects, 4)
      const result = yield* program.pipe(
        Effect.provide(Cluster.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))))
      )
      assert.strictEqual(result.greeting, "hello")
    }))

  it.effect("seed lists that are not addresses fail with InvalidArgumentError; unreachable seeds with ClusterUnreachableError", () =>
    Effect.scoped(Effect.gen(function*() {
      for (const nodes of [[], ["not a port:x"], [{ host: "127.0.0.1", port: 0 }]] as const) {
        const exit = yield* Effect.exit(Cluster.make({ nodes }))
        assert.strictEqual(tagOf(exit), "InvalidArgumentError")
      }
      const exit = yield* Effect.exit(Cluster.make({ nodes: ["127.0.0.1:1"], dialTimeout: 500 }))
      assert.strictEqual(tagOf(exit), "ClusterUnreachableError")
      assert.include(String((failure(exit) as { message: string }).message), "127.0.0.1:1")
    })))
})
