/**
 * Runs one chaos scenario end to end: a fresh `redis-server` (and the fault
 * proxy or the huge-bulk server in front of it when the scenario needs one), a
 * `RedisPool` service, the seeded workload at 200 fibers with the fault beside
 * it, then the checks: the server's state against the ledger, the pool's
 * stats back to rest, the pool closing within a bound, its connections gone
 * from the server, the heap before and after.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Conn from "../../src/Conn.ts"
import { implOf } from "../../src/internal/pool.ts"
import type * as Pool from "../../src/Pool.ts"
import * as RedisPool from "../../src/RedisPool.ts"
import type * as Resp from "../../src/Resp.ts"
import * as FaultProxy from "../support/FaultProxy.ts"
import * as RedisServer from "../support/RedisServer.ts"
import * as HugeBulkServer from "./HugeBulkServer.ts"
import { COUNTER_BASE, defaultShape, Ledger, type Shape, type Verdict, verify } from "./Ledger.ts"
import type { FaultReport, Mode, Scenario } from "./scenarios.ts"
import * as Workload from "./Workload.ts"

/**
 * Everything measured in one run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result extends Verdict {
  readonly id: number
  readonly name: string
  readonly mode: Mode
  readonly durationMillis: number
  readonly fibers: number
  readonly attempted: number
  readonly acked: number
  readonly failures: Readonly<Record<string, number>>
  readonly interrupted: number
  readonly misdelivered: number
  readonly hung: number
  readonly defects: number
  readonly faultEvents: number
  /** Connections the faults destroyed. */
  readonly destroyed: number
  /** Connections made during the fault that died before serving (see `FaultReport.bornToDie`). */
  readonly bornToDie: number
  /** Slowest time from a fault's end to the next success, over the faults; undefined when none was measured. */
  readonly recoveryMillis: number | undefined
  /** Faults after whose end no operation succeeded, within `recoveryBoundMillis` after the workload. */
  readonly unrecovered: number
  /** How long a fault's end may wait for a success once the workload stopped (from the pool's options). */
  readonly recoveryBoundMillis: number
  /** Connections that completed their handshake (counted by `onConnect`). */
  readonly opened: number
  readonly poolSize: number
  readonly heapBeforeMb: number
  readonly heapAfterMb: number
  /** The pool's stats once the workload stopped. */
  readonly finalStats: Pick<Pool.PoolStats, "inUse" | "turnsInUse" | "sharedInFlight" | "pendingWaiters" | "dialing">
  /** Connections the pool closed, by reason (what the connections opened replaced). */
  readonly removals: Pool.PoolStats["removals"]
  readonly balanced: boolean
  /** The pool's scope closed within its bound. */
  readonly closed: boolean
  /** The pool's connections the server still listed after closing. */
  readonly leftoverClients: number
  readonly notes: ReadonlyArray<string>
}

/**
 * Options of {@link runScenario}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly mode: Mode
  readonly shape?: Shape | undefined
  readonly poolSize?: number | undefined
}

const sleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

const heapMb = (): number => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return Math.round(process.memoryUsage().heapUsed / 1024 / 1024 * 10) / 10
}

const atRest = (stats: Pool.PoolStats): boolean =>
  stats.inUse === 0 && stats.turnsInUse === 0 && stats.sharedInFlight === 0 && stats.pendingWaiters === 0 &&
  stats.dialing === 0

const strings = (reply: Resp.Reply): Array<string> =>
  Array.isArray(reply) ? reply.map((item) => (typeof item === "string" ? item : String(item))) : []

const POOL_CLIENT_NAME = "chaos-pool"

/** Clients named as the pool's in `CLIENT LIST`. */
const poolClients = (admin: Conn.Conn) =>
  Effect.map(admin.send(["CLIENT", "LIST"]), (list) =>
    String(list).split("\n").filter((line) => line.includes(`name=${POOL_CLIENT_NAME} `)).length)

/**
 * Runs `scenario` once and measures it. Fails only when the harness itself
 * cannot run (a server that will not start, a seed that fails); whatever the
 * library does wrong is in the result.
 *
 * @since 0.1.0
 * @category running
 */
