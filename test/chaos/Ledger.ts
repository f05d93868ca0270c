/**
 * What a chaos workload did and what it was told: every operation's outcome,
 * every reply checked against the caller who asked, every write's id, and the
 * times of the first success after each fault. `verify` then compares it with
 * what the server holds.
 *
 * Outcomes of a write: `ok` (acknowledged), `unsent` (the library said it never
 * reached the server: a pool error, a server error reply, a `ConnectionError`
 * with `written: false`, a write-phase timeout) and `unknown` (anything else:
 * it may or may not have run).
 *
 * @since 0.1.0
 */
import type { RedisError } from "../../src/Errors.ts"

/**
 * Counters start here, so an INCR reply (≥ BASE) can never pass for an RPUSH
 * reply (a list length, far below it), and vice versa.
 *
 * @since 0.1.0
 * @category constants
 */
export const COUNTER_BASE = 1_000_000_000

/**
 * Outcome codes of a write.
 *
 * @since 0.1.0
 * @category models
 */
export const OK = 1
/** @since 0.1.0 */
export const UNSENT = 2
/** @since 0.1.0 */
export const UNKNOWN = 3

/**
 * The shape of a workload: how many fibers of each kind (their sum is the
 * concurrency), how many keys, and the pace.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** INCR a counter, then RPUSH a unique id to the writer's own list. */
  readonly writers: number
  /** GET a key whose value is its own name. */
  readonly readers: number
  /** RPUSH unique ids to one consumer's queue. */
  readonly producers: number
  /** BLPOP their own queue; every fourth one also interrupts itself at random. */
  readonly consumers: number
  readonly counters: number
  readonly getKeys: number
  /** Pause between two operations of one fiber. */
  readonly pauseMillis: number
  /** BLPOP's server-side timeout. */
  readonly blpopSeconds: number
  /** Bound on operations per fiber. */
  readonly maxOpsPerFiber: number
}

/**
 * 200 fibers: 76 writers, 76 readers, 24 producers, 24 consumers.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultShape: Shape = {
  writers: 76,
  readers: 76,
  producers: 24,
  consumers: 24,
  counters: 16,
  getKeys: 100,
  pauseMillis: 10,
  blpopSeconds: 1,
  maxOpsPerFiber: 20_000
}

/**
 * Whether a failed write is known not to have reached the server.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const writeOutcome = (error: RedisError): typeof UNSENT | typeof UNKNOWN => {
  switch (error._tag) {
    case "PoolTimeoutError":
    case "PoolExhaustedError":
    case "PoolClosedError":
    case "CircuitOpenError":
    case "InvalidArgumentError":
    case "RedisReplyError":
      return UNSENT
    case "ConnectionError":
      return error.written === false ? UNSENT : UNKNOWN
    case "CommandTimeoutError":
      return error.phase === "write" ? UNSENT : UNKNOWN
    default:
      return UNKNOWN
  }
}

const NOTE_LIMIT = 20

/**
 * The ledger of one run.
 *
 * @since 0.1.0
 * @category models
 */
export class Ledger {
  readonly shape: Shape
  attempted = 0
  acked = 0
  /** BLPOPs that left through their own interruption. */
  interrupted = 0
  readonly failures: Record<string, number> = {}
  misdelivered = 0
  readonly notes: Array<string> = []

  readonly counterAcked: Array<number>
  readonly counterUnknown: Array<number>
  readonly incrSeen: Array<Set<number>>
  /** Per writer, per sequence number: the outcome of its RPUSH. */
  readonly writerOutcome: Array<Array<number>>
  readonly writerLastLength: Array<number>
  /** Per producer, per sequence number: the outcome of its RPUSH. */
  readonly producerOutcome: Array<Array<number>>
  /** Per consumer: the elements its BLPOPs returned. */
  readonly received: Array<Array<string>>
  /** Per consumer: BLPOPs that failed with the connection (ConnectionError, ProtocolError) after they may have been written. */
  readonly consumerConnectionFailures: Array<number>
  /** Per consumer: BLPOPs that failed with a read-phase `CommandTimeoutError` or that the caller left by interruption. */
  readonly consumerReadTimeouts: Array<number>

