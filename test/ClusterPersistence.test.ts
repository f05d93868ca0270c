/**
 * Effect's persistence stores (`effect/persistence/*`) through `Persistence.layer` over `Cluster.layer`: the
 * same programs as on one server. Stores whose scripts touch several keys get a prefix with a hash tag, so a
 * store's keys share a slot, as the Cluster docs advise.
 */
import { assert, layer } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import * as PersistedQueue from "effect/persistence/PersistedQueue"
import * as EffectPersistence from "effect/persistence/Persistence"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Cluster from "../src/Cluster.ts"
import * as Persistence from "../src/Persistence.ts"
import { eventually, failure } from "./support/effects.ts"
import * as RedisCluster from "./support/RedisCluster.ts"

class Lookup extends Persistable.Class<{ payload: { readonly id: string } }>()("Lookup", {
  primaryKey: ({ id }) => id,
  success: Schema.String
}) {}

layer(RedisCluster.layer(), { timeout: 120_000, excludeTestServices: true })("Persistence over Cluster", (it) => {
  const backend = Layer.unwrap(
    Effect.map(RedisCluster.RedisCluster, (cluster: RedisCluster.RedisCluster) =>
      Persistence.layer.pipe(Layer.provideMerge(Cluster.layer({ nodes: cluster.addresses, poolSize: 4 }))))
  )
  const withRedis = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, backend)

  it.effect("send and eval route by key; KEYS sees every master", () =>
    withRedis(Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = Array.from({ length: 30 }, (_, i) => `ps:${i}`)
      for (const key of keys) assert.strictEqual(yield* redis.send("SET", key, key), "OK")
      assert.deepStrictEqual(yield* redis.send("MGET", ...keys), keys)
      const found = yield* redis.send<Array<string>>("KEYS", "ps:*")
      assert.deepStrictEqual([...found].sort(), [...keys].sort())
      const echo = Redis.script((key: string, value: string) => [key, value], {
        lua: "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1]}",
        numberOfKeys: 1
      }).withReturnType<[string, string]>()
      const run = redis.eval(echo)
      for (const key of keys.slice(0, 10)) assert.deepStrictEqual(yield* run(key, "e"), [key, "e"])
      assert.strictEqual(yield* redis.send("DEL", ...keys), 30)
    })))

  it.effect("RateLimiter fixed window and token bucket hold their limits across 50 concurrent fibers", () =>
    withRedis(Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      for (const algorithm of ["fixed-window", "token-bucket"] as const) {
        const exits = yield* Effect.forEach(
          Array.from({ length: 50 }),
          () => Effect.exit(limiter.consume({ algorithm, key: `rl:${algorithm}`, limit: 10, window: "1 hour" })),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(exits.filter(Exit.isSuccess).length, 10, algorithm)
      }
    }).pipe(Effect.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: "{rl}:" })))))))

  it.effect("PersistedCache: get, set, expiry and invalidation", () =>
    withRedis(Effect.gen(function*() {
      const redis = yield* Redis.Redis
      let lookups = 0
      const cache = (storeId: string, ttl: Duration.Input) =>
        PersistedCache.make((request: Lookup) => Effect.sync(() => `value-${request.id}-${++lookups}`), {
          storeId,
          timeToLive: () => ttl
        })
      const first = yield* cache("{cache}", "1 hour")
      assert.strictEqual(yield* first.get(new Lookup({ id: "a" })), "value-a-1")
      const second = yield* cache("{cache}", "1 hour")
      assert.strictEqual(yield* second.get(new Lookup({ id: "a" })), "value-a-1")
      assert.strictEqual(lookups, 1)
      assert.strictEqual((yield* redis.send<Array<string>>("KEYS", "{cache}:*")).length, 1)
      yield* second.invalidate(new Lookup({ id: "a" }))
      assert.deepStrictEqual(yield* redis.send<Array<string>>("KEYS", "{cache}:*"), [])
      const short = yield* cache("{short}", "300 millis")
      assert.strictEqual(yield* short.get(new Lookup({ id: "b" })), "value-b-2")
      const [key] = yield* redis.send<Array<string>>("KEYS", "{short}:*")
      assert.isDefined(key)
      assert.isTrue(yield* eventually(Effect.map(redis.send("EXISTS", key!), (n) => n === 0)))
    }).pipe(Effect.scoped, Effect.provide(EffectPersistence.layerRedis))))

  it.effect("PersistedQueue: offer, take, complete, failure with retry, delayed offers", () =>
    withRedis(Effect.gen(function*() {
      const queue = yield* PersistedQueue.make({
        name: "jobs",
        schema: Schema.String,
        maxAttempts: 3,
        retrySchedule: Schedule.spaced("10 millis")
      })
      const take = () => queue.take((value, { attempts, id }) => Effect.succeed({ value, attempts, id }))
      yield* queue.offer("one", { id: "1" })
      assert.deepStrictEqual(yield* take(), { value: "one", attempts: 1, id: "1" })
      yield* queue.offer("one", { id: "1" })
      yield* queue.offer("two", { id: "2" })
      assert.strictEqual((yield* take()).value, "two")
      yield* queue.offer("flaky", { id: "3" })
      const failed = yield* Effect.exit(queue.take((value) => Effect.fail(`boom ${value}`)))
      assert.strictEqual(failure(failed), "boom flaky")
      assert.deepStrictEqual(yield* take(), { value: "flaky", attempts: 2, id: "3" })
      yield* queue.offer("late", { id: "4", delay: "400 millis" })
      yield* queue.offer("now", { id: "5" })
      assert.strictEqual((yield* take()).value, "now")
      assert.strictEqual((yield* take()).value, "late")
    }).pipe(
      Effect.provide(
        PersistedQueue.layer.pipe(Layer.provide(PersistedQueue.layerStoreRedis({ prefix: "{q}:", pollInterval: "20 millis" })))
      )
    )))

  it.effect("CircuitBreaker opens after consecutive failures", () =>
    withRedis(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.CircuitBreaker
      let runs = 0
      const call = breaker.execute(Effect.suspend(() => {
        runs++
        return Effect.fail("down")
      }), { key: "cb" })
      assert.strictEqual(failure(yield* Effect.exit(call)), "down")
      assert.strictEqual(failure(yield* Effect.exit(call)), "down")
      assert.strictEqual((yield* breaker.state("cb"))._tag, "Open")
      assert.instanceOf(failure(yield* Effect.exit(call)), CircuitBreaker.CircuitBreakerError)
      assert.strictEqual(runs, 2)
    }).pipe(
      Effect.provide(
        CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(2), openDuration: "1 hour" }).pipe(
          Layer.provide(CircuitBreaker.layerStoreRedis({ prefix: "cb:" }))
        )
      )
    )))
})
