import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { ConnectionError } from "../../src/Errors.ts"
import { implOf } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import { type FakeConn, hold, makeDialer, makePool } from "../support/FakeConn.ts"
import { failure, spin, tagOf, until } from "../support/effects.ts"

/** A shared caller that stays on its connection until `finish`. */
const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    const conn = yield* Deferred.await(on)
    return { conn, finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })

/** The fiber's exit once it has one (undefined if it never ends while the others run). */
const settled = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.map(until(() => fiber.pollUnsafe() !== undefined), () => fiber.pollUnsafe())

describe("maxWaiters: who counts against the bound", () => {
  it.effect("shared callers and the growth they wait for count with exclusive callers; the error says the bound", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxWaiters: 2 })
      const held = yield* hold(pool)
      const exclusive = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      // The shared caller's growth queued for the turn is no caller: two are waiting, the bound.
      const shared = yield* Effect.forkChild(pool.withShared(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      const refused = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(refused), "PoolQueueFullError")
      assert.strictEqual(
        (failure(refused) as { message: string }).message,
        "2 callers are waiting for a connection already (maxWaiters 2): not waiting with them"
      )
      yield* held.release
      yield* Fiber.join(exclusive)
      yield* Fiber.join(shared)
    }))

  it.effect("a caller served at once by a free turn is not refused, however many shared callers wait", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 2, maxWaiters: 1 }, dialer)
      // A shared caller waits for the set's first connection, whose dial holds one turn.
      const shared = yield* Effect.forkChild(pool.withShared((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1 && dialer.dials === 1))
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      yield* Deferred.succeed(gate, undefined)
      const mine = yield* Fiber.join(exclusive)
      assert.notStrictEqual(yield* Fiber.join(shared), mine)
    }))

  it.effect("with no turn free, a caller is refused when shared callers fill the bound, though none queues for a turn", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1, maxWaiters: 1 })
      const busy = yield* sharedCaller(pool)
      const shared = yield* Effect.forkChild(pool.withShared(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const exclusive = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      const exit = yield* settled(exclusive)
      assert.isDefined(exit)
      assert.strictEqual(tagOf(exit!), "PoolQueueFullError")
      yield* busy.finish
      yield* Fiber.join(shared)
    }))
})

describe("checkouts from the idle list", () => {
  it.effect("a slow-path checkout served from the idle list counts a hit and refills minIdleConns", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 3, minIdleConns: 1 })
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      const warm = dialer.conns[0]!
      // A get into a closed scope takes the slow path (and gives the connection back at once).
      const scope = yield* Scope.make()
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Scope.provide(pool.get, scope), warm)
      assert.strictEqual(pool.statsUnsafe().hits, 1)
      assert.strictEqual(pool.statsUnsafe().misses, 0)
      // Taking it left nothing idle: a refill dialed a second connection.
      assert.isTrue(yield* until(() => pool.statsUnsafe().total === 2))
      assert.strictEqual(pool.statsUnsafe().idle, 2)
      assert.strictEqual(dialer.dials, 2)
    }))
})

describe("connections that die before their first success", () => {
  it.effect("a success on a connection proven before does not reset the count of early deaths", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 2 })
      const diesAtBirth = Effect.exit(pool.withConn(() => Effect.fail(new ConnectionError({ reason: "closed", message: "reset" }))))
      const old = yield* pool.withConn((c) => Effect.succeed(c))
      // While the proven connection is held, each failing caller gets a new one.
      let held = yield* hold(pool)
      assert.strictEqual(held.conn, old)
      yield* diesAtBirth
      yield* held.release
      assert.strictEqual(yield* pool.withConn((c) => Effect.succeed(c)), old)
      held = yield* hold(pool)
      yield* diesAtBirth
      yield* held.release
      // Two deaths at birth in a row, the reuse between them notwithstanding.
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.breaker.state, "open")
      assert.strictEqual(stats.breaker.failures, 2)
    }))

  it.effect("a proven connection that fails later is closed but not counted toward the breaker", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 1 })
      yield* pool.withConn(() => Effect.void)
      yield* Effect.exit(pool.withConn(() => Effect.fail(new ConnectionError({ reason: "closed", message: "reset" }))))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.error, 1)
      assert.strictEqual(stats.breaker.state, "closed")
      assert.strictEqual(stats.breaker.failures, 0)
    }))
})