  /** Per fiber: when its current operation started (0 when idle). */
  readonly busySince: Array<number>

  #faultEnds: Array<number> = []
  readonly recoveries: Array<number> = []
  /** Faults whose end saw no success afterwards (yet). */
  get unrecovered(): number {
    return this.#faultEnds.length
  }

  constructor(shape: Shape) {
    this.shape = shape
    this.counterAcked = new Array(shape.counters).fill(0)
    this.counterUnknown = new Array(shape.counters).fill(0)
    this.incrSeen = Array.from({ length: shape.counters }, () => new Set<number>())
    this.writerOutcome = Array.from({ length: shape.writers }, () => [])
    this.writerLastLength = new Array(shape.writers).fill(0)
    this.producerOutcome = Array.from({ length: shape.producers }, () => [])
    this.received = Array.from({ length: shape.consumers }, () => [])
    this.consumerConnectionFailures = new Array(shape.consumers).fill(0)
    this.consumerReadTimeouts = new Array(shape.consumers).fill(0)
    this.busySince = new Array(shape.writers + shape.readers + shape.producers + shape.consumers).fill(0)
  }

  note(text: string): void {
    if (this.notes.length < NOTE_LIMIT) this.notes.push(text)
  }

  /** A fault ended now: the next success measures the recovery. */
  faultEnded(): void {
    this.#faultEnds.push(Date.now())
  }

  success(): void {
    this.acked++
    if (this.#faultEnds.length > 0) {
      const now = Date.now()
      for (const end of this.#faultEnds) this.recoveries.push(now - end)
      this.#faultEnds = []
    }
  }

  failure(error: RedisError): void {
    this.failures[error._tag] = (this.failures[error._tag] ?? 0) + 1
    if (error._tag === "ReplyTypeError") this.wrong(`a reply of the wrong type: ${error.message}`)
  }

  wrong(text: string): void {
    this.misdelivered++
    this.note(`wrong caller: ${text}`)
  }

  /**
   * Keys the server may roll back from `since` on (a failover that lost
   * acknowledged writes): an INCR value seen again or a list that shrank
   * there is the server's doing, not a reply given to the wrong caller.
   */
  rollback: { readonly since: number; readonly covers: (key: string) => boolean } | undefined = undefined
  /** Replies explained by a rollback (see {@link rollback}). */
  rolledBack = 0

  /** A reply about `key` that only a misdelivery or a server rollback explains. */
  wrongUnlessRolledBack(key: string, text: string): void {
    const rollback = this.rollback
    if (rollback !== undefined && Date.now() >= rollback.since && rollback.covers(key)) {
      this.rolledBack++
      return
    }
    this.wrong(text)
  }
}

/**
 * What the server held afterwards, compared with the ledger.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  /** Acknowledged writes not on the server (counter below its acknowledged INCRs, acknowledged ids absent). */
  readonly lostAcked: number
  /** Writes applied twice (counter above acknowledged + unknown, an id present twice). */
  readonly appliedTwice: number
  /** Writes the library called unsent that the server has anyway. */
  readonly appliedUnsent: number
  /** Acknowledged queue elements gone without a caller getting them, beyond the BLPOPs that failed with their connection. */
  readonly silentPopLoss: number
  /** Acknowledged queue elements gone with a BLPOP whose connection failed (its caller was told). */
  readonly popLostWithConnection: number
  /** Beyond those: gone with a BLPOP whose caller timed out or left; only reply bytes destroyed in transit can do this (must be 0 otherwise). */
  readonly popLostWithTimeout: number
  /** Ids on the server or received that nobody pushed there. */
  readonly foreign: number
}

