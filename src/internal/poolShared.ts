/**
 * The shared set: connections that many callers use at once (the pipelining
 * path, `withShared`). Each holds a turn. A caller takes the least loaded one
 * under `maxInFlight`, synchronously, with no turn, scope or fiber of its own;
 * when every one has `sharedGrowAt` callers the set grows by one (an idle
 * connection at once, or a dial) if a turn is free, and when nothing can take
 * a caller it waits under `poolTimeout`. A connection is never both shared and
 * exclusive. An exclusive caller queued for a turn retires one shared
 * connection (no new callers; back to the idle list when its last caller
 * leaves), and the reaper retires shared connections unused for
 * `sharedIdleTime`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { PoolClosedError } from "../Errors.ts"
import type { Poolable } from "../Pool.ts"
import type { Timed } from "./poolDeadlines.ts"
import { canDial } from "./poolDial.ts"
import type { Entry } from "./poolEntry.ts"
import { type AcquireError, badConnectionFailure, type PoolImpl, Request, type RequestState } from "./pool.ts"
import { schedule } from "./poolTurns.ts"

/** A caller waiting for room on a shared connection. */
class SharedWaiter<C extends Poolable> implements Timed {
  readonly set: SharedSet<C>
  readonly start: number
  readonly deadline: number
  state: RequestState = "waiting"
  entry: Entry<C> | undefined = undefined
  readonly resume: (effect: Effect.Effect<Entry<C>, AcquireError>) => void

  constructor(
    set: SharedSet<C>,
    start: number,
    deadline: number,
    resume: (effect: Effect.Effect<Entry<C>, AcquireError>) => void
  ) {
    this.set = set
    this.start = start
    this.deadline = deadline
    this.resume = resume
  }

  expire(): void {
    if (this.state !== "waiting") return
    // Stryker disable next-line StringLiteral: equivalent, every reader of a waiter's state asks only whether it is "waiting"
    this.state = "cancelled"
    this.set.waiters.delete(this)
    const error = this.set.pool.timeoutError(this.set.growPending ? "dial" : "turn", this.start)
    const resume = this.resume
    schedule(() => resume(Effect.fail(error)))
  }
}

/** @internal */
export class SharedSet<C extends Poolable> {
  readonly pool: PoolImpl<C>
  readonly entries: Array<Entry<C>> = []
  readonly waiters = new Set<SharedWaiter<C>>()
  /** Callers on shared connections, in all. */
  inFlight = 0
  /** Shared connections taking no new callers. */
  retiring = 0
  /** A growth (a turn request, then maybe a dial) is under way. */
  growPending = false
  /** The last growth that queued for a turn: while it waits it is in the turn queue, though it is no caller. */
  queuedGrow: Request<C> | undefined = undefined

  constructor(pool: PoolImpl<C>) {
    this.pool = pool
  }