describe("remove and retire", () => {
  it.effect("remove of an idle connection closes it as an error, and frees no turn it did not hold", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const conn = yield* pool.withConn((c) => Effect.succeed(c))
      yield* pool.remove(conn)
      assert.isTrue(yield* until(() => conn.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.removals.error, 1)
    }))

  it.effect("retire picks a connection once: retired already, it is not counted again", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const held = yield* hold(pool)
      assert.strictEqual(yield* pool.retire((c) => c === held.conn), 1)
      assert.strictEqual(yield* pool.retire((c) => c === held.conn), 0)
      yield* held.release
      assert.isTrue(yield* until(() => held.conn.closed))
      assert.strictEqual(pool.statsUnsafe().removals.retired, 1)
    }))

  it.effect("retire closes an idle connection at once, and a draining one when its drain ends", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, drainTimeout: 60_000 })
      const idle = yield* pool.withConn((c) => Effect.succeed(c))
      assert.strictEqual(yield* pool.retire(() => true), 1)
      assert.isTrue(yield* until(() => idle.closed))
      let stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.removals.retired, 1)
      // Returned with a reply pending: it drains, holding its turn.
      const draining = yield* pool.withConn((c) => Effect.sync(() => (c.pending = 1, c)))
      assert.strictEqual(pool.statsUnsafe().draining, 1)
      assert.strictEqual(yield* pool.retire(() => true), 1)
      assert.isFalse(draining.closed)
      draining.settle()
      assert.isTrue(yield* until(() => draining.closed))
      stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.retired, 2)
      assert.strictEqual(stats.draining, 0)
      assert.strictEqual(stats.turnsInUse, 0)
    }))
})

/** How many callers of awaitWarm the pool holds (a private field). */
const warmWaiters = (impl: object) => (impl as { readonly warmWaiters: ReadonlyArray<unknown> }).warmWaiters.length

describe("awaitWarm", () => {
  it.effect("waits until minIdleConns are idle, not for the first refill that ends", () =>
    Effect.gen(function*() {
      const first = yield* Deferred.make<void>()
      const second = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate: first }
      const { pool } = yield* makePool({ poolSize: 4, minIdleConns: 2, maxConcurrentDials: 1 }, dialer)
      const impl = implOf<FakeConn>(pool)
      const warm = yield* Effect.forkChild(impl.awaitWarm())
      assert.isTrue(yield* until(() => dialer.dials === 1 && warmWaiters(impl) === 1))
      dialer.mode = { _tag: "block", gate: second }
      yield* Deferred.succeed(first, undefined)
      assert.isTrue(yield* until(() => dialer.dials === 2 && pool.statsUnsafe().idle === 1))
      yield* spin()
      assert.isUndefined(warm.pollUnsafe())
      yield* Deferred.succeed(second, undefined)
      yield* Fiber.join(warm)
      assert.strictEqual(pool.statsUnsafe().idle, 2)
    }))

  it.effect("an interrupted caller is forgotten at once", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 2, minIdleConns: 1 }, dialer)
      const impl = implOf<FakeConn>(pool)
      const waiters = () => warmWaiters(impl)
      const kept = yield* Effect.forkChild(impl.awaitWarm())
      const left = yield* Effect.forkChild(impl.awaitWarm())
      assert.isTrue(yield* until(() => waiters() === 2))
      yield* Fiber.interrupt(left)
      assert.strictEqual(waiters(), 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(kept)
      assert.strictEqual(waiters(), 0)
    }))
})

describe("the deadline sweeper holds only callers still waiting", () => {
  it.effect("a caller served, failed or interrupted leaves it; one served at once never joins it", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 1, breakerThreshold: 100 }, dialer)
      const timed = () => implOf<FakeConn>(pool).deadlines.timed.size
      // Served at once (a free turn, a dial that completes inside the checkout).
      yield* pool.withConn(() => Effect.void)
      assert.strictEqual(timed(), 0)
      // Served after a wait.
      let held = yield* hold(pool)
      const served = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => timed() === 1))
      yield* held.release
      yield* Fiber.join(served)
      assert.strictEqual(timed(), 0)
      // Interrupted.
      held = yield* hold(pool)
      const interrupted = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => timed() === 1))
      yield* Fiber.interrupt(interrupted)
      assert.strictEqual(timed(), 0)
      // Failed: its turn came, and its dial failed.
      const failed = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => timed() === 1))
      dialer.mode = { _tag: "fail" }
      yield* pool.remove(held.conn)
      assert.strictEqual(tagOf(yield* Fiber.join(failed)), "ConnectionError")
      assert.strictEqual(timed(), 0)
    }))

  it.effect("a caller interrupted while its dial is under way ends interrupted, with no defect", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1 }, dialer)
      const caller = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      yield* Fiber.interrupt(caller)
      const exit = caller.pollUnsafe()
      assert.isTrue(exit !== undefined && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      assert.strictEqual(implOf<FakeConn>(pool).deadlines.timed.size, 0)
    }))
})
