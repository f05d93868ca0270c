import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Pool from "../src/Pool.ts"
import { ConnectionError, ProtocolError, RedisReplyError } from "../src/Errors.ts"
import { implOf } from "../src/internal/pool.ts"
import { expiresAt } from "../src/internal/poolOptions.ts"
import { type FakeConn, hold, makeDialer, makePool } from "./support/FakeConn.ts"
import { failure, spin, tagOf, until } from "./support/effects.ts"






describe("Pool options", () => {
  it.effect("invalid options fail make with InvalidArgumentError naming the option", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const cases: Array<[Partial<Pool.PoolOptions<FakeConn>>, string]> = [
        [{ poolSize: 0 }, "poolSize"],
        [{ poolSize: -1 }, "poolSize"],
        [{ poolSize: 1.5 }, "poolSize"],
        [{ poolSize: 2, minIdleConns: 3 }, "minIdleConns"],
        [{ maxIdleConns: -1 }, "maxIdleConns"],
        [{ poolTimeout: -5 }, "poolTimeout"],
        [{ poolTimeout: 0 }, "poolTimeout"],
        [{ connMaxLifetime: "banana" as never }, "connMaxLifetime"],
        [{ maxInFlight: 0 }, "maxInFlight"],
        [{ probeBackoffMin: 1000, probeBackoffMax: 10 }, "probeBackoffMax"]
      ]
      for (const [options, option] of cases) {
        const exit = yield* Effect.exit(Pool.make({ ...options, dial: dialer.dial }))
        assert.strictEqual(tagOf(exit), "InvalidArgumentError", option)
        assert.strictEqual((failure(exit) as { option?: string }).option, option)
      }
      // The rules between options say which values clash.
      const clash = yield* Effect.exit(Pool.make({ poolSize: 5, minIdleConns: 3, maxIdleConns: 2, dial: dialer.dial }))
      assert.strictEqual((failure(clash) as { option?: string }).option, "maxIdleConns")
      assert.include((failure(clash) as Error).message, "2 is below minIdleConns 3")
      // maxIdleConns 0 means no limit, whatever minIdleConns is.
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(Effect.scoped(Pool.make({ poolSize: 5, minIdleConns: 3, maxIdleConns: 0, dial: dialer.dial })))))
    }))
})

describe("Pool: connections that die before their first success", () => {
  it.effect("on exclusive checkouts they open the breaker like failed dials; reply errors and interruptions neither count nor reset", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 4, breakerThreshold: 3 })
      const reset = new ConnectionError({ reason: "closed", message: "reset by peer", address: "fake:1" })
      // Each of these checkouts gets a connection never proven (the one before was closed for its error) and fails.
      const diesAtBirth = Effect.exit(pool.withConn(() => Effect.fail(reset)))
      const state = Effect.map(pool.stats, (stats) => stats.breaker.state)
      yield* diesAtBirth
      yield* diesAtBirth
      assert.strictEqual(yield* state, "closed")
      // A reply error on a new connection says nothing about the connection, nor does an interruption, even one
      // that leaves the connection unusable (a caller interrupted mid-command).
      yield* Effect.exit(pool.withConn(() => Effect.fail(new RedisReplyError({ code: "ERR", message: "ERR nope" }))))
      yield* Effect.exit(pool.withConn((conn) => Effect.andThen(Effect.sync(() => void (conn.isHealthy = false)), Effect.interrupt)))
      assert.strictEqual(yield* state, "closed")
      yield* diesAtBirth
      const stats = yield* pool.stats
      assert.strictEqual(stats.breaker.state, "open")
      assert.strictEqual(stats.breaker.failures, 3)
      assert.include(stats.breaker.lastError?.message ?? "", "3 connections in a row failed before their first reply: reset by peer")
      assert.strictEqual(stats.breaker.lastError?.reason, "closed")
      assert.strictEqual(stats.breaker.lastError?.address, "fake:1")
      yield* close
    }))

  it.effect("a success on a new exclusive connection starts the count again", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 4, breakerThreshold: 3 })
      const diesAtBirth = Effect.exit(pool.withConn(() => Effect.fail(new ConnectionError({ reason: "closed", message: "reset" }))))
      const state = Effect.map(pool.stats, (stats) => stats.breaker.state)
      yield* diesAtBirth
      yield* diesAtBirth
      // Proven, then closed (unhealthy), so that the next checkouts dial again.
      yield* pool.withConn((conn) => Effect.sync(() => void (conn.isHealthy = false)))
      yield* diesAtBirth
      yield* diesAtBirth
      assert.strictEqual(yield* state, "closed")
      yield* diesAtBirth
      assert.strictEqual(yield* state, "open")
      yield* close
    }))
})

