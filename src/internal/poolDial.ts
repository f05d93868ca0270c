/**
 * Dialing: every new connection of the pool is dialed here, in a fiber the
 * pool owns (a caller who leaves does not abort its dial: the connection goes
 * to the next waiter or the idle list), into a child scope of the pool's, under
 * `dialTimeout`, refused at once while the breaker is open or `maxActiveConns`
 * is reached. Refills toward `minIdleConns` and the breaker's probe dial here
 * too.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { ConnectionError, PoolClosedError, PoolExhaustedError } from "../Errors.ts"
import type { Poolable } from "../Pool.ts"
import { type AcquireError, type PoolImpl, Request } from "./pool.ts"
import type { Entry } from "./poolEntry.ts"
import { expiresAt } from "./poolOptions.ts"

const closedError = () => new PoolClosedError({ message: "the pool is closed" })

const toConnectionError = (cause: Cause.Cause<unknown>): ConnectionError => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason) && reason.error instanceof ConnectionError) return reason.error
  }
  const squashed = Cause.squash(cause)
  return new ConnectionError({
    reason: "unknown",
    message: `dial failed: ${squashed instanceof Error ? squashed.message : String(squashed)}`,
    cause: squashed
  })
}

/** Whether a dial would be attempted now (not refused by the breaker or `maxActiveConns`). */
export const canDial = <C extends Poolable>(pool: PoolImpl<C>): boolean => {
  const maxActive = pool.options.maxActiveConns
  return !pool.breaker.open && (maxActive === 0 || pool.entries.size + pool.dialing < maxActive)
}

/** Dials for a request that holds a turn. */
export const dialFor = <C extends Poolable>(pool: PoolImpl<C>, request: Request<C>): void => {
  request.phase = "dial"
  // Stryker disable all: a guard no path reaches: acquireSlow, grow and checkMinIdle check closed before they
  // take a turn, and close empties the turn queue, so no request is granted a turn after it
  if (pool.closed) {
    if (request.kind === "grow") pool.shared.growPending = false
    pool.turns.forfeit()
    return pool.failRequest(request, closedError(), false)
  }
  // Stryker restore all
  if (pool.breaker.open) return refused(pool, request, pool.breaker.error())
  const maxActive = pool.options.maxActiveConns
  if (maxActive > 0 && pool.entries.size + pool.dialing >= maxActive) {
    return refused(
      pool,
      request,
      new PoolExhaustedError({
        maxActiveConns: maxActive,
        pool: pool.snapshot(),
        message: `connection pool exhausted: ${pool.entries.size + pool.dialing} of maxActiveConns ${maxActive} open`
      })
    )
  }
  pool.dialing++
  if (request.kind === "refill") pool.refillDialing++
  const start = pool.now()
  pool.runFork(dialOnce(pool, (scope, exit) => dialDone(pool, request, scope, exit, start)))
}

/**
 * Dials once into a new child scope of `connsScope`, bounded by `dialTimeout`.
 * The dial is interruptible (closing the pool interrupts it); `onDone`, the
 * bookkeeping, is not.
 */
const dialOnce = <C extends Poolable, A>(
  pool: PoolImpl<C>,
  onDone: (scope: Scope.Closeable, exit: Exit.Exit<C, ConnectionError>) => Effect.Effect<A>
): Effect.Effect<A> =>
  Effect.uninterruptibleMask((restore) => {
    const scope = Scope.forkUnsafe(pool.connsScope)
    return Effect.flatMap(
      Effect.exit(restore(
        Effect.timeoutOrElse(Scope.provide(pool.dial, scope), {
          duration: pool.options.dialTimeout,
          orElse: () =>
            Effect.fail(
              new ConnectionError({
                reason: "timeout",
                message: `dial did not complete within dialTimeout ${pool.options.dialTimeout} ms`
              })
            )
        })
      )),
      (exit) => onDone(scope, exit)
    )
  })

const newEntry = <C extends Poolable>(pool: PoolImpl<C>, conn: C, scope: Scope.Closeable): Entry<C> => {
  const now = pool.approxNow = pool.now()
  const entry: Entry<C> = {
    conn,
    scope,
    success: Exit.succeed(conn),
    createdAt: now,
    expiresAt: expiresAt(now, pool.options.connMaxLifetime, pool.options.connMaxLifetimeJitter, Math.random()),
    // Stryker disable next-line StringLiteral: equivalent, every caller sets the state in the same step
    state: "idle",
    inFlight: 0,
    // Stryker disable next-line BooleanLiteral: equivalent, only shared connections read it; promote and putIdle reset it
    retiring: false,
    retired: false,
    lastUsed: now,
    proven: false
  }
  pool.entries.set(conn, entry)
  return entry
}

/** A dial refused before it started: the request fails and its turn goes on. */
const refused = <C extends Poolable>(pool: PoolImpl<C>, request: Request<C>, error: AcquireError): void => {
  if (request.kind === "grow") {
    if (pool.shared.entries.length === 0) pool.shared.failWaiters(error)
    pool.shared.growPending = false
  }
  if (request.kind === "exclusive") pool.failRequest(request, error, false)
  pool.turns.giveBack()
}

