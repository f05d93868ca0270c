import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as TestClock from "effect/testing/TestClock"
import { implOf } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import { type FakeConn, makePool } from "../support/FakeConn.ts"
import { failure, until } from "../support/effects.ts"

/** An exclusive checkout held in its own scope until `release`. */
const hold = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const conn = yield* Scope.provide(pool.get, scope)
    return { conn, release: Scope.close(scope, Exit.void) }
  })

/** The pool's metrics in Effect's registry, by name and (for the connection count) state. */
const metricsOf = (name: string) =>
  Effect.map(Metric.snapshot, (snapshot) => {
    const mine = snapshot.filter((m) => m.attributes?.["db.client.connection.pool.name"] === name)
    const find = (id: string, state?: string) =>
      mine.find((m) => m.id === id && (state === undefined || m.attributes?.["db.client.connection.state"] === state))
    return {
      idle: find("db.client.connection.count", "idle"),
      used: find("db.client.connection.count", "used"),
      pending: find("db.client.connection.pending_requests"),
      timeouts: find("db.client.connection.timeouts"),
      waitTime: find("db.client.connection.wait_time"),
      createTime: find("db.client.connection.create_time")
    }
  })

const valueOf = (metric: { readonly state: unknown } | undefined) => (metric?.state as { value: number } | undefined)?.value

describe("Pool metrics", () => {
  it.effect("each metric has its OpenTelemetry name, description and attributes; times are in seconds from the wait's start", () =>
    Effect.gen(function*() {
      // The clock is not at zero, so that a wait measured from the epoch would show.
      yield* TestClock.adjust(10_000)
      const { pool } = yield* makePool({ poolSize: 1, name: "stats-meta", poolTimeout: 100 })
      const first = yield* hold(pool)
      const waiter = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(40)
      yield* first.release
      const second = yield* Fiber.join(waiter)
      assert.strictEqual(pool.statsUnsafe().waitDurationMillis, 40)
      // Two callers that time out.
      const late = yield* Effect.forEach([1, 2], () => Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void))))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* TestClock.adjust(100)
      for (const fiber of late) {
        const error = failure(yield* Fiber.join(fiber)) as { _tag: string; waitedMillis: number }
        assert.strictEqual(error._tag, "PoolTimeoutError")
        assert.strictEqual(error.waitedMillis, 100)
      }
      yield* second.release

      const m = yield* metricsOf("stats-meta")
      assert.strictEqual(m.idle?.description, "Connections by state")
      assert.deepStrictEqual(m.idle?.attributes, {
        "db.client.connection.pool.name": "stats-meta",
        "db.client.connection.state": "idle"
      })
      assert.strictEqual(m.used?.description, "Connections by state")
      assert.deepStrictEqual(m.used?.attributes, {
        "db.client.connection.pool.name": "stats-meta",
        "db.client.connection.state": "used"
      })
      assert.strictEqual(m.pending?.description, "Callers waiting for a connection")
      assert.strictEqual(m.timeouts?.description, "Checkouts that timed out")
      assert.deepStrictEqual(m.timeouts?.state, { count: 2, incremental: true })
      assert.strictEqual(m.waitTime?.description, "Time in seconds a caller waited for a connection (slow path only)")
      assert.strictEqual(m.createTime?.description, "Time in seconds to dial and handshake a connection")
      const wait = m.waitTime?.state as { count: number; sum: number; buckets: ReadonlyArray<[number, number]> }
      assert.strictEqual(wait.count, 1)
      assert.closeTo(wait.sum, 0.04, 1e-9)
      // Buckets from 0.5 ms, doubling: the 40 ms wait falls in the bucket up to 64 ms.
      const bounds = wait.buckets.map(([bound]) => bound)
      assert.strictEqual(bounds[0], 0.0005)
      assert.strictEqual(bounds[1], 0.001)
      assert.strictEqual(bounds[16], 0.0005 * 2 ** 16)
      assert.deepStrictEqual(wait.buckets.find(([bound]) => bound === 0.064), [0.064, 1])
      assert.deepStrictEqual(wait.buckets.find(([bound]) => bound === 0.032), [0.032, 0])
      assert.strictEqual((m.createTime?.state as { count: number }).count, 1)
    }))

  it.effect("the gauges: idle and used connections, and the callers waiting, exclusive and shared together", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, name: "stats-gauges" })
      const a = yield* hold(pool)
      const b = yield* hold(pool)
      yield* a.release
      // The turn a freed is held through the Semaphore: one idle connection, one used, no turn free.
      yield* Semaphore.take(pool.turns, 1)
      const exclusive = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      const shared = yield* Effect.forkChild(pool.withShared(() => Effect.void))
      // Waiting: the exclusive caller and the shared caller (the shared set's growth queued for a turn is no caller).
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2 && implOf<FakeConn>(pool).turns.queue.size === 2))
      // retire refreshes the gauges (so does every reaper tick, which the test clock holds back).
      assert.strictEqual(yield* pool.retire(() => false), 0)
      const m = yield* metricsOf("stats-gauges")
      assert.strictEqual(valueOf(m.idle), 1)
      assert.strictEqual(valueOf(m.used), 1)
      assert.strictEqual(valueOf(m.pending), 2)
      yield* Fiber.interrupt(exclusive)
      yield* Fiber.interrupt(shared)
      yield* b.release
      yield* Semaphore.release(pool.turns, 1)
      // Closing refreshes them too: nothing is left.
      yield* close
      const after = yield* metricsOf("stats-gauges")
      assert.strictEqual(valueOf(after.idle), 0)
      assert.strictEqual(valueOf(after.used), 0)
      assert.strictEqual(valueOf(after.pending), 0)
    }))
})

describe("Pool stats", () => {
  it.effect("a wait ending in a timeout reports the time from the caller's start, not from the epoch", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust(50_000)
      const gate = yield* Deferred.make<void>()
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 300 })
      yield* hold(pool)
      yield* TestClock.adjust(1_000)
      const late = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Deferred.await(gate))))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(300)
      const error = failure(yield* Fiber.join(late)) as { waitedMillis: number; message: string }
      assert.strictEqual(error.waitedMillis, 300)
      assert.include(error.message, "waited 300 ms for a turn (total 1, idle 0, in use 1, waiting 0, max 1)")
    }))
})
