import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as TestClock from "effect/testing/TestClock"
import { ConnectionError } from "../../src/Errors.ts"
import { implOf } from "../../src/internal/pool.ts"
import * as Pool from "../../src/Pool.ts"
import { type FakeConn, hold, makeDialer, makePool } from "../support/FakeConn.ts"
import { failure, spin, tagOf, until } from "../support/effects.ts"

/** A checkout in a fiber of its own: the connection it got, or its failure. */
const fork = <A, E>(effect: Effect.Effect<A, E>) => Effect.forkChild(Effect.exit(effect))

/** Whether a forked checkout has ended, after letting the fibers run. */
const ended = <A, E>(fiber: Fiber.Fiber<A, E>) => until(() => fiber.pollUnsafe() !== undefined)

/** The result a forked checkout ended with, failing the test if it has not ended. */
const result = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    assert.isTrue(yield* ended(fiber), "the checkout has not ended")
    return yield* Fiber.join(fiber)
  })

const reset = new ConnectionError({ reason: "closed", message: "reset by peer", address: "fake:1" })

afterEach(() => {
  vi.restoreAllMocks()
})

describe("Pool dial: errors", () => {
  it.effect("a dial failing with anything but a ConnectionError, or dying, fails its caller with a ConnectionError of reason unknown", () =>
    Effect.gen(function*() {
      const foreign = Effect.fail(new Error("not a connection error")) as unknown as Effect.Effect<
        FakeConn,
        ConnectionError,
        Scope.Scope
      >
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(Pool.make({ poolSize: 2, breakerThreshold: 100, dial: foreign }), scope)
      const exit = yield* Effect.exit(pool.withConn(() => Effect.void))
      const error = failure(exit) as ConnectionError
      assert.strictEqual(error._tag, "ConnectionError")
      assert.strictEqual(error.reason, "unknown")
      assert.strictEqual(error.message, "dial failed: not a connection error")
      assert.strictEqual(pool.statsUnsafe().breaker.lastError, error)
      yield* Scope.close(scope, Exit.void)

      const { close, dialer, pool: dying } = yield* makePool({ poolSize: 2, breakerThreshold: 100 })
      dialer.mode = { _tag: "die" }
      const died = failure(yield* Effect.exit(dying.withConn(() => Effect.void))) as ConnectionError
      assert.strictEqual(died._tag, "ConnectionError")
      assert.strictEqual(died.reason, "unknown")
      yield* close
    }))

  it.effect("dialTimeout: a dial that hangs fails its caller with reason timeout, and its turn goes to the next waiter", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool(
        { poolSize: 1, dialTimeout: 1_000, poolTimeout: 10_000, breakerThreshold: 100 },
        dialer
      )
      const first = yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const second = yield* fork(pool.withConn((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      dialer.mode = { _tag: "ok" }
      yield* TestClock.adjust(1_000)
      const timedOut = failure(yield* result(first)) as ConnectionError
      assert.strictEqual(timedOut._tag, "ConnectionError")
      assert.strictEqual(timedOut.reason, "timeout")
      assert.strictEqual(timedOut.message, "dial did not complete within dialTimeout 1000 ms")
      // The failed dial's turn went to the waiter, long before its poolTimeout.
      const served = yield* result(second)
      assert.isTrue(Exit.isSuccess(served))
      assert.strictEqual(dialer.dials, 2)
      yield* close
    }))

  it.effect("a successful dial closes the count of failed dials: failures, since and lastError reset", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 2, breakerThreshold: 3 })
      dialer.mode = { _tag: "fail" }
      yield* TestClock.adjust(5)
      yield* Effect.exit(pool.withConn(() => Effect.void))
      yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(pool.statsUnsafe().breaker.failures, 2)
      assert.strictEqual(pool.statsUnsafe().breaker.since, 5)
      dialer.mode = { _tag: "ok" }
      yield* pool.withConn(() => Effect.void)
      const breaker = pool.statsUnsafe().breaker
      assert.strictEqual(breaker.failures, 0)
      assert.isUndefined(breaker.since)
      assert.isUndefined(breaker.lastError)
      yield* close
    }))

  it.effect("create_time records the dial's duration in seconds", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust(10_000)
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 1, name: "dial-create-time", dialTimeout: 60_000 }, dialer)
      const caller = yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      yield* TestClock.adjust(2_000)
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(caller)))
      const snapshot = yield* Metric.snapshot
      const created = snapshot.find((m) =>
        m.id === "db.client.connection.create_time" &&
        m.attributes?.["db.client.connection.pool.name"] === "dial-create-time"
      )
      const state = created?.state as { count: number; sum: number } | undefined
      assert.strictEqual(state?.count, 1)
      assert.strictEqual(state?.sum, 2)
      yield* close
    }))
})

