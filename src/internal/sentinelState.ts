/**
 * What a Sentinel service knows of its master, and what it does when that
 * changes: on a switch every connection not to the new master is retired (idle
 * ones closed at once, others when they come back), the old address is
 * refused at dial time even if a slower sentinel still names it, and the dial
 * breaker forgets the old master's failures so the next checkout dials at
 * once. A READONLY reply retires every connection: the one that got it
 * reaches a demoted master, and new ones pass the ROLE check.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Conn from "../Conn.ts"
import type { PoolImpl } from "./pool.ts"
import type { DialHooks } from "./sentinelDial.ts"
import type { SwitchHandler } from "./sentinelWatch.ts"

/** @internal */
export class SwitchState implements DialHooks, SwitchHandler {
  /** Set once the pool exists; switches seen before have nothing to retire. */
  pool: PoolImpl<Conn.Conn> | undefined = undefined
  master: string | undefined = undefined
  switches = 0
  /** Addresses a switch moved the master away from (and no switch back to yet). */
  readonly retired = new Set<string>()

  readonly accept = (address: string): boolean => !this.retired.has(address)

  readonly connected = (address: string): void => {
    this.master = address
  }

  /** The new master of the last switch counted (each sentinel announces it). */
  private lastSwitch: string | undefined = undefined

  /** Retires every connection not to `to`; counts a switch when `to` is news. */
  private moveTo(to: string, from: string | undefined): void {
    if (from !== undefined && from !== to) this.retired.add(from)
    this.retired.delete(to)
    if (this.lastSwitch !== to) {
      this.lastSwitch = to
      this.switches++
    }
    this.master = to
    const pool = this.pool
    if (pool === undefined) return
    pool.retire((conn) => conn.address !== to)
    pool.breaker.forget()
  }

  readonly switched = (from: string, to: string): Effect.Effect<void> => Effect.sync(() => this.moveTo(to, from))

  readonly resynced = (address: string): Effect.Effect<void> =>
    Effect.sync(() => {
      if (this.master !== address) this.moveTo(address, this.master)
    })

  readonly readOnly = (): void => {
    this.pool?.retire(() => true)
  }
}