describe("Pool: go-redis ConnPool scenarios", () => {
  it.effect("closing while minIdleConns dials are in flight: late connections are closed, stats end at zero", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { close, pool } = yield* makePool({ poolSize: 10, minIdleConns: 10, maxConcurrentDials: 10 }, dialer)
      assert.isTrue(yield* until(() => dialer.dials === 10))
      yield* close
      yield* Deferred.succeed(gate, undefined)
      yield* spin()
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.dialing, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(dialer.open, 0)
      assert.isTrue(stats.closed)
    }))

  it.effect("with every turn taken the next get waits; removing one connection unblocks it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 10 })
      const held = yield* Effect.forEach(Array.from({ length: 10 }), () => hold(pool))
      const waiter = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* spin()
      assert.isUndefined(waiter.pollUnsafe())
      yield* pool.remove(held[0]!.conn)
      const got = yield* Fiber.join(waiter)
      assert.isFalse(held.some((h) => h.conn === got.conn))
      assert.isTrue(held[0]!.conn.closed)
      assert.strictEqual(pool.statsUnsafe().total, 10)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 10)
      yield* held[0]!.release // the removed checkout's finalizer is a no-op now
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 10)
    }))

  it.effect("retire: idle connections close at once, a checked-out one when returned, a shared one when its last caller leaves", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 10 })
      const idle = yield* Effect.forEach(Array.from({ length: 3 }), () => hold(pool))
      for (const h of idle) yield* h.release
      const held = yield* hold(pool)
      const sharedGate = yield* Deferred.make<void>()
      let sharedConn: FakeConn | undefined
      const sharedCaller = yield* Effect.forkChild(pool.withShared((conn) => {
        sharedConn = conn
        return Deferred.await(sharedGate)
      }))
      assert.isTrue(yield* until(() => sharedConn !== undefined))
      const keep = idle.find((h) => h.conn !== held.conn && h.conn !== sharedConn)!.conn
      const picked = yield* pool.retire((conn) => conn !== keep)
      assert.strictEqual(picked, pool.statsUnsafe().total - 1)
      assert.isTrue(idle.every((h) => h.conn === keep || h.conn === held.conn || h.conn === sharedConn || h.conn.closed))
      assert.isFalse(held.conn.closed)
      assert.isFalse(sharedConn!.closed)
      // The retired shared connection takes no new callers.
      const other = yield* pool.withShared((conn) => Effect.succeed(conn))
      assert.notStrictEqual(other, sharedConn)
      yield* held.release
      assert.isTrue(held.conn.closed)
      yield* Deferred.succeed(sharedGate, undefined)
      yield* Fiber.join(sharedCaller)
      assert.isTrue(yield* until(() => sharedConn!.closed))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.retired, picked)
      assert.isFalse(keep.closed)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.turnsInUse, stats.shared)
      const again = yield* pool.withConn((conn) => Effect.succeed(conn))
      assert.isFalse(again.closed)
    }))

  it.effect.each([1, 32])("minIdleConns (%d) is reached at creation, replenished after get and after remove", (min) =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 100, minIdleConns: min, maxConcurrentDials: 100 })
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === min))
      assert.strictEqual(pool.statsUnsafe().total, min)
      const held = yield* hold(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().total === min + 1 && pool.statsUnsafe().idle === min))
      yield* pool.remove(held.conn)
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().total, min)
      assert.strictEqual(pool.statsUnsafe().idle, min)
    }))

  it.effect("never more than poolSize: the 101st get times out after poolTimeout and is counted", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 100, poolTimeout: 1_000 })
      const held = yield* Effect.forEach(Array.from({ length: 100 }), () => hold(pool), { concurrency: "unbounded" })
      assert.strictEqual(pool.statsUnsafe().total, 100)
      const late = yield* Effect.forkChild(Effect.exit(hold(pool)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(999)
      assert.isUndefined(late.pollUnsafe())
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.join(late)
      assert.strictEqual(tagOf(exit), "PoolTimeoutError")
      const error = failure(exit) as { waitingFor: string; waitedMillis: number; pool: { inUse: number; max: number } }
      assert.strictEqual(error.waitingFor, "turn")
      assert.strictEqual(error.waitedMillis, 1_000)
      assert.strictEqual(error.pool.inUse, 100)
      assert.strictEqual(error.pool.max, 100)
      assert.strictEqual(pool.statsUnsafe().timeouts, 1)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
      // go-redis 7 and 8: put all back, then remove all.
      yield* Effect.forEach(held, (h) => h.release)
      assert.strictEqual(pool.statsUnsafe().total, 100)
      assert.strictEqual(pool.statsUnsafe().idle, 100)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      for (const conn of dialer.conns) yield* pool.remove(conn)
      assert.strictEqual(pool.statsUnsafe().total, 0)
      yield* spin()
      assert.strictEqual(dialer.open, 0)
    }))

  it.live("get+put racing get+remove with a 1 ms connMaxIdleTime: no error, counts consistent", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 10, connMaxIdleTime: 1 })
      const putter = Effect.forEach(
        Array.from({ length: 200 }),
        () => pool.withConn(() => Effect.yieldNow),
        { discard: true }
      )
      const remover = Effect.forEach(
        Array.from({ length: 200 }),
        () => pool.withConn((conn) => pool.remove(conn)),
        { discard: true }
      )
      yield* Effect.all([putter, remover, putter, remover, putter, remover], { concurrency: "unbounded" })
      yield* spin()
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.total, stats.idle)
      assert.isAtMost(stats.total, 10)
      assert.strictEqual(dialer.open, stats.total)
      assert.strictEqual(stats.hits + stats.misses, 1200)
    }))

  it.effect("poolSize 1000 with minIdleConns 50 and 1000 checkouts held: exactly 1000 connections, 0 idle", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 1000, minIdleConns: 50 })
      yield* Effect.forEach(Array.from({ length: 1000 }), () => hold(pool), { concurrency: "unbounded" })
      yield* spin()
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.total, 1000)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.inUse, 1000)
      assert.strictEqual(dialer.open, 1000)
    }))

  it.effect("wait stats: a second get on poolSize 1 waits 1 s: wait count 1, wait time 1 s", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 5_000 })
      const first = yield* hold(pool)
      const second = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(1_000)
      yield* first.release
      const got = yield* Fiber.join(second)
      assert.strictEqual(got.conn, first.conn)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.waitCount, 1)
      assert.strictEqual(stats.waitDurationMillis, 1_000)
      assert.strictEqual(stats.total, 1)
      assert.strictEqual(stats.idle, 0)
    }))

  it.effect("a dial that fails or dies gives its turn back and leaks nothing (also for minIdleConns dials)", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 3, breakerThreshold: 100 })
      dialer.mode = { _tag: "fail" }
      const failed = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(failed), "ConnectionError")
      dialer.mode = { _tag: "die" }
      const died = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(died), "ConnectionError")
      assert.include((failure(died) as { message: string }).message, "dialer panicked")
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().total, 0)
      dialer.mode = { _tag: "ok" }
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(pool.withConn(() => Effect.void))))

      const refills = makeDialer()
      refills.mode = { _tag: "die" }
      const { pool: pool2 } = yield* makePool({ poolSize: 30, minIdleConns: 30, breakerThreshold: 30 }, refills)
      assert.isTrue(yield* until(() => pool2.statsUnsafe().breaker.state === "open"))
      yield* spin()
      const stats = pool2.statsUnsafe()
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.idle, 0)
      assert.strictEqual(stats.dialing, 0)
      assert.strictEqual(stats.turnsInUse, 0)
    }))

  it.effect("maxActiveConns below poolSize fails at once with PoolExhaustedError, not a timeout", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, maxActiveConns: 1, poolTimeout: 200 })
      yield* hold(pool)
      const exit = yield* Effect.exit(pool.withConn(() => Effect.void))
      assert.strictEqual(tagOf(exit), "PoolExhaustedError")
      assert.strictEqual((failure(exit) as { maxActiveConns: number }).maxActiveConns, 1)
      assert.strictEqual(pool.statsUnsafe().timeouts, 0)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 1)
    }))

  it.effect("a caller interrupted while its dial is in flight: the connection goes to the next waiter", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1 }, dialer)
      const a = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      const b = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* Fiber.interrupt(a)
      yield* Deferred.succeed(gate, undefined)
      const got = yield* Fiber.join(b)
      assert.strictEqual(dialer.dials, 1)
      assert.strictEqual(got.conn, dialer.conns[0])
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 1)
      yield* got.release
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().idle, 1)
    }))

  it.effect("with nobody waiting, the connection dialed for an interrupted caller goes idle", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1 }, dialer)
      const a = yield* Effect.forkChild(hold(pool))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      yield* Fiber.interrupt(a)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 1) // the dial holds it
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().total, 1)
    }))

  it.effect("one deadline covers turn and dial: a slow dial fails the caller with waitingFor dial; its connection goes idle", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 1, poolTimeout: 1_000, dialTimeout: 60_000 }, dialer)
      const caller = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => dialer.dials === 1))
      yield* TestClock.adjust(1_000)
      const exit = yield* Fiber.join(caller)
      assert.strictEqual(tagOf(exit), "PoolTimeoutError")
      const error = failure(exit) as { waitingFor: string; waitedMillis: number; message: string }
      assert.strictEqual(error.waitingFor, "dial")
      assert.strictEqual(error.waitedMillis, 1_000)
      assert.include(error.message, "poolTimeout 1000 ms")
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().timeouts, 1)
    }))

  it.effect("1000 gets against a failing dial: the breaker opens, no dials until the probe, no turn leaks", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      dialer.mode = { _tag: "fail" }
      const { pool } = yield* makePool({ poolSize: 10, probeBackoffMin: 1_000, probeBackoffMax: 1_000 }, dialer)
      const exits = yield* Effect.forEach(
        Array.from({ length: 1000 }),
        () => Effect.exit(pool.withConn(() => Effect.void)),
        { concurrency: "unbounded" }
      )
      const tags = exits.map(tagOf)
      assert.isTrue(tags.every((tag) => tag === "ConnectionError" || tag === "CircuitOpenError"))
      assert.isTrue(tags.includes("CircuitOpenError"))
      assert.isAtLeast(dialer.dials, 10)
      assert.isAtMost(dialer.dials, 20)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.breaker.state, "open")
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.total, 0)
      const open = failure(exits[exits.length - 1]!) as {
        _tag: string
        lastError: { reason: string }
        failures: number
        since: number
      }
      assert.strictEqual(open._tag, "CircuitOpenError")
      assert.strictEqual(open.lastError.reason, "refused")
      assert.isAtLeast(open.failures, 10)
      // Open since the first failure, on the pool's clock (the test clock has not moved).
      assert.strictEqual(open.since, 0)
      assert.strictEqual(stats.breaker.since, 0)
      assert.strictEqual(stats.breaker.failures, open.failures)
      const dials = dialer.dials
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.void))), "CircuitOpenError")
      assert.strictEqual(dialer.dials, dials)
      // The probe: not before its shortest backoff (half of probeBackoffMin, with jitter), then it dials,
      // still failing. (Each backoff is 500 to 1 500 ms, so within 1 500 ms it may dial up to three times.)
      yield* TestClock.adjust(499)
      yield* spin()
      assert.strictEqual(dialer.dials, dials, "the probe dialed before its backoff")
      yield* TestClock.adjust(1_001)
      assert.isTrue(yield* until(() => dialer.dials > dials), "the probe never dialed")
      assert.isAtMost(dialer.dials, dials + 3)
      assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
      dialer.mode = { _tag: "ok" }
      yield* TestClock.adjust(1_500)
      assert.isTrue(yield* until(() => pool.statsUnsafe().breaker.state === "closed"))
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(pool.withConn(() => Effect.void))))
      assert.strictEqual(pool.statsUnsafe().hits, 1) // the probe's connection was reused
      assert.isUndefined(pool.statsUnsafe().breaker.since)
      assert.strictEqual(pool.statsUnsafe().breaker.failures, 0)
    }))

  it.effect("a broken idle connection is discarded on get and the caller gets a working one", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 10 })
      const broken = yield* pool.withConn((conn) => Effect.succeed(conn))
      broken.isHealthy = false
      const used = yield* pool.withConn((conn) => Effect.succeed(conn))
      yield* pool.withConn((conn) => Effect.succeed(conn))
      assert.notStrictEqual(used, broken)
      assert.isTrue(broken.closed)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.total, 1)
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.hits, 1)
      assert.strictEqual(stats.misses, 2)
      assert.strictEqual(stats.timeouts, 0)
      assert.strictEqual(stats.removals.unhealthy, 1)
    }))

  it.effect("100 sequential checkouts reuse one connection: 1 connection, 99 hits, 1 miss", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 10 })
      for (let i = 0; i < 100; i++) yield* pool.withConn(() => Effect.void)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.total, 1)
      assert.strictEqual(stats.hits, 99)
      assert.strictEqual(stats.misses, 1)
      assert.strictEqual(dialer.dials, 1)
    }))

  it.effect("lifetime jitter: none never expires, 0 is exact, otherwise within ± jitter", () =>
    Effect.gen(function*() {
      assert.strictEqual(expiresAt(1_000, 0, 0, 0.5), Infinity)
      assert.strictEqual(expiresAt(1_000, 60_000, 0, 0.9), 61_000)
      for (let i = 0; i < 1000; i++) {
        const at = expiresAt(1_000, 60_000, 5_000, Math.random())
        assert.isAtLeast(at, 56_000)
        assert.isAtMost(at, 66_000)
      }
      assert.strictEqual(expiresAt(0, 60_000, 5_000, 0), 55_000)
      assert.strictEqual(expiresAt(0, 60_000, 5_000, 1), 65_000)
      // Through the pool: exact lifetime, checked on get and by the reaper.
      const { close, pool } = yield* makePool({ poolSize: 2, connMaxLifetime: 10_000, connMaxIdleTime: 0 })
      const first = yield* pool.withConn((conn) => Effect.succeed(conn))
      yield* TestClock.adjust(9_999)
      assert.strictEqual(yield* pool.withConn((conn) => Effect.succeed(conn)), first)
      yield* TestClock.adjust(1)
      yield* spin()
      assert.isTrue(first.closed)
      assert.strictEqual(pool.statsUnsafe().removals.lifetime, 1)
      yield* close
      // No lifetime: a connection is kept however old.
      const { pool: forever } = yield* makePool({ poolSize: 2, connMaxIdleTime: 0, reaperFrequency: "1 day" })
      const conn = yield* forever.withConn((c) => Effect.succeed(c))
      yield* TestClock.adjust("1000 days")
      assert.strictEqual(yield* forever.withConn((c) => Effect.succeed(c)), conn)
    }))

  it.effect("maxWaiters bounds the callers waiting for a connection: beyond it a caller fails at once, typed", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 1, maxWaiters: 3, poolTimeout: 10_000 }, dialer)
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(pool.withConn(() => Deferred.await(release)))
      yield* spin()
      const waiting = yield* Effect.forEach([1, 2, 3], (i) => Effect.forkChild(pool.withConn(() => Effect.succeed(i))))
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 3)
      const refused = yield* Effect.exit(pool.withConn(() => Effect.succeed("never")))
      assert.strictEqual(tagOf(refused), "PoolQueueFullError")
      const error = failure(refused) as { maxWaiters: number; pool: { pending: number } }
      assert.strictEqual(error.maxWaiters, 3)
      assert.strictEqual(error.pool.pending, 3)
      // Shared callers count against the same bound.
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withShared(() => Effect.void))), "PoolQueueFullError")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      assert.deepStrictEqual(yield* Effect.forEach(waiting, Fiber.join), [1, 2, 3])
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("a growth of the shared set queued for a turn is no caller: it counts neither as waiting nor against maxWaiters", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxWaiters: 2, poolTimeout: 10_000 })
      const held = yield* hold(pool)
      // A shared caller with no shared connection: it waits, and a growth queues for the only turn.
      const shared = yield* Effect.forkChild(pool.withShared(() => Effect.succeed("shared")))
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      // So one more caller may wait: maxWaiters is 2.
      const exclusive = yield* Effect.forkChild(pool.withConn(() => Effect.succeed("exclusive")))
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 2)
      const refused = yield* Effect.exit(pool.withConn(() => Effect.succeed("never")))
      assert.strictEqual(tagOf(refused), "PoolQueueFullError")
      assert.strictEqual((failure(refused) as { pool: { pending: number } }).pool.pending, 2)
      yield* held.release
      assert.strictEqual(yield* Fiber.join(shared), "shared")
      assert.strictEqual(yield* Fiber.join(exclusive), "exclusive")
    }))

  it.effect("maxWaiters 0 means no bound", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 1, maxWaiters: 0 }, dialer)
      const results = yield* Effect.forEach(Array.from({ length: 20_000 }, (_, i) => i), (i) =>
        pool.withConn(() => Effect.succeed(i)), { concurrency: "unbounded" })
      assert.strictEqual(results.length, 20_000)
    }))
})

