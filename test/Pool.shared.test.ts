import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as TestClock from "effect/testing/TestClock"
import { implOf } from "../src/internal/pool.ts"
import { ConnectionError } from "../src/Errors.ts"
import * as Pool from "../src/Pool.ts"
import { type FakeConn, makeDialer, makePool, sharedCaller } from "./support/FakeConn.ts"
import { failure, spin, tagOf, until } from "./support/effects.ts"





describe("Pool: shared (pipelined) checkout", () => {
  it.effect("callers share one connection until sharedGrowAt, then the set grows by one", () =>
    Effect.gen(function*() {
      const { dialer, pool } = yield* makePool({ poolSize: 4, sharedGrowAt: 2, maxInFlight: 4 })
      const a = yield* sharedCaller(pool)
      const first = yield* Deferred.await(a.on)
      const b = yield* sharedCaller(pool)
      assert.strictEqual(yield* Deferred.await(b.on), first)
      // first has sharedGrowAt callers: the set grows (the fake dial completes at
      // once, so c already runs on the new connection, the least loaded one).
      const c = yield* sharedCaller(pool)
      const second = yield* Deferred.await(c.on)
      assert.notStrictEqual(second, first)
      assert.strictEqual(pool.statsUnsafe().shared, 2)
      const d = yield* sharedCaller(pool)
      assert.strictEqual(yield* Deferred.await(d.on), second)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.sharedInFlight, 4)
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.turnsInUse, 2)
      assert.strictEqual(dialer.dials, 2)
      yield* Effect.forEach([a, b, c, d], (x) => x.finish)
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 0)
    }))

  it.effect("while the set grows by a slow dial, callers keep running on the busy connection", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const { pool } = yield* makePool({ poolSize: 3, sharedGrowAt: 1, maxInFlight: 8 }, dialer)
      const a = yield* sharedCaller(pool)
      const first = yield* Deferred.await(a.on)
      const gate = yield* Deferred.make<void>()
      dialer.mode = { _tag: "block", gate }
      const others = yield* Effect.forEach(Array.from({ length: 3 }), () => sharedCaller(pool))
      for (const o of others) assert.strictEqual(yield* Deferred.await(o.on), first)
      assert.strictEqual(dialer.dials, 2) // one growth dial at a time
      yield* Deferred.succeed(gate, undefined)
      assert.isTrue(yield* until(() => pool.statsUnsafe().shared === 2))
      const next = yield* sharedCaller(pool)
      assert.notStrictEqual(yield* Deferred.await(next.on), first)
      yield* Effect.forEach([a, ...others, next], (x) => x.finish)
    }))

  it.effect("maxInFlight bounds callers per connection; beyond it they wait, then time out under poolTimeout", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 2, poolTimeout: 1_000 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const b = yield* sharedCaller(pool)
      yield* Deferred.await(b.on)
      const c = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* a.finish
      assert.strictEqual(yield* Deferred.await(c.on), conn)
      const late = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(1_000)
      assert.strictEqual(tagOf(yield* Fiber.join(late)), "PoolTimeoutError")
      assert.strictEqual(pool.statsUnsafe().timeouts, 1)
      yield* Effect.forEach([b, c], (x) => x.finish)
    }))

  it.effect("an exclusive caller never gets a shared connection; its wait retires one, which it then gets", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const exclusive = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* spin()
      assert.isUndefined(exclusive.pollUnsafe()) // the connection still has a shared caller
      // The retiring connection takes no new shared callers.
      const b = yield* sharedCaller(pool)
      yield* spin()
      assert.isFalse(Deferred.isDoneUnsafe(b.on))
      yield* a.finish
      assert.strictEqual(yield* Fiber.join(exclusive), conn)
      // Then the shared caller gets it back in shared mode.
      assert.strictEqual(yield* Deferred.await(b.on), conn)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.inUse, 0)
      assert.strictEqual(stats.shared, 1)
      assert.strictEqual(stats.total, 1)
      yield* b.finish
    }))

  it.effect("exclusive callers queued behind exclusive holders leave the last shared connection to shared callers", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const a = yield* sharedCaller(pool)
      const shared = yield* Deferred.await(a.on)
      // The other turn is held by an exclusive checkout (a blocking command, say).
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(pool.withConn(() => Deferred.await(release)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().inUse === 1))
      // A second exclusive caller queues: that turn will come back, so the busy shared connection stays.
      const waiter = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const b = yield* sharedCaller(pool)
      assert.strictEqual(yield* Deferred.await(b.on), shared)
      // When the holder returns, the waiter gets its turn, and the shared callers never lost theirs.
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      assert.notStrictEqual(yield* Fiber.join(waiter), shared)
      yield* a.finish
      yield* b.finish
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, stats.shared)
      assert.strictEqual(stats.inUse, 0)
    }))

  it.effect("a shared caller never gets a connection in exclusive use; poolSize bounds both modes", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const scope = yield* Scope.make()
      const mine = yield* Scope.provide(pool.get, scope)
      const a = yield* sharedCaller(pool)
      const shared = yield* Deferred.await(a.on)
      assert.notStrictEqual(shared, mine)
      const third = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      assert.strictEqual(pool.statsUnsafe().total, 2)
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(third)
      yield* a.finish
      assert.strictEqual(pool.statsUnsafe().total, 2)
    }))

  it.effect("the reaper moves a shared connection unused for sharedIdleTime back to the idle list", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedIdleTime: 5_000, connMaxIdleTime: 0 })
      yield* pool.withShared(() => Effect.void)
      assert.strictEqual(pool.statsUnsafe().shared, 1)
      yield* TestClock.adjust(6_000)
      assert.isTrue(yield* until(() => pool.statsUnsafe().shared === 0))
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("a shared connection that turns unhealthy is closed; the next caller gets a new one", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const first = yield* pool.withShared((conn) => Effect.succeed(conn))
      first.isHealthy = false
      const exit = yield* Effect.exit(pool.withShared((conn) => Effect.succeed(conn)))
      // The caller that found it broken still ran (the connection reports errors itself); it is dropped on return.
      assert.isTrue(Exit.isSuccess(exit))
      const next = yield* pool.withShared((conn) => Effect.succeed(conn))
      assert.notStrictEqual(next, first)
      assert.isTrue(first.closed)
      assert.strictEqual(pool.statsUnsafe().removals.unhealthy, 1)
    }))

  it.effect("a ConnectionError from a shared caller removes the connection", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const { ConnectionError } = yield* Effect.promise(() => import("../src/Errors.ts"))
      const conn = yield* pool.withShared((c) => Effect.succeed(c))
      const exit = yield* Effect.exit(
        pool.withShared(() => Effect.fail(new ConnectionError({ reason: "reset", message: "reset" })))
      )
      assert.strictEqual(tagOf(exit), "ConnectionError")
      assert.isTrue(yield* until(() => conn.closed))
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})

