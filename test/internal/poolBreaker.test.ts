import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { ConnectionError } from "../../src/Errors.ts"
import { makeFiberRunner } from "../../src/internal/pool.ts"
import { Breaker } from "../../src/internal/poolBreaker.ts"
import { until } from "../support/effects.ts"

const refused = (n: number) => new ConnectionError({ reason: "refused", message: `refused #${n}`, address: "fake:0" })

/**
 * A breaker over a host the test drives: `time` is what `now` reads (for `since`), `closed` the pool's flag,
 * and every probe dial is recorded at the test clock's time and answers `answer` (true: stop probing).
 */
const makeBreaker = (threshold: number, backoffMin = 100, backoffMax = 400) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const runFork = yield* makeFiberRunner(scope)
    const host = {
      time: 0,
      closed: false,
      answer: false,
      onProbe: (): void => {},
      probes: [] as Array<number>
    }
    const breaker = new Breaker(threshold, backoffMin, backoffMax, {
      now: () => host.time,
      closed: () => host.closed,
      runFork,
      probe: () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            host.probes.push(now)
            host.onProbe()
            return host.answer
          }))
    })
    return { breaker, host, stop: Scope.close(scope, Exit.void) }
  })

/** Moves the test clock to `millis` and lets the probe fiber run. */
const at = (millis: number) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(millis)
    yield* until(() => false, 100)
  })

// With Math.random at 0 every backoff is exactly half its base: 50, 100, 200, then 200 (base capped at 400).
const noJitter = () => vi.spyOn(Math, "random").mockReturnValue(0)

afterEach(() => {
  vi.restoreAllMocks()
})

describe("Breaker: counting failures", () => {
  it.effect("threshold failed dials open it; since is the first failure's time; error() reports count, since and the last error", () =>
    Effect.gen(function*() {
      const { breaker, host, stop } = yield* makeBreaker(2, 1_000_000, 1_000_000)
      host.time = 5
      breaker.dialFailed(refused(1))
      assert.isFalse(breaker.open)
      host.time = 9
      breaker.dialFailed(refused(2))
      assert.isTrue(breaker.open, "opens at exactly threshold failures")
      assert.strictEqual(breaker.since, 5, "since is the first failure's time, not the last one's")
      host.time = 20
      const error = breaker.error()
      assert.strictEqual(error._tag, "CircuitOpenError")
      assert.strictEqual(error.since, 5)
      assert.strictEqual(error.failures, 2)
      assert.strictEqual(error.lastError.message, "refused #2")
      assert.strictEqual(error.message, "dial breaker open after 2 consecutive dial failures: refused #2")
      // The probe's failures count on and replace the last error.
      breaker.probeFailed(refused(3))
      assert.strictEqual(breaker.failures, 3)
      assert.strictEqual(breaker.lastError?.message, "refused #3")
      assert.strictEqual(breaker.error().failures, 3)
      breaker.dialSucceeded()
      assert.isFalse(breaker.open)
      assert.strictEqual(breaker.failures, 0)
      assert.isUndefined(breaker.since)
      assert.isUndefined(breaker.lastError)
      yield* stop
    }))

  it.effect("error() with no failure recorded: an unknown 'dial failed', since now, no failures", () =>
    Effect.gen(function*() {
      const { breaker, host, stop } = yield* makeBreaker(3)
      host.time = 42
      const error = breaker.error()
      assert.strictEqual(error.lastError.reason, "unknown")
      assert.strictEqual(error.lastError.message, "dial failed")
      assert.strictEqual(error.since, 42)
      assert.strictEqual(error.failures, 0)
      yield* stop
    }))

  it.effect("threshold early deaths make it half-open and open it with their own error, since their first", () =>
    Effect.gen(function*() {
      const { breaker, host, stop } = yield* makeBreaker(2, 1_000_000, 1_000_000)
      host.time = 7
      breaker.diedEarly(Cause.die(new Error("garbage")))
      assert.isFalse(breaker.halfOpen)
      assert.isFalse(breaker.open)
      breaker.diedEarly(Cause.die(new Error("garbage")))
      assert.isTrue(breaker.halfOpen, "half-open at exactly threshold early deaths")
      assert.isTrue(breaker.open)
      assert.strictEqual(breaker.failures, 2)
      assert.strictEqual(breaker.since, 7)
      assert.strictEqual(breaker.lastError?.reason, "unknown")
      assert.strictEqual(breaker.lastError?.message, "2 connections in a row failed before their first reply: garbage")
      yield* stop
    }))

  it.effect("early deaths keep the since of a dial failure before them", () =>
    Effect.gen(function*() {
      const { breaker, host, stop } = yield* makeBreaker(3, 1_000_000, 1_000_000)
      host.time = 1
      breaker.dialFailed(refused(1))
      host.time = 8
      for (let i = 0; i < 3; i++) breaker.diedEarly(Cause.fail(refused(2)))
      assert.isTrue(breaker.open)
      assert.strictEqual(breaker.since, 1)
      assert.strictEqual(breaker.lastError?.reason, "refused")
      yield* stop
    }))

  it.effect("open from failed dials, early deaths replace neither the count nor the last error", () =>
    Effect.gen(function*() {
      const { breaker, stop } = yield* makeBreaker(2, 1_000_000, 1_000_000)
      for (let i = 1; i <= 3; i++) breaker.dialFailed(refused(i))
      breaker.diedEarly(Cause.die(new Error("garbage")))
      breaker.diedEarly(Cause.die(new Error("garbage")))
      assert.isTrue(breaker.open)
      assert.strictEqual(breaker.failures, 3)
      assert.strictEqual(breaker.lastError?.message, "refused #3")
      yield* stop
    }))
})

