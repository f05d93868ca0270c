import { assert, describe, it, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as EffectPersistence from "effect/persistence/Persistence"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { createClient } from "redis"
import * as Scope from "effect/Scope"
import { type ConnectionError, RedisReplyError } from "../src/Errors.ts"
import * as Persistence from "../src/Persistence.ts"
import * as RedisPool from "../src/RedisPool.ts"
import { eventually, failure, pause } from "./support/effects.ts"
import { freePort } from "./support/ports.ts"
import * as RedisServer from "./support/RedisServer.ts"


const causeOf = <A>(exit: Exit.Exit<A, Redis.RedisError>): unknown => failure(exit)?.cause

class Lookup extends Persistable.Class<{ payload: { readonly id: string } }>()("Lookup", {
  primaryKey: ({ id }) => id,
  success: Schema.String
}) {}

const suite = (protocol: 2 | 3) =>
  layer(RedisServer.layer(), { excludeTestServices: true })(`Persistence (RESP${protocol})`, (it) => {
    const backend = Layer.unwrap(
      Effect.map(RedisServer.RedisServer, (server: RedisServer.RedisServer) =>
        Persistence.layerWithPool({ port: server.port, protocol, poolSize: 8 }))
    )
    const withRedis = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, backend)
    const p = (key: string) => `p${protocol}:${key}`

    it.effect("send returns node-redis's RESP2 shapes, names and arguments verbatim", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        assert.strictEqual(yield* redis.send("SET", p("a"), "1"), "OK")
        assert.strictEqual(yield* redis.send("set", p("b"), "x"), "OK")
        assert.strictEqual(yield* redis.send("Get", p("b")), "x")
        assert.strictEqual(yield* redis.send("GET", p("missing")), null)
        assert.strictEqual(yield* redis.send("INCR", p("a")), 2)
        assert.deepStrictEqual(yield* redis.send("mget", p("a"), p("missing"), p("b")), ["2", null, "x"])
        yield* redis.send("HSET", p("h"), "f", "1", "g", "2")
        const hash = (yield* redis.send<Array<string>>("HGETALL", p("h")))
        assert.deepStrictEqual(hash, ["f", "1", "g", "2"])
        yield* redis.send("SADD", p("s"), "m1", "m2")
        assert.deepStrictEqual([...(yield* redis.send<Array<string>>("SMEMBERS", p("s")))].sort(), ["m1", "m2"])
        yield* redis.send("ZADD", p("z"), "1.5", "one", "2", "two")
        assert.strictEqual(yield* redis.send("ZSCORE", p("z"), "two"), "2")
        assert.strictEqual(yield* redis.send("ZINCRBY", p("z"), "1", "one"), "2.5")
        assert.deepStrictEqual(yield* redis.send("ZRANGE", p("z"), "0", "-1", "WITHSCORES"), ["two", "2", "one", "2.5"])
        assert.deepStrictEqual(yield* redis.send("ZPOPMIN", p("z"), "1"), ["two", "2"])
        assert.deepStrictEqual(yield* redis.send("SCAN", "0", "MATCH", p("zz*"), "COUNT", "100"), ["0", []])
        const scripted = yield* redis.send("EVAL", "return {1, 'two', {3}, false, true}", "0")
        assert.deepStrictEqual(scripted, [1, "two", [3], null, 1])
        const wrong = yield* Effect.exit(redis.send("INCR", p("h")))
        const cause = causeOf(wrong)
        assert.instanceOf(failure(wrong), Redis.RedisError)
        assert.instanceOf(cause, RedisReplyError)
        assert.isTrue(String(cause).startsWith("WRONGTYPE"), String(cause))
      })))

    it.effect("send gives the replies node-redis gives over RESP2, command by command", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const server = yield* RedisServer.RedisServer
        const k = (name: string) => p(`cmp:${name}`)
        const setup: ReadonlyArray<ReadonlyArray<string>> = [
          ["HSET", k("h"), "f", "1", "g", "two"],
          ["SADD", k("s"), "x"],
          ["ZADD", k("z"), "1.5", "a", "2", "b", "-3.25", "c"],
          ["ZADD", k("z1"), "0.125", "only"],
          ["RPUSH", k("l"), "1", "2", "3"],
          ["GEOADD", k("g"), "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
          ["XADD", k("x"), "1-1", "field", "value"],
          ["SET", k("f"), "1.25"]
        ]
        for (const command of setup) yield* redis.send(command[0]!, ...command.slice(1))
        const queries: ReadonlyArray<ReadonlyArray<string>> = [
          ["HGETALL", k("h")],
          ["HMGET", k("h"), "f", "nope"],
          ["SMEMBERS", k("s")],
          ["ZSCORE", k("z"), "b"],
          ["ZMSCORE", k("z"), "a", "nope"],
          ["ZRANGE", k("z"), "0", "-1", "WITHSCORES"],
          ["ZREVRANGEBYSCORE", k("z"), "+inf", "-inf", "WITHSCORES"],
          ["ZRANDMEMBER", k("z1"), "1", "WITHSCORES"],
          ["ZRANK", k("z"), "a"],
          ["LRANGE", k("l"), "0", "-1"],
          ["GEOPOS", k("g"), "Palermo", "nope"],
          ["GEODIST", k("g"), "Palermo", "Catania", "km"],
          ["GEOSEARCH", k("g"), "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST", "WITHCOORD"],
          ["XRANGE", k("x"), "-", "+"],
          ["CONFIG", "GET", "maxmemory"],
          ["TYPE", k("h")],
          ["EXISTS", k("h"), k("nope")],
          ["EVAL", "return {1, 'a', false, true, {2}}", "0"],
          ["SCAN", "0", "MATCH", k("nothing*"), "COUNT", "10"],
          ["GET", k("nope")]
        ]
        const node = createClient({ socket: { host: "127.0.0.1", port: server.port }, RESP: 2 })
        yield* Effect.acquireRelease(Effect.promise(() => node.connect()), () => Effect.sync(() => node.destroy()))
        for (const query of queries) {
          const ours = yield* redis.send(query[0]!, ...query.slice(1))
          const theirs = yield* Effect.promise(() => node.sendCommand([...query]))
          assert.deepStrictEqual(ours, theirs, query.join(" "))
        }
        const mutations: ReadonlyArray<(key: string) => ReadonlyArray<string>> = [
          (key) => ["ZINCRBY", key, "0.5", "a"],
          (key) => ["ZADD", key, "INCR", "1", "b"],
          (key) => ["ZPOPMIN", key, "1"],
          (key) => ["ZPOPMAX", key],
          (key) => ["INCRBYFLOAT", key + ":f", "0.25"]
        ]
        // Writes: the same command on two copies of a sorted set, one through each client.
        for (const mutation of mutations) {
          const run = (key: string, send: (command: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>) =>
            Effect.gen(function*() {
              yield* redis.send("ZADD", key, "1.5", "a", "2", "b", "3", "c")
              const reply = yield* send(mutation(key))
              yield* redis.send("DEL", key, `${key}:f`)
              return reply
            })
          const ours = yield* run(k("m"), (command) => redis.send(command[0]!, ...command.slice(1)))
          const theirs = yield* run(k("m"), (command) => Effect.promise(() => node.sendCommand([...command])))
          assert.deepStrictEqual(ours, theirs, mutation(k("m")).join(" "))
        }
      }).pipe(Effect.scoped)))

    it.effect("eval caches the script by SHA and reloads it after SCRIPT FLUSH and a restart", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const server = yield* RedisServer.RedisServer
        const echo = Redis.script((key: string, value: string) => [key, value], {
          lua: "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1], 7}",
          numberOfKeys: 1
        }).withReturnType<[string, string, number]>()
        const run = redis.eval(echo)
        assert.deepStrictEqual(yield* run(p("e"), "v1"), [p("e"), "v1", 7])
        const sha = (yield* redis.send<Array<string>>("SCRIPT", "LOAD", echo.lua)) as unknown as string
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [1])
        yield* server.cli("SCRIPT", "FLUSH")
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [0])
        assert.deepStrictEqual(yield* run(p("e"), "v2"), [p("e"), "v2", 7])
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [1])
        yield* server.restart
        // The pool notices its connections closed and dials again; PING is safe to retry.
        assert.isTrue(yield* eventually(Effect.map(Effect.exit(redis.send("PING")), Exit.isSuccess)))
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", sha), [0])
        assert.deepStrictEqual(yield* run(p("e"), "v3"), [p("e"), "v3", 7])
        assert.strictEqual(yield* redis.send("GET", p("e")), "v3")
      })))

    it.effect("RateLimiter fixed window and token bucket hold their limits across 50 concurrent fibers", () =>
      withRedis(Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        for (const algorithm of ["fixed-window", "token-bucket"] as const) {
          const key = p(`rl:${algorithm}`)
          const exits = yield* Effect.forEach(
            Array.from({ length: 50 }),
            () => Effect.exit(limiter.consume({ algorithm, key, limit: 10, window: "1 hour" })),
            { concurrency: "unbounded" }
          )
          const allowed = exits.filter(Exit.isSuccess).length
          assert.strictEqual(allowed, 10, algorithm)
          for (const exit of exits) {
            if (Exit.isFailure(exit)) assert.strictEqual(failure(exit)?.reason._tag, "RateLimitExceeded")
          }
        }
      }).pipe(
        Effect.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: p("rl:") }))))
      )))

    it.effect("SCRIPT FLUSH during a rate-limited workload: no error reaches the caller", () =>
      withRedis(Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const server = yield* RedisServer.RedisServer
        const worker = (i: number) =>
          Effect.forEach(
            Array.from({ length: 40 }),
            (_, j) =>
              limiter.consume({
                algorithm: j % 2 === 0 ? "fixed-window" : "token-bucket",
                key: p(`flush:${i % 5}:${j % 2}`),
                limit: 1_000_000,
                window: "1 minute"
              }),
            { discard: true }
          )
        const workload = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: 20 }, (_, i) => i), worker, { concurrency: "unbounded", discard: true })
        )
        for (let i = 0; i < 5; i++) {
          yield* server.cli("SCRIPT", "FLUSH")
          yield* pause(20)
        }
        const exit = yield* Fiber.await(workload)
        assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
      }).pipe(
        Effect.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: p("fl:") }))))
      )))

    it.effect("PersistedCache on Persistence.layerRedis: get, set, expiry and invalidation", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        let lookups = 0
        const cache = (storeId: string, ttl: Duration.Input) =>
          PersistedCache.make((request: Lookup) => Effect.sync(() => `value-${request.id}-${++lookups}`), {
            storeId,
            timeToLive: () => ttl
          })
        const first = yield* cache(`cache${protocol}`, "1 hour")
        assert.strictEqual(yield* first.get(new Lookup({ id: "a" })), "value-a-1")
        assert.strictEqual(yield* first.get(new Lookup({ id: "a" })), "value-a-1")
        // A second cache has an empty memory: the value comes from Redis, not from the lookup.
        const second = yield* cache(`cache${protocol}`, "1 hour")
        assert.strictEqual(yield* second.get(new Lookup({ id: "a" })), "value-a-1")
        assert.strictEqual(lookups, 1)
        const stored = yield* redis.send<Array<string>>("KEYS", `cache${protocol}:*`)
        assert.strictEqual(stored.length, 1)
        yield* second.invalidate(new Lookup({ id: "a" }))
        assert.deepStrictEqual(yield* redis.send<Array<string>>("KEYS", `cache${protocol}:*`), [])
        const third = yield* cache(`cache${protocol}`, "1 hour")
        assert.strictEqual(yield* third.get(new Lookup({ id: "a" })), "value-a-2")
        // Expiry: the entry carries a PX and is gone from Redis once it passes.
        const short = yield* cache(`short${protocol}`, "300 millis")
        assert.strictEqual(yield* short.get(new Lookup({ id: "b" })), "value-b-3")
        const [key] = yield* redis.send<Array<string>>("KEYS", `short${protocol}:*`)
        assert.isDefined(key)
        const ttl = yield* redis.send<number>("PTTL", key!)
        // Set with an expiry (-1 would mean none; -2 that it already passed on a slow machine).
        assert.isTrue(ttl !== -1 && ttl <= 300, String(ttl))
        assert.isTrue(yield* eventually(Effect.map(redis.send("EXISTS", key!), (n) => n === 0)))
        const later = yield* cache(`short${protocol}`, "300 millis")
        assert.strictEqual(yield* later.get(new Lookup({ id: "b" })), "value-b-4")
      }).pipe(Effect.scoped, Effect.provide(EffectPersistence.layerRedis))))

    it.effect("PersistedQueue: offer, take, complete, failure with retry, delayed offers", () =>
      withRedis(Effect.gen(function*() {
        const queue = yield* PersistedQueue.make({
          name: p("jobs"),
          schema: Schema.String,
          maxAttempts: 3,
          retrySchedule: Schedule.spaced("10 millis")
        })
        const take = () =>
          queue.take((value, { attempts, id }) => Effect.succeed({ value, attempts, id }))
        yield* queue.offer("one", { id: "1" })
        assert.deepStrictEqual(yield* take(), { value: "one", attempts: 1, id: "1" })
        // Completed: offering the same id again is de-duplicated, so "two" comes next.
        yield* queue.offer("one", { id: "1" })
        yield* queue.offer("two", { id: "2" })
        assert.strictEqual((yield* take()).value, "two")
        // A failing handler: the element comes back for a second attempt.
        yield* queue.offer("flaky", { id: "3" })
        const failed = yield* Effect.exit(queue.take((value) => Effect.fail(`boom ${value}`)))
        assert.strictEqual(failure(failed), "boom flaky")
        assert.deepStrictEqual(yield* take(), { value: "flaky", attempts: 2, id: "3" })
        // A delayed offer is delivered after an immediate one made later.
        yield* queue.offer("late", { id: "4", delay: "400 millis" })
        yield* queue.offer("now", { id: "5" })
        assert.strictEqual((yield* take()).value, "now")
        assert.strictEqual((yield* take()).value, "late")
      }).pipe(
        Effect.provide(
          PersistedQueue.layer.pipe(
            Layer.provide(PersistedQueue.layerStoreRedis({ prefix: p("q:"), pollInterval: "20 millis" }))
          )
        )
      )))

    it.effect("CircuitBreaker on layerStoreRedis opens after consecutive failures", () =>
      withRedis(Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.CircuitBreaker
        const key = p("cb")
        let runs = 0
        const call = breaker.execute(Effect.suspend(() => {
          runs++
          return Effect.fail("down")
        }), { key })
        assert.strictEqual(failure(yield* Effect.exit(call)), "down")
        assert.strictEqual((yield* breaker.state(key))._tag, "Closed")
        assert.strictEqual(failure(yield* Effect.exit(call)), "down")
        assert.strictEqual((yield* breaker.state(key))._tag, "Open")
        const rejected = failure(yield* Effect.exit(call))
        assert.instanceOf(rejected, CircuitBreaker.CircuitBreakerError)
        assert.strictEqual((rejected as CircuitBreaker.CircuitBreakerError).reason._tag, "CircuitOpen")
        assert.strictEqual(runs, 2)
        assert.strictEqual(yield* breaker.execute(Effect.succeed(1), { key: p("cb2") }), 1)
      }).pipe(
        Effect.provide(
          CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(2), openDuration: "1 hour" }).pipe(
            Layer.provide(CircuitBreaker.layerStoreRedis({ prefix: p("cb:") }))
          )
        )
      )))

    it.effect("reserve: a BLPOP on a reserved connection of the same pool while send traffic continues", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const pool = yield* RedisPool.RedisPool
        const key = p("blpop")
        const popped = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* redis.reserve
          assert.strictEqual((yield* pool.stats).inUse, 1)
          const blpop = yield* Effect.forkChild(conn.send<[string, string]>("BLPOP", key, "0"))
          yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) =>
              Effect.flatMap(
                redis.send("SET", p(`traffic:${i}`), String(i)),
                () => redis.send<string>("GET", p(`traffic:${i}`))
              ).pipe(Effect.map((value) => assert.strictEqual(value, String(i)))),
            { concurrency: 50, discard: true }
          )
          assert.isUndefined(blpop.pollUnsafe())
          yield* redis.send("RPUSH", key, "item")
          const result = yield* Fiber.join(blpop)
          assert.deepStrictEqual(yield* conn.eval(Redis.script(() => [], { lua: "return 5", numberOfKeys: 0 }).withReturnType<number>())(), 5)
          return result
        }))
        assert.deepStrictEqual(popped, [key, "item"])
        const after = yield* pool.stats
        assert.strictEqual(after.inUse, 0)
        assert.strictEqual(after.removals.error, 0)
      })))

    it.effect("reserve: closed instead of returned when a command failed, is running, or left state", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const pool = yield* RedisPool.RedisPool
        const removed = () => Effect.map(pool.stats, (stats) => stats.removals.error)
        const before = yield* removed()
        // Clean use: returned.
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => conn.send("PING")))
        assert.strictEqual(yield* removed(), before)
        // A failed command.
        yield* redis.send("SET", p("str"), "x")
        const failed = yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => Effect.exit(conn.send("LPUSH", p("str"), "y"))))
        assert.instanceOf(causeOf(failed), RedisReplyError)
        assert.strictEqual(yield* removed(), before + 1)
        // Left in MULTI.
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => conn.send("MULTI")))
        assert.strictEqual(yield* removed(), before + 2)
        // A BLPOP still running when the scope closes: the connection is closed, nothing is popped for nobody.
        const key = p("ghost")
        const blocked = Effect.map(redis.send<string>("INFO", "clients"), (info) => info.includes("blocked_clients:1"))
        const leftBehind = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* redis.reserve
          yield* Effect.forkChild(conn.send("BLPOP", key, "0"))
          assert.isTrue(yield* eventually(blocked))
          return conn
        }))
        assert.strictEqual(yield* removed(), before + 3)
        // Once the server has read the close, nobody waits on the list any more. (A push racing
        // the close itself can still be served to the closed socket: see the Conn module notes.)
        const unblocked = Effect.map(redis.send<string>("INFO", "clients"), (info) => info.includes("blocked_clients:0"))
        assert.isTrue(yield* eventually(unblocked))
        yield* redis.send("RPUSH", key, "kept")
        assert.strictEqual(yield* redis.send("LLEN", key), 1)
        // Used after its scope closed: refused, not sent on a connection someone else may hold.
        const late = yield* Effect.exit(leftBehind.send("GET", key))
        assert.strictEqual((causeOf(late) as { _tag: string })._tag, "InvalidArgumentError")
        // An interrupted command: closed too, even though nothing is running when the scope closes.
        yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* redis.reserve
          const fiber = yield* Effect.forkChild(conn.send("BLPOP", key + ":other", "0"))
          assert.isTrue(yield* eventually(blocked))
          yield* Fiber.interrupt(fiber)
        }))
        assert.strictEqual(yield* removed(), before + 4)
        // A full MULTI/EXEC leaves it clean.
        const exec = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* redis.reserve
          yield* conn.send("MULTI")
          yield* conn.send("INCR", p("counter"))
          return yield* conn.send("EXEC")
        }))
        assert.deepStrictEqual(exec, [1])
        assert.strictEqual(yield* removed(), before + 4)
      })))

    it.effect("reserve: a connection left in WATCH or after SELECT is never reused with that state", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const redis = yield* Redis.Redis
        const key = p("reserved-watch")
        // A WATCH left behind: a later reservation's EXEC would abort once another client writes the key.
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => conn.send("WATCH", key)))
        yield* server.cli("SET", key, "changed")
        const exec = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* redis.reserve
          yield* conn.send("MULTI")
          yield* conn.send("GET", key)
          return yield* conn.send("EXEC")
        }))
        assert.deepStrictEqual(exec, ["changed"], "a reservation got a connection still watching a key")
        // A SELECT left behind: a later reservation's writes would land in db 1.
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => conn.send("SELECT", "1")))
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (conn) => conn.send("SET", p("where"), "db0")))
        assert.strictEqual(yield* server.cli("-n", "1", "EXISTS", p("where")), "0", "a reservation got a connection in db 1")
        assert.strictEqual(yield* server.cli("GET", p("where")), "db0")
      }).pipe(
        // One connection, so that each reservation gets the one the previous gave back (or a new one).
        Effect.provide(Layer.unwrap(
          Effect.map(RedisServer.RedisServer, (server: RedisServer.RedisServer) =>
            Persistence.layerWithPool({ port: server.port, protocol, poolSize: 1 }))
        ))
      ))

    it.effect("subscribe shares the service's single subscriber connection", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const pool = yield* RedisPool.RedisPool
        const queues = yield* Effect.forEach(["c1", "c2", "c3"], (c) => redis.subscribe(p(c)))
        const stats = yield* pool.subscriber.stats
        assert.strictEqual(stats.channels, 3)
        assert.strictEqual(stats.connections, 1)
        yield* redis.send("PUBLISH", p("c2"), "hello")
        assert.deepStrictEqual(yield* Queue.take(queues[1]!), { channel: p("c2"), message: "hello" })
      }).pipe(Effect.scoped)))
  })