describe("Pool: return and close", () => {
  it.effect("a connection returned with replies pending keeps its turn until they land, then goes idle", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, drainTimeout: 1_000 })
      const conn = yield* pool.withConn((c) => Effect.sync(() => { c.pending = 2 }).pipe(Effect.as(c)))
      let stats = pool.statsUnsafe()
      assert.strictEqual(stats.draining, 1)
      assert.strictEqual(stats.turnsInUse, 1)
      conn.settle()
      assert.isTrue(yield* until(() => pool.statsUnsafe().idle === 1))
      stats = pool.statsUnsafe()
      assert.strictEqual(stats.draining, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.isFalse(conn.closed)
      // And one whose replies never come is closed after drainTimeout.
      yield* pool.withConn((c) => Effect.sync(() => { c.pending = 1 }))
      yield* TestClock.adjust(1_000)
      assert.isTrue(yield* until(() => conn.closed))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
    }))

  it.effect("a checkout interrupted in flight returns its connection; a defect removes it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const fiber = yield* Effect.forkChild(pool.withConn(() => Effect.never))
      assert.isTrue(yield* until(() => pool.statsUnsafe().inUse === 1))
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(pool.statsUnsafe().idle, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      const died = yield* Effect.exit(pool.withConn(() => Effect.die("boom")))
      assert.isTrue(Exit.isFailure(died))
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
      const thrown = yield* Effect.exit(pool.withConn((): Effect.Effect<void> => {
        throw new Error("thrown")
      }))
      assert.isTrue(Exit.isFailure(thrown))
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("get into an already closed scope returns the connection at once and leaks no turn", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      yield* pool.withConn(() => Effect.void)
      const scope = yield* Scope.make()
      yield* Scope.close(scope, Exit.void)
      yield* Scope.provide(pool.get, scope)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      assert.strictEqual(pool.statsUnsafe().idle, 1)
    }))

  it.effect("maxIdleConns closes connections returned beyond it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 5, maxIdleConns: 2 })
      const scope = yield* Scope.make()
      yield* Effect.forEach(Array.from({ length: 4 }), () => Scope.provide(pool.get, scope))
      yield* Scope.close(scope, Exit.void)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.idle, 2)
      assert.strictEqual(stats.total, 2)
      assert.strictEqual(stats.removals.maxIdle, 2)
    }))

  it.effect("closing fails queued callers, waits for checked-out connections, then closes all", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 1, closeTimeout: 60_000 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const waiter = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const closing = yield* Effect.forkChild(close)
      assert.strictEqual(tagOf(yield* Fiber.join(waiter)), "PoolClosedError")
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withConn(() => Effect.void))), "PoolClosedError")
      assert.strictEqual(tagOf(yield* Effect.exit(pool.withShared(() => Effect.void))), "PoolClosedError")
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      assert.isFalse(held.closed) // still in use by its holder
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(closing)
      assert.isTrue(held.closed)
      assert.strictEqual(dialer.open, 0)
      assert.strictEqual(pool.statsUnsafe().total, 0)
      // Returned during the close, it is counted as closed by it, and its turn is gone.
      assert.strictEqual(pool.statsUnsafe().removals.closed, 1)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("closeTimeout bounds the wait for a checkout that is never returned", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 1, closeTimeout: 5_000 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      yield* TestClock.adjust(5_000)
      yield* Fiber.join(closing)
      assert.isTrue(held.closed)
      assert.strictEqual(dialer.open, 0)
      yield* Scope.close(scope, Exit.void) // a late return after close is harmless
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))
})

