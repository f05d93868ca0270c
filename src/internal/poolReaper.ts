/**
 * The reaper (go-redis's `reaper` goroutine, without its `closedCh`): a fiber on
 * `Schedule.spaced(reaperFrequency)` in the pool's background scope, so closing
 * the pool interrupts it. Each tick closes idle connections past their lifetime
 * (`connMaxLifetime` ± jitter) or their idle time (`connMaxIdleTime`, counted
 * from the connection's last I/O), retires shared connections unused for
 * `sharedIdleTime`, and refills `minIdleConns` (at most `maxConcurrentDials`
 * dials at once). Times come from Effect's `Clock`, so `TestClock` drives it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { Poolable } from "../Pool.ts"
import { checkMinIdle } from "./poolDial.ts"
import type { Entry } from "./poolEntry.ts"
import type { PoolImpl } from "./pool.ts"

/** One tick of the reaper. */
export const reap = <C extends Poolable>(pool: PoolImpl<C>): void => {
  if (pool.closed) return
  const now = pool.approxNow = pool.now()
  const { connMaxIdleTime, sharedIdleTime } = pool.options
  const idleFor = (entry: Entry<C>) => now - Math.max(entry.lastUsed, entry.conn.usedAt)
  const dropped = pool.idle.retain((entry) =>
    now < entry.expiresAt && !(connMaxIdleTime > 0 && idleFor(entry) >= connMaxIdleTime) && entry.conn.isHealthy
  )
  for (const entry of dropped) {
    pool.closeEntry(
      entry,
      now >= entry.expiresAt
        ? "lifetime"
        : connMaxIdleTime > 0 && idleFor(entry) >= connMaxIdleTime
        ? "idleTime"
        : "unhealthy"
    )
  }
  for (const entry of pool.shared.entries.slice()) {
    if (!entry.conn.isHealthy) pool.shared.discard(entry, "unhealthy")
    else if (entry.inFlight === 0 && idleFor(entry) >= sharedIdleTime) pool.shared.demote(entry)
  }
  checkMinIdle(pool)
  pool.updateGauges()
}

/** Starts the deadline sweeper and the reaper in the pool's background scope, and the first refill. */
export const startReaper = <C extends Poolable>(pool: PoolImpl<C>): void => {
  pool.runFork(pool.deadlines.sweeper(
    () => pool.now(),
    // Stryker disable next-line ArrowFunction: equivalent, closing the pool interrupts the sweeper with the background scope before it reads the flag again
    () => pool.closed
  ))
  pool.runFork(Effect.repeat(Effect.sync(() => reap(pool)), Schedule.spaced(pool.options.reaperFrequency)))
  // Stryker disable next-line ConditionalExpression,EqualityOperator,CallExpression: equivalent, the reaper's first tick runs at once (runFork starts it synchronously) and refills too
  if (pool.options.minIdleConns > 0) checkMinIdle(pool)
}