describe("Pool: what comes back, what goes out next", () => {
  it.effect("a connection that turns unhealthy while checked out is closed on return, never put on the idle list", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const settled = (conn: FakeConn, unhealthy: number) =>
        Effect.gen(function*() {
          // Right after the return, before any checkout could filter it out.
          const stats = pool.statsUnsafe()
          assert.strictEqual(stats.idle, 0, "the broken connection is on the idle list")
          assert.strictEqual(stats.total, 0)
          assert.strictEqual(stats.turnsInUse, 0)
          assert.strictEqual(stats.removals.unhealthy, unhealthy)
          assert.isTrue(yield* until(() => conn.closed))
        })
      // withConn, a body that succeeds.
      const a = yield* pool.withConn((conn) => Effect.sync(() => (conn.isHealthy = false, conn)))
      yield* settled(a, 1)
      // get, released by its scope.
      const held = yield* hold(pool)
      held.conn.isHealthy = false
      yield* held.release
      yield* settled(held.conn, 2)
      // A body that fails with an error that says nothing about the connection.
      let c: FakeConn | undefined
      const failed = yield* Effect.exit(pool.withConn((conn) => {
        c = conn
        conn.isHealthy = false
        return Effect.fail("the caller's own error" as const)
      }))
      assert.strictEqual(failure(failed), "the caller's own error")
      yield* settled(c!, 3)
      // Broken with replies pending: closed at once, not drained.
      const d = yield* pool.withConn((conn) => Effect.sync(() => (conn.pending = 1, conn.isHealthy = false, conn)))
      assert.strictEqual(pool.statsUnsafe().draining, 0)
      yield* settled(d, 4)
      // Broken while draining late replies: closed when the drain ends.
      const e = yield* pool.withConn((conn) => Effect.sync(() => (conn.pending = 1, conn)))
      assert.strictEqual(pool.statsUnsafe().draining, 1)
      e.isHealthy = false
      e.settle()
      assert.isTrue(yield* until(() => pool.statsUnsafe().draining === 0))
      yield* settled(e, 5)
      // A shared connection broken by its caller.
      const f = yield* pool.withShared((conn) => Effect.sync(() => (conn.isHealthy = false, conn)))
      assert.strictEqual(pool.statsUnsafe().shared, 0)
      yield* settled(f, 6)
    }))

  it.effect.each([false, true])("poolFifo %s: the next checkout takes the newest (LIFO) or the oldest (FIFO) idle connection", (fifo) =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, poolFifo: fifo })
      const held = yield* Effect.forEach([0, 1, 2], () => hold(pool))
      // Returned in the order 0, 1, 2.
      for (const h of held) yield* h.release
      assert.strictEqual(pool.statsUnsafe().idle, 3)
      const returned = held.map((h) => h.conn.id)
      const expected = fifo ? returned : [...returned].reverse()
      // get, one after the other while the earlier ones are held.
      const again = yield* Effect.forEach([0, 1, 2], () => hold(pool))
      assert.deepStrictEqual(again.map((h) => h.conn.id), expected)
      // Returned in that order; withConn takes from the same end.
      for (const h of again) yield* h.release
      const next = yield* pool.withConn((conn) => Effect.succeed(conn.id))
      assert.strictEqual(next, fifo ? expected[0] : expected[2])
      assert.strictEqual(pool.statsUnsafe().misses, 3)
    }))

  it.effect("the reaper closes connections idle for connMaxIdleTime without any checkout; one used since stays", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3, connMaxIdleTime: 10_000, reaperFrequency: 1_000 })
      const held = yield* Effect.forEach([0, 1, 2], () => hold(pool))
      for (const h of held) yield* h.release
      assert.strictEqual(pool.statsUnsafe().idle, 3)
      yield* TestClock.adjust(5_000)
      // The third connection does I/O at 5 s (idle time counts from a connection's last I/O).
      held[2]!.conn.usedAt += 5_000
      yield* TestClock.adjust(4_000)
      yield* spin()
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 0)
      assert.strictEqual(pool.statsUnsafe().idle, 3)
      // 10 s after the dial plus one reaper period: the first two are gone, by the reaper alone.
      yield* TestClock.adjust(2_000)
      assert.isTrue(
        yield* until(() => held[0]!.conn.closed && held[1]!.conn.closed),
        "the reaper left connections idle past connMaxIdleTime open"
      )
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.removals.idleTime, 2)
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.total, 1)
      assert.strictEqual(stats.hits + stats.misses, 3)
      assert.isFalse(held[2]!.conn.closed)
      // And the last one once its own idle time is up.
      yield* TestClock.adjust(5_000)
      assert.isTrue(yield* until(() => held[2]!.conn.closed))
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 3)
      assert.strictEqual(pool.statsUnsafe().total, 0)
    }))

  it.effect("refills of minIdleConns dial at most maxConcurrentDials at once, at start and after checkouts", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      let gate = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate }
      let dialing = 0
      let most = 0
      const dial = Effect.suspend(() => {
        most = Math.max(most, ++dialing)
        return Effect.ensuring(dialer.dial, Effect.sync(() => void dialing--))
      })
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(
        Pool.make({ poolSize: 10, minIdleConns: 6, maxConcurrentDials: 2, dial }),
        scope
      )
      assert.isTrue(yield* until(() => dialer.dials >= 2))
      yield* spin()
      assert.strictEqual(dialer.dials, 2, "refill dials started at once")
      assert.strictEqual(pool.statsUnsafe().dialing, 2)
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 6))
      assert.strictEqual(dialer.dials, 6)
      assert.strictEqual(most, 2, "most refill dials at once")
      // Four checkouts take idle connections; the refills they start queue behind the same bound.
      gate = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate }
      const held = yield* Effect.forEach([0, 1, 2, 3], () => hold(pool))
      yield* spin()
      assert.strictEqual(dialer.dials, 8, "refill dials started at once after the checkouts")
      assert.strictEqual(pool.statsUnsafe().dialing, 2)
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 6))
      assert.strictEqual(dialer.dials, 10)
      assert.strictEqual(most, 2)
      assert.strictEqual(pool.statsUnsafe().total, 10)
      for (const h of held) yield* h.release
    }))
})