const dialDone = <C extends Poolable>(
  pool: PoolImpl<C>,
  request: Request<C>,
  scope: Scope.Closeable,
  exit: Exit.Exit<C, ConnectionError>,
  start: number
): Effect.Effect<void> => {
  pool.dialing--
  if (request.kind === "refill") pool.refillDialing--
  if (exit._tag === "Failure") {
    const interrupted = Cause.hasInterruptsOnly(exit.cause)
    const error = interrupted
      ? new PoolClosedError({ message: "the pool closed while dialing" })
      : toConnectionError(exit.cause)
    // Stryker disable next-line LogicalOperator: equivalent, error is a ConnectionError exactly when not interrupted
    if (!interrupted && error._tag === "ConnectionError") pool.breaker.dialFailed(error)
    if (request.kind === "refill") pool.warmed(error._tag === "ConnectionError" ? error : undefined)
    if (request.kind === "grow" && pool.shared.entries.length === 0) pool.shared.failWaiters(error)
    // Mutation testing: the `true` variants are equivalent (a grow or refill request has no caller to fail; a cancelled
    // caller was resumed already, and a second resume is ignored); `false` is killed (Pool.test.ts).
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent `true` variants, see above
    if (request.kind === "exclusive" && request.state === "granted") pool.failRequest(request, error, false)
    if (request.kind === "grow") pool.shared.growPending = false
    if (pool.closed) {
      pool.turns.forfeit()
      // Stryker disable next-line CallExpression: equivalent, a failed dial changes nothing the close waits for
      pool.checkDrained()
    } else {
      pool.turns.giveBack()
    }
    return Scope.close(scope, exit)
  }
  // Half-open (opened by connections that died before their first reply), a dial proves nothing: only a
  // connection that serves a caller closes the breaker (`proved`), as for the probe's connections below.
  if (!pool.breaker.halfOpen) pool.breaker.dialSucceeded()
  const entry = newEntry(pool, exit.value, scope)
  pool.metrics.createTime.updateUnsafe((entry.createdAt - start) / 1000, pool.context)
  if (pool.closed) {
    pool.closeAfterClose(entry)
    // Mutation testing: the `true` variants are equivalent (a grow or refill request has no caller to fail; a cancelled
    // caller was resumed already, and a second resume is ignored); `false` is killed (poolDialRaces.test.ts).
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent `true` variants, see above
    if (request.kind === "exclusive" && request.state === "granted") pool.failRequest(request, closedError(), false)
    return Effect.void
  }
  if (request.kind === "exclusive" && request.state === "granted") {
    // Stryker disable next-line BooleanLiteral: equivalent, nothing follows here: resuming now or next tick is alike
    pool.deliver(request, entry, false)
  } else if (request.kind === "grow") {
    pool.shared.growPending = false
    pool.shared.promote(entry)
  } else {
    // A refill, or a caller who left while its dial was under way: the
    // connection goes idle and the turn to the next waiter, who takes it.
    pool.putIdle(entry)
    pool.turns.giveBack()
    if (request.kind === "refill") pool.warmed(undefined)
  }
  return Effect.void
}

/**
 * The breaker's probe: one dial that holds no turn. Its connection joins the
 * idle list when there is room, so the first caller after recovery reuses it;
 * half-open, the breaker stays open until that connection serves a caller.
 */
export const probe = <C extends Poolable>(pool: PoolImpl<C>): Effect.Effect<boolean> => {
  // Stryker disable next-line UpdateOperator: equivalent, nothing reads pool.probing
  pool.probing++
  return dialOnce(pool, (scope, exit): Effect.Effect<boolean> => {
    // Stryker disable next-line UpdateOperator: equivalent, nothing reads pool.probing
    pool.probing--
    if (exit._tag === "Failure") {
      if (!Cause.hasInterruptsOnly(exit.cause)) pool.breaker.probeFailed(toConnectionError(exit.cause))
      return Effect.as(Scope.close(scope, exit), false)
    }
    const halfOpen = pool.breaker.halfOpen
    if (!halfOpen) pool.breaker.dialSucceeded()
    const entry = newEntry(pool, exit.value, scope)
    if (!pool.closed && pool.entries.size + pool.dialing > pool.turns.size) {
      pool.closeEntry(entry, "maxIdle")
    } else {
      // On a closed pool (the dial completed inside the close) `putIdle` closes it as "closed".
      pool.putIdle(entry)
      if (pool.shared.waiters.size > 0) pool.shared.grow(true)
    }
    return Effect.succeed(!halfOpen)
  })
}

/** Dials toward `minIdleConns`, at most `maxConcurrentDials` at once, on free turns only. */
export const checkMinIdle = <C extends Poolable>(pool: PoolImpl<C>): void => {
  const o = pool.options
  while (
    !pool.closed && canDial(pool) &&
    pool.idle.length + pool.refillDialing < o.minIdleConns &&
    pool.entries.size + pool.dialing < pool.turns.size &&
    pool.refillDialing < o.maxConcurrentDials &&
    pool.turns.tryTake()
  ) {
    dialFor(pool, new Request(pool, "refill"))
  }
}
