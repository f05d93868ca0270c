/**
 * The demo: `npm start`.
 *
 * Uses the cluster at `REDIS_CLUSTER_NODES` (comma-separated `host:port` seeds,
 * read by `Cluster.layerConfig`, so `REDIS_POOL_SIZE` and the other `REDIS_*`
 * options apply per node) when it is set, else the server at `REDIS_URL`;
 * otherwise starts a throwaway `redis-server` on a free loopback port and
 * stops it at the end. The demo itself is written against `RedisPool` only and
 * runs unchanged on either. Then it shows
 * the pool at work: a concurrent workload, a pipeline, a WATCH transaction that
 * meets a conflict, a pub/sub round trip, BLPOPs beside ongoing GETs, and the
 * pool's counters. Every key it writes starts with `demo:` and is deleted at
 * the end.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Cluster from "../src/Cluster.ts"
import * as Commands from "../src/Commands.ts"
import * as RedisPool from "../src/RedisPool.ts"
// The same helper the tests use to run a throwaway server.
import * as RedisServer from "../test/support/RedisServer.ts"

const VALUE = "0123456789abcdef" // 16 bytes, as in the benchmarks
const KEYS = 10_000

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const ms = (x: number) => `${x.toFixed(3)} ms`

/** `fibers` fibers doing SET then GET of their own keys for `seconds`; every GET must see its SET. */
const workload = (fibers: number, seconds: number) =>
  Effect.gen(function*() {
    const redis = yield* RedisPool.RedisPool
    let ops = 0
    const deadline = performance.now() + seconds * 1000
    const worker = (w: number) =>
      Effect.gen(function*() {
        for (let i = 0; performance.now() < deadline; i++) {
          const key = `demo:key:${(w * 97 + i) % KEYS}`
          const value = `${VALUE}:${w}`
          yield* redis.set(key, value)
          const got = yield* redis.get(key)
          // Another fiber may have written the same key in between, but never a value nobody wrote.
          if (got === null || !got.startsWith(VALUE)) {
            return yield* Effect.die(new Error(`GET ${key} returned ${got}`))
          }
          ops += 2
        }
      })
    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: fibers }, (_, w) => w), worker, {
      concurrency: "unbounded",
      discard: true
    })
    const elapsed = (performance.now() - started) / 1000
    yield* Console.log(
      `1. workload: ${fibers} fibers, SET+GET of 16-byte values over ${KEYS} keys for ${seconds} s: ` +
        `${ops.toLocaleString("en-US")} commands, ${Math.round(ops / elapsed).toLocaleString("en-US")} ops/s`
    )
  })

/** One write, four commands, one of them failing: the error is a value in the tuple. */
const pipeline = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  const [set, incr, wrongType, get] = yield* redis.pipeline([
    Commands.set("demo:counter", 41),
    Commands.incr("demo:counter"),
    Commands.hget("demo:counter", "field"), // WRONGTYPE: a string is not a hash
    Commands.get("demo:counter")
  ])
  const shown = wrongType instanceof Error ? `${wrongType._tag}(${wrongType.message.split(" ")[0]})` : wrongType
  yield* Console.log(`2. pipeline: SET → ${set}, INCR → ${incr}, HGET → ${shown}, GET → ${get}`)
})

/** WATCH a balance, let another client change it mid-transaction, see EXEC refused, then retry. */
const transaction = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  yield* redis.set("demo:balance", 100)
  const withdraw = (amount: number, interfere: boolean) =>
    redis.watch(["demo:balance"], (tx) =>
      Effect.gen(function*() {
        const balance = Number(yield* tx.get("demo:balance"))
        // A write by someone else (here: the shared pool) to the watched key.
        if (interfere) yield* redis.incrby("demo:balance", 5)
        return [Commands.set("demo:balance", balance - amount)] as const
      }))
  const first = yield* withdraw(10, true).pipe(
    Effect.as("committed"),
    Effect.catchTag("TransactionAbortedError", () => Effect.succeed("aborted by the conflicting write"))
  )
  yield* withdraw(10, false)
  const balance = yield* redis.get("demo:balance")
  yield* Console.log(
    `3. WATCH transaction: first attempt ${first}; retried and committed; balance 100 + 5 - 10 = ${balance}`
  )
})