describe("Pool: metrics and keyed pools", () => {
  it.effect("metrics carry OpenTelemetry's names", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, name: "metrics-test", poolTimeout: 100 })
      yield* pool.withConn(() => Effect.void)
      // One wait that succeeds, one that times out.
      const scope = yield* Scope.make()
      yield* Scope.provide(pool.get, scope)
      const waiter = yield* Effect.forkChild(pool.withConn(() => Effect.void))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(50)
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(waiter)
      const scope2 = yield* Scope.make()
      yield* Scope.provide(pool.get, scope2)
      const late = yield* Effect.forkChild(Effect.exit(pool.withConn(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* TestClock.adjust(100)
      assert.strictEqual(tagOf(yield* Fiber.join(late)), "PoolTimeoutError")
      yield* Scope.close(scope2, Exit.void)
      yield* TestClock.adjust(1_000) // a reaper tick refreshes the gauges
      const snapshot = yield* Metric.snapshot
      const names = new Set(
        snapshot
          .filter((m) => m.attributes?.["db.client.connection.pool.name"] === "metrics-test")
          .map((m) => m.id)
      )
      for (
        const name of [
          "db.client.connection.count",
          "db.client.connection.create_time",
          "db.client.connection.pending_requests",
          "db.client.connection.wait_time",
          "db.client.connection.timeouts"
        ]
      ) assert.isTrue(names.has(name), name)
      const idle = snapshot.find((m) =>
        m.id === "db.client.connection.count" &&
        m.attributes?.["db.client.connection.pool.name"] === "metrics-test" &&
        m.attributes?.["db.client.connection.state"] === "idle"
      )
      assert.deepStrictEqual((idle?.state as { value: number } | undefined)?.value, 1)
      const timeouts = snapshot.find((m) =>
        m.id === "db.client.connection.timeouts" &&
        m.attributes?.["db.client.connection.pool.name"] === "metrics-test"
      )
      assert.deepStrictEqual((timeouts?.state as { count: number } | undefined)?.count, 1)
      assert.strictEqual(pool.statsUnsafe().waitCount, 1)
      assert.strictEqual(pool.statsUnsafe().waitDurationMillis, 50)
    }))

  it.effect("keyed pools: one pool per key, made on first use, closed with the parent scope", () =>
    Effect.gen(function*() {
      const dialers = new Map<string, ReturnType<typeof makeDialer>>()
      const scope = yield* Scope.make()
      const keyed = yield* Scope.provide(
        Pool.makeKeyed<string, FakeConn>({
          options: (key) => {
            const dialer = makeDialer()
            dialers.set(key, dialer)
            return { dial: dialer.dial, poolSize: 2 }
          }
        }),
        scope
      )
      const a = yield* keyed.get("a:6379")
      const a2 = yield* keyed.get("a:6379")
      const b = yield* keyed.get("b:6379")
      assert.strictEqual(a, a2)
      assert.notStrictEqual(a, b)
      yield* a.withConn(() => Effect.void)
      yield* b.withConn(() => Effect.void)
      assert.deepStrictEqual([...(yield* keyed.keys)].sort(), ["a:6379", "b:6379"])
      assert.strictEqual(dialers.size, 2)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(dialers.get("a:6379")!.open, 0)
      assert.strictEqual(dialers.get("b:6379")!.open, 0)
      assert.isTrue(a.statsUnsafe().closed)
      const invalid = yield* Effect.exit(
        Effect.scoped(Effect.flatMap(
          Pool.makeKeyed<string, FakeConn>({ options: () => ({ dial: makeDialer().dial, poolSize: -1 }) }),
          (k) => k.get("x")
        ))
      )
      assert.strictEqual(tagOf(invalid), "InvalidArgumentError")
    }))

  it.effect("keyed pools: a pool is never closed while a caller holds it, and expires once nobody has for idleTimeToLive", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const keyed = yield* Pool.makeKeyed<string, FakeConn>({
        options: () => ({ dial: dialer.dial, poolSize: 2 }),
        idleTimeToLive: 1_000
      })
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // A caller holds the pool and works in it well past idleTimeToLive.
      const holder = yield* Effect.forkChild(keyed.withPool("a:6379", (pool) =>
        Effect.gen(function*() {
          yield* pool.withConn(() => Deferred.succeed(entered, undefined))
          yield* Deferred.await(release)
          return yield* Effect.exit(pool.withConn(() => Effect.succeed("still open")))
        })))
      yield* Deferred.await(entered)
      yield* TestClock.adjust(5_000)
      yield* Deferred.succeed(release, undefined)
      const late = yield* Fiber.join(holder)
      assert.deepStrictEqual(late, Exit.succeed("still open"))
      // The same pool through a scoped get, held across the deadline too.
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* keyed.get("a:6379")
        yield* TestClock.adjust(5_000)
        assert.isFalse(pool.statsUnsafe().closed)
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(pool.withConn(() => Effect.void))))
      }))
      // Nobody holds it now: after idleTimeToLive it is closed and forgotten, its connection with it.
      yield* TestClock.adjust(1_500)
      assert.isTrue(yield* until(() => dialer.open === 0))
      assert.deepStrictEqual(yield* keyed.keys, [])
    }))

  it.effect("keyed pools: invalidate forgets the pool at once but closes it only when its holder lets go", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      const keyed = yield* Pool.makeKeyed<string, FakeConn>({ options: () => ({ dial: dialer.dial, poolSize: 2 }) })
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* keyed.get("a:6379")
        yield* pool.withConn(() => Effect.void)
        yield* keyed.invalidate("a:6379")
        assert.deepStrictEqual(yield* keyed.keys, [])
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(pool.withConn(() => Effect.void))))
        assert.strictEqual(dialer.open, 1)
      }))
      assert.isTrue(yield* until(() => dialer.open === 0))
      const fresh = yield* keyed.withPool("a:6379", (pool) => Effect.succeed(pool.statsUnsafe().total))
      assert.strictEqual(fresh, 0)
    }))
})