describe("Breaker: closing it", () => {
  it.effect("a proven connection closes a half-open breaker, not one opened by failed dials, and resets no count while closed", () =>
    Effect.gen(function*() {
      const halfOpen = yield* makeBreaker(2, 1_000_000, 1_000_000)
      halfOpen.breaker.diedEarly(Cause.die(new Error("garbage")))
      halfOpen.breaker.diedEarly(Cause.die(new Error("garbage")))
      halfOpen.breaker.proved()
      assert.isFalse(halfOpen.breaker.open)
      assert.strictEqual(halfOpen.breaker.failures, 0)
      assert.isUndefined(halfOpen.breaker.since)
      assert.isFalse(halfOpen.breaker.halfOpen)
      yield* halfOpen.stop

      const dials = yield* makeBreaker(2, 1_000_000, 1_000_000)
      dials.breaker.dialFailed(refused(1))
      dials.breaker.proved()
      assert.strictEqual(dials.breaker.failures, 1, "a proven connection is no successful dial")
      dials.breaker.dialFailed(refused(2))
      dials.breaker.proved()
      assert.isTrue(dials.breaker.open, "only a dial closes a breaker that failed dials opened")
      assert.strictEqual(dials.breaker.failures, 2)
      yield* dials.stop
    }))

  it.effect("forget (the server changed) closes it and forgets the early deaths", () =>
    Effect.gen(function*() {
      const { breaker, host, stop } = yield* makeBreaker(2, 1_000_000, 1_000_000)
      host.time = 3
      breaker.diedEarly(Cause.die(new Error("garbage")))
      breaker.diedEarly(Cause.die(new Error("garbage")))
      breaker.forget()
      assert.isFalse(breaker.open)
      assert.strictEqual(breaker.failures, 0)
      assert.isUndefined(breaker.since)
      assert.isUndefined(breaker.lastError)
      assert.isFalse(breaker.halfOpen)
      yield* stop
    }))
})

describe("Breaker: the probe", () => {
  it.effect("dials with exponential backoff from backoffMin, capped at backoffMax, jitter around the base", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      breaker.dialFailed(refused(1))
      yield* at(49)
      assert.deepStrictEqual(host.probes, [])
      yield* at(50)
      yield* at(150)
      yield* at(350)
      yield* at(550)
      assert.deepStrictEqual(host.probes, [50, 150, 350, 550])
      yield* stop
    }))

  it.effect("one probe fiber at a time", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      host.answer = true
      breaker.dialFailed(refused(1))
      breaker.startProbe()
      breaker.diedEarly(Cause.die(new Error("garbage")))
      yield* at(1_000)
      assert.deepStrictEqual(host.probes, [50])
      yield* stop
    }))

  it.effect("an early death that opens it starts the probe", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      breaker.diedEarly(Cause.die(new Error("garbage")))
      yield* at(50)
      assert.deepStrictEqual(host.probes, [50])
      yield* stop
    }))

  it.effect("closed during its backoff, it does not dial; reopened, a new probe starts from backoffMin", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      breaker.dialFailed(refused(1))
      yield* at(20)
      breaker.dialSucceeded()
      yield* at(60)
      assert.deepStrictEqual(host.probes, [])
      breaker.dialFailed(refused(2))
      yield* at(110)
      assert.deepStrictEqual(host.probes, [110])
      yield* stop
    }))

  it.effect("the pool closed during its backoff: no dial", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      breaker.dialFailed(refused(1))
      yield* at(20)
      host.closed = true
      yield* at(1_000)
      assert.deepStrictEqual(host.probes, [])
      yield* stop
    }))

  it.effect("a probe dial that closed it ends the probe at once, so the next opening probes after backoffMin again", () =>
    Effect.gen(function*() {
      noJitter()
      const { breaker, host, stop } = yield* makeBreaker(1)
      // The pool's probe closes the breaker itself when its dial succeeds, and may still answer "go on".
      host.onProbe = () => breaker.dialSucceeded()
      breaker.dialFailed(refused(1))
      yield* at(50)
      host.onProbe = () => {}
      yield* at(60)
      breaker.dialFailed(refused(2))
      yield* at(110)
      assert.deepStrictEqual(host.probes, [50, 110])
      yield* stop
    }))

  it.effect("the backoff starts again at backoffMin after failed dials reopen it", () =>
    Effect.gen(function*() {
      noJitter()
      const dials = yield* makeBreaker(1)
      dials.breaker.dialFailed(refused(1))
      yield* at(150) // probes at 50 and 150, then a backoff of 200
      dials.breaker.dialSucceeded()
      yield* at(400) // that backoff ended on a closed breaker
      dials.breaker.dialFailed(refused(2))
      yield* at(450)
      assert.deepStrictEqual(dials.host.probes, [50, 150, 450])
      yield* dials.stop
    }))

  it.effect("the backoff goes on where it was while connections keep dying early", () =>
    Effect.gen(function*() {
      noJitter()
      const early = yield* makeBreaker(1)
      early.breaker.diedEarly(Cause.die(new Error("garbage")))
      yield* at(150)
      // A dial succeeded (the breaker closes) but connections still die before their first reply.
      early.breaker.dialSucceeded()
      yield* at(400)
      early.breaker.diedEarly(Cause.die(new Error("garbage")))
      yield* at(599)
      assert.deepStrictEqual(early.host.probes, [50, 150])
      yield* at(600)
      assert.deepStrictEqual(early.host.probes, [50, 150, 600])
      yield* early.stop
    }))
})
