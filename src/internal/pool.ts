/**
 * The pool's engine. All state lives in one `PoolImpl` object and is changed
 * only in synchronous sections, which are atomic on Node's single thread; every
 * wait is an `Effect.callback` whose cancellation hook gives back whatever was
 * handed to the waiter in the meantime. See `src/Pool.ts` for the design.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import { Clock } from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import {
  CircuitOpenError,
  ConnectionError,
  PoolClosedError,
  PoolExhaustedError,
  type PoolSnapshot,
  PoolTimeoutError
} from "../Errors.ts"
import type { Poolable } from "../Pool.ts"
import { expiresAt, type Resolved } from "./poolOptions.ts"


/** @internal */
export type AcquireError = PoolTimeoutError | PoolExhaustedError | PoolClosedError | CircuitOpenError | ConnectionError

/** @internal */
export type RemovalReason = "idleTime" | "lifetime" | "unhealthy" | "maxIdle" | "error" | "closed"

/** @internal */
export interface Stats {
  readonly hits: number
  readonly misses: number
  readonly timeouts: number
  readonly waitCount: number
  readonly waitDurationMillis: number
  readonly total: number
  readonly idle: number
  readonly inUse: number
  readonly shared: number
  readonly sharedInFlight: number
  readonly draining: number
  readonly dialing: number
  readonly turnsInUse: number
  readonly pendingWaiters: number
  readonly removals: Readonly<Record<RemovalReason, number>>
  readonly breaker: {
    readonly state: "closed" | "open"
    readonly failures: number
    readonly since: number | undefined
    readonly lastError: ConnectionError | undefined
  }
  readonly closed: boolean
}

// Entry states.
const IDLE = 0
const EXCLUSIVE = 1
const SHARED = 2
const DRAINING = 3
const CLOSED = 4

/** @internal */
export interface Entry<C> {
  readonly conn: C
  readonly scope: Scope.Closeable
  readonly createdAt: number
  readonly expiresAt: number
  state: number
  /** Callers inside `withShared` on this connection. */
  inFlight: number
  /** A shared connection that takes no new callers, so that it can go back to the idle list. */
  retiring: boolean
  /** `Exit.succeed(conn)`, made once: a checkout returns it without allocating. */
  readonly success: Exit.Exit<C>
  /** Pool clock time of the dial or of the move into the shared set; idle time counts from this or `conn.usedAt`, whichever is later. */
  lastUsed: number
  /** A checkout on it has succeeded; one that fails before that counts toward the breaker like a failed dial. */
  proven: boolean
}

// Request states.
const WAITING = 0
const GRANTED = 1
const DONE = 2
const CANCELLED = 3

// Request kinds.
const EXCLUSIVE_REQ = 0
const GROW_REQ = 1
const REFILL_REQ = 2
const SHARED_REQ = 3

interface Request<C> {
  readonly kind: number
  readonly start: number
  readonly deadline: number
  state: number
  phase: "turn" | "dial"
  queued: boolean
  entry: Entry<C> | undefined
  resume: ((effect: Effect.Effect<Entry<C>, AcquireError>) => void) | undefined
}

interface SharedWaiter<C> {
  readonly kind: number
  readonly start: number
  readonly deadline: number
  state: number
  entry: Entry<C> | undefined
  resume: ((effect: Effect.Effect<Entry<C>, AcquireError>) => void) | undefined
}

const schedule = (task: () => void): void => {
  const fiber = Fiber.getCurrent()
  if (fiber !== undefined) fiber.currentDispatcher.scheduleTask(task, 0)
  else queueMicrotask(task)
}

const badConnectionFailure = (cause: Cause.Cause<unknown>): boolean => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason)) {
      const error = reason.error as { readonly _tag?: unknown } | null
      if (
        typeof error === "object" && error !== null &&
        (error._tag === "ConnectionError" || error._tag === "ProtocolError")
      ) return true
    } else if (Cause.isDieReason(reason)) {
      return true
    }
  }
  return false
}

const toConnectionError = (cause: Cause.Cause<unknown>, address: string | undefined): ConnectionError => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason) && reason.error instanceof ConnectionError) return reason.error
  }
  const squashed = Cause.squash(cause)
  return new ConnectionError({
    reason: "unknown",
    message: `dial failed: ${squashed instanceof Error ? squashed.message : String(squashed)}`,
    address,
    cause: squashed
  })
}

/** @internal */
export interface Metrics {
  readonly idle: Metric.Gauge<number>
  readonly used: Metric.Gauge<number>
  readonly pendingRequests: Metric.Gauge<number>
  readonly timeouts: Metric.Counter<number>
  readonly waitTime: Metric.Histogram<number>
  readonly createTime: Metric.Histogram<number>
}

const makeMetrics = (name: string): Metrics => {
  const pool = { "db.client.connection.pool.name": name }
  const seconds = Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 18 })
  return {
    idle: Metric.gauge("db.client.connection.count", {
      description: "Connections by state",
      attributes: { ...pool, "db.client.connection.state": "idle" }
    }),
    used: Metric.gauge("db.client.connection.count", {
      description: "Connections by state",
      attributes: { ...pool, "db.client.connection.state": "used" }
    }),
    pendingRequests: Metric.gauge("db.client.connection.pending_requests", {
      description: "Callers waiting for a connection",
      attributes: pool
    }),
    timeouts: Metric.counter("db.client.connection.timeouts", {
      description: "Checkouts that timed out",
      attributes: pool,
      incremental: true
    }),
    waitTime: Metric.histogram("db.client.connection.wait_time", {
      description: "Time in seconds a caller waited for a connection (slow path only)",
      attributes: pool,
      boundaries: seconds
    }),
    createTime: Metric.histogram("db.client.connection.create_time", {
      description: "Time in seconds to dial and handshake a connection",
      attributes: pool,
      boundaries: seconds
    })
  }
}

