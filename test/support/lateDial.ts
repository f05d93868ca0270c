/**
 * Dials that end while the pool closes. A dial completes inside the close when
 * something the close does releases it: here the close of an idle connection
 * whose finalizer opens the gate the dial waits on (the fake dialer's `block`),
 * so the dial's bookkeeping runs after the pool is marked closed and before its
 * background fibers are interrupted, every time.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Pool from "../../src/Pool.ts"
import type { Dialer, FakeConn } from "./FakeConn.ts"

/**
 * A pool over `dialer` whose first connection opens `gate` when it is closed: a dial blocked on `gate`
 * (`dialer.mode = { _tag: "block", gate }`) then completes inside the pool's close.
 */
export const makeLatePool = (
  options: Omit<Pool.PoolOptions<FakeConn>, "dial">,
  dialer: Dialer,
  gate: Deferred.Deferred<void>
) =>
  Effect.gen(function*() {
    let first = true
    const dial = Effect.flatMap(dialer.dial, (conn) => {
      if (!first) return Effect.succeed(conn)
      first = false
      return Effect.as(Effect.addFinalizer(() => Deferred.succeed(gate, undefined)), conn)
    })
    const scope = yield* Scope.make()
    const pool = yield* Scope.provide(Pool.make({ ...options, dial }), scope)
    return { pool, close: Scope.close(scope, Exit.void) }
  })

/** An exclusive checkout held in its own scope until `release`. */
export const hold = (pool: Pool.Pool<FakeConn>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const conn = yield* Scope.provide(pool.get, scope)
    return { conn, release: Scope.close(scope, Exit.void) }
  })
