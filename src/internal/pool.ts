/**
 * The pool's engine: the connections it owns and their checkout, composed from
 * one module per concept: the turns (`poolTurns.ts`, an Effect `Semaphore`),
 * the idle list (`poolIdle.ts`, in a `Ref`), the waiters' deadlines
 * (`poolDeadlines.ts`), the dial breaker (`poolBreaker.ts`), the shared set
 * (`poolShared.ts`) and the reaper (`poolReaper.ts`). State changes only in
 * synchronous sections, which are atomic on Node's single thread; every wait is
 * an `Effect.callback` whose cancellation hook gives back whatever was handed
 * to the waiter in the meantime.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type { Clock } from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import {
  ConnectionError,
  PoolClosedError,
  PoolQueueFullError,
  type PoolSnapshot,
  PoolTimeoutError
} from "../Errors.ts"
import type { Pool, Poolable } from "../Pool.ts"
import { Breaker } from "./poolBreaker.ts"
import { checkMinIdle, dialFor, probe } from "./poolDial.ts"
import { Deadlines } from "./poolDeadlines.ts"
import { type Entry, unreachable } from "./poolEntry.ts"
import { IdleList } from "./poolIdle.ts"
import type { Resolved } from "./poolOptions.ts"
import { SharedSet } from "./poolShared.ts"
import { makeMetrics, type Metrics, type RemovalReason, type Stats } from "./poolStats.ts"
import { type AcquireError, badConnectionFailure, Request } from "./poolRequest.ts"
import { schedule, Turns } from "./poolTurns.ts"

export type { Entry } from "./poolEntry.ts"
export { type AcquireError, badConnectionFailure, Request, type RequestKind, type RequestState } from "./poolRequest.ts"
export type { RemovalReason, Stats } from "./poolStats.ts"

const closedError = () => new PoolClosedError({ message: "the pool is closed" })

/** What a pool is made of: its options and dial, the clock and context it runs with, its scopes and fiber runner. */
export interface PoolParts<C> {
  readonly options: Resolved
  readonly dial: Effect.Effect<C, ConnectionError, Scope.Scope>
  readonly clock: Clock
  readonly context: Context.Context<never>
  /** Every connection's scope is a child of this one. */
  readonly connsScope: Scope.Closeable
  /** The reaper, the sweeper, the probe, dials and drains run in this one. */
  readonly bgScope: Scope.Closeable
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
}

/** @internal */
export class PoolImpl<C extends Poolable> {
  declare readonly options: Resolved
  declare readonly dial: Effect.Effect<C, ConnectionError, Scope.Scope>
  declare readonly clock: Clock
  declare readonly context: Context.Context<never>
  declare readonly connsScope: Scope.Closeable
  declare readonly bgScope: Scope.Closeable
  declare readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly runDetached: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly metrics: Metrics

  readonly turns: Turns
  readonly idle: IdleList<C>
  readonly shared: SharedSet<C>
  readonly deadlines = new Deadlines()
  readonly breaker: Breaker

  closed = false
  readonly entries = new Map<C, Entry<C>>()
  /** Exclusive requests queued for a turn (each retires one shared connection). */
  exclusiveWaiting = 0
  inUse = 0
  draining = 0
  dialing = 0
  /** Dials by the breaker's probe (they hold no turn). */
  probing = 0
  refillDialing = 0

  hits = 0
  misses = 0
  timeouts = 0
  waitCount = 0
  waitDurationMillis = 0
  readonly removals: Record<RemovalReason, number> = {
    idleTime: 0,
    lifetime: 0,
    unhealthy: 0,
    maxIdle: 0,
    error: 0,
    closed: 0,
    retired: 0
  }

  drained: Deferred.Deferred<void> | undefined = undefined
  /** Callers of `awaitWarm` waiting for the refill of `minIdleConns`. */
  private warmWaiters: Array<(exit: Exit.Exit<void, ConnectionError>) => void> = []
  /** The pool clock at the reaper's last tick or the last clock read. */
  approxNow = 0

