/**
 * Property tests: random interleavings of exclusive and shared checkouts,
 * returns, removals, interruptions, broken connections, late replies, dial
 * failures and stalls, and `TestClock` advances (so timeouts, idle times and
 * the reaper fire), checking the pool's invariants after every step and after
 * close.
 */
import { describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { implOf } from "../src/internal/pool.ts"
import * as Pool from "../src/Pool.ts"
import { type FakeConn, makeDialer } from "./support/FakeConn.ts"

type Op =
  | { readonly _tag: "get" }
  | { readonly _tag: "put"; readonly i: number }
  | { readonly _tag: "remove"; readonly i: number }
  | { readonly _tag: "interrupt"; readonly i: number }
  | { readonly _tag: "shared" }
  | { readonly _tag: "sharedDone"; readonly i: number }
  | { readonly _tag: "break"; readonly i: number }
  | { readonly _tag: "pending"; readonly i: number }
  | { readonly _tag: "settle" }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "dialMode"; readonly mode: "ok" | "fail" | "block" }
  | { readonly _tag: "unblock" }
  | { readonly _tag: "next" }

const index = fc.nat({ max: 50 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ _tag: "get" as const }), weight: 6 },
  { arbitrary: index.map((i) => ({ _tag: "put" as const, i })), weight: 4 },
  { arbitrary: index.map((i) => ({ _tag: "remove" as const, i })), weight: 1 },
  { arbitrary: index.map((i) => ({ _tag: "interrupt" as const, i })), weight: 2 },
  { arbitrary: fc.constant({ _tag: "shared" as const }), weight: 4 },
  { arbitrary: index.map((i) => ({ _tag: "sharedDone" as const, i })), weight: 3 },
  { arbitrary: index.map((i) => ({ _tag: "break" as const, i })), weight: 1 },
  { arbitrary: index.map((i) => ({ _tag: "pending" as const, i })), weight: 1 },
  { arbitrary: fc.constant({ _tag: "settle" as const }), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 3_000 }).map((millis) => ({ _tag: "advance" as const, millis })), weight: 3 },
  {
    arbitrary: fc.constantFrom("ok" as const, "fail" as const, "block" as const).map((mode) => ({
      _tag: "dialMode" as const,
      mode
    })),
    weight: 1
  },
  { arbitrary: fc.constant({ _tag: "unblock" as const }), weight: 1 },
  { arbitrary: fc.constant({ _tag: "next" as const }), weight: 2 }
)

const config = fc.record({
  poolSize: fc.integer({ min: 1, max: 4 }),
  minIdleConns: fc.integer({ min: 0, max: 2 }),
  maxIdleConns: fc.constantFrom(0, 1, 3),
  maxActiveConns: fc.constantFrom(0, 0, 1, 2),
  maxInFlight: fc.integer({ min: 1, max: 3 }),
  sharedGrowAt: fc.integer({ min: 1, max: 3 }),
  poolFifo: fc.boolean(),
  connMaxIdleTime: fc.constantFrom(0, 2_000, 10_000)
})

interface Holder {
  readonly fiber: Fiber.Fiber<void, unknown>
  readonly release: Deferred.Deferred<void>
  conn: FakeConn | undefined
  removed: boolean
}

const spin = Effect.gen(function*() {
  for (let i = 0; i < 40; i++) yield* Effect.yieldNow
})

const fail = (message: string): never => {
  throw new Error(message)
}

type Config = typeof config extends fc.Arbitrary<infer T> ? T : never

const stats = { gets: 0, shared: 0, next: 0 }

