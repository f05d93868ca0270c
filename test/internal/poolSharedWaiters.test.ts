import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { implOf } from "../../src/internal/pool.ts"
import { ConnectionError, type PoolTimeoutError } from "../../src/Errors.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, makeDialer, makePool, sharedCaller } from "../support/FakeConn.ts"
import { failure, spin, until } from "../support/effects.ts"

describe("Pool: shared callers who wait", () => {
  it.effect("a waiter served counts in waitCount and waitDurationMillis, and leaves the waiters and the deadline sweeper", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1 })
      const impl = implOf<FakeConn>(pool)
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const w = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      assert.strictEqual(impl.deadlines.timed.size, 1)
      yield* TestClock.adjust(50)
      yield* a.finish
      assert.strictEqual(yield* Deferred.await(w.on), conn)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.waitCount, 1)
      assert.strictEqual(stats.waitDurationMillis, 50)
      assert.strictEqual(stats.pendingWaiters, 0)
      assert.strictEqual(impl.shared.waiters.size, 0)
      assert.strictEqual(impl.deadlines.timed.size, 0)
      yield* w.finish
    }))

  it.effect("a slot that frees serves one waiter: never more than maxInFlight callers on a connection", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const first = yield* sharedCaller(pool)
      const second = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* a.finish
      assert.strictEqual(yield* Deferred.await(first.on), conn)
      yield* spin()
      assert.isFalse(Deferred.isDoneUnsafe(second.on))
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 1)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      yield* first.finish
      assert.strictEqual(yield* Deferred.await(second.on), conn)
      yield* second.finish
    }))

  it.effect("a waiter that times out says what it waited for: the set's dial, or a turn", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 1_000, dialTimeout: 60_000 }, dialer)
      const dialing = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(1_000)
      const onDial = failure(yield* Fiber.join(dialing)) as PoolTimeoutError
      assert.strictEqual(onDial._tag, "PoolTimeoutError")
      assert.strictEqual(onDial.waitingFor, "dial")
      dialer.mode = { _tag: "ok" }
      yield* Deferred.succeed(gate, undefined)

      const { pool: full } = yield* makePool({ poolSize: 1, maxInFlight: 1, poolTimeout: 1_000 })
      const a = yield* sharedCaller(full)
      yield* Deferred.await(a.on)
      const waiting = yield* Effect.forkChild(Effect.exit(full.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => full.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(1_000)
      const onTurn = failure(yield* Fiber.join(waiting)) as PoolTimeoutError
      assert.strictEqual(onTurn._tag, "PoolTimeoutError")
      assert.strictEqual(onTurn.waitingFor, "turn")
      yield* a.finish
    }))

  it.effect("an interrupted waiter leaves the deadline sweeper too", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1 })
      const impl = implOf<FakeConn>(pool)
      const a = yield* sharedCaller(pool)
      yield* Deferred.await(a.on)
      const gone = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => impl.deadlines.timed.size === 1))
      yield* Fiber.interrupt(gone.fiber)
      assert.strictEqual(impl.deadlines.timed.size, 0)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
      yield* a.finish
    }))

  it.effect("a waiter interrupted in the step that serves it gives its place on the connection back", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const w = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      // a leaves (which hands its place to w) and w is interrupted before it resumes.
      yield* Deferred.succeed(a.done, undefined)
      yield* Fiber.interrupt(w.fiber)
      yield* Fiber.join(a.fiber)
      assert.isFalse(Deferred.isDoneUnsafe(w.on))
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 0)
      // The place is free: a new caller runs on the connection at once.
      assert.strictEqual(yield* pool.withShared((c) => Effect.succeed(c)), conn)
    }))

  it.effect("waiters failed by the set's first dial leave the sweeper; one interrupted before it resumes ends interrupted", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const pool = yield* Pool.make<FakeConn>({
        poolSize: 2,
        breakerThreshold: 100,
        dial: Effect.flatMap(
          Deferred.await(gate),
          () => Effect.fail(new ConnectionError({ reason: "refused", message: "refused", address: "fake:0" }))
        )
      })
      const impl = implOf<FakeConn>(pool)
      const failed = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      const left = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.interrupt(left)
      const exit = yield* Fiber.join(failed)
      assert.strictEqual(failure(exit)?._tag, "ConnectionError")
      assert.strictEqual(impl.deadlines.timed.size, 0)
      assert.strictEqual(impl.shared.waiters.size, 0)
      const leftExit = left.pollUnsafe()
      assert.isDefined(leftExit)
      assert.isTrue(Exit.isFailure(leftExit!) && Cause.hasInterruptsOnly(leftExit.cause))
    }))
})
