import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { implOf } from "../../src/internal/pool.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, makePool } from "../support/FakeConn.ts"
import { spin, until } from "../support/effects.ts"

/** A shared caller that stays on its connection until `done` completes. */
const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    const conn = yield* Deferred.await(on)
    return { conn, fiber, finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

/** An exclusive caller, forked, that keeps its connection until `release`; `conn` waits (boundedly) for it. */
const exclusiveCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(pool.withConn((c) => Effect.andThen(Deferred.succeed(on, c), Deferred.await(done))))
    const conn = Effect.gen(function*() {
      assert.isTrue(yield* until(() => Deferred.isDoneUnsafe(on)), "the exclusive caller got no connection")
      return yield* Deferred.await(on)
    })
    return { fiber, conn, release: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

/** The set's counts agree with its connections: retire() and stats rely on them. */
const assertCounts = (pool: Pool.Pool<FakeConn>) => {
  const shared = implOf<FakeConn>(pool).shared
  assert.strictEqual(shared.retiring, shared.entries.filter((e) => e.retiring).length, "retiring")
  assert.strictEqual(shared.inFlight, shared.entries.reduce((n, e) => n + e.inFlight, 0), "inFlight")
}

/** Three shared connections with 2, 1 and 1 callers (sharedGrowAt 1, every turn taken when `held` is). */
const threeShared = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const a1 = yield* sharedCaller(pool)
    const a2 = yield* sharedCaller(pool)
    const a3 = yield* sharedCaller(pool)
    const a4 = yield* sharedCaller(pool)
    assert.strictEqual(a4.conn, a1.conn)
    assert.notStrictEqual(a2.conn, a1.conn)
    assert.notStrictEqual(a3.conn, a2.conn)
    return { x: a1.conn, y: a2.conn, z: a3.conn, onX: [a1, a4], onY: a2, onZ: a3 }
  })

describe("Pool: which shared connection a caller gets", () => {
  it.effect("the least busy one, the first of equals", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedGrowAt: 2, maxInFlight: 4 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      const c = yield* sharedCaller(pool)
      const d = yield* sharedCaller(pool)
      const x = a.conn
      const y = c.conn
      assert.strictEqual(b.conn, x)
      assert.notStrictEqual(y, x)
      assert.strictEqual(d.conn, y)
      yield* a.finish
      const e = yield* sharedCaller(pool) // x 1, y 2
      assert.strictEqual(e.conn, x)
      yield* b.finish
      yield* d.finish
      const f = yield* sharedCaller(pool) // x 1, y 1
      assert.strictEqual(f.conn, x)
      assertCounts(pool)
      yield* Effect.forEach([c, e, f], (s) => s.finish)
    }))
})

