import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ConnectionError } from "../../src/Errors.ts"
import { withHousekeeping } from "../../src/internal/pool.ts"
import { makePool } from "../support/FakeConn.ts"
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

  it.effect("the pool's own housekeeping on a new connection proves nothing: early deaths still add up to open it", () =>
    Effect.gen(function*() {
      const { close, diesAtBirth, dialer, pool, state } = yield* setup
      yield* diesAtBirth
      yield* diesAtBirth
      // A CLIENT UNBLOCK for a caller who left, say: a new connection, answered.
      yield* withHousekeeping(pool, () => Effect.void)
      assert.strictEqual(dialer.dials, 3)
      assert.strictEqual(yield* state, "closed")
      // Its first caller's command fails: the third death in a row of a connection that served nobody.
      yield* diesAtBirth
      assert.strictEqual(dialer.dials, 3)
      assert.strictEqual(yield* state, "open")
      yield* close
    }))

  it.effect("a caller's scoped checkout (get) that ends well proves its connection: the count of early deaths starts over", () =>
    Effect.gen(function*() {
      const { close, diesAtBirth, dialer, pool, state } = yield* setup
      yield* diesAtBirth
      yield* diesAtBirth
      // A new connection, checked out with get, its scope closed with success: it served a caller.
      yield* Effect.scoped(pool.get)
      assert.strictEqual(dialer.dials, 3)
      // So one more death is the first in a row, not the third: the breaker stays closed.
      yield* diesAtBirth
      assert.strictEqual(yield* state, "closed")
      yield* close
    }))
})
