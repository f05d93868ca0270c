import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { ConnectionError, ProtocolError, RedisReplyError } from "../../src/Errors.ts"
import { implOf } from "../../src/internal/pool.ts"
import { badConnectionFailure } from "../../src/internal/poolRequest.ts"
import { type FakeConn, hold, makeDialer, makePool } from "../support/FakeConn.ts"
import { failure, until } from "../support/effects.ts"

describe("which failures cost the connection", () => {
  it("socket and protocol failures and defects do; reply errors, other values and interruptions do not", () => {
    const closed = new ConnectionError({ reason: "closed", message: "reset" })
    assert.isTrue(badConnectionFailure(Cause.fail(closed)))
    assert.isTrue(badConnectionFailure(Cause.fail(new ProtocolError({ reason: "malformed", message: "bad byte" }))))
    assert.isTrue(badConnectionFailure(Cause.die(new Error("boom"))))
    assert.isFalse(badConnectionFailure(Cause.fail(new RedisReplyError({ code: "ERR", message: "ERR nope" }))))
    assert.isFalse(badConnectionFailure(Cause.fail(undefined)))
    assert.isFalse(badConnectionFailure(Cause.fail(null)))
    assert.isFalse(badConnectionFailure(Cause.fail("ConnectionError")))
    assert.isFalse(badConnectionFailure(Cause.interrupt(1)))
  })

  it.effect("a caller failing with undefined, or interrupted, gives its connection back for the next caller", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const first = yield* pool.withConn((c) => Effect.succeed(c))
      const exit = yield* Effect.exit(pool.withConn(() => Effect.fail(undefined)))
      assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause))
      const entered = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(pool.withConn(() => Effect.andThen(Deferred.succeed(entered, undefined), Effect.never)))
      yield* Deferred.await(entered)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* pool.withConn((c) => Effect.succeed(c)), first)
      assert.isFalse(first.closed)
      assert.strictEqual(pool.statsUnsafe().removals.error, 0)
    }))
})

describe("exclusive callers waiting for a turn", () => {
  it.effect("are counted while queued, and no longer once served, interrupted or timed out in either phase", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 1_000, dialTimeout: 60_000 }, dialer)
      const impl = implOf<FakeConn>(pool)
      const waiting = () => impl.exclusiveWaiting
      const first = yield* hold(pool)
      // Served.
      const served = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => waiting() === 1))
      yield* first.release
      const second = yield* Fiber.join(served)
      assert.strictEqual(waiting(), 0)
      // Interrupted.
      const interrupted = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => waiting() === 1))
      yield* Fiber.interrupt(interrupted)
      assert.strictEqual(waiting(), 0)
      // Timed out waiting for a turn.
      const late = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => waiting() === 1))
      yield* TestClock.adjust(1_000)
      assert.strictEqual((failure(yield* Fiber.join(late)) as { waitingFor: string }).waitingFor, "turn")
      assert.strictEqual(waiting(), 0)
      // Timed out in its dial, after it was granted a turn.
      yield* pool.remove(second.conn)
      dialer.mode = { _tag: "block", gate }
      const dialing = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      yield* TestClock.adjust(1_000)
      assert.strictEqual((failure(yield* Fiber.join(dialing)) as { waitingFor: string }).waitingFor, "dial")
      assert.strictEqual(waiting(), 0)
      yield* Deferred.succeed(gate, undefined)
    }))

  it.effect("the shared set's growth waiting for a turn is not counted as an exclusive caller", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const impl = implOf<FakeConn>(pool)
      const first = yield* hold(pool)
      const shared = yield* Effect.forkChild(pool.withShared((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => impl.turns.queue.size === 1 && pool.statsUnsafe().pendingWaiters === 1))
      assert.strictEqual(impl.exclusiveWaiting, 0)
      yield* first.release
      assert.strictEqual(yield* Fiber.join(shared), first.conn)
      assert.strictEqual(impl.exclusiveWaiting, 0)
    }))
})