describe("Pool: remove, close and warm-up off the common path", () => {
  it.effect("remove closes a shared connection and frees its turn; its caller's return is then harmless", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      yield* pool.remove(conn)
      assert.isTrue(conn.closed)
      let stats = pool.statsUnsafe()
      assert.strictEqual(stats.shared, 0)
      assert.strictEqual(stats.sharedInFlight, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.removals.error, 1)
      yield* a.finish
      stats = pool.statsUnsafe()
      assert.strictEqual(stats.sharedInFlight, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.total, 0)
      // Removing it again changes nothing.
      yield* pool.remove(conn)
      assert.strictEqual(pool.statsUnsafe().removals.error, 1)
    }))

  it.effect("remove closes a draining connection and frees its turn at once", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, drainTimeout: 60_000 })
      const conn = yield* pool.withConn((c) => Effect.sync(() => { c.pending = 1 }).pipe(Effect.as(c)))
      assert.strictEqual(pool.statsUnsafe().draining, 1)
      yield* pool.remove(conn)
      const stats = pool.statsUnsafe()
      assert.isTrue(conn.closed)
      assert.strictEqual(stats.draining, 0)
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.total, 0)
      assert.strictEqual(stats.removals.error, 1)
      // The next caller gets a turn and a new connection.
      const next = yield* pool.withConn((c) => Effect.succeed(c))
      assert.notStrictEqual(next, conn)
    }))

  it.effect("remove of a checked-out connection while the pool waits to close lets the close finish", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 2, closeTimeout: 600_000 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      yield* pool.remove(held)
      yield* Fiber.join(closing)
      assert.isTrue(held.closed)
      assert.strictEqual(dialer.open, 0)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("a shared caller returning while the pool waits to close: its connection closes and the close finishes", () =>
    Effect.gen(function*() {
      const { close, dialer, pool } = yield* makePool({ poolSize: 2, closeTimeout: 600_000 })
      const a = yield* sharedCaller(pool)
      const b = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      assert.strictEqual(yield* Deferred.await(b.on), conn)
      const closing = yield* Effect.forkChild(close)
      yield* spin()
      assert.isUndefined(closing.pollUnsafe())
      yield* a.finish
      yield* spin()
      // One caller is still on it: it stays open, and the close keeps waiting.
      assert.isFalse(conn.closed)
      assert.isUndefined(closing.pollUnsafe())
      yield* b.finish
      yield* Fiber.join(closing)
      assert.isTrue(conn.closed)
      assert.strictEqual(dialer.open, 0)
      assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
    }))

  it.effect("an interrupted shared waiter leaves the queue; the next free slot goes to the caller behind it", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1, maxInFlight: 1 })
      const a = yield* sharedCaller(pool)
      const conn = yield* Deferred.await(a.on)
      const gone = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      const next = yield* sharedCaller(pool)
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      yield* Fiber.interrupt(gone.fiber)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 1)
      yield* a.finish
      assert.strictEqual(yield* Deferred.await(next.on), conn)
      assert.isFalse(Deferred.isDoneUnsafe(gone.on))
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 1)
      yield* next.finish
      assert.strictEqual(pool.statsUnsafe().sharedInFlight, 0)
    }))

  it.effect("shared callers waiting for a first connection get the dial's ConnectionError", () =>
    Effect.gen(function*() {
      const dialer = makeDialer()
      dialer.mode = { _tag: "fail" }
      const { pool } = yield* makePool({ poolSize: 2, breakerThreshold: 100 }, dialer)
      const exit = yield* Effect.exit(pool.withShared(() => Effect.void))
      assert.strictEqual(tagOf(exit), "ConnectionError")
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.pendingWaiters, 0)
      assert.strictEqual(stats.dialing, 0)
      // The next shared caller dials again (the growth is not left pending).
      dialer.mode = { _tag: "ok" }
      yield* pool.withShared(() => Effect.void)
      assert.strictEqual(pool.statsUnsafe().shared, 1)
    }))

  it.effect("closing hands a caller waiting through the Semaphore interface its permits, so it does not wait forever", () =>
    Effect.gen(function*() {
      const { close, pool } = yield* makePool({ poolSize: 1 })
      yield* Semaphore.take(pool.turns, 1)
      const waiter = yield* Effect.forkChild(Semaphore.take(pool.turns, 1))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* close
      yield* Fiber.join(waiter)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
    }))

  it.effect("awaitWarm completes once minIdleConns are idle, fails with a refill's ConnectionError, and an interrupted caller leaves the others waiting", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dialer = makeDialer()
      dialer.mode = { _tag: "block", gate }
      const { pool } = yield* makePool({ poolSize: 4, minIdleConns: 2, maxConcurrentDials: 2 }, dialer)
      const impl = implOf<FakeConn>(pool)
      const left = yield* Effect.forkChild(impl.awaitWarm())
      const warm = yield* Effect.forkChild(impl.awaitWarm())
      assert.isTrue(yield* until(() => dialer.dials === 2))
      yield* spin()
      assert.isUndefined(warm.pollUnsafe())
      yield* Fiber.interrupt(left)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(warm)
      assert.strictEqual(pool.statsUnsafe().idle, 2)
      // Warm already: at once.
      yield* impl.awaitWarm()

      // A refill dial that fails while a caller waits.
      const fail = yield* Deferred.make<void>()
      const cold = yield* Pool.make<FakeConn>({
        poolSize: 4,
        minIdleConns: 2,
        dial: Effect.flatMap(
          Deferred.await(fail),
          () => Effect.fail(new ConnectionError({ reason: "refused", message: "refused", address: "fake:0" }))
        )
      })
      const waiting = yield* Effect.forkChild(Effect.exit(implOf<FakeConn>(cold).awaitWarm()))
      yield* spin()
      assert.isUndefined(waiting.pollUnsafe())
      yield* Deferred.succeed(fail, undefined)
      assert.strictEqual(tagOf(yield* Fiber.join(waiting)), "ConnectionError")
    }))
})

