import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { ConnectionError } from "../../src/Errors.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, makePool } from "../support/FakeConn.ts"
import { spin, tagOf, until } from "../support/effects.ts"

const reset = () => new ConnectionError({ reason: "reset", message: "connection reset" })

/** A shared caller that stays on its connection until `done` completes. */
const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    const conn = yield* Deferred.await(on)
    return { conn, fiber, finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

describe("Pool: a shared caller's exit decides the connection's fate", () => {
  it.effect("a new connection whose first shared caller gets a ConnectionError counts toward the breaker", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1 })
      const exit = yield* Effect.exit(pool.withShared(() => Effect.fail(reset())))
      assert.strictEqual(tagOf(exit), "ConnectionError")
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.error, 1)
      assert.strictEqual(stats.breaker.state, "open")
    }))

  it.effect("a connection that served a shared caller once does not count toward the breaker when it fails", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withShared(() => Effect.fail(reset())))), "ConnectionError")
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.error, 1)
      assert.strictEqual(stats.breaker.state, "closed")
    }))

  it.effect("an old connection's success does not break a row of new connections dying early", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, breakerThreshold: 2 })
      const shared = yield* pool.withShared((c) => Effect.succeed(c))
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.fail(reset())))), "ConnectionError")
      assert.strictEqual(yield* pool.withShared((c) => Effect.succeed(c)), shared)
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.fail(reset())))), "ConnectionError")
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
    }))

  it.effect("an application error leaves the shared connection in the set", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      const exit = yield* Effect.exit(pool.withShared(() => Effect.fail("not found")))
      assert.deepStrictEqual(exit, Exit.fail("not found"))
      assert.strictEqual(yield* pool.withShared((c) => Effect.succeed(c)), conn)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.error, 0)
      assert.strictEqual(stats.shared, 1)
    }))

  it.effect("a failure on a connection that turned unhealthy closes it as unhealthy", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      const exit = yield* Effect.exit(pool.withShared((c) => {
        c.isHealthy = false
        return Effect.fail("broken pipe")
      }))
      assert.isTrue(Exit.isFailure(exit))
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.unhealthy, 1)
      assert.strictEqual(stats.removals.error, 0)
      assert.strictEqual(stats.turnsInUse, 0)
    }))
})

describe("Pool: closing with shared connections", () => {
  it.effect("shared connections nobody is using close at once: the close does not wait for them", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 2, sharedGrowAt: 1, closeTimeout: 60_000 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      assert.notStrictEqual(a.conn, b.conn)
      yield* a.finish
      yield* b.finish
      assert.strictEqual(pool.statsUnsafe().shared, 2)
      const closing = yield* Effect.forkChild(close)
      assert.isTrue(yield* until(() => closing.pollUnsafe() !== undefined))
      assert.strictEqual(dialer.open, 0)
      assert.strictEqual(pool.statsUnsafe().removals.closed, 2)
    }))

  it.effect("while the close waits for a checkout, an unused shared connection's turn is gone already", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 60_000 })
      const shared = yield* pool.withShared((c) => Effect.succeed(c))
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 2)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      assert.isTrue(yield* until(() => shared.closed))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 1)
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(closing)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("a shared caller who outlives closeTimeout is forgotten by the closed pool's stats", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, closeTimeout: 1_000 })
      const a = yield* sharedCaller(pool)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      yield* TestClock.adjust(1_000)
      yield* Fiber.join(closing)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.sharedInFlight, 0)
      assert.strictEqual(stats.total, 0)
      yield* a.finish
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 0)
    }))
})