describe("Pool: checkout entry points", () => {
  it.effect("get into an already closed scope with nothing idle still returns the connection and leaks no turn", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const scope = yield* Scope.make()
      yield* Scope.close(scope, Exit.void)
      const conn = yield* Scope.provide(pool.get, scope)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.idle, 1)
      assert.isFalse(conn.closed)
    }))

  it.effect("get over a broken idle connection dials; a failed dial fails the get with the dial's error alone", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 2, breakerThreshold: 100 })
      const broken = yield* pool.withConn((conn) => Effect.succeed(conn))
      broken.isHealthy = false
      const fresh = yield* Effect.scoped(pool.get)
      assert.notStrictEqual(fresh, broken)
      assert.isTrue(broken.closed)
      fresh.isHealthy = false
      dialer.mode = { _tag: "fail" }
      const exit = yield* Effect.exit(Effect.scoped(pool.get))
      assert.strictEqual(tagOf(exit), "ConnectionError")
      assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.total, 0)
    }))

  it.effect("stats is the effect of statsUnsafe", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 3 })
      yield* pool.withConn(() => Effect.void)
      const stats = yield* pool.stats
      assert.deepStrictEqual(stats, pool.statsUnsafe())
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.misses, 1)
    }))

  it.effect("makeConnPool: poolTimeout defaults to readTimeout + 1 s, 30 s when reads never time out, 4 s by default", () =>
    Effect.gen(function*() {
      const timeoutOf = (options: Parameters<typeof Pool.makeConnPool>[0]) =>
        Effect.map(Pool.makeConnPool(options), (pool) => implOf(pool).options.poolTimeout)
      assert.strictEqual(yield* timeoutOf({ conn: { readTimeout: 2_000 } }), 3_000)
      assert.strictEqual(yield* timeoutOf({ conn: { readTimeout: "1500 millis" } }), 2_500)
      assert.strictEqual(yield* timeoutOf({ conn: { readTimeout: 0 } }), 30_000)
      assert.strictEqual(yield* timeoutOf({ conn: { readTimeout: Duration.infinity } }), 30_000)
      assert.strictEqual(yield* timeoutOf({}), 4_000)
      assert.strictEqual(yield* timeoutOf({ conn: {} }), 4_000)
      assert.strictEqual(yield* timeoutOf({ poolTimeout: 7_000, conn: { readTimeout: 2_000 } }), 7_000)
    }))
})