describe("Pool dial: maxActiveConns", () => {
  it.effect("dials under way count: beyond maxActiveConns a checkout fails at once, the error naming the count", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 4, maxActiveConns: 2 }, dialer)
      yield* fork(pool.withConn(() => Effect.void))
      yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      const exit = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(exit), "PoolExhaustedError")
      assert.strictEqual((failure(exit) as Error).message, "connection pool exhausted: 2 of maxActiveConns 2 open")
      assert.strictEqual(dialer.dials, 2)
      yield* Deferred.succeed(gate, undefined)
      yield* close
    }))

  it.effect("shared callers grow the set by a dial under maxActiveConns, and wait (not fail) while dials under way reach it", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 4, maxActiveConns: 3 })
      const first = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(Exit.isSuccess(yield* result(first)))
      yield* close

      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const limited = yield* makePool({ poolSize: 4, maxActiveConns: 2 }, dialer)
      yield* fork(limited.pool.withConn(() => Effect.void))
      yield* fork(limited.pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      const shared = yield* fork(limited.pool.withShared((conn) => Effect.succeed(conn)))
      yield* spin()
      assert.isUndefined(shared.pollUnsafe(), "the shared caller did not wait")
      yield* Deferred.succeed(gate, undefined)
      // The exclusive callers' connections come back idle; the set grows from one of them.
      const served = yield* result(shared)
      assert.isTrue(Exit.isSuccess(served))
      assert.strictEqual(dialer.dials, 2)
      yield* limited.close
    }))

  it.effect("an exclusive checkout refused by maxActiveConns leaves shared callers waiting for their growth", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 4, maxActiveConns: 1 }, dialer)
      const shared = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const exit = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(exit), "PoolExhaustedError")
      yield* spin()
      assert.isUndefined(shared.pollUnsafe(), "the shared caller failed with the exclusive one")
      yield* Deferred.succeed(gate, undefined)
      const served = yield* result(shared)
      assert.isTrue(Exit.isSuccess(served))
      assert.strictEqual(Exit.isSuccess(served) && served.value, dialer.conns[0])
      yield* close
    }))

  it.effect("a caller failed by a refused dial resumes after the pool gave its turn back", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 2, maxActiveConns: 1 })
      const held = yield* hold(pool)
      // The second turn, taken through the Semaphore interface, so that the next caller queues.
      yield* Semaphore.take(pool.turns, 1)
      const caller = yield* Effect.forkChild(
        Effect.flatMap(Effect.exit(pool.withConn(() => Effect.void)), (exit) =>
          Effect.sync(() => ({ exit, turnsInUse: pool.statsUnsafe().turnsInUse })))
      )
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* Semaphore.release(pool.turns, 1)
      assert.isTrue(yield* ended(caller))
      const { exit, turnsInUse } = yield* Fiber.join(caller)
      assert.strictEqual(tagOf(exit), "PoolExhaustedError")
      assert.strictEqual(turnsInUse, 1, "the caller ran inside the pool's bookkeeping")
      yield* held.release
      yield* close
    }))
})

