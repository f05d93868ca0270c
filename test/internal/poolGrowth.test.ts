import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Semaphore from "effect/Semaphore"
import { implOf } from "../../src/internal/pool.ts"
import { type FakeConn, hold, makePool } from "../support/FakeConn.ts"
import { tagOf, until } from "../support/effects.ts"

describe("the shared set's growth and the turns' line", () => {
  it.effect("a turn freed while a bigger waiter holds the line queues the growth for shared callers behind it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, maxInFlight: 1 })
      const done = yield* Deferred.make<void>()
      const on = yield* Deferred.make<FakeConn>()
      const busy = yield* Effect.forkChild(pool.withShared((c) => Effect.andThen(Deferred.succeed(on, c), Deferred.await(done))))
      const first = yield* Deferred.await(on)
      const held = yield* hold(pool)
      yield* Semaphore.take(pool.turns, 1)
      // Every turn is held: a second shared caller waits, with no growth queued (the set has a connection).
      const waiting = yield* Effect.forkChild(pool.withShared((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const big = yield* Effect.forkChild(Semaphore.take(pool.turns, 2))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      // The checkout's turn is too few for the waiter for two: the growth queues behind it.
      yield* held.release
      assert.strictEqual(implOf<FakeConn>(pool).turns.queue.size, 2)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 2)
      yield* Semaphore.release(pool.turns, 1)
      assert.strictEqual(yield* Fiber.join(big), 2)
      // The growth is still queued; the shared caller is the one caller waiting.
      assert.strictEqual(implOf<FakeConn>(pool).turns.queue.size, 1)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      yield* Semaphore.release(pool.turns, 2)
      // The growth takes the returned connection for the waiting shared caller.
      assert.strictEqual(yield* Fiber.join(waiting), held.conn)
      assert.notStrictEqual(held.conn, first)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(busy)
    }))

  it.effect("a caller that would queue behind a bigger waiter counts against maxWaiters, though a turn is free", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, maxWaiters: 1 })
      yield* Semaphore.take(pool.turns, 1)
      const big = yield* Effect.forkChild(Semaphore.take(pool.turns, 2))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const refused = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(refused), "PoolQueueFullError")
      yield* Semaphore.release(pool.turns, 1)
      assert.strictEqual(yield* Fiber.join(big), 2)
      yield* Semaphore.release(pool.turns, 2)
    }))
})
