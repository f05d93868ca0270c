/**
 * The chaos workload: writers (INCR + RPUSH of unique ids), readers (GET of
 * keys whose values name the key), producers and BLPOP consumers, all on one
 * `RedisPool` service, each fiber bounded in operations and time. Every reply
 * is checked against what its caller asked for, and every outcome goes to the
 * {@link Ledger}. After it, {@link awaitRecovery} keeps reading until a fault
 * that ended without a success since has one.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { RedisError } from "../../src/Errors.ts"
import type * as RedisPool from "../../src/RedisPool.ts"
import type * as Resp from "../../src/Resp.ts"
import { COUNTER_BASE, Ledger, OK, type Shape, UNKNOWN, writeOutcome } from "./Ledger.ts"

const sleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/**
 * Writes the keys the workload reads and the counters' base values.
 *
 * @since 0.1.0
 * @category setup
 */
export const seed = (
  send: (args: ReadonlyArray<Resp.Arg>) => Effect.Effect<unknown, unknown>,
  shape: Shape
): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    for (let i = 0; i < shape.getKeys; i++) yield* send(["SET", `g:${i}`, `g:${i}`])
    for (let c = 0; c < shape.counters; c++) yield* send(["SET", `c:${c}`, COUNTER_BASE])
  })

const errorOf = (exit: Exit.Exit<unknown, RedisError>): RedisError | "interrupted" | "defect" => {
  if (Exit.isSuccess(exit)) return "defect"
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some") return error.value
  return Cause.hasInterrupts(exit.cause) ? "interrupted" : "defect"
}