  constructor(parts: PoolParts<C>) {
    Object.assign(this, parts)
    const options = parts.options
    this.runDetached = Effect.runForkWith(parts.context)
    this.metrics = makeMetrics(options.name)
    this.turns = new Turns(options.poolSize)
    this.turns.onFree = () => {
      if (this.shared.waiters.size > 0) this.shared.grow(true)
      else if (this.options.minIdleConns > 0) checkMinIdle(this)
    }
    this.turns.onResize = () => this.trim()
    this.idle = new IdleList(options.poolFifo)
    this.shared = new SharedSet(this)
    this.breaker = new Breaker(options.breakerThreshold, options.probeBackoffMin, options.probeBackoffMax, {
      now: () => this.now(),
      // Stryker disable next-line ArrowFunction: equivalent, the breaker's probe runs in the background scope, which closing the pool interrupts before the flag would be read
      closed: () => this.closed,
      runFork: this.runFork,
      probe: () => probe(this)
    })
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  // ---------------------------------------------------------------------------
  // Snapshots

  /** Callers waiting: for a turn (a growth of the shared set queued there is no caller) or for a shared connection. */
  waiting(): number {
    const growth = this.shared.queuedGrow?.state === "waiting" ? 1 : 0
    return this.turns.queue.size - growth + this.shared.waiters.size
  }

  snapshot(): PoolSnapshot {
    return {
      total: this.entries.size,
      idle: this.idle.length,
      inUse: this.inUse + this.shared.entries.length + this.draining,
      pending: this.waiting(),
      max: this.turns.size
    }
  }

  stats(): Stats {
    const breaker = this.breaker
    return {
      hits: this.hits,
      misses: this.misses,
      timeouts: this.timeouts,
      waitCount: this.waitCount,
      waitDurationMillis: this.waitDurationMillis,
      total: this.entries.size,
      idle: this.idle.length,
      inUse: this.inUse,
      shared: this.shared.entries.length,
      sharedInFlight: this.shared.inFlight,
      draining: this.draining,
      dialing: this.dialing,
      turnsInUse: this.turns.taken,
      pendingWaiters: this.waiting(),
      removals: { ...this.removals },
      breaker: {
        state: breaker.open ? "open" : "closed",
        failures: breaker.failures,
        since: breaker.since,
        lastError: breaker.lastError
      },
      closed: this.closed
    }
  }

  updateGauges(): void {
    const m = this.metrics
    m.idle.updateUnsafe(this.idle.length, this.context)
    m.used.updateUnsafe(this.entries.size - this.idle.length, this.context)
    m.pendingRequests.updateUnsafe(this.waiting(), this.context)
  }

  // ---------------------------------------------------------------------------
  // Entries

  closeEntry(entry: Entry<C>, reason: RemovalReason): void {
    // Stryker disable next-line StringLiteral: equivalent, closing an entry twice deletes nothing and closes an already closed scope
    if (entry.state === "closed") return
    // Stryker disable next-line StringLiteral: equivalent, no path reads the state of an entry no longer in entries, and a second close only repeats a no-op
    entry.state = "closed"
    if (this.entries.delete(entry.conn)) this.removals[reason]++
    this.runDetached(Scope.close(entry.scope, Exit.void))
  }

  /**
   * Takes idle connections until a healthy one turns up; closes the others.
   *
   * The clock is read only for a connection whose lifetime or idle time ends
   * before the reaper's next tick (`approxNow` is the time of the last tick or
   * clock read): reading the clock costs more than the rest of a checkout on
   * some machines, and the reaper evicts the others. So expiry is exact while
   * the event loop keeps the reaper on time, and late by the reaper's delay
   * otherwise.
   */
  popHealthy(): Entry<C> | undefined {
    const maxIdle = this.options.connMaxIdleTime
    let entry: Entry<C> | undefined
    while ((entry = this.idle.take()) !== undefined) {
      const conn = entry.conn
      if (!conn.isHealthy || conn.pending > 0) {
        this.closeEntry(entry, "unhealthy")
        continue
      }
      const idleUntil = maxIdle > 0 ? Math.max(entry.lastUsed, conn.usedAt) + maxIdle : Infinity
      if (Math.min(entry.expiresAt, idleUntil) <= this.approxNow + this.options.reaperFrequency) {
        const now = this.approxNow = this.now()
        if (now >= entry.expiresAt) {
          this.closeEntry(entry, "lifetime")
          continue
        }
        if (now >= idleUntil) {
          this.closeEntry(entry, "idleTime")
          continue
        }
      }
      return entry
    }
    return undefined
  }

  /** Returns a connection that holds no turn any more to the idle list, or closes it. */
  putIdle(entry: Entry<C>): void {
    // Stryker disable next-line StringLiteral: unreachable, every caller of putIdle checks closed first
    if (this.closed) return this.closeEntry(entry, "closed")
    if (entry.retired) return this.closeEntry(entry, "retired")
    // Stryker disable next-line StringLiteral: unreachable, every caller of putIdle checks the connection's health first
    if (!entry.conn.isHealthy) return this.closeEntry(entry, "unhealthy")
    if (this.options.maxIdleConns > 0 && this.idle.length >= this.options.maxIdleConns) {
      return this.closeEntry(entry, "maxIdle")
    }
    entry.state = "idle"
    // Stryker disable next-line BooleanLiteral: equivalent, an idle connection leaves the list only through promote, which resets the flag, or exclusively, where it is not read
    entry.retiring = false
    this.idle.push(entry)
  }

  /** After the turns shrank: closes idle connections (the ones handed out last) beyond the new size. */
  trim(): void {
    while (this.entries.size + this.dialing > this.turns.size) {
      const entry = this.idle.take()
      if (entry === undefined) return
      this.closeEntry(entry, "maxIdle")
    }
  }

  /** A connection that held a turn while the pool closed: closed, and its turn dropped. */
  closeAfterClose(entry: Entry<C>): void {
    this.closeEntry(entry, "closed")
    // Stryker disable next-line CallExpression: equivalent, the close's last step forfeits every turn still taken but the dials', so the count ends at zero either way
    this.turns.forfeit()
    this.checkDrained()
  }

  // ---------------------------------------------------------------------------
  // Exclusive checkout

  // Stryker disable next-line BlockStatement: equivalent, canTakeIdle only chooses get's fast path, and tryTakeIdle rechecks closed, idle and a turn itself
  canTakeIdle(): boolean {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,BooleanLiteral,EqualityOperator: equivalent, only chooses get's fast path; tryTakeIdle rechecks closed, idle and a turn (tryTake does not overtake the queue)
    return !this.closed && this.idle.length > 0 && this.turns.free > 0 && this.turns.queue.size === 0
  }

  /** Fast path of an exclusive checkout: a free turn and a healthy idle connection. */
  // Stryker disable next-line BlockStatement: equivalent, returning nothing sends the caller down the slow path, with the same result
  tryTakeIdle(): Entry<C> | undefined {
    // Stryker disable next-line EqualityOperator: equivalent, with nothing idle popHealthy finds nothing and the turn is forfeited: the slow path runs as before
    if (this.closed || this.idle.length === 0 || !this.turns.tryTake()) return undefined
    const entry = this.popHealthy()
    if (entry === undefined) {
      this.turns.forfeit()
      return undefined
    }
    entry.state = "exclusive"
    this.inUse++
    this.hits++
    if (this.options.minIdleConns > 0) checkMinIdle(this)
    return entry
  }

  /** The request now holds a turn: serve it from the idle list, or dial. */
  grant(request: Request<C>, inline: boolean): void {
    request.state = "granted"
    const entry = this.popHealthy()
    if (request.kind === "grow") {
      if (entry === undefined) return dialFor(this, request)
      this.shared.growPending = false
      return this.shared.promote(entry)
    }
    if (entry === undefined) {
      this.misses++
      return dialFor(this, request)
    }
    this.hits++
    this.deliver(request, entry, inline)
    if (this.options.minIdleConns > 0) checkMinIdle(this)
  }

  deliver(request: Request<C>, entry: Entry<C>, inline: boolean): void {
    entry.state = "exclusive"
    this.inUse++
    request.state = "done"
    request.entry = entry
    this.deadlines.delete(request)
    if (request.queued) this.recordWait(request.start)
    const resume = request.resume!
    // Stryker disable next-line ConditionalExpression: equivalent in outcome, inline or scheduled resumption only decides whether the caller's continuation runs inside the pool's bookkeeping (stack depth)
    if (inline) resume(Effect.succeed(entry))
    else schedule(() => resume(Effect.succeed(entry)))
  }

  failRequest(request: Request<C>, error: AcquireError, inline: boolean): void {
    // Stryker disable next-line StringLiteral: equivalent, readers of a failed request compare its state with waiting or granted, or with done together with an entry, which it has not
    request.state = "done"
    this.deadlines.delete(request)
    const resume = request.resume
    if (resume === undefined) return
    // Stryker disable next-line CallExpression: unreachable, every caller of failRequest passes inline false
    if (inline) resume(Effect.fail(error))
    else schedule(() => resume(Effect.fail(error)))
  }

  /** Registers an exclusive request: grants it now if a turn is free, else queues it. */
  submit(request: Request<C>): void {
    // Stryker disable next-line BooleanLiteral: equivalent in outcome, a scheduled instead of inline resumption of a caller served at once (one more dispatcher tick)
    if (this.turns.tryTake()) return this.grant(request, true)
    request.queued = true
    this.turns.enqueue(request)
    this.exclusiveWaiting++
    this.shared.retire()
  }

  /** Interruption (or timeout) of an exclusive request: give back what it was handed. */
  cancel(request: Request<C>): void {
    const state = request.state
    // Stryker disable next-line StringLiteral: equivalent, readers of a cancelled request compare its state with waiting, granted or done only
    request.state = "cancelled"
    this.deadlines.delete(request)
    if (state === "waiting") {
      if (this.turns.dequeue(request)) this.exclusiveWaiting--
    } else if (state === "done" && request.entry !== undefined) {
      const entry = request.entry
      request.entry = undefined
      this.releaseExclusive(entry, Exit.void)
    }
    // "granted": a dial is under way for it; its completion hands the result on.
  }

  /** The error for a caller that finds `maxWaiters` callers waiting already; undefined when there is room. */
  queueFull(): PoolQueueFullError | undefined {
    const max = this.options.maxWaiters
    if (max === 0 || this.waiting() < max) return undefined
    return new PoolQueueFullError({
      maxWaiters: max,
      pool: this.snapshot(),
      message: `${max} callers are waiting for a connection already (maxWaiters ${max}): not waiting with them`
    })
  }

  acquireSlow(): Effect.Effect<Entry<C>, AcquireError> {
    return Effect.callback<Entry<C>, AcquireError>((resume) => {
      if (this.closed) return resume(Effect.fail(closedError()))
      // Only a caller that would queue counts against the bound; one served at once does not.
      if (this.turns.queue.size > 0 || this.turns.free <= 0) {
        const full = this.queueFull()
        if (full !== undefined) return resume(Effect.fail(full))
      }
      const request = new Request(this, "exclusive", resume)
      this.submit(request)
      // Even when the request is already served, its resumption may be
      // scheduled (a dial can complete inside `submit`): the cancellation hook
      // must stay in place to give back what an interrupted caller was handed.
      if (request.state !== "done") this.deadlines.add(request)
      return Effect.sync(() => this.cancel(request))
    })
  }

  recordWait(start: number): void {
    const waited = this.now() - start
    this.waitCount++
    this.waitDurationMillis += waited
    this.metrics.waitTime.updateUnsafe(waited / 1000, this.context)
  }

  timeoutError(phase: "turn" | "dial", start: number): PoolTimeoutError {
    this.timeouts++
    this.metrics.timeouts.updateUnsafe(1, this.context)
    const waited = this.now() - start
    const snapshot = this.snapshot()
    return new PoolTimeoutError({
      waitingFor: phase,
      waitedMillis: waited,
      pool: snapshot,
      message: `no connection within poolTimeout ${this.options.poolTimeout} ms: waited ${waited} ms for a ${phase} ` +
        `(total ${snapshot.total}, idle ${snapshot.idle}, in use ${snapshot.inUse}, waiting ${snapshot.pending}, ` +
        `max ${snapshot.max})`
    })
  }

  /**
   * Decides, from the exit and the connection's state, where a returned connection goes. `proves`: whether a
   * success proves a new connection to the breaker (see `withExclusive`).
   */
  releaseExclusive(entry: Entry<C>, exit: Exit.Exit<unknown, unknown>, proves = true): undefined {
    if (entry.state !== "exclusive") return undefined
    this.inUse--
    if (this.closed) {
      this.closeAfterClose(entry)
      return undefined
    }
    const conn = entry.conn
    const bad = exit._tag === "Failure" && badConnectionFailure(exit.cause)
    if (exit._tag === "Success") {
      if (proves && !entry.proven) this.proved(entry)
    } else if (!entry.proven && !Cause.hasInterruptsOnly(exit.cause) && (!conn.isHealthy || bad)) {
      this.breaker.diedEarly(exit.cause)
    }
    if (!conn.isHealthy) {
      this.closeEntry(entry, "unhealthy")
    } else if (bad) {
      this.closeEntry(entry, "error")
    } else if (conn.pending > 0) {
      this.drain(entry)
      return undefined
    } else {
      this.putIdle(entry)
    }
    this.turns.giveBack()
    return undefined
  }

  /** A checkout on a new connection succeeded. */
  proved(entry: Entry<C>): void {
    entry.proven = true
    this.breaker.proved()
  }

  /**
   * A healthy connection came back with replies still pending (its caller was
   * interrupted mid-command). It keeps its turn while the replies land, for at
   * most `drainTimeout`; then it goes idle, or is closed if they did not come.
   */
  drain(entry: Entry<C>): void {
    entry.state = "draining"
    this.draining++
    this.runFork(
      Effect.onExit(
        Effect.timeoutOrElse(entry.conn.awaitIdle, {
          duration: this.options.drainTimeout,
          orElse: () => Effect.void
        }),
        () =>
          Effect.sync(() => {
            if (entry.state !== "draining") return
            this.draining--
            if (this.closed) return this.closeAfterClose(entry)
            if (entry.conn.isHealthy && entry.conn.pending === 0) this.putIdle(entry)
            else this.closeEntry(entry, entry.conn.isHealthy ? "error" : "unhealthy")
            this.turns.giveBack()
          })
      )
    )
  }

  /** Closes a connection now, wherever it is, and frees its turn if it held one. */
  remove(conn: C): void {
    const entry = this.entries.get(conn)
    if (entry === undefined) return
    const state = entry.state
    switch (state) {
      case "idle":
        this.idle.remove(entry)
        return this.closeEntry(entry, "error")
      case "exclusive":
        this.inUse--
        break
      case "shared":
        this.shared.drop(entry)
        break
      case "draining":
        this.draining--
        break
      // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable, closeEntry deletes an entry from entries when it closes it, so remove never finds a closed one
      case "closed":
        return
      // Stryker disable next-line ConditionalExpression: unreachable, the type checker proves the switch exhaustive
      default:
        return unreachable(state)
    }
    this.closeEntry(entry, "error")
    if (this.closed) {
      this.turns.forfeit()
      this.checkDrained()
    } else {
      this.turns.giveBack()
    }
  }

  /**
   * Retires the connections `predicate` picks: idle ones are closed now,
   * shared ones take no new callers and close when their last caller leaves,
   * checked-out and draining ones close when they come back instead of going
   * idle. Returns how many it picked.
   */
  retire(predicate: (conn: C) => boolean): number {
    let picked = 0
    for (const entry of this.entries.values()) {
      // Stryker disable next-line StringLiteral: equivalent, closeEntry deletes an entry from entries when it closes it, so no closed entry is ever visited
      if (entry.state === "closed" || entry.retired || !predicate(entry.conn)) continue
      entry.retired = true
      picked++
      const state = entry.state
      switch (state) {
        case "idle":
          this.idle.remove(entry)
          this.closeEntry(entry, "retired")
          break
        case "shared":
          this.shared.retireEntry(entry)
          break
        case "exclusive":
        case "draining":
          break
        // Stryker disable next-line ConditionalExpression: unreachable, the type checker proves the switch exhaustive
        default:
          // Stryker disable next-line CallExpression: unreachable, the type checker proves the switch exhaustive
          unreachable(state)
      }
    }
    this.updateGauges()
    return picked
  }

  // ---------------------------------------------------------------------------
  // Warm-up

  /**
   * Completes when `minIdleConns` connections are idle, or fails with the first
   * refill dial's `ConnectionError` (the service's start waits on it).
   */
  awaitWarm(): Effect.Effect<void, ConnectionError> {
    return Effect.callback<void, ConnectionError>((resume) => {
      if (this.closed) return resume(Effect.fail(warmClosedError()))
      if (this.idle.length >= this.options.minIdleConns) return resume(Effect.void)
      const waiter = (exit: Exit.Exit<void, ConnectionError>) => resume(exit)
      this.warmWaiters.push(waiter)
      return Effect.sync(() => {
        this.warmWaiters = this.warmWaiters.filter((w) => w !== waiter)
      })
    })
  }

  /** A refill dial ended: wakes `awaitWarm`'s callers on its failure, or once enough connections are idle. */
  warmed(error: ConnectionError | undefined): void {
    if (this.warmWaiters.length === 0) return
    if (error === undefined && this.idle.length < this.options.minIdleConns) return
    const waiters = this.warmWaiters
    this.warmWaiters = []
    const exit = error === undefined ? Exit.void : Exit.fail(error)
    for (const waiter of waiters) schedule(() => waiter(exit))
  }

  // ---------------------------------------------------------------------------
  // Close

  checkDrained(): void {
    if (this.drained !== undefined && this.inUse === 0 && this.shared.entries.length === 0 && this.draining === 0) {
      Deferred.doneUnsafe(this.drained, Exit.void)
    }
  }

  /**
   * Stop admitting, fail every waiter, stop the background fibers, wait up to
   * `closeTimeout` for checked-out connections, then close everything.
   */
  close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.void
      this.closed = true
      const error = new PoolClosedError({ message: "the pool closed" })
      for (const waiter of this.turns.queue) {
        this.turns.dequeue(waiter)
        if (waiter instanceof Request) {
          // Stryker disable next-line BooleanLiteral: equivalent in outcome, an inline failure runs the waiter's continuation inside the close instead of on the dispatcher
          if (waiter.state === "waiting") this.failRequest(waiter, error, false)
        } else {
          // Someone waiting through the Semaphore interface: handed its permits, so it does not wait forever.
          this.turns.admit(waiter)
        }
      }
      this.exclusiveWaiting = 0
      this.shared.failWaiters(error)
      // The refill dials are interrupted with the background scope: nothing would wake `awaitWarm`'s callers.
      this.warmed(warmClosedError())
      for (const entry of this.idle.clear()) this.closeEntry(entry, "closed")
      this.shared.closeUnused()
      this.drained = Deferred.makeUnsafe<void>()
      this.checkDrained()
      return Effect.flatMap(Scope.close(this.bgScope, Exit.void), () =>
        Effect.flatMap(
          Effect.timeoutOrElse(Deferred.await(this.drained!), {
            duration: this.options.closeTimeout,
            orElse: () => Effect.void
          }),
          () =>
            Effect.suspend(() => {
              for (const entry of this.entries.values()) {
                // Stryker disable next-line StringLiteral: equivalent, closeEntry deletes an entry from entries when it closes it, so every entry still there is not closed
                if (entry.state !== "closed") {
                  // Stryker disable next-line StringLiteral: equivalent, a late return, drain or shared release of this entry only checks that its state is not exclusive, draining or shared
                  entry.state = "closed"
                  this.removals.closed++
                }
              }
              this.entries.clear()
              this.shared.forget()
              this.inUse = 0
              this.draining = 0
              // Every turn still taken is forfeited but a dial's (each gives its own back when it ends); closing the
              // background scope has interrupted the dials by now, so in practice none is left.
              // Stryker disable next-line ArithmeticOperator: equivalent, dials run in the background scope, which the close has closed by now: no dial is under way here
              this.turns.forfeit(this.turns.taken - this.dialing)
              this.updateGauges()
              return Scope.close(this.connsScope, Exit.void)
            })
        ))
    })
  }
}

