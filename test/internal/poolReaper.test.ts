import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import type * as Pool from "../../src/Pool.ts"
import { type FakeConn, makePool } from "../support/FakeConn.ts"
import { spin, until } from "../support/effects.ts"

/** A shared caller that stays on its connection until `finish`. */
const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    const conn = yield* Deferred.await(on)
    return { conn, finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

describe("the reaper: idle connections", () => {
  it.effect("idle for exactly connMaxIdleTime at a tick is too long: the reaper closes it without any checkout", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, connMaxIdleTime: 10_000, reaperFrequency: 1_000 })
      const conn = yield* pool.withConn((c) => Effect.succeed(c))
      yield* TestClock.adjust(9_999)
      yield* spin()
      assert.isFalse(conn.closed)
      yield* TestClock.adjust(1)
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.idleTime, 1)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.hits + stats.misses, 1)
    }))

  it.effect.each([30 * 60_000, 0])("an idle connection that broke is closed by the next tick as unhealthy (connMaxIdleTime %d)", (connMaxIdleTime) =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, connMaxIdleTime, reaperFrequency: 1_000 })
      const conn = yield* pool.withConn((c) => Effect.succeed(c))
      conn.isHealthy = false
      yield* TestClock.adjust(1_000)
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.unhealthy, 1)
      assert.strictEqual(stats.removals.idleTime, 0)
      assert.strictEqual(stats.removals.lifetime, 0)
      assert.strictEqual(stats.idle, 0)
    }))

  it.effect("a tick that evicts an idle connection refills minIdleConns", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 2, minIdleConns: 1, connMaxIdleTime: 10_000, reaperFrequency: 1_000 })
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      const first = dialer.conns[0]!
      yield* TestClock.adjust(10_000)
      assert.isTrue(yield* until(() => first.closed && pool.statsUnsafe().idle === 1))
      assert.strictEqual(dialer.dials, 2)
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 1)
    }))
})

describe("the reaper: shared connections", () => {
  it.effect("a shared connection without callers goes back to the idle list after exactly sharedIdleTime, not before", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedIdleTime: 5_000, reaperFrequency: 1_000 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      yield* TestClock.adjust(4_999)
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      yield* TestClock.adjust(1)
      assert.isTrue(yield* until(() => pool.statsUnsafe().shared === 0))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.isFalse(conn.closed)
    }))

  it.effect("a shared connection in use stays shared however long its caller takes", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedIdleTime: 5_000, reaperFrequency: 1_000 })
      const caller = yield* sharedCaller(pool)
      yield* TestClock.adjust(20_000)
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      assert.strictEqual(pool.statsUnsafe().idle, 0)
      yield* caller.finish
    }))

  it.effect("every shared connection unused for sharedIdleTime goes idle in the same tick", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, sharedGrowAt: 1, sharedIdleTime: 5_000, reaperFrequency: 1_000 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      assert.notStrictEqual(a.conn, b.conn)
      yield* a.finish
      yield* b.finish
      assert.strictEqual(pool.statsUnsafe().shared, 2)
      // The tick at 5 s; the next is at 6 s.
      yield* TestClock.adjust(5_000)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 2))
      assert.strictEqual(pool.statsUnsafe().shared, 0)
    }))

  it.effect("a shared connection that broke between callers is closed by the next tick as unhealthy", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedIdleTime: 60_000, reaperFrequency: 1_000 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      conn.isHealthy = false
      yield* TestClock.adjust(1_000)
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.removals.unhealthy, 1)
      assert.strictEqual(stats.turnsInUse, 0)
    }))
})