describe("Pool dial: refills of minIdleConns", () => {
  it.effect("only refill dials count as refills: a caller's dial under way does not stop the next refill", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 4, minIdleConns: 1 }, dialer)
      assert.isTrue(yield* until(() => dialer.dials === 1)) // the refill
      const caller = yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 2)) // the caller's own
      dialer.mode = { _tag: "ok" }
      yield* Deferred.succeed(gate, undefined)
      yield* result(caller)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 2))
      const a = yield* hold(pool)
      const b = yield* hold(pool)
      // Nothing idle any more: a refill dials.
      assert.isTrue(yield* until(() => dialer.dials === 3), "no refill")
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      yield* a.release
      yield* b.release
      yield* close
    }))

  it.effect("refills count dials under way against poolSize: never more connections than turns", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 3, minIdleConns: 2 })
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 2))
      const a = yield* hold(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 2)) // refilled
      const b = yield* hold(pool)
      const c = yield* hold(pool)
      assert.strictEqual(pool.statsUnsafe().total, 3)
      yield* b.release
      // The connection b gave back broke while idle: the next caller closes it and dials.
      b.conn.isHealthy = false
      const gate = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate }
      const x = yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 4))
      // Two connections and a dial under way fill the three turns' worth: a returned connection is no
      // reason to refill, though one idle is below minIdleConns.
      yield* a.release
      yield* spin()
      assert.strictEqual(dialer.dials, 4)
      assert.strictEqual(pool.statsUnsafe().dialing, 1)
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(x)))
      assert.isAtMost(pool.statsUnsafe().total, 3)
      yield* c.release
      yield* close
    }))

  it.effect("awaitWarm fails with a refill's failed dial, not with a caller's", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 2, minIdleConns: 1, breakerThreshold: 100 }, dialer)
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const warm = yield* fork(implOf<FakeConn>(pool).awaitWarm())
      yield* spin()
      dialer.mode = { _tag: "fail" }
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.void))), "ConnectionError")
      yield* spin()
      assert.isUndefined(warm.pollUnsafe(), "a caller's failed dial failed awaitWarm")
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(warm)))
      yield* close
    }))

  it.effect("awaitWarm waits for the refill itself: a connection dialed for a caller who left does not complete it", () =>
    Effect.gen(function*() {
      const refill = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate: refill }
      const { close, pool } = yield* makePool({ poolSize: 3, minIdleConns: 1 }, dialer)
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const warm = yield* fork(implOf<FakeConn>(pool).awaitWarm())
      yield* spin()
      const own = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate: own }
      const caller = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 2))
      yield* Fiber.interrupt(caller)
      yield* Deferred.succeed(own, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      yield* spin()
      assert.isUndefined(warm.pollUnsafe())
      yield* Deferred.succeed(refill, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(warm)))
      yield* close
    }))
  it.effect("a refill interrupted by the close fails awaitWarm with a ConnectionError (not an error outside its type, not a wait forever)", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 2, minIdleConns: 1 }, dialer)
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const warm = yield* fork(implOf<FakeConn>(pool).awaitWarm())
      yield* spin()
      assert.isUndefined(warm.pollUnsafe())
      yield* close
      // Not the close's PoolClosedError (awaitWarm's type has only ConnectionError), and not a wait forever.
      const exit = yield* Fiber.join(warm)
      assert.strictEqual(tagOf(exit), "ConnectionError")
      assert.strictEqual((failure(exit) as ConnectionError).reason, "closed")
      assert.include((failure(exit) as ConnectionError).message, "the pool closed before minIdleConns connections were idle")
      // On a closed pool, at once.
      const late = yield* Effect.exit(implOf<FakeConn>(pool).awaitWarm())
      assert.strictEqual((failure(late) as ConnectionError).reason, "closed")
    }))
})

