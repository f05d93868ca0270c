import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { makeDialer } from "../support/FakeConn.ts"
import { spin, until } from "../support/effects.ts"
import { hold, makeLatePool } from "../support/lateDial.ts"

afterEach(() => {
  vi.restoreAllMocks()
})

describe("Pool: a probe dial that completes while the pool closes", () => {
  it.effect("the probe's connection is closed, and counted as closed by the close (not as beyond maxIdle)", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { close, pool } = yield* makeLatePool(
        { poolSize: 2, breakerThreshold: 1, probeBackoffMin: 100, probeBackoffMax: 100 },
        dialer,
        gate
      )
      yield* pool.withConn(() => Effect.void)
      dialer.mode = { _tag: "fail" }
      const held = yield* hold(pool)
      yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      dialer.mode = { _tag: "block", gate }
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => dialer.dials === 3))
      yield* held.release
      yield* close
      yield* spin()
      const stats = pool.statsUnsafe()
      assert.strictEqual(dialer.conns.length, 2)
      assert.isTrue(dialer.conns[1]!.closed)
      assert.strictEqual(dialer.open, 0)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.removals.closed, 2)
      assert.strictEqual(stats.removals.maxIdle, 0)
    }))
})