/** Subscribe, publish three messages through the pool, receive them. */
const pubsub = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  const subscribed = yield* Deferred.make<void>()
  const receiver = yield* redis.subscribe("demo:news").pipe(
    Stream.tap((event) => event._tag === "Subscribed" ? Deferred.succeed(subscribed, undefined) : Effect.void),
    Stream.filter((event) => event._tag === "Message"),
    Stream.map((event) => event.message),
    Stream.take(3),
    Stream.runCollect,
    Effect.forkChild
  )
  yield* Deferred.await(subscribed)
  const started = performance.now()
  for (const text of ["one", "two", "three"]) yield* redis.send("PUBLISH", "demo:news", text)
  const messages = yield* Fiber.join(receiver)
  yield* Console.log(
    `4. pub/sub: received ${JSON.stringify(messages)} in ${ms(performance.now() - started)} ` +
      `(one subscriber connection for the whole service)`
  )
})

/** Ten BLPOPs block on an empty list while GETs go on; then elements arrive and each BLPOP gets one. */
const blocking = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  // Forked one after another from this fiber, so they are its children and outlive the loop.
  const poppers = yield* Effect.forEach(
    Array.from({ length: 10 }, (_, i) => i),
    () => Effect.forkChild(redis.blpop("demo:queue", "5 seconds"))
  )
  yield* Effect.sleep("100 millis") // let them block
  const latencies: Array<number> = []
  for (let i = 0; i < 2000; i++) {
    const started = performance.now()
    yield* redis.get(`demo:key:${i}`)
    latencies.push(performance.now() - started)
  }
  latencies.sort((a, b) => a - b)
  yield* redis.rpush("demo:queue", ...Array.from({ length: 10 }, (_, i) => `job-${i}`))
  const popped = yield* Effect.forEach(poppers, Fiber.join)
  const got = popped.filter((p) => p !== null).length
  yield* Console.log(
    `5. blocking: 10 BLPOPs blocked on exclusive connections while 2000 GETs ran beside them ` +
      `(GET p50 ${ms(percentile(latencies, 0.5))}, p99 ${ms(percentile(latencies, 0.99))}); ` +
      `then 10 elements pushed, ${got} popped`
  )
})

const report = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  const s = yield* redis.stats
  yield* Console.log(
    `6. pool: ${s.total} connections (${s.shared} shared, ${s.idle} idle, ${s.inUse} exclusive), ` +
      `hits ${s.hits}, misses ${s.misses}, timeouts ${s.timeouts}, waits ${s.waitCount}, ` +
      `removed ${JSON.stringify(s.removals)}, breaker ${s.breaker.state}`
  )
})

const cleanup = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  let deleted = 0
  const keys = yield* Stream.runCollect(redis.scanStream({ match: "demo:*", count: 1000 }))
  for (let i = 0; i < keys.length; i += 500) deleted += yield* redis.del(...keys.slice(i, i + 500))
  yield* Console.log(`   cleaned up ${deleted} demo:* keys`)
})

const demo = Effect.gen(function*() {
  yield* workload(200, 2)
  yield* pipeline
  yield* transaction
  yield* pubsub
  yield* blocking
  yield* report
  yield* cleanup
})

/** On a cluster, what only a cluster has: its shards, and the refreshes and redirects the demo caused. */
const clusterReport = Effect.gen(function*() {
  const cluster = yield* Cluster.RedisCluster
  const shards = yield* cluster.shards
  const redirects = yield* cluster.redirects
  yield* Console.log(
    `7. cluster: ${shards.length} shards (${shards.map((shard) => `${shard.master.address} + ${shard.replicas.length} replica(s)`).join(", ")}), ` +
      `${yield* cluster.refreshes} map refreshes, ${redirects.moved} MOVED, ${redirects.ask} ASK`
  )
})

const main = Effect.gen(function*() {
  const nodes = process.env.REDIS_CLUSTER_NODES
  if (nodes !== undefined && nodes !== "") {
    yield* Console.log(`Using the cluster at REDIS_CLUSTER_NODES (${nodes})`)
    return yield* Effect.andThen(demo, clusterReport).pipe(Effect.provide(Cluster.layerConfig()))
  }
  let url = process.env.REDIS_URL
  if (url === undefined || url === "") {
    const server = yield* RedisServer.make()
    yield* Console.log(`No REDIS_URL: started a throwaway redis-server at ${server.url} (stopped at the end)`)
    url = server.url
  } else {
    yield* Console.log(`Using REDIS_URL`)
  }
  yield* demo.pipe(Effect.provide(RedisPool.layer({ url, poolSize: 20 })))
}).pipe(Effect.scoped)

NodeRuntime.runMain(main)
