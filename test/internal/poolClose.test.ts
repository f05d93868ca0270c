import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { implOf } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import { type FakeConn, hold, makeDialer, makePool } from "../support/FakeConn.ts"
import { failure, spin, until } from "../support/effects.ts"

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

describe("closing the pool: what callers are told", () => {
  it.effect("a caller after the close is told the pool is closed; one waiting when it closed, that it closed", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 1, closeTimeout: 60_000 })
      const held = yield* hold(pool)
      const waiter = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const closing = yield* Effect.forkChild(close)
      const waited = failure(yield* Fiber.join(waiter)) as { _tag: string; message: string }
      assert.strictEqual(waited._tag, "PoolClosedError")
      assert.strictEqual(waited.message, "the pool closed")
      // The queue is empty: nobody is left waiting.
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
      const after = failure(yield* Effect.exit(pool.withConn(() => Effect.void))) as { _tag: string; message: string }
      assert.strictEqual(after._tag, "PoolClosedError")
      assert.strictEqual(after.message, "the pool is closed")
      yield* held.release
      yield* Fiber.join(closing)
    }))

  it.effect("a shared caller arriving while a busy shared connection keeps the close waiting is refused", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 60_000 })
      const busy = yield* sharedCaller(pool)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      const exit = yield* Effect.exit(pool.withShared((c) => Effect.succeed(c)))
      const error = failure(exit) as { _tag: string; message: string }
      assert.strictEqual(error._tag, "PoolClosedError")
      assert.strictEqual(error.message, "the pool is closed")
      yield* busy.finish
      yield* Fiber.join(closing)
      assert.isTrue(busy.conn.closed)
    }))
})

describe("closing the pool: a waiter interrupted as it closes", () => {
  it.effect("a waiter failed by the close and interrupted before it resumed ends without a defect", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, closeTimeout: 60_000 })
      const impl = implOf<FakeConn>(pool)
      const held = yield* hold(pool)
      const waiter = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      // In one step: the close fails the waiter (its resumption is scheduled), then the waiter is interrupted.
      const closing = yield* Effect.sync(() => {
        const fiber = impl.runDetached(impl.close())
        waiter.interruptUnsafe()
        return fiber
      })
      const exit = yield* Fiber.await(waiter)
      assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause))
      yield* held.release
      yield* Fiber.join(closing)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})

describe("closing the pool: what it waits for", () => {
  it.effect("a draining connection does not hold the close up: closing ends its drain and closes it", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, drainTimeout: 60_000, closeTimeout: 60_000 })
      const conn = yield* pool.withConn((c) => Effect.sync(() => (c.pending = 1, c)))
      assert.strictEqual(pool.statsUnsafe().draining, 1)
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => closing.pollUnsafe() !== undefined))
      assert.isTrue(conn.closed)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.draining, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.removals.closed, 1)
    }))

  it.effect("a shared connection nobody is using is closed at once and does not hold the close up", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 60_000 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => closing.pollUnsafe() !== undefined))
      assert.isTrue(conn.closed)
      assert.strictEqual(pool.statsUnsafe().removals.closed, 1)
    }))

  it.effect("removing a checked-out connection while the close waits for another frees its turn at once", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 60_000 })
      const a = yield* hold(pool)
      const b = yield* hold(pool)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      yield* pool.remove(a.conn)
      assert.isTrue(yield* until(() => a.conn.closed))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 1)
      assert.strictEqual(pool.statsUnsafe().inUse, 1)
      assert.isUndefined(closing.pollUnsafe())
      yield* b.release
      yield* Fiber.join(closing)
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})

describe("closing the pool: what it counts", () => {
  it.effect("idle connections, and those never returned within closeTimeout, count as closed; dials under way are interrupted", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { close, pool } = yield* makePool({ poolSize: 4, closeTimeout: 1_000 }, dialer)
      const kept = yield* hold(pool)
      const busy = yield* sharedCaller(pool)
      const returned = yield* hold(pool)
      const other = returned.conn
      dialer.mode = { _tag: "block", gate }
      const dialing = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().dialing === 1))
      yield* returned.release
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => other.closed))
      assert.strictEqual(pool.statsUnsafe().removals.closed, 1)
      yield* TestClock.adjust(1_000)
      yield* Fiber.join(closing)
      const stats = pool.statsUnsafe()
      // The checkout and the shared connection, never returned.
      assert.strictEqual(stats.removals.closed, 3)
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.sharedInFlight, 0)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.total, 0)
      // The dial was interrupted with the pool's fibers: no turn is left.
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.dialing, 0)
      assert.strictEqual(failure(yield* Fiber.join(dialing))?._tag, "PoolClosedError")
      assert.isTrue(kept.conn.closed)
      assert.isTrue(busy.conn.closed)
      yield* kept.release
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})