export const runScenario = (scenario: Scenario, options: RunOptions): Effect.Effect<Result, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const shape = options.shape ?? defaultShape
    const poolSize = options.poolSize ?? 40
    const server = yield* RedisServer.make({ config: scenario.serverConfig ?? [] })
    const proxy = scenario.via === "proxy" ? yield* FaultProxy.make({ port: server.port }) : undefined
    const huge = scenario.via === "huge" ? yield* HugeBulkServer.make({ port: server.port }) : undefined
    const port = proxy?.port ?? huge?.port ?? server.port

    const admin = yield* Conn.make({ port: server.port, clientName: "chaos-admin" })
    yield* Workload.seed((args) => admin.send(args), shape)

    const heapBeforeMb = heapMb()
    let opened = 0
    const poolScope = yield* Scope.make()
    const redis = yield* RedisPool.make({
      port,
      poolSize,
      clientName: POOL_CLIENT_NAME,
      onConnect: () => Effect.sync(() => void opened++)
    }).pipe(Scope.provide(poolScope))

    const ledger = new Ledger(shape)
    const durationMillis = scenario.durationMillis[options.mode]
    let report: FaultReport = { events: 0, destroyed: 0 }
    const faults = scenario.fault({ mode: options.mode, server, proxy, huge, admin, ledger, poolSize }).pipe(
      Effect.tap((done) => Effect.sync(() => void (report = done))),
      Effect.catchCause((cause) => Effect.sync(() => ledger.note(`the fault itself failed: ${String(cause)}`)))
    )
    const workload = yield* Workload.run(redis, ledger, { durationMillis, joinMillis: 30_000, faults })
    // A success after every fault, awaited by condition within a bound the pool's own options set.
    const recoveryBoundMillis = Workload.recoveryBound(implOf(redis.pool).options)
    yield* Workload.awaitRecovery(redis, ledger, recoveryBoundMillis)

    // Once nobody calls, the pool must come back to rest.
    let stats = yield* redis.stats
    for (let i = 0; i < 200 && !atRest(stats); i++) {
      yield* sleep(50)
      stats = yield* redis.stats
    }
    const closed = Option.isSome(yield* Effect.timeoutOption(Scope.close(poolScope, Exit.void), 15_000))

    // The harness's own view of the server, straight to it (the admin connection may have been killed).
    const check = yield* Conn.make({ port: server.port, clientName: "chaos-check" })
    let leftoverClients = yield* poolClients(check)
    for (let i = 0; i < 100 && leftoverClients > 0; i++) {
      yield* sleep(50)
      leftoverClients = yield* poolClients(check)
    }
    const counters: Array<number> = []
    for (let c = 0; c < shape.counters; c++) counters.push(Number(yield* check.send(["GET", `c:${c}`])) - COUNTER_BASE)
    const writerLists: Array<Array<string>> = []
    for (let w = 0; w < shape.writers; w++) writerLists.push(strings(yield* check.send(["LRANGE", `w:${w}`, 0, -1])))
    const queues: Array<Array<string>> = []
    for (let c = 0; c < shape.consumers; c++) queues.push(strings(yield* check.send(["LRANGE", `q:${c}`, 0, -1])))
    const verdict = verify(ledger, { counters, writerLists, queues })
    const heapAfterMb = heapMb()

    return {
      id: scenario.id,
      name: scenario.name,
      mode: options.mode,
      durationMillis,
      fibers: shape.writers + shape.readers + shape.producers + shape.consumers,
      attempted: ledger.attempted,
      acked: ledger.acked,
      failures: ledger.failures,
      interrupted: ledger.interrupted,
      misdelivered: ledger.misdelivered,
      hung: workload.hung,
      defects: workload.defects,
      faultEvents: report.events,
      destroyed: report.destroyed,
      bornToDie: report.bornToDie ?? 0,
      recoveryMillis: ledger.recoveries.length === 0 ? undefined : Math.max(...ledger.recoveries),
      unrecovered: ledger.unrecovered,
      recoveryBoundMillis,
      opened,
      poolSize,
      heapBeforeMb,
      heapAfterMb,
      finalStats: {
        inUse: stats.inUse,
        turnsInUse: stats.turnsInUse,
        sharedInFlight: stats.sharedInFlight,
        pendingWaiters: stats.pendingWaiters,
        dialing: stats.dialing
      },
      removals: stats.removals,
      balanced: atRest(stats),
      closed,
      leftoverClients,
      notes: ledger.notes,
      ...verdict
    } satisfies Result
  }))

