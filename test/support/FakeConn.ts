/**
 * A connection stand-in for the pool's own tests and benchmark: no socket, just
 * the `Poolable` surface, and a dialer that can block, fail, die or count.
 * (The pool is generic over what it pools; Redis itself is exercised by the
 * real-server tests.)
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { ConnectionError } from "../../src/Errors.ts"
import * as Pool from "../../src/Pool.ts"

export class FakeConn implements Pool.Poolable {
  readonly id: number
  isHealthy = true
  readonly createdAt: number
  usedAt: number
  pending = 0
  closed = false
  private idleWaiters: Array<() => void> = []
  constructor(id: number, now: number) {
    this.id = id
    this.createdAt = now
    this.usedAt = now
  }
  get awaitIdle(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      if (this.pending === 0 || this.closed) return resume(Effect.void)
      this.idleWaiters.push(() => resume(Effect.void))
    })
  }
  settle(): void {
    this.pending = 0
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
  close(): void {
    this.closed = true
    this.isHealthy = false
    this.settle()
  }
}

export type DialMode =
  | { readonly _tag: "ok" }
  | { readonly _tag: "fail" }
  | { readonly _tag: "die" }
  | { readonly _tag: "block"; readonly gate: Deferred.Deferred<void> }

export interface Dialer {
  mode: DialMode
  dials: number
  failures: number
  open: number
  readonly conns: Array<FakeConn>
  readonly dial: Effect.Effect<FakeConn, ConnectionError, Scope.Scope>
}

/** A dialer whose connections take their times from Effect's `Clock` (so `TestClock` drives them). */
export const makeDialer = (): Dialer => {
  const self: Dialer = {
    mode: { _tag: "ok" },
    dials: 0,
    failures: 0,
    open: 0,
    conns: [],
    dial: Effect.suspend(() => {
      self.dials++
      const mode = self.mode
      const create = Effect.acquireRelease(
        Effect.clockWith((clock) => {
          const conn = new FakeConn(self.dials, clock.currentTimeMillisUnsafe())
          self.conns.push(conn)
          self.open++
          return Effect.succeed(conn)
        }),
        (conn) =>
          Effect.sync(() => {
            conn.close()
            self.open--
          })
      )
      switch (mode._tag) {
        case "ok":
          return create
        case "fail":
          self.failures++
          return Effect.fail(
            new ConnectionError({ reason: "refused", message: "dial failed: connection refused", address: "fake:0" })
          )
        case "die":
          return Effect.die(new Error("dialer panicked"))
        case "block":
          return Effect.flatMap(Deferred.await(mode.gate), () => create)
      }
    })
  }
  return self
}

/** Builds a pool of fake connections in a scope the test can close itself. */
export const makePool = (options: Omit<Pool.PoolOptions<FakeConn>, "dial">, dialer = makeDialer()) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const pool = yield* Scope.provide(Pool.make({ ...options, dial: dialer.dial }), scope)
    return { pool, dialer, scope, close: Scope.close(scope, Exit.void) }
  })

/** An exclusive checkout held in its own scope until `release`. */
export const hold = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const conn = yield* Scope.provide(pool.get, scope)
    return { conn, release: Scope.close(scope, Exit.void) }
  })

/** A shared caller that stays on its connection until `done` completes (`finish` completes it and joins). */
export const sharedCaller = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const on = yield* Deferred.make<FakeConn>()
    const fiber = yield* Effect.forkChild(
      pool.withShared((conn) => Effect.andThen(Deferred.succeed(on, conn), Deferred.await(done)))
    )
    return { done, on, fiber, finish: Effect.andThen(Deferred.succeed(done, undefined), Fiber.join(fiber)) }
  })