describe("Pool: which failures cost the connection", () => {
  it.effect("a ProtocolError closes the connection; a reply error or any other failure returns it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const first = yield* pool.withConn((c) => Effect.succeed(c))
      const replied = yield* Effect.exit(
        pool.withConn(() => Effect.fail(new RedisReplyError({ code: "WRONGTYPE", message: "WRONGTYPE wrong kind" })))
      )
      assert.strictEqual(tagOf(replied), "RedisReplyError")
      yield* Effect.exit(pool.withConn(() => Effect.fail({ _tag: "Other" })))
      yield* Effect.exit(pool.withConn(() => Effect.fail(null)))
      assert.isFalse(first.closed)
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      const garbled = yield* Effect.exit(
        pool.withConn(() => Effect.fail(new ProtocolError({ reason: "malformed", message: "bad byte" })))
      )
      assert.strictEqual(tagOf(garbled), "ProtocolError")
      assert.isTrue(first.closed)
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
      assert.strictEqual(pool.statsUnsafe().idle, 0)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})

describe("Pool: what a checkout refuses from the idle list", () => {
  it.effect("a checkout after connMaxIdleTime closes the stale connection itself, between reaper ticks; one used since is kept", () =>
    Effect.gen(function*() {
      // The reaper runs once a minute: the checkout must not rely on it.
      const { dialer, pool } = yield* makePool({ poolSize: 2, connMaxIdleTime: 10_000, reaperFrequency: 60_000 })
      const [a, b] = yield* Effect.all([hold(pool), hold(pool)])
      yield* a!.release
      yield* b!.release
      yield* TestClock.adjust(11_000)
      // b did I/O just now (idle time counts from a connection's last I/O).
      b!.conn.usedAt += 11_000
      const first = yield* Effect.scoped(pool.get)
      assert.strictEqual(first, b!.conn)
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 0)
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope) // b again (LIFO): a stays idle
      const second = yield* Scope.provide(pool.get, scope)
      assert.notStrictEqual(second, a!.conn)
      assert.isTrue(a!.conn.closed)
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 1)
      assert.strictEqual(dialer.dials, 3)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("a checkout after connMaxLifetime closes the expired connection itself, between reaper ticks", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({
        poolSize: 1,
        connMaxLifetime: 10_000,
        connMaxLifetimeJitter: 0,
        connMaxIdleTime: 0,
        reaperFrequency: 60_000
      })
      const old = yield* pool.withConn((c) => Effect.succeed(c))
      yield* TestClock.adjust(9_999)
      assert.strictEqual(yield* pool.withConn((c) => Effect.succeed(c)), old)
      yield* TestClock.adjust(1)
      const next = yield* pool.withConn((c) => Effect.succeed(c))
      assert.notStrictEqual(next, old)
      assert.isTrue(old.closed)
      assert.strictEqual(pool.statsUnsafe().removals.lifetime, 1)
      assert.strictEqual(dialer.dials, 2)
    }))

  it.effect("idle for exactly connMaxIdleTime is too long: the checkout closes it, as the reaper would", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, connMaxIdleTime: 10_000, reaperFrequency: 60_000 })
      const old = yield* pool.withConn((c) => Effect.succeed(c))
      yield* TestClock.adjust(9_999)
      assert.strictEqual(yield* pool.withConn((c) => Effect.succeed(c)), old)
      // A checkout without I/O does not renew it (idle time counts from the connection's last I/O).
      yield* TestClock.adjust(1)
      assert.notStrictEqual(yield* pool.withConn((c) => Effect.succeed(c)), old)
      assert.isTrue(old.closed)
      assert.strictEqual(pool.statsUnsafe().removals.idleTime, 1)
    }))

  it.effect("an idle connection that has replies pending is closed at checkout, never handed out", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const stale = yield* pool.withConn((c) => Effect.succeed(c))
      stale.pending = 1
      const next = yield* pool.withConn((c) => Effect.succeed(c))
      assert.notStrictEqual(next, stale)
      assert.isTrue(stale.closed)
      assert.strictEqual(pool.statsUnsafe().removals.unhealthy, 1)
    }))
})
