import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { implOf } from "../../src/internal/pool.ts"
import { type FakeConn, makeDialer, makePool } from "../support/FakeConn.ts"
import { spin, until } from "../support/effects.ts"

describe("Pool: an exclusive caller queued while the shared set was empty", () => {
  it.effect("gets the connection the set grew by once its shared callers leave, not after sharedIdleTime", () =>
    Effect.gen(function*() {
      // sharedIdleTime beyond poolTimeout: before the fix the exclusive caller timed out.
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 4_000, sharedIdleTime: 5_000 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      // A shared caller queues a growth for the only turn; an exclusive caller queues behind it.
      const done = yield* Deferred.make<void>()
      const shared = yield* Effect.forkChild(pool.withShared((c) => Effect.as(Deferred.await(done), c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1 && implOf<FakeConn>(pool).turns.queue.size === 1))
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2 && implOf<FakeConn>(pool).turns.queue.size === 2))
      yield* Scope.close(scope, Exit.void)
      // The shared caller, first in line, gets the connection; the exclusive one waits for it to leave.
      yield* spin()
      assert.isUndefined(exclusive.pollUnsafe())
      yield* Deferred.succeed(done, undefined)
      assert.strictEqual(yield* Fiber.join(shared), held)
      assert.isTrue(yield* until(() => exclusive.pollUnsafe() !== undefined))
      assert.strictEqual(yield* Fiber.join(exclusive), held)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.turnsInUse, 0)
    }))

  it.effect("the same when the connection comes from the set's dial, finished after the exclusive caller queued", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 4_000, sharedIdleTime: 5_000 }, dialer)
      const done = yield* Deferred.make<void>()
      const shared = yield* Effect.forkChild(pool.withShared((c) => Effect.as(Deferred.await(done), c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().dialing === 1))
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().shared === 1))
      yield* spin()
      assert.isUndefined(exclusive.pollUnsafe())
      yield* Deferred.succeed(done, undefined)
      const conn = yield* Fiber.join(shared)
      assert.isTrue(yield* until(() => exclusive.pollUnsafe() !== undefined))
      assert.strictEqual(yield* Fiber.join(exclusive), conn)
      assert.strictEqual(dialer.dials, 1)
    }))
})