const program = (cfg: Config, ops: ReadonlyArray<readonly [Op, number | "settle"]>) =>
  Effect.gen(function*() {
    const dialer = makeDialer()
    let gate = yield* Deferred.make<void>()
    const scope = yield* Scope.make()
    const pool = yield* Scope.provide(
      Pool.make<FakeConn>({
        ...cfg,
        minIdleConns: Math.min(cfg.minIdleConns, cfg.poolSize),
        maxIdleConns: cfg.maxIdleConns === 0 ? 0 : Math.max(cfg.maxIdleConns, Math.min(cfg.minIdleConns, cfg.poolSize)),
        dial: dialer.dial,
        poolTimeout: 1_000,
        dialTimeout: 2_500,
        drainTimeout: 500,
        closeTimeout: 1_000,
        breakerThreshold: 3,
        probeBackoffMin: 500,
        probeBackoffMax: 2_000
      }),
      scope
    )
    const impl = implOf<FakeConn>(pool)
    const holders: Array<Holder> = []
    const sharedCallers: Array<{ fiber: Fiber.Fiber<void, unknown>; done: Deferred.Deferred<void> }> = []

    const live = () => holders.filter((h) => h.fiber.pollUnsafe() === undefined)
    const holding = () => live().filter((h) => h.conn !== undefined && !h.removed)

    const check = (step: string) => {
      const held = holding()
      const heldConns = new Set(held.map((h) => h.conn!))
      const idle = impl.idle.entries.map((e) => e.conn)
      const shared = impl.shared.entries.map((e) => e.conn)
      const at = `after ${step}`
      if (impl.turns.taken !== impl.inUse + impl.shared.entries.length + impl.draining + impl.dialing) {
        fail(
          `${at}: turns ${impl.turns.taken} != exclusive ${impl.inUse} + shared ${impl.shared.entries.length} + draining ${impl.draining} + dialing ${impl.dialing}`
        )
      }
      if (impl.turns.taken > cfg.poolSize) fail(`${at}: ${impl.turns.taken} turns of ${cfg.poolSize}`)
      if (held.length !== impl.inUse) fail(`${at}: test holds ${held.length}, pool counts ${impl.inUse} checked out`)
      if (heldConns.size !== held.length) fail(`${at}: one connection checked out twice`)
      for (const conn of idle) if (heldConns.has(conn)) fail(`${at}: connection ${conn.id} idle and checked out`)
      for (const conn of shared) {
        if (heldConns.has(conn)) fail(`${at}: connection ${conn.id} shared and checked out`)
        if (idle.includes(conn)) fail(`${at}: connection ${conn.id} shared and idle`)
      }
      const total = impl.entries.size
      if (total !== idle.length + impl.inUse + shared.length + impl.draining) {
        fail(`${at}: total ${total} != idle ${idle.length} + exclusive ${impl.inUse} + shared ${shared.length} + draining ${impl.draining}`)
      }
      if (total + impl.dialing > cfg.poolSize) fail(`${at}: ${total} connections + ${impl.dialing} dials > poolSize`)
      for (const conn of dialer.conns) {
        if (conn.closed === impl.entries.has(conn)) {
          fail(`${at}: connection ${conn.id} closed=${conn.closed} but in pool=${impl.entries.has(conn)}`)
        }
      }
      if (impl.shared.inFlight !== impl.shared.entries.reduce((n, e) => n + e.inFlight, 0)) fail(`${at}: shared in-flight count`)
    }

    for (const [n, [o, settle]] of ops.entries()) {
      switch (o._tag) {
        case "get": {
          const release = yield* Deferred.make<void>()
          const holder: Holder = { fiber: undefined as never, release, conn: undefined, removed: false }
          const fiber = yield* Effect.forkChild(
            Effect.scoped(Effect.gen(function*() {
              const conn = yield* pool.get
              holder.conn = conn
              yield* Deferred.await(release)
            })).pipe(Effect.ignore)
          )
          ;(holder as { fiber: Fiber.Fiber<void, unknown> }).fiber = fiber
          holders.push(holder)
          break
        }
        case "put": {
          const held = holding()
          if (held.length > 0) yield* Deferred.succeed(held[o.i % held.length]!.release, undefined)
          break
        }
        case "remove": {
          const held = holding()
          if (held.length > 0) {
            const h = held[o.i % held.length]!
            h.removed = true
            yield* pool.remove(h.conn!)
          }
          break
        }
        case "interrupt": {
          const fibers = [...live().map((h) => h.fiber), ...sharedCallers.map((s) => s.fiber)]
            .filter((f) => f.pollUnsafe() === undefined)
          if (fibers.length > 0) yield* Fiber.interrupt(fibers[o.i % fibers.length]!)
          break
        }
        case "shared": {
          const done = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(
            pool.withShared(() => Deferred.await(done)).pipe(Effect.ignore)
          )
          sharedCallers.push({ fiber, done })
          break
        }
        case "sharedDone": {
          const running = sharedCallers.filter((s) => s.fiber.pollUnsafe() === undefined)
          if (running.length > 0) yield* Deferred.succeed(running[o.i % running.length]!.done, undefined)
          break
        }
        case "break": {
          const open = dialer.conns.filter((c) => !c.closed)
          if (open.length > 0) open[o.i % open.length]!.isHealthy = false
          break
        }
        case "pending": {
          const held = holding()
          if (held.length > 0) held[o.i % held.length]!.conn!.pending = 1
          break
        }
        case "settle": {
          for (const conn of dialer.conns) if (conn.pending > 0) conn.settle()
          break
        }
        case "advance": {
          yield* TestClock.adjust(o.millis)
          break
        }
        case "dialMode": {
          dialer.mode = o.mode === "block" ? { _tag: "block", gate } : { _tag: o.mode }
          break
        }
        case "next": {
          // The order of the idle list: with a turn free, nobody queued and every idle connection
          // healthy, in sync and far from its idle limit, a checkout takes the newest one (LIFO) or,
          // with poolFifo, the oldest.
          const now = impl.now()
          const usable = impl.idle.entries.every((e) =>
            e.conn.isHealthy && e.conn.pending === 0 &&
            (cfg.connMaxIdleTime === 0 || Math.max(e.lastUsed, e.conn.usedAt) + cfg.connMaxIdleTime > now + 1_000)
          )
          if (impl.closed || impl.idle.length === 0 || !usable) break
          if (impl.turns.taken >= cfg.poolSize || impl.turns.queue.size > 0) break
          const idle = impl.idle.entries
          const expected = cfg.poolFifo ? idle[0]!.conn : idle[idle.length - 1]!.conn
          const got = yield* pool.withConn((conn) => Effect.succeed(conn))
          if (got !== expected) {
            fail(`step ${n}: poolFifo ${cfg.poolFifo} handed out connection ${got.id}, not ${expected.id}`)
          }
          stats.next++
          break
        }
        case "unblock": {
          yield* Deferred.succeed(gate, undefined)
          gate = yield* Deferred.make<void>()
          if (dialer.mode._tag === "block") dialer.mode = { _tag: "ok" }
          break
        }
      }
      // Some steps follow each other with no pause, so that interruptions and
      // returns land while hand-offs are still scheduled; the invariants are
      // checked once things settle.
      if (settle === "settle") {
        yield* spin
        check(`step ${n} ${JSON.stringify(o)}`)
      } else {
        for (let i = 0; i < settle; i++) yield* Effect.yieldNow
      }
    }
    yield* spin
    check("the last step")
    stats.gets += holders.filter((h) => h.conn !== undefined).length
    stats.shared += sharedCallers.length

    // Close: queued callers fail, checked-out connections get closeTimeout, then everything is closed.
    yield* Deferred.succeed(gate, undefined)
    const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
    yield* spin
    yield* TestClock.adjust(1_000)
    yield* spin
    yield* Fiber.join(closing)
    yield* spin
    for (const h of live()) {
      if (h.conn === undefined) fail(`after close: a caller is still waiting for a connection`)
    }
    for (const s of sharedCallers) yield* Deferred.succeed(s.done, undefined)
    for (const h of holders) yield* Deferred.succeed(h.release, undefined)
    yield* spin
    for (const conn of dialer.conns) if (!conn.closed) fail(`after close: connection ${conn.id} still open`)
    if (dialer.open !== 0) fail(`after close: ${dialer.open} connections open`)
    if (impl.entries.size !== 0) fail(`after close: ${impl.entries.size} connections in the pool`)
    for (const h of holders) if (h.fiber.pollUnsafe() === undefined) fail(`after close: a holder never finished`)
    for (const s of sharedCallers) if (s.fiber.pollUnsafe() === undefined) fail(`after close: a shared caller hung`)
  })

