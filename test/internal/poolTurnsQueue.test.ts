import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import { schedule, Turns, type TurnWaiter } from "../../src/internal/poolTurns.ts"
import { spin, until } from "../support/effects.ts"

/** A waiter for `permits` that records when it was handed them. */
const waiter = (permits: number, onGranted: () => void = () => {}) => {
  const self = {
    permits,
    handed: 0,
    granted: () => {
      self.handed++
      onGranted()
    }
  }
  return self satisfies TurnWaiter
}

/** Turns of `size` with `taken` held and a waiter for `size` permits at the head of the line. */
const blocked = (size: number, taken: number) => {
  const turns = new Turns(size)
  for (let i = 0; i < taken; i++) assert.isTrue(turns.tryTake())
  const big = waiter(size)
  turns.enqueue(big)
  return { turns, big }
}

describe("schedule", () => {
  it("outside a fiber, runs the task on a microtask", async () => {
    let ran = false
    schedule(() => {
      ran = true
    })
    assert.isFalse(ran)
    await Promise.resolve()
    assert.isTrue(ran)
  })

  it.effect("inside a fiber, runs the task on the fiber's dispatcher, after the tasks queued there before it", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      yield* Effect.withFiber((fiber) => {
        fiber.currentDispatcher.scheduleTask(() => order.push("dispatcher"), 0)
        schedule(() => order.push("schedule"))
        return Effect.void
      })
      assert.isTrue(yield* until(() => order.length === 2))
      assert.deepStrictEqual(order, ["dispatcher", "schedule"])
    }))
})

describe("nobody overtakes a waiter, even with permits free", () => {
  it.effect("tryTake, take, takeIfAvailable and withPermitsIfAvailable refuse while a waiter holds the line", () =>
    Effect.gen(function*() {
      const { big, turns } = blocked(2, 1)
      assert.strictEqual(turns.free, 1)
      assert.isFalse(turns.tryTake())
      assert.isFalse(yield* Semaphore.takeIfAvailable(turns, 1))
      const none = yield* Semaphore.withPermitsIfAvailable(turns, 1)(Effect.succeed("ran"))
      assert.isTrue(Option.isNone(none))
      const taker = yield* Effect.forkChild(Semaphore.take(turns, 1))
      yield* spin()
      assert.isUndefined(taker.pollUnsafe())
      assert.strictEqual(turns.taken, 1)
      turns.giveBack()
      assert.strictEqual(big.handed, 1)
      assert.strictEqual(turns.taken, 2)
      yield* Fiber.interrupt(taker)
    }))

  it.effect("takeIfAvailable takes exactly the permits that are free", () =>
    Effect.gen(function*() {
      const turns = new Turns(2)
      assert.isTrue(yield* Semaphore.takeIfAvailable(turns, 2))
      assert.strictEqual(turns.free, 0)
    }))
})

describe("handing permits over", () => {
  it.effect("a waiter interrupted before it was handed a permit gives nothing back", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      const taker = yield* Effect.forkChild(Semaphore.take(turns, 1))
      assert.isTrue(yield* until(() => turns.queue.size === 1))
      yield* Fiber.interrupt(taker)
      assert.strictEqual(turns.queue.size, 0)
      assert.strictEqual(turns.taken, 1)
      // Nor does one interrupted behind another waiter: that one keeps waiting for the holder's permit.
      const first = yield* Effect.forkChild(Semaphore.take(turns, 1))
      const second = yield* Effect.forkChild(Semaphore.take(turns, 1))
      assert.isTrue(yield* until(() => turns.queue.size === 2))
      yield* Fiber.interrupt(second)
      yield* spin()
      assert.isUndefined(first.pollUnsafe())
      assert.strictEqual(turns.queue.size, 1)
      assert.strictEqual(turns.taken, 1)
      turns.giveBack()
      assert.strictEqual(yield* Fiber.join(first), 1)
      assert.strictEqual(turns.taken, 1)
    }))

  it("admit hands a waiter its permits at once, beyond the size, and takes it out of the line", () => {
    const { big, turns } = blocked(2, 2)
    turns.admit(big)
    assert.strictEqual(big.handed, 1)
    assert.strictEqual(turns.queue.size, 0)
    assert.strictEqual(turns.taken, 4)
  })

  it("a long line of waiters that pass their permit on is served without deepening the stack", () => {
    const turns = new Turns(1)
    assert.isTrue(turns.tryTake())
    let freed = 0
    turns.onFree = () => freed++
    const line = Array.from({ length: 20_000 }, () => waiter(1, () => turns.giveBack()))
    for (const w of line) turns.enqueue(w)
    turns.giveBack()
    assert.isTrue(line.every((w) => w.handed === 1))
    assert.strictEqual(turns.queue.size, 0)
    assert.strictEqual(turns.taken, 0)
    assert.strictEqual(freed, 1)
  })

  it.effect("resize serves the waiters that fit, in order, and stops at the first that does not", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      const big = waiter(2)
      const small = waiter(1)
      turns.enqueue(big)
      turns.enqueue(small)
      yield* Semaphore.resize(turns, 2)
      // One permit free: the waiter for two keeps its place, and the one behind it waits too.
      assert.strictEqual(big.handed, 0)
      assert.strictEqual(small.handed, 0)
      assert.strictEqual(turns.taken, 1)
      yield* Semaphore.resize(turns, 3)
      assert.strictEqual(big.handed, 1)
      assert.strictEqual(small.handed, 0)
      assert.deepStrictEqual([...turns.queue], [small])
      assert.strictEqual(turns.taken, 3)
    }))

  it.effect("resize calls onFree only when it left permits free", () =>
    Effect.gen(function*() {
      const turns = new Turns(1)
      assert.isTrue(turns.tryTake())
      let freed = 0
      turns.onFree = () => freed++
      yield* Semaphore.resize(turns, 1)
      assert.strictEqual(freed, 0)
      yield* Semaphore.resize(turns, 0)
      assert.strictEqual(freed, 0)
      yield* Semaphore.resize(turns, 2)
      assert.strictEqual(freed, 1)
    }))
})
