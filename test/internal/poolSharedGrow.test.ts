import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { implOf } from "../../src/internal/pool.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, makeDialer, makePool, sharedCaller } from "../support/FakeConn.ts"
import { failure, spin, tagOf, until } from "../support/effects.ts"

/** Opens the breaker (threshold 1) with one failed exclusive dial. */
const openBreaker = (pool: Pool.Pool<FakeConn>, dialer: ReturnType<typeof makeDialer>) =>
  Effect.gen(function*() {
    dialer.mode = { _tag: "fail" }
    assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.void))), "ConnectionError")
    assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
    dialer.mode = { _tag: "ok" }
  })

describe("Pool: the shared set grows", () => {
  it.effect("from an idle connection when every turn's connection exists already", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 2, sharedGrowAt: 1 })
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope)
      yield* Scope.provide(pool.get, scope)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.statsUnsafe().idle, 2)
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      assert.notStrictEqual(yield* Deferred.await(b.on), yield* Deferred.await(a.on))
      assert.strictEqual(pool.statsUnsafe().shared, 2)
      assert.strictEqual(dialer.dials, 2)
      yield* a.finish
      yield* b.finish
    }))

  it.effect("a lone shared caller is let wait under maxWaiters 1 while an exclusive dial holds the turn", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1, maxWaiters: 1 }, dialer)
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().dialing === 1))
      const shared = yield* Effect.forkChild(Effect.exit(pool.withShared((c) => Effect.succeed(c))))
      yield* spin()
      assert.isUndefined(shared.pollUnsafe())
      dialer.mode = { _tag: "ok" }
      yield* Deferred.succeed(gate, undefined)
      const conn = yield* Fiber.join(exclusive)
      assert.deepStrictEqual(yield* Fiber.join(shared), Exit.succeed(conn))
    }))

  it.effect("a caller who finds the set full while the free turns are held elsewhere queues no growth ahead of exclusive callers", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, maxInFlight: 1 })
      const a = yield* sharedCaller(pool)
      const first = yield* Deferred.await(a.on)
      yield* Semaphore.take(pool.turns, 1)
      const b = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      // The turn given back goes to the exclusive caller, not to a growth for b.
      yield* Semaphore.release(pool.turns, 1)
      const second = yield* Fiber.join(exclusive)
      assert.notStrictEqual(second, first)
      // Then the free turn grows the set for b.
      assert.strictEqual(yield* Deferred.await(b.on), second)
      yield* a.finish
      yield* b.finish
    }))

  it.effect("one growth at a time: callers arriving during the set's first dial wait for that dial", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 3 }, dialer)
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* spin()
      assert.strictEqual(dialer.dials, 1)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Deferred.await(b.on), yield* Deferred.await(a.on))
      assert.strictEqual(dialer.dials, 1)
      yield* a.finish
      yield* b.finish
    }))

  it.effect("at maxActiveConns the set still grows from an idle connection", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 3, maxActiveConns: 2 })
      const held = yield* Scope.make()
      yield* Scope.provide(pool.get, held)
      const returned = yield* Scope.make()
      const idle = yield* Scope.provide(pool.get, returned)
      yield* Scope.close(returned, Exit.void)
      const shared = yield* Effect.forkChild(pool.withShared((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => shared.pollUnsafe() !== undefined))
      assert.strictEqual(yield* Fiber.join(shared), idle)
      assert.strictEqual(dialer.dials, 2)
      yield* Scope.close(held, Exit.void)
    }))

  it.effect("shared callers waiting for a turn keep their place ahead of exclusive callers who came later", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const first = yield* sharedCaller(pool)
      const second = yield* sharedCaller(pool)
      // Two callers waiting, and their growth queued for the turn.
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2 && implOf<FakeConn>(pool).turns.queue.size === 1))
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 3 && implOf<FakeConn>(pool).turns.queue.size === 2))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Deferred.await(first.on), held)
      assert.strictEqual(yield* Deferred.await(second.on), held)
      yield* spin()
      assert.isUndefined(exclusive.pollUnsafe())
      // One growth was queued for both: nothing else waits but the exclusive caller.
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      yield* Fiber.interrupt(exclusive)
      yield* first.finish
      yield* second.finish
    }))
})

describe("Pool: shared callers and the breaker", () => {
  it.effect("with the breaker open and nothing to run on, a shared caller fails at once with CircuitOpenError", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1 }, dialer)
      yield* openBreaker(pool, dialer)
      const shared = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => shared.pollUnsafe() !== undefined))
      assert.strictEqual(tagOf(yield* Fiber.join(shared)), "CircuitOpenError")
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
    }))

  it.effect("with the breaker open, a shared caller waits for room on an existing shared connection", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1, maxInFlight: 1 }, dialer)
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      yield* openBreaker(pool, dialer)
      const b = yield* sharedCaller(pool)
      yield* spin()
      assert.isUndefined(b.fiber.pollUnsafe())
      yield* a.finish
      assert.strictEqual(yield* Deferred.await(b.on), conn)
      yield* b.finish
    }))

  it.effect("with the breaker open, a shared caller waits for an idle connection that a turn will bring", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1 }, dialer)
      const scope = yield* Scope.make()
      const idle = yield* Scope.provide(pool.get, scope)
      yield* openBreaker(pool, dialer)
      yield* Scope.close(scope, Exit.void)
      yield* Semaphore.take(pool.turns, 2)
      const shared = yield* Effect.forkChild(Effect.exit(pool.withShared((c) => Effect.succeed(c))))
      yield* spin()
      assert.isUndefined(shared.pollUnsafe())
      yield* Semaphore.release(pool.turns, 2)
      assert.deepStrictEqual(yield* Fiber.join(shared), Exit.succeed(idle))
    }))
})

describe("Pool: a shared acquire that finds the pool closed", () => {
  it.effect("fails with PoolClosedError at once", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 1 })
      yield* close
      // withShared checks first; the slow path checks again (the pool may close between the two).
      const error = failure(yield* Effect.exit(implOf<FakeConn>(pool).shared.acquireSlow())) as { _tag: string; message: string }
      assert.strictEqual(error._tag, "PoolClosedError")
      assert.include(error.message, "closed")
    }))
})
