import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Entry } from "../../src/internal/poolEntry.ts"
import { IdleList } from "../../src/internal/poolIdle.ts"
import { makePool } from "../support/FakeConn.ts"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"

const entry = (id: number) => ({ conn: id }) as unknown as Entry<number>

describe("IdleList", () => {
  it("remove takes out the entry it is given, wherever it is, and says whether it was there", () => {
    const list = new IdleList<number>(false)
    const [a, b, c] = [entry(1), entry(2), entry(3)]
    for (const e of [a, b, c]) list.push(e)
    assert.isTrue(list.remove(a))
    assert.deepStrictEqual(list.entries, [b, c])
    assert.isFalse(list.remove(a))
    assert.deepStrictEqual(list.entries, [b, c])
    assert.isTrue(list.remove(c))
    assert.deepStrictEqual(list.entries, [b])
  })

  it("retain keeps the accepted entries in order and returns the others", () => {
    const list = new IdleList<number>(true)
    const [a, b, c] = [entry(1), entry(2), entry(3)]
    for (const e of [a, b, c]) list.push(e)
    assert.deepStrictEqual(list.retain((e) => e !== b), [b])
    assert.deepStrictEqual(list.entries, [a, c])
    assert.deepStrictEqual(list.retain(() => true), [])
    assert.deepStrictEqual(list.entries, [a, c])
    assert.strictEqual(list.take(), a)
  })
})

describe("Pool: remove of an idle connection", () => {
  it.effect("closes it and takes it off the idle list, the oldest as well as the newest", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3 })
      const scope = yield* Scope.make()
      const [a, b, c] = yield* Effect.forEach([1, 2, 3], () => Scope.provide(pool.get, scope))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.statsUnsafe().idle, 3)
      yield* pool.remove(a!)
      yield* pool.remove(c!)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.total, 1)
      assert.strictEqual(stats.removals.error, 2)
      assert.strictEqual(yield* pool.withConn((conn) => Effect.succeed(conn)), b)
      assert.strictEqual(yield* pool.retire((conn) => conn === b), 1)
      assert.strictEqual(pool.statsUnsafe().idle, 0)
    }))
})