describe("Pool: the snapshot in a timeout", () => {
  it.effect("counts shared and draining connections as in use, and shared callers as waiting", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, maxInFlight: 1, poolTimeout: 1_000, drainTimeout: 60_000 })
      // One connection draining (its caller left replies pending), one shared and busy.
      yield* pool.withConn((c) => Effect.sync(() => { c.pending = 1 }))
      const a = yield* sharedCaller(pool)
      yield* Deferred.await(a.on)
      const b = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      const c = yield* Effect.forkChild(Effect.exit(pool.withShared(() => Effect.void)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 2))
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.draining, 1)
      assert.strictEqual(stats.shared, 1)
      assert.strictEqual(stats.inUse, 0)
      yield* TestClock.adjust(1_000)
      const first = failure(yield* Fiber.join(b)) as { _tag: string; pool: { inUse: number; pending: number; total: number; max: number } }
      const second = failure(yield* Fiber.join(c)) as typeof first
      assert.strictEqual(first._tag, "PoolTimeoutError")
      assert.strictEqual(second._tag, "PoolTimeoutError")
      for (const error of [first, second]) {
        assert.strictEqual(error.pool.inUse, 2)
        assert.strictEqual(error.pool.total, 2)
        assert.strictEqual(error.pool.max, 2)
      }
      // The first to time out still saw the other waiting.
      assert.strictEqual(first.pool.pending, 1)
      assert.strictEqual(second.pool.pending, 0)
      yield* a.finish
    }))
})

