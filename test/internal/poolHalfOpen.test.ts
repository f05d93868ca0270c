import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ConnectionError } from "../../src/Errors.ts"
import { withHousekeeping } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import { type FakeConn, makePool } from "../support/FakeConn.ts"
import { failure, tagOf, until } from "../support/effects.ts"

// A breaker opened by connections that die before their first reply is half-open: dials succeed there (the
// server accepts and handshakes, then fails every command), so only a connection that serves a caller may close
// it. Chaos scenario 9 (a server answering a 4 GiB bulk length) is the case: under load, dials already under way
// when the breaker opened completed and closed it, and every caller dialed again until the next early death.
/** A pool whose breaker opens after 3 connections in a row die before serving; `diesAtBirth` makes one such death. */
const setup = Effect.gen(function*() {
  const made = yield* makePool({ poolSize: 4, breakerThreshold: 3 })
  const diesAtBirth = Effect.exit(made.pool.withConn(() => Effect.fail(new ConnectionError({ reason: "closed", message: "reset" }))))
  const state = Effect.map(made.pool.stats, (stats) => stats.breaker.state)
  return { ...made, diesAtBirth, state }
})

describe("Pool: a half-open breaker", () => {
  it.effect("a dial under way when early deaths opened the breaker does not close it; a caller served does", () =>
    Effect.gen(function*() {
      const { close, diesAtBirth, dialer, pool, state } = yield* setup
      yield* diesAtBirth
      yield* diesAtBirth
      // A checkout whose dial is held until the breaker has opened.
      const gate = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate }
      const served = yield* Deferred.make<void>()
      const got = yield* Deferred.make<void>()
      const late = yield* Effect.forkChild(pool.withConn(() => Effect.andThen(Deferred.succeed(got, undefined), Deferred.await(served))))
      assert.isTrue(yield* until(() => pool.statsUnsafe().dialing === 1))
      dialer.mode = { _tag: "ok" }
      yield* diesAtBirth
      assert.strictEqual(yield* state, "open")
      // The held dial completes: the connection is the caller's, but it has served nobody yet.
      yield* Deferred.succeed(gate, undefined)
      yield* Deferred.await(got)
      assert.strictEqual(yield* state, "open")
      // So a caller that needs a dial is refused, not sent to dial another connection that will die.
      const dials = dialer.dials
      const refused = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(refused), "CircuitOpenError")
      assert.include((failure(refused) as Error).message, "3 connections in a row failed before their first reply")
      assert.strictEqual(dialer.dials, dials)
      // Once that connection serves its caller, connections are not dying at birth: the breaker closes.
      yield* Deferred.succeed(served, undefined)
      yield* Fiber.join(late)
      assert.strictEqual(yield* state, "closed")
      yield* close
    }))

  // Two deaths in a row, then `checkout` on a new connection, which succeeds, then a caller's command fails on that
  // same connection: the breaker's state after it says whether the checkout proved the connection.
  const afterCheckoutAndDeath = (checkout: (pool: Pool.Pool<FakeConn>) => Effect.Effect<void, unknown>) =>
    Effect.gen(function*() {
      const { close, diesAtBirth, dialer, pool, state } = yield* setup
      yield* diesAtBirth
      yield* diesAtBirth
      yield* checkout(pool)
      assert.strictEqual(dialer.dials, 3)
      assert.strictEqual(yield* state, "closed")
      yield* diesAtBirth
      assert.strictEqual(dialer.dials, 3)
      const after = yield* state
      yield* close
      return after
    })

  it.effect("the pool's own housekeeping on a new connection proves nothing: early deaths still add up to open it", () =>
    // A CLIENT UNBLOCK for a caller who left, say: then the third death in a row of a connection that served nobody.
    Effect.map(afterCheckoutAndDeath((pool) => withHousekeeping(pool, () => Effect.void)), (state) => assert.strictEqual(state, "open")))

  it.effect("a caller's scoped checkout (get) that ends well proves its connection: the count of early deaths starts over", () =>
    // Checked out with get, its scope closed with success: it served a caller, so one more death is the first in a row.
    Effect.map(afterCheckoutAndDeath((pool) => Effect.scoped(Effect.asVoid(pool.get))), (state) => assert.strictEqual(state, "closed")))
})