/**
 * The server's state, read after the run: counter values (without the base) and list contents.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerState {
  readonly counters: ReadonlyArray<number>
  readonly writerLists: ReadonlyArray<ReadonlyArray<string>>
  readonly queues: ReadonlyArray<ReadonlyArray<string>>
}

/** `"a:b"` → [a, b], or undefined. */
const parseId = (id: string): readonly [number, number] | undefined => {
  const match = /^(\d+):(\d+)$/.exec(id)
  return match === null ? undefined : [Number(match[1]), Number(match[2])]
}

/**
 * Compares the ledger with the server's state.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (ledger: Ledger, state: ServerState): Verdict => {
  const shape = ledger.shape
  let lostAcked = 0
  let appliedTwice = 0
  let appliedUnsent = 0
  let foreign = 0
  let silentPopLoss = 0
  let popLostWithConnection = 0
  let popLostWithTimeout = 0

  for (let c = 0; c < shape.counters; c++) {
    const value = state.counters[c] ?? 0
    const low = ledger.counterAcked[c]!
    const high = low + ledger.counterUnknown[c]!
    if (value < low) {
      lostAcked += low - value
      ledger.note(`counter ${c}: ${value} < ${low} acknowledged INCRs`)
    }
    if (value > high) {
      appliedTwice += value - high
      ledger.note(`counter ${c}: ${value} > ${high} acknowledged + unknown INCRs`)
    }
  }

  /** Counts each id of `ids` against `outcomes[owner][seq]`; returns acknowledged ids missing. */
  const tally = (
    label: string,
    ids: ReadonlyArray<string>,
    owns: (owner: number) => boolean,
    outcomes: ReadonlyArray<ReadonlyArray<number>>,
    allowed = 0
  ): number => {
    const seen = new Map<string, number>()
    for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1)
    for (const [id, count] of seen) {
      const parsed = parseId(id)
      const outcome = parsed !== undefined && owns(parsed[0]) ? outcomes[parsed[0]]?.[parsed[1]] : undefined
      if (outcome === undefined) {
        foreign += count
        ledger.note(`${label}: ${id} was never pushed there`)
        continue
      }
      if (count > 1) {
        appliedTwice += count - 1
        ledger.note(`${label}: ${id} present ${count} times`)
      }
      if (outcome === UNSENT) {
        appliedUnsent++
        ledger.note(`${label}: ${id} applied though reported unsent`)
      }
    }
    let missing = 0
    outcomes.forEach((list, owner) => {
      if (!owns(owner)) return
      list.forEach((outcome, seq) => {
        if (outcome === OK && !seen.has(`${owner}:${seq}`)) {
          missing++
          if (missing > allowed && missing <= allowed + 3) ledger.note(`${label}: acknowledged ${owner}:${seq} missing`)
        }
      })
    })
    return missing
  }

  for (let w = 0; w < shape.writers; w++) {
    lostAcked += tally(`w:${w}`, state.writerLists[w] ?? [], (owner) => owner === w, ledger.writerOutcome)
  }
  for (let c = 0; c < shape.consumers; c++) {
    const ids = [...(state.queues[c] ?? []), ...ledger.received[c]!]
    const failed = ledger.consumerConnectionFailures[c]! + ledger.consumerReadTimeouts[c]!
    const missing = tally(`q:${c}`, ids, (owner) => owner % shape.consumers === c, ledger.producerOutcome, failed)
    const withConnection = Math.min(missing, ledger.consumerConnectionFailures[c]!)
    const withTimeout = Math.min(missing - withConnection, ledger.consumerReadTimeouts[c]!)
    popLostWithConnection += withConnection
    popLostWithTimeout += withTimeout
    silentPopLoss += missing - withConnection - withTimeout
  }
  return { lostAcked, appliedTwice, appliedUnsent, silentPopLoss, popLostWithConnection, popLostWithTimeout, foreign }
}
