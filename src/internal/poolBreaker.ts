/**
 * The dial breaker (go-redis's `dialErrorsNum`/`lastDialError`, made a
 * breaker): after `threshold` consecutive failed dials, a checkout that needs
 * a dial fails at once with `CircuitOpenError`, and one probe fiber dials with
 * exponential backoff (`backoffMin` .. `backoffMax`, ±50 % jitter) until a dial
 * succeeds. Connections that dial fine but fail before any caller's checkout on
 * them succeeded count too (a server that handshakes, then answers garbage; the
 * pool's own housekeeping on a connection, a `CLIENT UNBLOCK`, proves nothing):
 * then the breaker is half-open, the probe's connections serve callers, and it
 * closes when one of them proves itself.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { CircuitOpenError, ConnectionError } from "../Errors.ts"

/** What the breaker needs from the pool. */
export interface BreakerHost {
  readonly now: () => number
  readonly closed: () => boolean
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** One probe dial: true when the breaker may stop probing (the dial closed it), false to go on. */
  readonly probe: () => Effect.Effect<boolean>
}

/** @internal */
export class Breaker {
  open = false
  /** Consecutive failures (dials, or early deaths when those opened it). */
  failures = 0
  /** Connections in a row that dialed fine but failed before any checkout on them succeeded. */
  earlyDeaths = 0
  since: number | undefined = undefined
  lastError: ConnectionError | undefined = undefined
  /** The probe's backoff step, kept across reopenings while connections keep dying early. */
  private attempt = 0
  private probing = false

  readonly threshold: number
  private readonly backoffMin: number
  private readonly backoffMax: number
  private readonly host: BreakerHost

  constructor(threshold: number, backoffMin: number, backoffMax: number, host: BreakerHost) {
    this.threshold = threshold
    this.backoffMin = backoffMin
    this.backoffMax = backoffMax
    this.host = host
  }

  /** Opened by early deaths: connections dial but do not serve, so a dial alone does not close it. */
  get halfOpen(): boolean {
    return this.earlyDeaths >= this.threshold
  }

  dialFailed(error: ConnectionError): void {
    this.failures++
    if (this.since === undefined) this.since = this.host.now()
    this.lastError = error
    if (!this.open && this.failures >= this.threshold) {
      this.open = true
      this.startProbe()
    }
  }

  /** A probe's dial failed (the breaker is open already). */
  probeFailed(error: ConnectionError): void {
    this.failures++
    this.lastError = error
  }

  dialSucceeded(): void {
    this.failures = 0
    this.since = undefined
    this.lastError = undefined
    this.open = false
  }

  /**
   * The server behind the dial changed (a Sentinel switch): the failures counted
   * so far were another server's, so the breaker closes and the next checkout
   * dials at once instead of waiting for the probe's backoff.
   */
  forget(): void {
    this.dialSucceeded()
    this.earlyDeaths = 0
    this.attempt = 0
  }

  /** A checkout on a new connection succeeded: connections are not dying at birth. */
  proved(): void {
    if (this.open && this.halfOpen) this.dialSucceeded()
    this.earlyDeaths = 0
    this.attempt = 0
  }

  /**
   * A connection failed before any checkout on it succeeded. Dials succeed
   * there, so without this the pool would redial at once, for every caller:
   * `threshold` such deaths in a row open the breaker like failed dials.
   */
  diedEarly(cause: Cause.Cause<unknown>): void {
    this.earlyDeaths++
    if (this.host.closed() || this.earlyDeaths < this.threshold) return
    if (this.open) return this.startProbe()
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
    if (this.since === undefined) this.since = this.host.now()
    this.open = true
    this.startProbe()
  }

  error(): CircuitOpenError {
    const lastError = this.lastError ?? new ConnectionError({ reason: "unknown", message: "dial failed" })
    return new CircuitOpenError({
      lastError,
      since: this.since ?? this.host.now(),
      failures: this.failures,
      message: `dial breaker open after ${this.failures} consecutive dial failures: ${lastError.message}`
    })
  }

  /** One probe fiber while the breaker is open, dialing with backoff and jitter until it may stop. */
  startProbe(): void {
    if (this.probing) return
    this.probing = true
    if (!this.halfOpen) this.attempt = 0
    const host = this.host
    const probe: Effect.Effect<void> = Effect.suspend(() => {
      if (!this.open || host.closed()) return Effect.void
      const base = Math.min(this.backoffMax, this.backoffMin * 2 ** this.attempt)
      this.attempt++
      const delay = Math.round(base * (0.5 + Math.random()))
      return Effect.flatMap(Effect.sleep(delay), () => {
        if (!this.open || host.closed()) return Effect.void
        // The next attempt starts outside the dial's uninterruptible bookkeeping, so closing the pool can
        // interrupt the probe's backoff.
        return Effect.flatMap(host.probe(), (done) => (done ? Effect.void : probe))
      })
    })
    host.runFork(Effect.ensuring(probe, Effect.sync(() => void (this.probing = false))))
  }
}