const warmClosedError = () =>
  new ConnectionError({ reason: "closed", message: "the pool closed before minIdleConns connections were idle" })

/** Runs a caller's `f`, turning a throw into a defect. @internal */
export const runBody = <C extends Poolable, A, E, R>(
  f: (conn: C) => Effect.Effect<A, E, R>,
  conn: C
): Effect.Effect<A, E, R> => {
  try {
    return f(conn)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/**
 * Runs `f` on an exclusive connection and returns it afterwards (`Pool.withConn`). `proves` says whether `f`'s
 * success proves a new connection to the breaker: a caller's command does; the pool's own housekeeping (a
 * `CLIENT UNBLOCK` for a caller who left, the connect at startup) does not, since a server that handshakes and
 * then fails every command may well answer those (chaos scenario 9: a `CLIENT UNBLOCK` answered on a doomed
 * connection closed the half-open breaker, and the pool dialed for every caller again).
 *
 * @internal
 */
export const withExclusive = <C extends Poolable, A, E, R>(
  pool: PoolImpl<C>,
  f: (conn: C) => Effect.Effect<A, E, R>,
  proves: boolean
): Effect.Effect<A, E | AcquireError, R> =>
  Effect.withFiber(() => {
    const entry = pool.tryTakeIdle()
    if (entry === undefined) {
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          restore(pool.acquireSlow()),
          (entry) =>
            Effect.onExitPrimitive(restore(runBody(f, entry.conn)), (exit) => pool.releaseExclusive(entry, exit, proves))
        )
      )
    }
    return Effect.onExitPrimitive(runBody(f, entry.conn), (exit) => pool.releaseExclusive(entry, exit, proves))
  })

/**
 * `f` on an exclusive connection for the pool's own housekeeping: its success proves nothing to the breaker.
 *
 * @internal
 */
export const withHousekeeping = <C extends Poolable, A, E, R>(
  pool: Pool<C>,
  f: (conn: C) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | AcquireError, R> => withExclusive(implOf<C>(pool), f, false)

/** @internal */
export const ImplKey: unique symbol = Symbol.for("effect-redis-pool/Pool/impl")

/** @internal */
export interface HasImpl<C extends Poolable> {
  readonly [ImplKey]: PoolImpl<C>
}

/** The engine behind a pool made by `Pool.make` (for tests that check its invariants). @internal */
export const implOf = <C extends Poolable>(pool: object): PoolImpl<C> => (pool as HasImpl<C>)[ImplKey]

/** @internal */
export const makeFiberRunner = Effect.fnUntraced(function*(scope: Scope.Scope) {
  const set = yield* Scope.provide(FiberSet.make<unknown, unknown>(), scope)
  return (yield* FiberSet.runtime(set)<never>()) as <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
})
