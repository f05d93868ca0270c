import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import type { PoolClosedError } from "../../src/Errors.ts"
import { makeDialer, makePool } from "../support/FakeConn.ts"
import { failure, tagOf, until } from "../support/effects.ts"
import { hold, makeLatePool } from "../support/lateDial.ts"

afterEach(() => {
  vi.restoreAllMocks()
})

describe("Pool dial races: a dial that completes while the pool closes", () => {
  it.effect("its caller fails with PoolClosedError; the connection is closed and its turn dropped at once, not at the close's end", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { close, pool } = yield* makeLatePool({ poolSize: 3, closeTimeout: 60_000 }, dialer, gate)
      const first = yield* hold(pool)
      // Checked out through the close, so that the close waits for it (up to closeTimeout).
      const second = yield* hold(pool)
      dialer.mode = { _tag: "block", gate }
      const caller = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => dialer.dials === 3))
      yield* first.release
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => caller.pollUnsafe() !== undefined))
      const exit = yield* Fiber.join(caller)
      assert.strictEqual(tagOf(exit), "PoolClosedError")
      assert.strictEqual((failure(exit) as PoolClosedError).message, "the pool is closed")
      // The close still waits for the second connection; the late one is gone already.
      assert.isUndefined(closing.pollUnsafe())
      assert.isTrue(dialer.conns[2]!.closed, "the late connection is still open")
      const during = pool.statsUnsafe()
      assert.strictEqual(during.total, 1)
      assert.strictEqual(during.turnsInUse, 1)
      assert.strictEqual(during.removals.closed, 2)
      yield* second.release
      yield* Fiber.join(closing)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.closed, 3)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(dialer.open, 0)
    }))

  it.effect("its caller resumes after the close's own bookkeeping, not inside it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { close, pool } = yield* makeLatePool({ poolSize: 3 }, dialer, gate)
      const first = yield* hold(pool)
      // A shared connection nobody uses: the close closes it after the idle ones.
      yield* pool.withShared(() => Effect.void)
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      dialer.mode = { _tag: "block", gate }
      const caller = yield* Effect.forkChild(
        Effect.flatMap(Effect.exit(pool.withConn(() => Effect.void)), (exit) =>
          Effect.sync(() => ({ exit, shared: pool.statsUnsafe().shared })))
      )
      assert.isTrue(yield* until(() => dialer.dials === 3))
      yield* first.release
      yield* close
      assert.isTrue(yield* until(() => caller.pollUnsafe() !== undefined))
      const seen = yield* Fiber.join(caller)
      assert.strictEqual(tagOf(seen.exit), "PoolClosedError")
      assert.strictEqual(seen.shared, 0, "the caller ran inside the close")
    }))
})

describe("Pool dial races: the close interrupts a dial", () => {
  it.effect("its caller fails with 'the pool closed while dialing', no dial failure counts, and its turn is dropped at once", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 60_000 }, dialer)
      const held = yield* hold(pool)
      dialer.mode = { _tag: "block", gate }
      const caller = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      // The close waits for the checked-out connection (up to closeTimeout).
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => caller.pollUnsafe() !== undefined))
      const exit = yield* Fiber.join(caller)
      assert.strictEqual(tagOf(exit), "PoolClosedError")
      assert.strictEqual((failure(exit) as PoolClosedError).message, "the pool closed while dialing")
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 1, "the interrupted dial's turn was not dropped")
      assert.strictEqual(stats.breaker.failures, 0)
      assert.strictEqual(stats.breaker.state, "closed")
      assert.isUndefined(closing.pollUnsafe())
      yield* held.release
      yield* Fiber.join(closing)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("a probe dial interrupted by the close counts no failure", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const gate = yield* Deferred.make<void>()
      const { close, dialer, pool } = yield* makePool({
        poolSize: 2,
        breakerThreshold: 1,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      dialer.mode = { _tag: "fail" }
      yield* Effect.exit(pool.withConn(() => Effect.void))
      dialer.mode = { _tag: "block", gate }
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => dialer.dials === 2))
      yield* close
      const breaker = pool.statsUnsafe().breaker
      assert.strictEqual(breaker.failures, 1)
      assert.strictEqual(breaker.lastError?.reason, "refused")
    }))
})