describe("Pool invariants under random interleavings", () => {
  it("turns equal checkouts, no connection is in two places, total ≤ poolSize, close closes all", async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(fc.tuple(op, fc.constantFrom(0, 1, 2, 3, "settle" as const, "settle" as const)), {
        minLength: 1,
        maxLength: 40
      }), async (cfg, ops) => {
        // A run that hangs is a failure too (a waiter nobody wakes): bound it in real time.
        let timer: ReturnType<typeof setTimeout> | undefined
        const controller = new AbortController()
        try {
          await Promise.race([
            Effect.runPromise(
              Effect.scoped(program(cfg, ops)).pipe(Effect.provide(TestClock.layer())),
              { signal: controller.signal }
            ),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error("the run hung")), 5_000)
            })
          ])
        } finally {
          clearTimeout(timer)
          controller.abort()
        }
      }),
      {
        numRuns: Number(process.env["POOL_PROPERTY_RUNS"] ?? 400),
        // Mutation runs fix the seed, so that a mutant is caught (or not) the same way every time.
        ...(process.env["POOL_PROPERTY_SEED"] === undefined ? {} : { seed: Number(process.env["POOL_PROPERTY_SEED"]) })
      }
    )
    // The runs did real work (not only empty pools and failed dials).
    if (stats.gets === 0 || stats.shared === 0 || stats.next === 0) {
      throw new Error(`no checkouts happened: ${JSON.stringify(stats)}`)
    }
  }, 120_000)
})