describe("Pool dial: failed dials and the shared set", () => {
  it.effect("an exclusive caller's failed dial leaves shared callers waiting for their growth, and starts no second one", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 3, breakerThreshold: 100 }, dialer)
      const first = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      dialer.mode = { _tag: "fail" }
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.void))), "ConnectionError")
      const second = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      yield* spin()
      assert.isUndefined(first.pollUnsafe(), "a shared caller failed with the exclusive one")
      assert.isUndefined(second.pollUnsafe())
      assert.strictEqual(dialer.dials, 2)
      dialer.mode = { _tag: "ok" }
      yield* Deferred.succeed(gate, undefined)
      const a = yield* result(first)
      const b = yield* result(second)
      assert.strictEqual(Exit.isSuccess(a) && a.value, dialer.conns[0])
      assert.strictEqual(Exit.isSuccess(b) && b.value, dialer.conns[0])
      yield* close
    }))

  it.effect("a failed growth while a shared connection is busy: its callers wait for it; the probe's connection serves them", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 2,
        maxInFlight: 1,
        breakerThreshold: 1,
        dialTimeout: 1_000,
        poolTimeout: 10_000,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      const busy = yield* Deferred.make<void>()
      const first = yield* fork(pool.withShared((conn) => Effect.as(Deferred.await(busy), conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().sharedInFlight === 1))
      // The growth's dial hangs until dialTimeout, the second caller waiting meanwhile.
      const hang = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate: hang }
      const second = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => dialer.dials === 2 && pool.statsUnsafe().pendingWaiters === 1))
      dialer.mode = { _tag: "ok" }
      yield* TestClock.adjust(1_000)
      assert.isTrue(yield* until(() => pool.statsUnsafe().breaker.state === "open"))
      yield* spin()
      assert.isUndefined(second.pollUnsafe(), "the failed growth failed the callers of a busy shared connection")
      yield* TestClock.adjust(50)
      const served = yield* result(second)
      assert.strictEqual(Exit.isSuccess(served) && served.value, dialer.conns[1])
      yield* Deferred.succeed(busy, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(first)))
      yield* close
    }))

  it.effect("a growth refused by the open breaker fails the shared callers with CircuitOpenError; later growths still happen", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 1,
        breakerThreshold: 1,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      const dies = yield* Deferred.make<void>()
      const exclusive = yield* fork(pool.withConn(() => Effect.andThen(Deferred.await(dies), Effect.fail(reset))))
      assert.isTrue(yield* until(() => pool.statsUnsafe().inUse === 1))
      // No turn is free: the shared caller's growth queues for one.
      const shared = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1 && implOf<FakeConn>(pool).turns.queue.size === 1))
      // The exclusive caller's new connection dies at birth: the breaker opens, then its turn goes to the growth.
      yield* Deferred.succeed(dies, undefined)
      assert.strictEqual(tagOf(yield* result(exclusive)), "ConnectionError")
      const refused = yield* result(shared)
      assert.strictEqual(tagOf(refused), "CircuitOpenError")
      assert.strictEqual((failure(refused) as { failures: number }).failures, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      // Half-open: the probe's connection serves an exclusive caller, which closes the breaker.
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      yield* pool.withConn(() => Effect.void)
      assert.strictEqual(pool.statsUnsafe().breaker.state, "closed")
      const again = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      const served = yield* result(again)
      assert.strictEqual(Exit.isSuccess(served) && served.value, dialer.conns[1])
      yield* close
    }))

  it.effect("a growth refused while a shared connection is busy leaves its callers waiting for that connection", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 3, maxInFlight: 1, breakerThreshold: 1 })
      const busy = yield* Deferred.make<void>()
      const first = yield* fork(pool.withShared((conn) => Effect.as(Deferred.await(busy), conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().sharedInFlight === 1))
      const a = yield* hold(pool)
      const dies = yield* Deferred.make<void>()
      const b = yield* fork(pool.withConn(() => Effect.andThen(Deferred.await(dies), Effect.fail(reset))))
      assert.isTrue(yield* until(() => pool.statsUnsafe().inUse === 2))
      const second = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      // The pool shrinks below the turns taken: the turn a gives back is no free turn, so the growth it
      // starts for the waiting shared caller queues for one, with a's connection idle.
      yield* Semaphore.resize(pool.turns, 2)
      yield* a.release
      assert.isTrue(yield* until(() => implOf<FakeConn>(pool).turns.queue.size === 1))
      a.conn.isHealthy = false
      // b's new connection dies at birth: the breaker opens, and b's turn goes to the growth, which finds
      // nothing healthy idle and may not dial.
      yield* Deferred.succeed(dies, undefined)
      assert.strictEqual(tagOf(yield* result(b)), "ConnectionError")
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      yield* spin()
      assert.isUndefined(second.pollUnsafe(), "the refused growth failed the callers of a busy shared connection")
      yield* Deferred.succeed(busy, undefined)
      const a1 = yield* result(first)
      const served = yield* result(second)
      assert.isTrue(Exit.isSuccess(a1) && Exit.isSuccess(served))
      assert.strictEqual(Exit.isSuccess(served) && served.value, Exit.isSuccess(a1) && a1.value)
      yield* close
    }))

  it.effect("the probe's connection: the growth for waiting shared callers queues for a turn ahead of later exclusive callers", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 2,
        maxInFlight: 1,
        breakerThreshold: 1,
        dialTimeout: 1_000,
        poolTimeout: 10_000,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      const busy = yield* Deferred.make<void>()
      const first = yield* fork(pool.withShared((conn) => Effect.as(Deferred.await(busy), conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().sharedInFlight === 1))
      const hang = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate: hang }
      const second = yield* fork(pool.withShared((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => dialer.dials === 2 && pool.statsUnsafe().pendingWaiters === 1))
      dialer.mode = { _tag: "ok" }
      yield* TestClock.adjust(1_000)
      assert.isTrue(yield* until(() => pool.statsUnsafe().breaker.state === "open"))
      // The second turn, taken through the Semaphore interface: no turn is free when the probe's connection comes.
      yield* Semaphore.take(pool.turns, 1)
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      const exclusive = yield* fork(pool.withConn((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2 && implOf<FakeConn>(pool).turns.queue.size === 2))
      yield* Semaphore.release(pool.turns, 1)
      const served = yield* result(second)
      assert.strictEqual(Exit.isSuccess(served) && served.value, dialer.conns[1])
      assert.isUndefined(exclusive.pollUnsafe())
      yield* Deferred.succeed(busy, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(first)))
      yield* close
    }))
})