/**
 * The bound on connections opened (no reconnect storm): twice the pool, plus twice what the faults
 * destroyed. Where connections made during the fault die before they serve (`bornToDie`, counted by
 * the fault itself), they are the fault's victims too: the bound is the first victims, those born to
 * die, and the pool refilled after the fault (`poolSize`, and as much again for replacements). That
 * many were made is the breaker's business: see `breakerBound`.
 *
 * @since 0.1.0
 * @category checks
 */
export const connectionBound = (result: Result): number =>
  result.bornToDie > 0
    ? result.destroyed + result.bornToDie + 2 * result.poolSize
    : 2 * (result.poolSize + result.destroyed)

/**
 * The breaker's bound on connections made during a fault where each dies before it serves: the
 * deaths it waits for before it opens (`breakerThreshold`, which defaults to `poolSize`), the dials
 * already under way when it opens (fewer than `poolSize`: each holds a turn), and its probe's dials
 * (backoff from 100 ms, doubling: at most 10 in a fault of a few seconds). A storm (a redial for
 * every command) exceeds it tenfold.
 *
 * @since 0.1.0
 * @category checks
 */
export const breakerBound = (result: Result): number => 2 * result.poolSize + 10

/**
 * The invariants every run must hold, as a list of violations (empty when all hold).
 *
 * @since 0.1.0
 * @category checks
 */
/**
 * The counts every run (on one node or a cluster) must end with at zero: `name = value` for each that is not.
 *
 * @since 0.1.0
 * @category checks
 */
export const nonZero = <R extends Record<K, unknown>, K extends keyof R & string>(
  result: R,
  names: ReadonlyArray<K>
): Array<string> => names.filter((name) => result[name] !== 0).map((name) => `${name} = ${String(result[name])}`)

/** What every run's result counts and must end with at zero. */
export const zeroCounts = [
  "lostAcked",
  "appliedTwice",
  "appliedUnsent",
  "misdelivered",
  "silentPopLoss",
  "popLostWithTimeout",
  "foreign",
  "hung",
  "defects",
  "unrecovered",
  "leftoverClients"
] as const

export const violations = (result: Result): Array<string> => {
  const out = nonZero(result, zeroCounts)
  if (!result.balanced) out.push(`stats not at rest: ${JSON.stringify(result.finalStats)}`)
  if (!result.closed) out.push("the pool did not close within 15 s")
  if (result.opened > connectionBound(result)) {
    out.push(`opened ${result.opened} connections > bound ${connectionBound(result)}`)
  }
  if (result.bornToDie > breakerBound(result)) {
    out.push(`${result.bornToDie} connections made during the fault > the breaker's bound ${breakerBound(result)}`)
  }
  return out
}

/**
 * A one-line summary for logs.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (result: Result): string =>
  `#${result.id} ${result.mode}: attempted ${result.attempted}, acked ${result.acked}, failed ${
    JSON.stringify(result.failures)
  }, interrupted ${result.interrupted}, lost ${result.lostAcked}, twice ${result.appliedTwice}, unsent-applied ${result.appliedUnsent}, wrong ${result.misdelivered}, silent pops ${result.silentPopLoss}, pops lost with conn ${result.popLostWithConnection}, with read timeout ${result.popLostWithTimeout}, recovery ${result.recoveryMillis} ms (bound ${result.recoveryBoundMillis} ms), opened ${result.opened} (destroyed ${result.destroyed}, born to die ${result.bornToDie}; removed ${JSON.stringify(result.removals)}), heap ${result.heapBeforeMb}->${result.heapAfterMb} MB, stats ${
    JSON.stringify(result.finalStats)
  }, closed ${result.closed}, leftover ${result.leftoverClients}, hung ${result.hung}, defects ${result.defects}${
    result.notes.length > 0 ? `\n  notes: ${result.notes.join("\n  ")}` : ""
  }`