describe("Pool: waiters who leave, and whom an exclusive caller displaces", () => {
  it.effect("an interrupted exclusive waiter leaves the queue: the turn it waited for goes back to the pool", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 1 })
      const scope = yield* Scope.make()
      const held = yield* Scope.provide(pool.get, scope)
      const waiter = yield* Effect.forkChild(pool.withConn((c) => Effect.succeed(c)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(pool.statsUnsafe().pendingWaiters, 0)
      yield* Scope.close(scope, Exit.void)
      const stats = pool.statsUnsafe()
      assert.strictEqual(stats.turnsInUse, 0)
      assert.strictEqual(stats.idle, 1)
      assert.strictEqual(stats.inUse, 0)
      // A shared caller is not held back by an exclusive waiter that left.
      assert.strictEqual(yield* pool.withShared((c) => Effect.succeed(c)), held)
    }))

  it.effect("an exclusive caller retires the least busy shared connection and gets it when its last caller leaves", () =>
    Effect.gen(function*() {
      const { pool } = yield* makePool({ poolSize: 2, sharedGrowAt: 2, maxInFlight: 4 })
      const a = yield* sharedCaller(pool)
      const busy = yield* Deferred.await(a.on)
      const b = yield* sharedCaller(pool)
      assert.strictEqual(yield* Deferred.await(b.on), busy)
      const c = yield* sharedCaller(pool)
      const quiet = yield* Deferred.await(c.on)
      assert.notStrictEqual(quiet, busy)
      const exclusive = yield* Effect.forkChild(pool.withConn((conn) => Effect.succeed(conn)))
      assert.isTrue(yield* until(() => pool.statsUnsafe().pendingWaiters === 1))
      yield* c.finish
      assert.strictEqual(yield* Fiber.join(exclusive), quiet)
      yield* a.finish
      yield* b.finish
    }))
})
