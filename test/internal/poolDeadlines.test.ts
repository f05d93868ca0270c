import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Deadlines, type Timed } from "../../src/internal/poolDeadlines.ts"
import { until } from "../support/effects.ts"

const timed = (deadline: number, expired: Array<number>): Timed => ({
  deadline,
  expire: () => void expired.push(deadline)
})

describe("Deadlines", () => {
  it("expire ends the callers whose deadline has come, not the later ones, nor one deleted", () => {
    const deadlines = new Deadlines()
    const expired: Array<number> = []
    const gone = timed(5, expired)
    deadlines.add(gone)
    deadlines.add(timed(10, expired))
    deadlines.add(timed(20, expired))
    deadlines.delete(gone)
    assert.strictEqual(deadlines.timed.size, 2)
    deadlines.expire(15)
    assert.deepStrictEqual(expired, [10])
    assert.strictEqual(deadlines.timed.size, 1)
    deadlines.expire(20)
    assert.deepStrictEqual(expired, [10, 20])
    assert.strictEqual(deadlines.timed.size, 0)
  })

  it.effect("the sweeper stops once the pool is closed, with callers still timed", () =>
    Effect.gen(function*() {
      const deadlines = new Deadlines()
      const expired: Array<number> = []
      deadlines.add(timed(10, expired))
      const sweeper = yield* Effect.forkChild(deadlines.sweeper(() => 0, () => true))
      assert.isTrue(yield* until(() => sweeper.pollUnsafe() !== undefined))
      yield* Fiber.join(sweeper)
      assert.deepStrictEqual(expired, [])
    }))
})
