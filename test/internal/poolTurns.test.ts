import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as TestClock from "effect/testing/TestClock"
import { Turns } from "../../src/internal/poolTurns.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, makeDialer } from "../support/FakeConn.ts"
import { until } from "../support/effects.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

describe("the pool's turns are an Effect Semaphore", () => {
  it.effect("Semaphore's functions work on them: withPermits, take/release, takeScoped, takeIfAvailable, releaseAll", () =>
    Effect.gen(function*() {
      const turns: Semaphore.Semaphore = new Turns(3)
      const inside = yield* Semaphore.withPermits(turns, 2)(Effect.sync(() => (turns as Turns).free))
      assert.strictEqual(inside, 1)
      assert.strictEqual((turns as Turns).free, 3)
      assert.strictEqual(yield* Semaphore.take(turns, 3), 3)
      assert.isFalse(yield* Semaphore.takeIfAvailable(turns, 1))
      assert.strictEqual(yield* Semaphore.release(turns, 3), 3)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Semaphore.takeScoped(turns, 2)
        assert.strictEqual((turns as Turns).free, 1)
      }))
      assert.strictEqual((turns as Turns).free, 3)
      assert.isTrue(yield* Semaphore.takeIfAvailable(turns, 2))
      assert.strictEqual(yield* Semaphore.releaseAll(turns), 3)
      const none = yield* Semaphore.withPermitsIfAvailable(turns, 4)(Effect.succeed("ran"))
      assert.isTrue(Option.isNone(none))
      const some = yield* Semaphore.withPermitsIfAvailable(turns, 3)(Effect.succeed("ran"))
      assert.deepStrictEqual(some, Option.some("ran"))
      // A failure inside withPermits gives the permits back too.
      const failed = yield* Effect.exit(Semaphore.withPermit(turns, Effect.fail("boom")))
      assert.isTrue(Exit.isFailure(failed))
      assert.strictEqual((turns as Turns).free, 3)
    }))

  it.effect("FIFO with hand-off: a permit given back goes to the oldest waiter, never to a newcomer", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      const order: Array<string> = []
      const a = yield* Effect.forkChild(Semaphore.withPermit(turns, Effect.sync(() => void order.push("a"))))
      yield* settle
      const b = yield* Effect.forkChild(Semaphore.withPermit(turns, Effect.sync(() => void order.push("b"))))
      yield* settle
      assert.strictEqual(turns.queue.size, 2)
      turns.giveBack()
      // The permit went to `a` in that step: a newcomer cannot take it, although `a` has not run yet.
      assert.isFalse(turns.tryTake())
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual(order, ["a", "b"])
      assert.strictEqual(turns.taken, 0)
    }))

  it.effect("a waiter for more permits than are free holds the line: nobody behind it overtakes", () =>
    Effect.gen(function*() {
      const turns = new Turns(2)
      assert.isTrue(turns.tryTake())
      assert.isTrue(turns.tryTake())
      const order: Array<string> = []
      const big = yield* Effect.forkChild(Semaphore.withPermits(turns, 2)(Effect.sync(() => void order.push("big"))))
      yield* settle
      const small = yield* Effect.forkChild(Semaphore.withPermit(turns, Effect.sync(() => void order.push("small"))))
      yield* settle
      turns.giveBack()
      yield* settle
      assert.deepStrictEqual(order, [], "one free permit: the big waiter needs two and the small one waits behind it")
      turns.giveBack()
      yield* Fiber.join(big)
      yield* Fiber.join(small)
      assert.deepStrictEqual(order, ["big", "small"])
      assert.strictEqual(turns.taken, 0)
    }))

  it.effect("an interrupted waiter leaves the queue, and one interrupted after its permit was handed gives it back", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      const waiting = yield* Effect.forkChild(Semaphore.take(turns, 1))
      yield* settle
      assert.strictEqual(turns.queue.size, 1)
      yield* Fiber.interrupt(waiting)
      assert.strictEqual(turns.queue.size, 0)
      // Handed its permit, then interrupted before it resumed.
      const handed = yield* Effect.forkChild(Semaphore.take(turns, 1))
      yield* settle
      turns.giveBack()
      assert.strictEqual(turns.taken, 1)
      yield* Fiber.interrupt(handed)
      assert.strictEqual(turns.taken, 0)
    }))

  it.effect("resize: a larger size serves the waiters that now fit", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      const waiter = yield* Effect.forkChild(Semaphore.take(turns, 2))
      yield* settle
      yield* Semaphore.resize(turns, 3)
      assert.strictEqual(yield* Fiber.join(waiter), 2)
      assert.strictEqual(turns.taken, 3)
    }))
})