  /** The least loaded shared connection that takes callers, if any is under `maxInFlight`. */
  pick(): Entry<C> | undefined {
    const entries = this.entries
    let best: Entry<C> | undefined
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      if (entry.retiring) continue
      if (best === undefined || entry.inFlight < best.inFlight) {
        best = entry
        if (entry.inFlight === 0) break
      }
    }
    return best !== undefined && best.inFlight < this.pool.options.maxInFlight ? best : undefined
  }

  /** Picks a shared connection synchronously, growing the set when all are busy. */
  take(): Entry<C> | undefined {
    const pool = this.pool
    let entry = this.pick()
    // Grows when every connection is full, or has `sharedGrowAt` callers while the set is under `sharedConns`.
    if (
      entry === undefined ||
      (entry.inFlight >= pool.options.sharedGrowAt && this.entries.length - this.retiring < pool.options.sharedConns)
    ) {
      if (!this.growPending && (pool.idle.length > 0 || pool.entries.size + pool.dialing < pool.turns.size)) {
        this.grow(entry === undefined && this.entries.length === 0)
        entry = this.pick()
      }
    }
    if (entry !== undefined) {
      entry.inFlight++
      this.inFlight++
    }
    return entry
  }

  acquireSlow(): Effect.Effect<Entry<C>, AcquireError> {
    return Effect.callback<Entry<C>, AcquireError>((resume) => {
      const pool = this.pool
      if (pool.closed) return resume(Effect.fail(new PoolClosedError({ message: "the pool is closed" })))
      if (pool.breaker.open && this.entries.length === 0 && pool.idle.length === 0) {
        return resume(Effect.fail(pool.breaker.error()))
      }
      const full = pool.queueFull()
      if (full !== undefined) return resume(Effect.fail(full))
      const start = pool.now()
      const waiter = new SharedWaiter(this, start, start + pool.options.poolTimeout, resume)
      this.waiters.add(waiter)
      pool.deadlines.add(waiter)
      // grow() does nothing while a growth is pending already.
      this.grow(this.entries.length === 0)
      return Effect.sync(() => this.cancel(waiter))
    })
  }

  /** Adds a connection that holds a turn to the set and serves waiting callers from it. */
  promote(entry: Entry<C>): void {
    entry.state = "shared"
    entry.retiring = false
    entry.lastUsed = this.pool.now()
    this.entries.push(entry)
    this.serveWaiters(entry)
    // Exclusive callers that queued while the set had nothing to retire would
    // otherwise wait for `sharedIdleTime` (longer than `poolTimeout` by default).
    this.retire()
  }

  serveWaiters(entry: Entry<C>): void {
    const pool = this.pool
    for (const waiter of this.waiters) {
      if (entry.state !== "shared" || entry.retiring || entry.inFlight >= pool.options.maxInFlight) return
      this.waiters.delete(waiter)
      if (waiter.state !== "waiting") continue
      entry.inFlight++
      this.inFlight++
      // Stryker disable next-line StringLiteral: equivalent, every reader of a waiter's state asks only whether it is "waiting"
      waiter.state = "done"
      waiter.entry = entry
      const resume = waiter.resume
      pool.deadlines.delete(waiter)
      pool.recordWait(waiter.start)
      schedule(() => resume(Effect.succeed(entry)))
    }
  }

  /**
   * Grows the set by one connection: from the idle list at once, or by a dial.
   * `queue` lets the growth wait for a turn behind exclusive callers (used when
   * shared callers have nothing to run on); otherwise it happens only when a
   * turn is free now.
   */
  grow(queue: boolean): void {
    const pool = this.pool
    // A refused dial gives its turn back at once; growing again on that turn
    // would loop, so grow only when an idle connection or a dial can serve.
    if (this.growPending || pool.closed || (pool.idle.length === 0 && !canDial(pool))) return
    const request = new Request(pool, "grow")
    if (pool.turns.tryTake()) {
      this.growPending = true
      // Stryker disable next-line BooleanLiteral: equivalent, `inline` only matters in deliver(), which a grow request never reaches
      pool.grant(request, true)
    } else if (queue) {
      this.growPending = true
      // Stryker disable next-line BooleanLiteral: equivalent, `queued` only decides recordWait in deliver(), which a grow request never reaches
      request.queued = true
      this.queuedGrow = request
      pool.turns.enqueue(request)
    }
  }

  /** Takes a connection out of the set (it still holds its turn). */
  drop(entry: Entry<C>): void {
    const i = this.entries.indexOf(entry)
    if (i >= 0) this.entries.splice(i, 1)
    if (entry.retiring) {
      // Stryker disable next-line BooleanLiteral: equivalent, a dropped connection leaves the set, and putIdle and promote reset the flag before anything reads it again
      entry.retiring = false
      this.retiring--
    }
    this.inFlight -= entry.inFlight
  }

  /** Moves a shared connection without callers back to the idle list and frees its turn. */
  demote(entry: Entry<C>): void {
    this.drop(entry)
    if (entry.conn.pending > 0) return this.pool.drain(entry)
    this.pool.putIdle(entry)
    this.pool.turns.giveBack()
  }

  /** Closes a shared connection that failed, and frees its turn. */
  discard(entry: Entry<C>, reason: "error" | "unhealthy"): void {
    this.drop(entry)
    this.pool.closeEntry(entry, reason)
    this.pool.turns.giveBack()
  }

  /**
   * An exclusive caller waits for a turn while shared connections hold turns:
   * retire one shared connection per such caller. The last busy shared
   * connection is kept while an exclusive checkout, a dial or a drain holds a
   * turn that will come back: otherwise a crowd of blocking commands waiting
   * for turns would take the pipeline from every plain command.
   */
  retire(): void {
    if (this.entries.length === 0 || this.retiring >= this.pool.exclusiveWaiting) return
    let best: Entry<C> | undefined
    let active = 0
    for (const entry of this.entries) {
      if (entry.retiring) continue
      active++
      if (best === undefined || entry.inFlight < best.inFlight) best = entry
    }
    if (best === undefined) return
    if (best.inFlight === 0) return this.demote(best)
    if (active === 1 && this.pool.turns.taken > this.entries.length) return
    best.retiring = true
    this.retiring++
  }

  /** Takes no new callers on `entry`; it leaves the set (and, retired, closes) once its last caller has left. */
  retireEntry(entry: Entry<C>): void {
    if (entry.inFlight === 0) return this.demote(entry)
    if (entry.retiring) return
    entry.retiring = true
    this.retiring++
  }

  /** A caller leaves a shared connection; its exit says whether the connection may still be trusted. */
  release(entry: Entry<C>, exit: Exit.Exit<unknown, unknown>): undefined {
    entry.inFlight--
    // Removed (closed) while this caller ran: `drop` already settled its counts.
    if (entry.state !== "shared") return undefined
    this.inFlight--
    const pool = this.pool
    if (pool.closed) {
      if (entry.inFlight === 0) {
        this.drop(entry)
        pool.closeAfterClose(entry)
      }
      return undefined
    }
    if (exit._tag === "Success") {
      if (!entry.proven) pool.proved(entry)
    } else if (!entry.conn.isHealthy || badConnectionFailure(exit.cause)) {
      if (!entry.proven && !Cause.hasInterruptsOnly(exit.cause)) pool.breaker.diedEarly(exit.cause)
      this.discard(entry, entry.conn.isHealthy ? "error" : "unhealthy")
      return undefined
    }
    if (!entry.conn.isHealthy) {
      this.discard(entry, "unhealthy")
      return undefined
    }
    if (entry.retiring) {
      if (entry.inFlight === 0) this.demote(entry)
      return undefined
    }
    if (this.waiters.size > 0) this.serveWaiters(entry)
    return undefined
  }

  failWaiters(error: AcquireError): void {
    for (const waiter of this.waiters) {
      this.waiters.delete(waiter)
      if (waiter.state !== "waiting") continue
      // Stryker disable next-line StringLiteral: equivalent, every reader of a waiter's state asks only whether it is "waiting"
      waiter.state = "done"
      this.pool.deadlines.delete(waiter)
      const resume = waiter.resume
      schedule(() => resume(Effect.fail(error)))
    }
  }

  cancel(waiter: SharedWaiter<C>): void {
    const state = waiter.state
    // Stryker disable next-line StringLiteral: equivalent, every reader of a waiter's state asks only whether it is "waiting"
    waiter.state = "cancelled"
    this.pool.deadlines.delete(waiter)
    if (state === "waiting") {
      this.waiters.delete(waiter)
    } else if (waiter.entry !== undefined) {
      const entry = waiter.entry
      waiter.entry = undefined
      this.release(entry, Exit.void)
    }
  }

  /** On close: closes the shared connections nobody is using now. */
  closeUnused(): void {
    for (const entry of this.entries.slice()) {
      if (entry.inFlight === 0) {
        this.drop(entry)
        this.pool.closeEntry(entry, "closed")
        this.pool.turns.forfeit()
      }
    }
  }

  /** After close: forgets every shared connection (their scopes close with the pool's). */
  forget(): void {
    this.entries.length = 0
    this.inFlight = 0
    this.retiring = 0
  }
}