describe("Pool: exclusive callers retire shared connections", () => {
  it.effect("each waiting exclusive caller retires the least busy connection not retiring yet, the first of equals", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, sharedGrowAt: 1 })
      const { onX, onY, onZ, y, z } = yield* threeShared(pool)
      const first = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      assertCounts(pool)
      const second = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      assertCounts(pool)
      yield* onY.finish
      assert.strictEqual(yield* first.conn, y)
      assertCounts(pool)
      yield* onZ.finish
      assert.strictEqual(yield* second.conn, z)
      assertCounts(pool)
      yield* Effect.forEach(onX, (s) => s.finish)
    }))

  it.effect("a second exclusive caller when every shared connection is retiring already waits its turn", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const a = yield* sharedCaller(pool)
      const first = yield* exclusiveCaller(pool)
      const second = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* a.finish
      assert.strictEqual(yield* first.conn, a.conn)
      yield* first.release
      assert.strictEqual(yield* second.conn, a.conn)
    }))

  it.effect("a shared connection nobody is using goes to a waiting exclusive caller at once", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      const exclusive = yield* exclusiveCaller(pool)
      assert.strictEqual(yield* exclusive.conn, conn)
      assert.strictEqual(pool.statsUnsafe().shared, 0)
    }))

  it.effect("while another exclusive checkout holds a turn, a busy connection is still retired when others stay shared", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, sharedGrowAt: 1 })
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope)
      const a1 = yield* sharedCaller(pool)
      const a2 = yield* sharedCaller(pool)
      const a3 = yield* sharedCaller(pool)
      assert.strictEqual(a3.conn, a1.conn)
      assert.notStrictEqual(a2.conn, a1.conn)
      const exclusive = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* a2.finish
      assert.strictEqual(yield* exclusive.conn, a2.conn)
      yield* a1.finish
      yield* a3.finish
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("an exclusive caller served from elsewhere leaves its retired connection retiring: the next one retires no other", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 4, sharedGrowAt: 1 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const { onX, onY, onZ, y, z } = yield* threeShared(pool)
      const first = yield* exclusiveCaller(pool) // retires y
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* first.conn, held)
      // y still retires (its caller is on it), and will serve this one.
      const second = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      assertCounts(pool)
      const next = yield* sharedCaller(pool) // x 2, z 1: z, unless it was retired too
      assert.strictEqual(next.conn, z)
      yield* onY.finish
      assert.strictEqual(yield* second.conn, y)
      yield* Effect.forEach([...onX, onZ, next], (s) => s.finish)
      assertCounts(pool)
    }))

  it.effect("a retiring connection leaves the set only when its last caller does", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      const exclusive = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* a.finish
      yield* spin()
      assert.isUndefined(exclusive.fiber.pollUnsafe())
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      assertCounts(pool)
      yield* b.finish
      assert.strictEqual(yield* exclusive.conn, a.conn)
      assertCounts(pool)
    }))
})

describe("Pool: retire and remove on shared connections", () => {
  it.effect("retire closes a shared connection nobody is using at once", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      yield* pool.withShared(() => Effect.void)
      assert.strictEqual(yield* pool.retire(() => true), 1)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.retired, 1)
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.draining, 0)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.turnsInUse, 0)
    }))

  it.effect("retire of a busy shared connection, retiring already or not, counts it once; it closes when its caller leaves", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const a = yield* sharedCaller(pool)
      assert.strictEqual(yield* pool.retire(() => true), 1)
      assertCounts(pool)
      yield* a.finish
      assert.isTrue(yield* until(() => a.conn.closed))
      assert.strictEqual(pool.statsUnsafe().removals.retired, 1)
      // Retiring for an exclusive caller first, then retired.
      const b = yield* sharedCaller(pool)
      const exclusive = yield* exclusiveCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      assert.strictEqual(yield* pool.retire((c) => c === b.conn), 1)
      assertCounts(pool)
      yield* b.finish
      const got = yield* exclusive.conn
      assert.notStrictEqual(got, b.conn)
      assert.isTrue(b.conn.closed)
      assertCounts(pool)
    }))

  it.effect("remove of a shared connection keeps the set's counts", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedGrowAt: 1 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      yield* pool.remove(a.conn)
      assertCounts(pool)
      const exclusive = yield* exclusiveCaller(pool)
      yield* exclusive.conn
      yield* Effect.forEach([a, b], (s) => s.finish)
      assertCounts(pool)
    }))

  it.effect("a shared connection left with replies pending drains before it goes idle", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedIdleTime: 5_000, connMaxIdleTime: 0, drainTimeout: 60_000 })
      const conn = yield* pool.withShared((c) => Effect.sync(() => { c.pending = 1 }).pipe(Effect.as(c)))
      yield* TestClock.adjust(6_000)
      assert.isTrue(yield* until(() => pool.statsUnsafe().shared === 0))
      let stats = pool.statsUnsafe()
      assert.strictEqual(stats.draining, 1)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.turnsInUse, 1)
      conn.settle()
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.removals.unhealthy, 0)
      assert.strictEqual(yield* pool.withConn((c) => Effect.succeed(c)), conn)
    }))
})