describe("Pool.turns", () => {
  it.effect("permits held through the Semaphore are capacity the pool's callers wait for", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const pool = yield* Pool.make<FakeConn>({ dial: dialer.dial, poolSize: 2, poolTimeout: 1_000 })
      const held = yield* Semaphore.take(pool.turns, 2)
      assert.strictEqual(held, 2)
      const checkout = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.succeed("served"))))
      yield* settle
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      yield* Semaphore.release(pool.turns, 1)
      assert.deepStrictEqual(yield* Fiber.join(checkout), Exit.succeed("served"))
      yield* Semaphore.release(pool.turns, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      // Held too long, the caller times out like any caller without a turn.
      yield* Semaphore.take(pool.turns, 2)
      const late = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      yield* settle
      yield* TestClock.adjust(1_500)
      const exit = yield* Fiber.join(late)
      assert.isTrue(Exit.isFailure(exit))
      yield* Semaphore.release(pool.turns, 2)
    }))

  it.effect("resize to a smaller size closes idle connections beyond it; a larger one lets more callers in", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const pool = yield* Pool.make<FakeConn>({ dial: dialer.dial, poolSize: 4, poolTimeout: 1_000 })
      // Four connections at once, then all idle.
      yield* Effect.forEach([1, 2, 3, 4], () => pool.withConn(() => settle), { concurrency: "unbounded" })
      assert.strictEqual(pool.statsUnsafe().idle, 4)
      yield* Semaphore.resize(pool.turns, 2)
      assert.strictEqual(pool.statsUnsafe().total, 2)
      assert.strictEqual(dialer.open, 2)
      const counts = yield* Effect.forEach([1, 2, 3], () =>
        pool.withConn(() => Effect.as(settle, pool.statsUnsafe().inUse)), { concurrency: "unbounded" })
      assert.isAtMost(Math.max(...counts), 2)
      yield* Semaphore.resize(pool.turns, 3)
      const wider = yield* Effect.forEach([1, 2, 3], () =>
        pool.withConn(() => Effect.as(settle, pool.statsUnsafe().inUse)), { concurrency: "unbounded" })
      assert.strictEqual(Math.max(...wider), 3)
    }))
})

describe("Pool.turns: shrinking around connections in use", () => {
  it.effect("resize below the connections checked out closes none of them; they close when returned beyond the size", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const pool = yield* Pool.make<FakeConn>({ dial: dialer.dial, poolSize: 3 })
      const scope = yield* Scope.make()
      const held = yield* Effect.forEach([1, 2, 3], () => Scope.provide(pool.get, scope))
      yield* Semaphore.resize(pool.turns, 1)
      assert.isFalse(held.some((c) => c.closed))
      assert.strictEqual(pool.statsUnsafe().total, 3)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(yield* pool.withConn(() => Effect.succeed(pool.statsUnsafe().inUse)), 1)
    }))

  it.effect("resize counts dials under way: an idle connection beyond the new size is closed for them", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      const pool = yield* Pool.make<FakeConn>({ dial: dialer.dial, poolSize: 2 })
      const idle = yield* pool.withConn((c) => Effect.succeed(c))
      // Hold the idle one, so that the next caller dials; then give it back while that dial blocks.
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope)
      dialer.mode = { _tag: "block", gate }
      const dialing = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().dialing === 1))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      yield* Semaphore.resize(pool.turns, 1)
      assert.isTrue(idle.closed)
      assert.strictEqual(pool.statsUnsafe().removals.maxIdle, 1)
      yield* Deferred.succeed(gate, undefined)
      assert.notStrictEqual(yield* Fiber.join(dialing), idle)
    }))
})