describe("Pool dial: the probe", () => {
  it.effect("a probe's failed dial counts on: failures and lastError", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 2,
        breakerThreshold: 1,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      dialer.mode = { _tag: "fail" }
      yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(pool.statsUnsafe().breaker.failures, 1)
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => dialer.dials === 2))
      const breaker = pool.statsUnsafe().breaker
      assert.strictEqual(breaker.state, "open")
      assert.strictEqual(breaker.failures, 2)
      assert.strictEqual(breaker.lastError?.reason, "refused")
      yield* close
    }))

  it.effect("half-open, the probe's connections leave the breaker open and the probe goes on, until a checkout proves one", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 4,
        breakerThreshold: 2,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      yield* Effect.exit(pool.withConn(() => Effect.fail(reset)))
      yield* Effect.exit(pool.withConn(() => Effect.fail(reset)))
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      assert.strictEqual(dialer.dials, 2)
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => dialer.dials === 4), "the probe stopped while half-open")
      yield* pool.withConn(() => Effect.void)
      assert.strictEqual(pool.statsUnsafe().breaker.state, "closed")
      yield* close
    }))

  it.effect("the probe's connection goes idle while the pool has room for it, up to exactly poolSize", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const { close, dialer, pool } = yield* makePool({
        poolSize: 2,
        breakerThreshold: 1,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      })
      const held = yield* hold(pool)
      dialer.mode = { _tag: "fail" }
      yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      dialer.mode = { _tag: "ok" }
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => pool.statsUnsafe().breaker.state === "closed"))
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      assert.strictEqual(pool.statsUnsafe().removals.maxIdle, 0)
      const reused = yield* pool.withConn((conn) => Effect.succeed(conn))
      assert.strictEqual(reused, dialer.conns[1])
      assert.strictEqual(dialer.dials, 3)
      yield* held.release
      yield* close
    }))

  it.effect("beyond the pool's size (it shrank, a dial is under way) the probe's connection is closed as maxIdle", () =>
    Effect.gen(function*() {
      vi.spyOn(Math, "random").mockReturnValue(0)
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({
        poolSize: 3,
        breakerThreshold: 1,
        probeBackoffMin: 100,
        probeBackoffMax: 100
      }, dialer)
      const caller = yield* fork(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      dialer.mode = { _tag: "fail" }
      yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      dialer.mode = { _tag: "ok" }
      yield* Semaphore.resize(pool.turns, 1)
      yield* TestClock.adjust(50)
      assert.isTrue(yield* until(() => dialer.dials === 3))
      yield* spin()
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.removals.maxIdle, 1)
      assert.isTrue(dialer.conns[0]!.closed, "the probe's connection")
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(Exit.isSuccess(yield* result(caller)))
      yield* close
    }))
})
