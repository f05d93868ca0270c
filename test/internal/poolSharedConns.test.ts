import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { implOf } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import * as RedisPool from "../../src/RedisPool.ts"
import { type FakeConn, hold, makePool } from "../support/FakeConn.ts"
import * as RedisServer from "../support/RedisServer.ts"

/** A shared caller that stays on its connection until `finish`. */
const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    return { on: Deferred.await(on), finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

describe("Pool: sharedConns", () => {
  it.effect("the set grows at sharedGrowAt up to sharedConns connections; past them, only when every one is full", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 8, sharedGrowAt: 2, sharedConns: 2, maxInFlight: 4 })
      const callers = []
      const on = new Map<FakeConn, number>()
      for (let i = 0; i < 9; i++) {
        const caller = yield* sharedCaller(pool)
        callers.push(caller)
        const conn = yield* caller.on
        on.set(conn, (on.get(conn) ?? 0) + 1)
        // Two callers on the first: a second connection. Then both take callers up to maxInFlight (4 each) before
        // a third is added, for the ninth caller.
        assert.strictEqual(pool.statsUnsafe().shared, i < 2 ? 1 : i < 8 ? 2 : 3, `after caller ${i + 1}`)
      }
      assert.deepStrictEqual([...on.values()], [4, 4, 1])
      assert.strictEqual(dialer.dials, 3)
      yield* Effect.forEach(callers, (caller) => caller.finish, { discard: true })
      yield* close
    }))

  it.effect("a retiring shared connection does not count against sharedConns", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 4, sharedGrowAt: 1, sharedConns: 2, maxInFlight: 4 })
      const a = yield* sharedCaller(pool)
      const first = yield* a.on
      const b = yield* sharedCaller(pool)
      const second = yield* b.on
      assert.notStrictEqual(second, first)
      // Every other turn held exclusively, then one more exclusive caller queues: it retires a shared connection.
      const held = yield* Effect.forEach([1, 2], () => hold(pool))
      const queued = yield* Effect.forkChild(hold(pool))
      yield* Effect.yieldNow
      assert.strictEqual(implOf(pool).shared.retiring, 1)
      // The queued caller is served by a held turn, and the other held turn comes free.
      yield* held[0]!.release
      const got = yield* Fiber.join(queued)
      yield* held[1]!.release
      // Two shared connections, one retiring: the set is under sharedConns and grows for the next caller.
      const c = yield* sharedCaller(pool)
      const third = yield* c.on
      assert.isFalse(third === first || third === second)
      yield* got.release
      yield* Effect.forEach([a, b, c], (caller) => caller.finish, { discard: true })
      yield* close
    }))

  it.effect("without sharedConns the set keeps growing at sharedGrowAt (the pool's default)", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 8, sharedGrowAt: 2, maxInFlight: 4 })
      const callers = []
      for (let i = 0; i < 6; i++) {
        const caller = yield* sharedCaller(pool)
        callers.push(caller)
        yield* caller.on
      }
      assert.strictEqual(pool.statsUnsafe().shared, 3)
      yield* Effect.forEach(callers, (caller) => caller.finish, { discard: true })
      yield* close
    }))

  it.live("the service spreads 50 callers over 3 shared connections and no more", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const redis = yield* RedisPool.make({ port: server.port })
      yield* redis.set("spread", "v")
      let most = 0
      // Bursts of 50 concurrent GETs until the third connection has joined (each joins once 16 callers share
      // every one before it); at no point more than three, since no connection is ever full (maxInFlight 1000).
      for (let burst = 0; burst < 500 && most < 3; burst++) {
        yield* Effect.forEach(Array.from({ length: 50 }), () => redis.get("spread"), { concurrency: "unbounded", discard: true })
        most = Math.max(most, (yield* redis.stats).shared)
      }
      assert.strictEqual(most, 3)
      for (let burst = 0; burst < 20; burst++) {
        yield* Effect.forEach(Array.from({ length: 50 }), () => redis.get("spread"), { concurrency: "unbounded", discard: true })
        assert.isAtMost((yield* redis.stats).shared, 3)
      }
    })), 60_000)
})