/**
 * The result of a run: the ledger, and the fibers still inside an operation
 * when the bound on joining them passed (each one a hang).
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkloadResult {
  readonly ledger: Ledger
  readonly hung: number
  readonly defects: number
}

/**
 * Runs the workload until `deadline` (epoch ms), then waits up to
 * `joinMillis` for every fiber to finish its operation; the fibers still busy
 * after that are interrupted and counted as hung. `onStart` runs once every
 * fiber is forked (the faults go there).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E>(
  redis: RedisPool.Service,
  ledger: Ledger,
  options: {
    readonly durationMillis: number
    readonly joinMillis: number
    readonly faults: Effect.Effect<void, E>
  }
): Effect.Effect<WorkloadResult, E> =>
  Effect.gen(function*() {
    const shape = ledger.shape
    const deadline = Date.now() + options.durationMillis
    let defects = 0
    let fiberIndex = 0

    const loop = (body: (seq: number, index: number) => Effect.Effect<void>) => {
      const index = fiberIndex++
      return Effect.gen(function*() {
        for (let seq = 0; seq < shape.maxOpsPerFiber && Date.now() < deadline; seq++) {
          ledger.busySince[index] = Date.now()
          yield* body(seq, index)
          ledger.busySince[index] = 0
          yield* sleep(shape.pauseMillis + Math.random() * shape.pauseMillis)
        }
      })
    }

    const failed = (exit: Exit.Exit<unknown, RedisError>): RedisError | undefined => {
      const error = errorOf(exit)
      if (error === "defect") {
        defects++
        ledger.note(`defect: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause).slice(0, 300) : "?"}`)
        return undefined
      }
      if (error === "interrupted") return undefined
      ledger.failure(error)
      return error
    }

    const writer = (w: number) =>
      loop((seq) =>
        Effect.gen(function*() {
          const c = (w + seq) % shape.counters
          ledger.attempted++
          const incr = yield* Effect.exit(redis.incr(`c:${c}`))
          if (Exit.isSuccess(incr)) {
            ledger.success()
            ledger.counterAcked[c]!++
            const value = incr.value
            if (value <= COUNTER_BASE) ledger.wrong(`INCR c:${c} got ${value}`)
            else if (ledger.incrSeen[c]!.has(value)) ledger.wrongUnlessRolledBack(`c:${c}`, `INCR c:${c} got ${value}`)
            ledger.incrSeen[c]!.add(value)
          } else {
            const error = failed(incr)
            if (error === undefined || writeOutcome(error) === UNKNOWN) ledger.counterUnknown[c]!++
          }
          ledger.attempted++
          const push = yield* Effect.exit(redis.rpush(`w:${w}`, `${w}:${seq}`))
          if (Exit.isSuccess(push)) {
            ledger.success()
            ledger.writerOutcome[w]![seq] = OK
            if (push.value >= COUNTER_BASE) ledger.wrong(`RPUSH w:${w} got ${push.value}`)
            else if (push.value <= ledger.writerLastLength[w]!) {
              ledger.wrongUnlessRolledBack(`w:${w}`, `RPUSH w:${w} got ${push.value} after ${ledger.writerLastLength[w]}`)
            }
            ledger.writerLastLength[w] = push.value
          } else {
            const error = failed(push)
            ledger.writerOutcome[w]![seq] = error === undefined ? UNKNOWN : writeOutcome(error)
          }
        })
      )

    const reader = (r: number) =>
      loop((seq) =>
        Effect.gen(function*() {
          const key = `g:${(r * 7 + seq) % shape.getKeys}`
          ledger.attempted++
          const exit = yield* Effect.exit(redis.get(key))
          if (Exit.isSuccess(exit)) {
            ledger.success()
            if (exit.value !== key) ledger.wrong(`GET ${key} got ${JSON.stringify(exit.value)}`)
          } else {
            failed(exit)
          }
        })
      )

    const producer = (p: number) =>
      loop((seq) =>
        Effect.gen(function*() {
          const c = p % shape.consumers
          ledger.attempted++
          const exit = yield* Effect.exit(redis.rpush(`q:${c}`, `${p}:${seq}`))
          if (Exit.isSuccess(exit)) {
            ledger.success()
            ledger.producerOutcome[p]![seq] = OK
            if (exit.value >= COUNTER_BASE) ledger.wrong(`RPUSH q:${c} got ${exit.value}`)
          } else {
            const error = failed(exit)
            ledger.producerOutcome[p]![seq] = error === undefined ? UNKNOWN : writeOutcome(error)
          }
        })
      )

    const consumer = (c: number) =>
      loop(() =>
        Effect.gen(function*() {
          const key = `q:${c}`
          ledger.attempted++
          const pop = redis.blpop(key, shape.blpopSeconds)
          // Every fourth consumer leaves some of its BLPOPs early, by interruption.
          const leave = c % 4 === 3 ? 100 + Math.random() * 1_400 : undefined
          const exit = yield* Effect.exit(
            leave === undefined ? Effect.map(pop, Option.some) : Effect.timeoutOption(pop, leave)
          )
          if (Exit.isSuccess(exit)) {
            if (Option.isNone(exit.value)) {
              ledger.interrupted++
              ledger.consumerReadTimeouts[c]!++
              return
            }
            ledger.success()
            const popped = exit.value.value
            if (popped === null) return
            const match = /^(\d+):(\d+)$/.exec(popped.element)
            if (popped.key !== key || match === null || Number(match[1]) % shape.consumers !== c) {
              ledger.wrong(`BLPOP ${key} got ${JSON.stringify(popped)}`)
            }
            ledger.received[c]!.push(popped.element)
          } else {
            const error = failed(exit)
            if (error !== undefined && (error._tag === "ConnectionError" || error._tag === "ProtocolError") && writeOutcome(error) === UNKNOWN) {
              ledger.consumerConnectionFailures[c]!++
            } else if (error?._tag === "CommandTimeoutError" && error.phase === "read") {
              ledger.consumerReadTimeouts[c]!++
            }
          }
        })
      )

    const fibers: Array<Fiber.Fiber<void>> = []
    for (let i = 0; i < shape.writers; i++) fibers.push(yield* Effect.forkChild(writer(i)))
    for (let i = 0; i < shape.readers; i++) fibers.push(yield* Effect.forkChild(reader(i)))
    for (let i = 0; i < shape.producers; i++) fibers.push(yield* Effect.forkChild(producer(i)))
    for (let i = 0; i < shape.consumers; i++) fibers.push(yield* Effect.forkChild(consumer(i)))

    yield* options.faults

    const joinUntil = Math.max(deadline, Date.now()) + options.joinMillis
    yield* Effect.timeoutOption(Fiber.awaitAll(fibers), Math.max(0, joinUntil - Date.now()))
    let hung = 0
    ledger.busySince.forEach((since, index) => {
      if (since !== 0) {
        hung++
        ledger.note(`fiber ${index} stuck in an operation for ${Date.now() - since} ms`)
      }
    })
    yield* Fiber.interruptAll(fibers)
    return { ledger, hung, defects }
  })

/**
 * The longest a healthy server may wait for the pool to serve again after a
 * fault ends, from the pool's own options: the breaker's probe may have just
 * begun its longest backoff (`probeBackoffMax`, up to 1.5 × with jitter) and
 * then dials (`dialTimeout`), and the caller's checkout may wait `poolTimeout`;
 * counted twice, for a probe connection made during the fault that dies on its
 * first use and for a slow shared machine.
 *
 * @since 0.1.0
 * @category running
 */
export const recoveryBound = (options: {
  readonly probeBackoffMax: number
  readonly dialTimeout: number
  readonly poolTimeout: number
}): number => 2 * (1.5 * options.probeBackoffMax + options.dialTimeout + options.poolTimeout)

/**
 * Once the workload stopped: while a fault's end has seen no success, reads a
 * key (checking the reply as a reader does) every 50 ms, for at most
 * `boundMillis`. Recovery is awaited by condition, not within the workload's
 * fixed window, which the breaker's backoff may outlast; a pool that does not
 * recover within the bound leaves the fault unrecovered.
 *
 * @since 0.1.0
 * @category running
 */
export const awaitRecovery = (
  redis: RedisPool.Service,
  ledger: Ledger,
  boundMillis: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const until = Date.now() + boundMillis
    while (ledger.unrecovered > 0 && Date.now() < until) {
      ledger.attempted++
      const exit = yield* Effect.exit(redis.get("g:0"))
      if (Exit.isSuccess(exit)) {
        ledger.success()
        if (exit.value !== "g:0") ledger.wrong(`GET g:0 got ${JSON.stringify(exit.value)}`)
        return
      }
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some") ledger.failure(error.value)
      yield* sleep(50)
    }
  })