/** @internal */
export class PoolImpl<C extends Poolable> {
  readonly options: Resolved
  readonly dial: Effect.Effect<C, ConnectionError, Scope.Scope>
  readonly clock: Clock
  readonly context: Context.Context<never>
  readonly connsScope: Scope.Closeable
  readonly bgScope: Scope.Closeable
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly runDetached: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly metrics: Metrics

  closed = false
  readonly entries = new Map<C, Entry<C>>()
  readonly idle: Array<Entry<C>> = []
  readonly shared: Array<Entry<C>> = []
  turnsTaken = 0
  readonly waiters = new Set<Request<C>>()
  readonly sharedWaiters = new Set<SharedWaiter<C>>()
  exclusiveWaiting = 0
  retiring = 0
  inUse = 0
  draining = 0
  sharedInFlight = 0
  dialing = 0
  /** Dials by the breaker's probe (they hold no turn). */
  probing = 0
  refillDialing = 0
  growPending = false
  releasing = false
  pendingReleases = 0

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
    closed: 0
  }

  breakerOpen = false
  failures = 0
  /** Connections in a row that dialed fine but failed before any checkout on them succeeded. */
  earlyDeaths = 0
  /** The probe's backoff step, kept across reopenings while connections keep dying early. */
  probeAttempt = 0
  probeRunning = false
  failingSince: number | undefined = undefined
  lastError: ConnectionError | undefined = undefined

  drained: Deferred.Deferred<void> | undefined = undefined

  /**
   * Callers under the `poolTimeout` deadline, in arrival order. Every caller
   * gets the same timeout, so arrival order is deadline order and one sweeper
   * fiber sleeping until the first deadline times them all out.
   */
  readonly timed = new Set<Request<C> | SharedWaiter<C>>()
  wakeSweeper: (() => void) | undefined = undefined
  /** The pool clock at the reaper's last tick or the last clock read. */
  approxNow = 0

  constructor(
    options: Resolved,
    dial: Effect.Effect<C, ConnectionError, Scope.Scope>,
    clock: Clock,
    context: Context.Context<never>,
    connsScope: Scope.Closeable,
    bgScope: Scope.Closeable,
    runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  ) {
    this.options = options
    this.dial = dial
    this.clock = clock
    this.context = context
    this.connsScope = connsScope
    this.bgScope = bgScope
    this.runFork = runFork
    this.runDetached = Effect.runForkWith(context)
    this.metrics = makeMetrics(options.name)
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  // ---------------------------------------------------------------------------
  // Snapshots

  snapshot(): PoolSnapshot {
    return {
      total: this.entries.size,
      idle: this.idle.length,
      inUse: this.inUse + this.shared.length + this.draining,
      pending: this.waiters.size + this.sharedWaiters.size,
      max: this.options.poolSize
    }
  }

  stats(): Stats {
    return {
      hits: this.hits,
      misses: this.misses,
      timeouts: this.timeouts,
      waitCount: this.waitCount,
      waitDurationMillis: this.waitDurationMillis,
      total: this.entries.size,
      idle: this.idle.length,
      inUse: this.inUse,
      shared: this.shared.length,
      sharedInFlight: this.sharedInFlight,
      draining: this.draining,
      dialing: this.dialing,
      turnsInUse: this.turnsTaken,
      pendingWaiters: this.waiters.size + this.sharedWaiters.size,
      removals: { ...this.removals },
      breaker: {
        state: this.breakerOpen ? "open" : "closed",
        failures: this.failures,
        since: this.failingSince,
        lastError: this.lastError
      },
      closed: this.closed
    }
  }

  updateGauges(): void {
    const m = this.metrics
    m.idle.updateUnsafe(this.idle.length, this.context)
    m.used.updateUnsafe(this.entries.size - this.idle.length, this.context)
    m.pendingRequests.updateUnsafe(this.waiters.size + this.sharedWaiters.size, this.context)
  }

  // ---------------------------------------------------------------------------
  // Entries

  closeEntry(entry: Entry<C>, reason: RemovalReason): void {
    if (entry.state === CLOSED) return
    entry.state = CLOSED
    if (this.entries.delete(entry.conn)) this.removals[reason]++
    this.runDetached(Scope.close(entry.scope, Exit.void))
  }

  /**
   * Pops idle connections until a healthy one turns up; closes the others.
   *
   * The clock is read only for a connection whose lifetime or idle time ends
   * before the reaper's next tick (`approxNow` is the time of the last tick or
   * clock read): reading the clock costs more than the rest of a checkout on
   * some machines, and the reaper evicts the others. So expiry is exact while
   * the event loop keeps the reaper on time, and late by the reaper's delay
   * otherwise.
   */
  popHealthy(): Entry<C> | undefined {
    const idle = this.idle
    const maxIdle = this.options.connMaxIdleTime
    while (idle.length > 0) {
      const entry = this.options.poolFifo ? idle.shift()! : idle.pop()!
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
    if (this.closed) return this.closeEntry(entry, "closed")
    if (!entry.conn.isHealthy) return this.closeEntry(entry, "unhealthy")
    if (this.options.maxIdleConns > 0 && this.idle.length >= this.options.maxIdleConns) {
      return this.closeEntry(entry, "maxIdle")
    }
    entry.state = IDLE
    entry.retiring = false
    this.idle.push(entry)
  }

  // ---------------------------------------------------------------------------
  // Turns

  /**
   * Gives a turn back: to the oldest waiter if there is one, else to the pool.
   * Re-entrant calls (a granted waiter whose dial is refused at once gives its
   * turn on) are queued, so a long line of waiters never deepens the stack.
   */
  releaseTurn(): void {
    if (this.waiters.size === 0 && this.sharedWaiters.size === 0 && !this.releasing && this.options.minIdleConns === 0) {
      this.turnsTaken--
      return
    }
    this.pendingReleases++
    if (this.releasing) return
    this.releasing = true
    try {
      while (this.pendingReleases > 0) {
        this.pendingReleases--
        this.releaseOne()
      }
    } finally {
      this.releasing = false
    }
  }

  releaseOne(): void {
    for (const request of this.waiters) {
      this.waiters.delete(request)
      if (request.kind === EXCLUSIVE_REQ) this.exclusiveWaiting--
      if (request.state !== WAITING) continue
      this.grant(request, false)
      return
    }
    this.turnsTaken--
    if (this.sharedWaiters.size > 0) this.grow(true)
    else if (this.options.minIdleConns > 0) this.checkMinIdle()
  }

  /** Takes a free turn only if nobody is queued for one. */
  tryTakeTurn(): boolean {
    if (this.turnsTaken < this.options.poolSize && this.waiters.size === 0) {
      this.turnsTaken++
      return true
    }
    return false
  }

  canTakeIdle(): boolean {
    return !this.closed && this.idle.length > 0 && this.turnsTaken < this.options.poolSize && this.waiters.size === 0
  }

  /** Fast path of an exclusive checkout: a free turn and a healthy idle connection. */
  tryTakeIdle(): Entry<C> | undefined {
    if (this.closed || this.idle.length === 0 || !this.tryTakeTurn()) return undefined
    const entry = this.popHealthy()
    if (entry === undefined) {
      this.turnsTaken--
      return undefined
    }
    entry.state = EXCLUSIVE
    this.inUse++
    this.hits++
    if (this.options.minIdleConns > 0) this.checkMinIdle()
    return entry
  }

  /** The request now holds a turn. */
  grant(request: Request<C>, inline: boolean): void {
    request.state = GRANTED
    if (request.kind === GROW_REQ) {
      const entry = this.popHealthy()
      if (entry !== undefined) {
        this.growPending = false
        this.promote(entry)
      } else {
        request.phase = "dial"
        this.startDial(request)
      }
      return
    }
    const entry = this.popHealthy()
    if (entry !== undefined) {
      this.hits++
      this.deliver(request, entry, inline)
      if (this.options.minIdleConns > 0) this.checkMinIdle()
    } else {
      this.misses++
      request.phase = "dial"
      this.startDial(request)
    }
  }

  deliver(request: Request<C>, entry: Entry<C>, inline: boolean): void {
    entry.state = EXCLUSIVE
    this.inUse++
    request.state = DONE
    request.entry = entry
    this.timed.delete(request)
    if (request.queued) this.recordWait(request.start)
    const resume = request.resume!
    if (inline) resume(Effect.succeed(entry))
    else schedule(() => resume(Effect.succeed(entry)))
  }

  failRequest(request: Request<C>, error: AcquireError, inline: boolean): void {
    request.state = DONE
    this.timed.delete(request)
    const resume = request.resume
    if (resume === undefined) return
    if (inline) resume(Effect.fail(error))
    else schedule(() => resume(Effect.fail(error)))
  }

  /** Registers an exclusive request: grants it now if a turn is free, else queues it. */
  submit(request: Request<C>): void {
    if (this.tryTakeTurn()) return this.grant(request, true)
    request.queued = true
    this.waiters.add(request)
    this.exclusiveWaiting++
    this.retireShared()
  }

  /** Interruption (or timeout) of an exclusive request: give back what it was handed. */
  cancel(request: Request<C>): void {
    const state = request.state
    request.state = CANCELLED
    this.timed.delete(request)
    if (state === WAITING) {
      if (this.waiters.delete(request)) this.exclusiveWaiting--
    } else if (state === DONE && request.entry !== undefined) {
      const entry = request.entry
      request.entry = undefined
      this.releaseExclusive(entry, Exit.void)
    }
    // GRANTED: a dial is under way for it; its completion hands the result on.
  }

  // ---------------------------------------------------------------------------
  // Exclusive checkout

  acquireSlow(): Effect.Effect<Entry<C>, AcquireError> {
    return Effect.callback<Entry<C>, AcquireError>((resume) => {
      if (this.closed) return resume(Effect.fail(new PoolClosedError({ message: "the pool is closed" })))
      const start = this.now()
      const request: Request<C> = {
        kind: EXCLUSIVE_REQ,
        start,
        deadline: start + this.options.poolTimeout,
        state: WAITING,
        phase: "turn",
        queued: false,
        entry: undefined,
        resume
      }
      this.submit(request)
      // Even when the request is already served, its resumption may be
      // scheduled (a dial can complete inside `submit`): the cancellation hook
      // must stay in place to give back what an interrupted caller was handed.
      if (request.state !== DONE) this.addTimed(request)
      return Effect.sync(() => this.cancel(request))
    })
  }

  recordWait(start: number): void {
    const waited = this.now() - start
    this.waitCount++
    this.waitDurationMillis += waited
    this.metrics.waitTime.updateUnsafe(waited / 1000, this.context)
  }

  addTimed(waiter: Request<C> | SharedWaiter<C>): void {
    this.timed.add(waiter)
    if (this.timed.size === 1 && this.wakeSweeper !== undefined) {
      const wake = this.wakeSweeper
      this.wakeSweeper = undefined
      schedule(wake)
    }
  }

  /** Fails every caller whose deadline has passed. */
  expire(now: number): void {
    for (const waiter of this.timed) {
      if (waiter.deadline > now) return
      this.timed.delete(waiter)
      if (waiter.kind === SHARED_REQ) {
        const shared = waiter as SharedWaiter<C>
        if (shared.state !== WAITING) continue
        shared.state = CANCELLED
        this.sharedWaiters.delete(shared)
        const resume = shared.resume!
        const error = this.timeoutError(this.growPending ? "dial" : "turn", shared.start)
        schedule(() => resume(Effect.fail(error)))
      } else {
        const request = waiter as Request<C>
        const state = request.state
        if (state !== WAITING && state !== GRANTED) continue
        request.state = CANCELLED
        if (state === WAITING && this.waiters.delete(request)) this.exclusiveWaiting--
        const resume = request.resume!
        const error = this.timeoutError(request.phase, request.start)
        schedule(() => resume(Effect.fail(error)))
      }
    }
  }

  /** The fiber that enforces `poolTimeout` for every waiting caller. */
  sweeper(): Effect.Effect<void> {
    const idle = Effect.callback<void>((resume) => {
      this.wakeSweeper = () => resume(Effect.void)
      return Effect.sync(() => {
        this.wakeSweeper = undefined
      })
    })
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (this.closed) return Effect.void
      const first = this.timed.values().next()
      if (first.done === true) return Effect.flatMap(idle, () => loop)
      const now = this.now()
      if (first.value.deadline > now) return Effect.flatMap(Effect.sleep(first.value.deadline - now), () => loop)
      this.expire(now)
      return loop
    })
    return loop
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

  /** Decides, from the exit and the connection's state, where a returned connection goes. */
  releaseExclusive(entry: Entry<C>, exit: Exit.Exit<unknown, unknown>): undefined {
    if (entry.state !== EXCLUSIVE) return undefined
    this.inUse--
    if (this.closed) {
      this.closeEntry(entry, "closed")
      this.turnsTaken--
      this.checkDrained()
      return undefined
    }
    const conn = entry.conn
    if (exit._tag === "Success") {
      if (!entry.proven) this.proved(entry)
    } else if (!entry.proven && !Cause.hasInterruptsOnly(exit.cause) && (!conn.isHealthy || badConnectionFailure(exit.cause))) {
      this.diedEarly(exit.cause)
    }
    if (!conn.isHealthy) {
      this.closeEntry(entry, "unhealthy")
    } else if (exit._tag === "Failure" && badConnectionFailure(exit.cause)) {
      this.closeEntry(entry, "error")
    } else if (conn.pending > 0) {
      this.drain(entry)
      return undefined
    } else {
      this.putIdle(entry)
    }
    this.releaseTurn()
    return undefined
  }

  /**
   * A healthy connection came back with replies still pending (its caller was
   * interrupted mid-command). It keeps its turn while the replies land, for at
   * most `drainTimeout`; then it goes idle, or is closed if they did not come.
   */
  drain(entry: Entry<C>): void {
    entry.state = DRAINING
    this.draining++
    this.runFork(
      Effect.onExit(
        Effect.timeoutOrElse(entry.conn.awaitIdle, {
          duration: this.options.drainTimeout,
          orElse: () => Effect.void
        }),
        () =>
          Effect.sync(() => {
            if (entry.state !== DRAINING) return
            this.draining--
            if (this.closed) {
              this.closeEntry(entry, "closed")
              this.turnsTaken--
              this.checkDrained()
              return
            }
            if (entry.conn.isHealthy && entry.conn.pending === 0) this.putIdle(entry)
            else this.closeEntry(entry, entry.conn.isHealthy ? "error" : "unhealthy")
            this.releaseTurn()
          })
      )
    )
  }

  /** Closes a connection now, wherever it is, and frees its turn if it held one. */
  remove(conn: C): void {
    const entry = this.entries.get(conn)
    if (entry === undefined) return
    switch (entry.state) {
      case IDLE: {
        const i = this.idle.indexOf(entry)
        if (i >= 0) this.idle.splice(i, 1)
        this.closeEntry(entry, "error")
        return
      }
      case EXCLUSIVE: {
        this.inUse--
        this.closeEntry(entry, "error")
        break
      }
      case SHARED: {
        this.dropShared(entry)
        this.closeEntry(entry, "error")
        break
      }
      case DRAINING: {
        this.draining--
        this.closeEntry(entry, "error")
        break
      }
      default:
        return
    }
    if (this.closed) {
      this.turnsTaken--
      this.checkDrained()
    } else {
      this.releaseTurn()
    }
  }

  // ---------------------------------------------------------------------------
  // Dialing and the breaker

  startDial(request: Request<C>): void {
    if (this.closed) {
      if (request.kind === GROW_REQ) this.growPending = false
      this.turnsTaken--
      return this.failRequest(request, new PoolClosedError({ message: "the pool is closed" }), false)
    }
    if (this.breakerOpen) return this.dialRefused(request, this.circuitOpenError())
    const maxActive = this.options.maxActiveConns
    if (maxActive > 0 && this.entries.size + this.dialing >= maxActive) {
      return this.dialRefused(
        request,
        new PoolExhaustedError({
          maxActiveConns: maxActive,
          pool: this.snapshot(),
          message: `connection pool exhausted: ${this.entries.size + this.dialing} of maxActiveConns ${maxActive} open`
        })
      )
    }
    this.dialing++
    if (request.kind === REFILL_REQ) this.refillDialing++
    const start = this.now()
    this.runFork(this.dialOnce((scope, exit) => this.dialDone(request, scope, exit, start)))
  }

  /**
   * Dials once into a new child scope of `connsScope`, bounded by
   * `dialTimeout`. The dial is interruptible (closing the pool interrupts
   * it); `onDone`, the bookkeeping, is not.
   */
  dialOnce<A>(
    onDone: (scope: Scope.Closeable, exit: Exit.Exit<C, ConnectionError>) => Effect.Effect<A>
  ): Effect.Effect<A> {
    return Effect.uninterruptibleMask((restore) => {
      const scope = Scope.forkUnsafe(this.connsScope)
      return Effect.flatMap(
        Effect.exit(restore(
          Effect.timeoutOrElse(Scope.provide(this.dial, scope), {
            duration: this.options.dialTimeout,
            orElse: () =>
              Effect.fail(
                new ConnectionError({
                  reason: "timeout",
                  message: `dial did not complete within dialTimeout ${this.options.dialTimeout} ms`
                })
              )
          })
        )),
        (exit) => onDone(scope, exit)
      )
    })
  }

  newEntry(conn: C, scope: Scope.Closeable): Entry<C> {
    const now = this.approxNow = this.now()
    const entry: Entry<C> = {
      conn,
      scope,
      success: Exit.succeed(conn),
      createdAt: now,
      expiresAt: expiresAt(now, this.options.connMaxLifetime, this.options.connMaxLifetimeJitter, Math.random()),
      state: IDLE,
      inFlight: 0,
      retiring: false,
      lastUsed: now,
      proven: false
    }
    this.entries.set(conn, entry)
    return entry
  }

  dialRefused(request: Request<C>, error: AcquireError): void {
    if (request.kind === GROW_REQ && this.shared.length === 0) this.failSharedWaiters(error)
    if (request.kind === EXCLUSIVE_REQ) this.failRequest(request, error, false)
    this.releaseTurnAfterFailedDial(request)
  }

  releaseTurnAfterFailedDial(request: Request<C>): void {
    if (request.kind === GROW_REQ) this.growPending = false
    this.releaseTurn()
  }

  dialDone(
    request: Request<C>,
    scope: Scope.Closeable,
    exit: Exit.Exit<C, ConnectionError>,
    start: number
  ): Effect.Effect<void> {
    this.dialing--
    if (request.kind === REFILL_REQ) this.refillDialing--
    if (exit._tag === "Failure") {
      const interrupted = Cause.hasInterruptsOnly(exit.cause)
      const error = interrupted
        ? new PoolClosedError({ message: "the pool closed while dialing" })
        : toConnectionError(exit.cause, undefined)
      if (!interrupted && error._tag === "ConnectionError") this.dialFailed(error)
      if (request.kind === GROW_REQ && this.shared.length === 0) this.failSharedWaiters(error)
      if (request.kind === EXCLUSIVE_REQ && request.state === GRANTED) this.failRequest(request, error, false)
      if (this.closed) {
        if (request.kind === GROW_REQ) this.growPending = false
        this.turnsTaken--
        this.checkDrained()
      } else {
        this.releaseTurnAfterFailedDial(request)
      }
      return Scope.close(scope, exit)
    }
    this.dialSucceeded()
    const entry = this.newEntry(exit.value, scope)
    this.metrics.createTime.updateUnsafe((entry.createdAt - start) / 1000, this.context)
    if (this.closed) {
      this.closeEntry(entry, "closed")
      this.turnsTaken--
      this.checkDrained()
      if (request.kind === EXCLUSIVE_REQ && request.state === GRANTED) {
        this.failRequest(request, new PoolClosedError({ message: "the pool is closed" }), false)
      }
      return Effect.void
    }
    if (request.kind === EXCLUSIVE_REQ && request.state === GRANTED) {
      this.deliver(request, entry, false)
    } else if (request.kind === GROW_REQ) {
      this.growPending = false
      this.promote(entry)
    } else {
      // A refill, or a caller who left while its dial was under way: the
      // connection goes idle and the turn to the next waiter, who takes it.
      this.putIdle(entry)
      this.releaseTurn()
    }
    return Effect.void
  }

  dialFailed(error: ConnectionError): void {
    this.failures++
    if (this.failingSince === undefined) this.failingSince = this.now()
    this.lastError = error
    if (!this.breakerOpen && this.failures >= this.options.breakerThreshold) {
      this.breakerOpen = true
      this.startProbe()
    }
  }

  /** A checkout on a new connection succeeded: connections are not dying at birth. */
  proved(entry: Entry<C>): void {
    entry.proven = true
    // Half-open: the breaker that early deaths opened closes once a connection serves a caller.
    if (this.breakerOpen && this.earlyDeaths >= this.options.breakerThreshold) this.dialSucceeded()
    this.earlyDeaths = 0
    this.probeAttempt = 0
  }

  /**
   * A connection failed before any checkout on it succeeded (a server that
   * accepts, handshakes, then answers garbage or hangs up). Dials succeed
   * there, so without this the pool would redial at once, for every caller:
   * `breakerThreshold` such deaths in a row open the breaker like failed dials.
   * Its probe's connection then serves callers while the breaker stays open
   * (half-open): the breaker closes when that connection proves itself, and
   * the probe backs off further when it dies too.
   */
  diedEarly(cause: Cause.Cause<unknown>): void {
    this.earlyDeaths++
    if (this.closed || this.earlyDeaths < this.options.breakerThreshold) return
    if (this.breakerOpen) return this.startProbe()
    const error = Cause.squash(cause)
    this.lastError = new ConnectionError({
      reason: error instanceof ConnectionError ? error.reason : "unknown",
      message: `${this.earlyDeaths} connections in a row failed before their first reply: ${
        error instanceof Error ? error.message : String(error)
      }`,
      address: error instanceof ConnectionError ? error.address : undefined,
      cause: error
    })
    this.failures = this.earlyDeaths
    if (this.failingSince === undefined) this.failingSince = this.now()
    this.breakerOpen = true
    this.startProbe()
  }

  dialSucceeded(): void {
    this.failures = 0
    this.failingSince = undefined
    this.lastError = undefined
    this.breakerOpen = false
  }

  circuitOpenError(): CircuitOpenError {
    const lastError = this.lastError ?? new ConnectionError({ reason: "unknown", message: "dial failed" })
    return new CircuitOpenError({
      lastError,
      since: this.failingSince ?? this.now(),
      failures: this.failures,
      message: `dial breaker open after ${this.failures} consecutive dial failures: ${lastError.message}`
    })
  }

  /**
   * One probe fiber while the breaker is open: it dials with exponential
   * backoff and jitter until a dial succeeds. The probe's connection joins the
   * idle list when there is room, so the first caller after recovery reuses it.
   */
  startProbe(): void {
    if (this.probeRunning) return
    this.probeRunning = true
    if (this.earlyDeaths < this.options.breakerThreshold) this.probeAttempt = 0
    const probe: Effect.Effect<void> = Effect.suspend(() => {
      if (!this.breakerOpen || this.closed) return Effect.void
      const base = Math.min(this.options.probeBackoffMax, this.options.probeBackoffMin * 2 ** this.probeAttempt)
      this.probeAttempt++
      const delay = Math.round(base * (0.5 + Math.random()))
      return Effect.flatMap(Effect.sleep(delay), () => {
        if (!this.breakerOpen || this.closed) return Effect.void
        this.probing++
        return Effect.flatMap(
          this.dialOnce((scope, exit): Effect.Effect<boolean> => {
            this.probing--
            if (exit._tag === "Failure") {
              if (!Cause.hasInterruptsOnly(exit.cause)) {
                this.failures++
                this.lastError = toConnectionError(exit.cause, undefined)
              }
              return Effect.as(Scope.close(scope, exit), false)
            }
            // Half-open after early deaths: the breaker stays open until a connection serves a caller
            // (see `proved`), and the probe goes on, backing off, in case this one dies too.
            const halfOpen = this.earlyDeaths >= this.options.breakerThreshold
            if (!halfOpen) this.dialSucceeded()
            const entry = this.newEntry(exit.value, scope)
            if (this.closed || this.entries.size + this.dialing > this.options.poolSize) {
              this.closeEntry(entry, "maxIdle")
            } else {
              this.putIdle(entry)
              if (this.sharedWaiters.size > 0) this.grow(true)
            }
            return Effect.succeed(!halfOpen)
          }),
          // The next attempt starts outside the uninterruptible bookkeeping, so
          // closing the pool can interrupt the probe's backoff.
          (recovered) => (recovered ? Effect.void : probe)
        )
      })
    })
    this.runFork(Effect.ensuring(probe, Effect.sync(() => void (this.probeRunning = false))))
  }

  // ---------------------------------------------------------------------------
  // minIdleConns and the reaper

  /** Whether a dial would be attempted now (not refused by the breaker or `maxActiveConns`). */
  canDial(): boolean {
    const maxActive = this.options.maxActiveConns
    return !this.breakerOpen && (maxActive === 0 || this.entries.size + this.dialing < maxActive)
  }

  checkMinIdle(): void {
    const o = this.options
    while (
      !this.closed && this.canDial() &&
      this.idle.length + this.refillDialing < o.minIdleConns &&
      this.entries.size + this.dialing < o.poolSize &&
      this.refillDialing < o.maxConcurrentDials &&
      this.tryTakeTurn()
    ) {
      this.startDial({
        kind: REFILL_REQ,
        start: 0,
        deadline: Infinity,
        state: GRANTED,
        phase: "dial",
        queued: false,
        entry: undefined,
        resume: undefined
      })
    }
  }

  reap(): void {
    if (this.closed) return
    const now = this.approxNow = this.now()
    const o = this.options
    const keep: Array<Entry<C>> = []
    for (const entry of this.idle) {
      if (now >= entry.expiresAt) this.closeEntry(entry, "lifetime")
      else if (o.connMaxIdleTime > 0 && now - Math.max(entry.lastUsed, entry.conn.usedAt) >= o.connMaxIdleTime) {
        this.closeEntry(entry, "idleTime")
      } else if (!entry.conn.isHealthy) this.closeEntry(entry, "unhealthy")
      else keep.push(entry)
    }
    if (keep.length !== this.idle.length) {
      this.idle.length = 0
      for (const entry of keep) this.idle.push(entry)
    }
    for (const entry of this.shared.slice()) {
      if (!entry.conn.isHealthy) {
        this.dropShared(entry)
        this.closeEntry(entry, "unhealthy")
        this.releaseTurn()
      } else if (entry.inFlight === 0 && now - Math.max(entry.lastUsed, entry.conn.usedAt) >= o.sharedIdleTime) {
        this.demote(entry)
      }
    }
    this.checkMinIdle()
    this.updateGauges()
  }

  startReaper(): void {
    this.runFork(this.sweeper())
    this.runFork(
      Effect.repeat(
        Effect.sync(() => this.reap()),
        Schedule.spaced(this.options.reaperFrequency)
      )
    )
    if (this.options.minIdleConns > 0) this.checkMinIdle()
  }

  // ---------------------------------------------------------------------------
  // Shared (pipelined) use

  /** The least loaded shared connection that takes callers, if any is under `maxInFlight`. */
  pickShared(): Entry<C> | undefined {
    const shared = this.shared
    let best: Entry<C> | undefined
    for (let i = 0; i < shared.length; i++) {
      const entry = shared[i]!
      if (entry.retiring) continue
      if (best === undefined || entry.inFlight < best.inFlight) {
        best = entry
        if (entry.inFlight === 0) break
      }
    }
    return best !== undefined && best.inFlight < this.options.maxInFlight ? best : undefined
  }

  /** Adds a connection that holds a turn to the shared set and serves waiting callers from it. */
  promote(entry: Entry<C>): void {
    entry.state = SHARED
    entry.retiring = false
    entry.lastUsed = this.now()
    this.shared.push(entry)
    this.serveSharedWaiters(entry)
  }

  serveSharedWaiters(entry: Entry<C>): void {
    for (const waiter of this.sharedWaiters) {
      if (entry.state !== SHARED || entry.retiring || entry.inFlight >= this.options.maxInFlight) return
      this.sharedWaiters.delete(waiter)
      if (waiter.state !== WAITING) continue
      entry.inFlight++
      this.sharedInFlight++
      waiter.state = DONE
      waiter.entry = entry
      const resume = waiter.resume!
      this.timed.delete(waiter)
      this.recordWait(waiter.start)
      schedule(() => resume(Effect.succeed(entry)))
    }
  }

  /**
   * Grows the shared set by one connection: from the idle list at once, or by a
   * dial. `queue` lets the growth wait for a turn behind exclusive callers (used
   * when shared callers have nothing to run on); otherwise it happens only when
   * a turn is free now.
   */
  grow(queue: boolean): void {
    // A refused dial gives its turn back at once; growing again on that turn
    // would loop, so grow only when an idle connection or a dial can serve.
    if (this.growPending || this.closed || (this.idle.length === 0 && !this.canDial())) return
    const request: Request<C> = {
      kind: GROW_REQ,
      start: 0,
      deadline: Infinity,
      state: WAITING,
      phase: "turn",
      queued: false,
      entry: undefined,
      resume: undefined
    }
    if (this.tryTakeTurn()) {
      this.growPending = true
      this.grant(request, true)
    } else if (queue) {
      this.growPending = true
      request.queued = true
      this.waiters.add(request)
    }
  }

  /** Takes a connection out of the shared set (it still holds its turn). */
  dropShared(entry: Entry<C>): void {
    const i = this.shared.indexOf(entry)
    if (i >= 0) this.shared.splice(i, 1)
    if (entry.retiring) {
      entry.retiring = false
      this.retiring--
    }
    this.sharedInFlight -= entry.inFlight
  }

  /** Moves a shared connection without callers back to the idle list and frees its turn. */
  demote(entry: Entry<C>): void {
    this.dropShared(entry)
    if (entry.conn.pending > 0) {
      this.drain(entry)
      return
    }
    this.putIdle(entry)
    this.releaseTurn()
  }

  /**
   * An exclusive caller waits for a turn while shared connections hold turns:
   * retire one shared connection per such caller. A retiring connection takes
   * no new callers and goes back to the idle list when its last caller leaves.
   * The last busy shared connection is kept while an exclusive checkout, a dial
   * or a drain holds a turn that will come back: otherwise a crowd of blocking
   * commands waiting for turns would take the pipeline from every plain command.
   */
  retireShared(): void {
    if (this.shared.length === 0 || this.retiring >= this.exclusiveWaiting) return
    let best: Entry<C> | undefined
    let active = 0
    for (const entry of this.shared) {
      if (entry.retiring) continue
      active++
      if (best === undefined || entry.inFlight < best.inFlight) best = entry
    }
    if (best === undefined) return
    if (best.inFlight === 0) return this.demote(best)
    if (active === 1 && this.turnsTaken > this.shared.length) return
    best.retiring = true
    this.retiring++
  }

  releaseShared(entry: Entry<C>, exit: Exit.Exit<unknown, unknown>): undefined {
    entry.inFlight--
    // Removed (closed) while this caller ran: `dropShared` already settled its counts.
    if (entry.state !== SHARED) return undefined
    this.sharedInFlight--
    if (this.closed) {
      if (entry.inFlight === 0) {
        this.dropShared(entry)
        this.closeEntry(entry, "closed")
        this.turnsTaken--
        this.checkDrained()
      }
      return undefined
    }
    if (exit._tag === "Success") {
      if (!entry.proven) this.proved(entry)
    } else if (!entry.conn.isHealthy || badConnectionFailure(exit.cause)) {
      if (!entry.proven && !Cause.hasInterruptsOnly(exit.cause)) this.diedEarly(exit.cause)
      this.dropShared(entry)
      this.closeEntry(entry, entry.conn.isHealthy ? "error" : "unhealthy")
      this.releaseTurn()
      return undefined
    }
    if (!entry.conn.isHealthy) {
      this.dropShared(entry)
      this.closeEntry(entry, "unhealthy")
      this.releaseTurn()
      return undefined
    }
    if (entry.retiring) {
      if (entry.inFlight === 0) this.demote(entry)
      return undefined
    }
    if (this.sharedWaiters.size > 0) this.serveSharedWaiters(entry)
    return undefined
  }

  failSharedWaiters(error: AcquireError): void {
    for (const waiter of this.sharedWaiters) {
      this.sharedWaiters.delete(waiter)
      if (waiter.state !== WAITING) continue
      waiter.state = DONE
      this.timed.delete(waiter)
      const resume = waiter.resume!
      schedule(() => resume(Effect.fail(error)))
    }
  }

  cancelShared(waiter: SharedWaiter<C>): void {
    const state = waiter.state
    waiter.state = CANCELLED
    this.timed.delete(waiter)
    if (state === WAITING) {
      this.sharedWaiters.delete(waiter)
    } else if (waiter.entry !== undefined) {
      const entry = waiter.entry
      waiter.entry = undefined
      this.releaseShared(entry, Exit.void)
    }
  }

  /** Picks a shared connection synchronously, growing the set when all are busy. */
  takeShared(): Entry<C> | undefined {
    let entry = this.pickShared()
    if (entry === undefined || entry.inFlight >= this.options.sharedGrowAt) {
      if (!this.growPending && (this.idle.length > 0 || this.entries.size + this.dialing < this.options.poolSize)) {
        this.grow(entry === undefined && this.shared.length === 0)
        entry = this.pickShared()
      }
    }
    if (entry !== undefined) {
      entry.inFlight++
      this.sharedInFlight++
    }
    return entry
  }

  acquireSharedSlow(): Effect.Effect<Entry<C>, AcquireError> {
    return Effect.callback<Entry<C>, AcquireError>((resume) => {
      if (this.closed) return resume(Effect.fail(new PoolClosedError({ message: "the pool is closed" })))
      if (this.breakerOpen && this.shared.length === 0 && this.idle.length === 0) {
        return resume(Effect.fail(this.circuitOpenError()))
      }
      const start = this.now()
      const waiter: SharedWaiter<C> = {
        kind: SHARED_REQ,
        start,
        deadline: start + this.options.poolTimeout,
        state: WAITING,
        entry: undefined,
        resume
      }
      this.sharedWaiters.add(waiter)
      this.addTimed(waiter)
      if (this.shared.length === 0 || !this.growPending) this.grow(this.shared.length === 0)
      return Effect.sync(() => this.cancelShared(waiter))
    })
  }

  // ---------------------------------------------------------------------------
  // Close

  checkDrained(): void {
    if (this.drained !== undefined && this.inUse === 0 && this.shared.length === 0 && this.draining === 0) {
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
      const closedError = new PoolClosedError({ message: "the pool closed" })
      for (const request of this.waiters) {
        this.waiters.delete(request)
        if (request.state === WAITING) this.failRequest(request, closedError, false)
      }
      this.exclusiveWaiting = 0
      this.failSharedWaiters(closedError)
      for (const entry of this.idle) this.closeEntry(entry, "closed")
      this.idle.length = 0
      for (const entry of this.shared.slice()) {
        if (entry.inFlight === 0) {
          this.dropShared(entry)
          this.closeEntry(entry, "closed")
          this.turnsTaken--
        }
      }
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
                if (entry.state !== CLOSED) {
                  entry.state = CLOSED
                  this.removals.closed++
                }
              }
              this.entries.clear()
              this.shared.length = 0
              this.inUse = 0
              this.sharedInFlight = 0
              this.draining = 0
              this.turnsTaken = this.dialing
              this.updateGauges()
              return Scope.close(this.connsScope, Exit.void)
            })
        ))
    })
  }
}

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