suite(3)
suite(2)

describe("Persistence on a server of its own", () => {
  it.effect("layerWithPool fails to build, as NodeRedis.layer does, when the server cannot be reached", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const exit = yield* Effect.exit(Layer.build(Persistence.layerWithPool({ port })))
      assert.isTrue(Exit.isFailure(exit))
      const error = failure(exit) as Redis.RedisError
      assert.instanceOf(error, Redis.RedisError)
      assert.strictEqual((error.cause as ConnectionError)._tag, "ConnectionError")
      assert.strictEqual((error.cause as ConnectionError).reason, "refused")
      // lazyConnect keeps the old behaviour: the layer builds, the first command fails.
      const lazy = yield* Layer.build(Persistence.layerWithPool({ port, lazyConnect: true, maxRetries: 0 }))
      const redis = Context.get(lazy, Redis.Redis)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(redis.send("PING"))))
    }))

  it.live("a subscription survives a server restart, and fails rather than hangs when the server is gone", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const context = yield* Layer.build(
        Persistence.layerWithPool({ port: server.port, pubsub: { reconnectTimeout: "2 seconds" } })
      )
      const redis = Context.get(context, Redis.Redis)
      const queue = yield* redis.subscribe("news")
      yield* redis.send("PUBLISH", "news", "before")
      assert.strictEqual((yield* Queue.take(queue)).message, "before")
      yield* server.restart
      // Messages published while resubscribing are lost; publish until one arrives.
      assert.isTrue(
        yield* eventually(
          Effect.gen(function*() {
            yield* Effect.ignore(redis.send("PUBLISH", "news", "after"))
            const got = yield* Queue.poll(queue)
            return got._tag === "Some" && got.value.message === "after"
          })
        )
      )
      yield* server.stop
      // Messages still buffered from the loop above come first, then the failure.
      const exit = yield* Effect.exit(Effect.forever(Queue.take(queue)))
      assert.isTrue(Exit.isFailure(exit))
      const error = failure(exit)
      assert.instanceOf(error, Redis.RedisError, Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
      assert.strictEqual((error!.cause as { _tag: string })._tag, "ConnectionError")
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("layerWithPoolConfig reads the pool's options from Config and provides both services", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const provider = ConfigProvider.fromEnv({ env: { REDIS_URL: server.url, REDIS_CLIENT_NAME: "persistence-cfg" } })
      const name = yield* Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const pool = yield* RedisPool.RedisPool
        yield* redis.send("SET", "cfg", "1")
        assert.strictEqual(yield* pool.send("GET", "cfg"), "1")
        return yield* redis.send("CLIENT", "GETNAME")
      }).pipe(Effect.provide(Persistence.layerWithPoolConfig().pipe(Layer.provide(ConfigProvider.layer(provider)))))
      assert.strictEqual(name, "persistence-cfg")
    }).pipe(Effect.scoped))

  it.live("closing the layer fails a command still running on a reserved connection instead of waiting", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const layerScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Persistence.layerWithPool({ port: server.port, closeTimeout: "500 millis" }),
        layerScope
      )
      const redis = Context.get(context, Redis.Redis)
      const reservation = yield* Scope.make()
      const conn = yield* Scope.provide(redis.reserve, reservation)
      const blpop = yield* Effect.forkChild(conn.send("BLPOP", "never", "0"))
      const blocked = Effect.map(redis.send<string>("INFO", "clients"), (info) => info.includes("blocked_clients:1"))
      assert.isTrue(yield* eventually(blocked))
      yield* Scope.close(layerScope, Exit.void)
      const exit = yield* Fiber.await(blpop)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual((failure(exit)?.cause as { _tag: string })._tag, "ConnectionError")
      yield* Scope.close(reservation, Exit.void)
    }).pipe(Effect.scoped))
})
