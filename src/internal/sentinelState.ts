/**
 * What a Sentinel service knows of its master, and what it does when that
 * changes: on a switch every connection not to the new master is retired (idle
 * ones closed at once, others when they come back), the old address is
 * refused at dial time even if a slower sentinel still names it, and the dial
 * breaker forgets the old master's failures so the next checkout dials at
 * once; the pub/sub subscriber's connection is closed, so that it reconnects
 * (through the sentinels) and renews its subscriptions. A READONLY reply
 * retires every connection: the one that got it reaches a demoted master, and
 * new ones pass the ROLE check.
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
  /**
   * Addresses a switch moved the master away from (and no switch back to yet), with when: refused for
   * `retiredFor` ms, the time a slower sentinel may still name one (its config spreads by the sentinels'
   * hello messages, every 2 s) and a demoted master may still claim master (~10-15 s). After that the ROLE
   * check suffices, and a switch back that went unheard cannot lock the service out.
   */
  readonly retired = new Map<string, number>()
  readonly retiredFor = 30_000

  readonly accept = (address: string): boolean => {
    const since = this.retired.get(address)
    if (since === undefined) return true
    if (Date.now() - since < this.retiredFor) return false
    this.retired.delete(address)
    return true
  }

  readonly connected = (conn: Conn.Conn): void => {
    this.master = conn.address
  }

  /** The pub/sub subscriber's connection: closed on a switch away from its server, so that it reconnects through the sentinels. */
  private subscriberConn: Conn.Conn | undefined = undefined

  /** The hooks of the subscriber's dial. */
  readonly subscriberHooks: DialHooks = {
    accept: this.accept,
    connected: (conn) => {
      this.subscriberConn = conn
      this.connected(conn)
    }
  }

  /** Told of each switch counted (replica reads ask for the new master's replicas). */
  onSwitch: (() => void) | undefined = undefined

  /** The new master of the last switch counted (each sentinel announces it). */
  private lastSwitch: string | undefined = undefined

  /** Retires every connection not to `to`; counts a switch when `to` is news. */
  private moveTo(to: string, from: string | undefined): Effect.Effect<void> {
    if (from !== undefined && from !== to && !this.retired.has(from)) this.retired.set(from, Date.now())
    this.retired.delete(to)
    if (this.lastSwitch !== to) {
      this.lastSwitch = to
      this.switches++
      this.onSwitch?.()
    }
    this.master = to
    const pool = this.pool
    if (pool !== undefined) {
      pool.retire((conn) => conn.address !== to)
      pool.breaker.forget()
    }
    const subscriber = this.subscriberConn
    if (subscriber === undefined || subscriber.address === to) return Effect.void
    this.subscriberConn = undefined
    return subscriber.close
  }

  readonly switched = (from: string, to: string): Effect.Effect<void> => Effect.suspend(() => this.moveTo(to, from))

  readonly resynced = (address: string): Effect.Effect<void> =>
    Effect.suspend(() => this.master === address ? Effect.void : this.moveTo(address, this.master))

  readonly readOnly = (): void => {
    this.pool?.retire(() => true)
  }
}
