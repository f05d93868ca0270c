/**
 * A command (or a batch of commands) on its way to and from the server, and the
 * connection's settings and error types.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { SendOptions } from "../Conn.ts"
import type {
  CommandTimeoutError,
  ConnectionError,
  InvalidArgumentError,
  ProtocolError,
  RedisReplyError
} from "../Errors.ts"
import type { Arg, Reply } from "../Resp.ts"

/** Resolved timeouts and bounds, all in milliseconds; 0 means "no deadline". */
export interface Settings {
  readonly address: string
  readonly readTimeout: number
  readonly writeTimeout: number
  readonly drainTimeout: number
  readonly maxPending: number
  readonly onPush: ((push: ReadonlyArray<Reply>) => void) | undefined
  /** Releases this connection's blocked command from another connection (`CLIENT UNBLOCK <id>`): true when it did; see `orphan`. */
  readonly unblock: ((clientId: number) => Effect.Effect<boolean, unknown>) | undefined
  readonly decoder: {
    readonly bytes?: boolean
    readonly maxBulkLength?: number
    readonly maxAggregateLength?: number
    readonly maxDepth?: number
  }
}

/** Per-call options, timeouts already in milliseconds. */
export interface CallOptions {
  readonly timeout?: number | undefined
  readonly blocking?: boolean | undefined
}

/** Everything a single command can fail with. */
export type SendError = RedisReplyError | ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError
/** Everything a batch can fail with: error replies are values there. */
export type BatchError = ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError

/** Where a slot is: waiting to be written, written and awaiting its replies, answered, or given up before it was written. */
export type SlotState = "queued" | "written" | "done" | "cancelled"

/** How a slot answers its caller. */
export type Resume = (exit: Exit.Exit<any, any>) => void

/** The `Resume` of a command nobody waits for (a pushed-back element). */
export const ignoreExit: Resume = () => {}

/** Per-call options with the timeout in milliseconds. */
export const callOptions = (options: SendOptions | undefined): CallOptions | undefined => {
  if (options === undefined) return undefined
  const timeout = options.timeout
  if (timeout === undefined || typeof timeout === "number") return options as CallOptions
  const ms = Duration.toMillis(Duration.fromInputUnsafe(timeout))
  return { timeout: Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0, blocking: options.blocking }
}

/** One command (or one batch of commands) on its way to and from the server. */
export class Slot {
  /** The caller's continuation; undefined once the caller has left (timed out, interrupted) or been answered. */
  resume: Resume | undefined
  /** Encoded bytes while queued. */
  bytes: Uint8Array | undefined
  state: SlotState = "queued"
  /** Queued: write deadline. Written: read deadline. Orphaned: drain deadline. 0: none. */
  deadline = 0
  /** Replies still expected. */
  remaining: number
  /** Replies collected so far (batches only). */
  replies: Array<Reply> | undefined
  readonly count: number
  readonly readTimeout: number
  readonly blocking: boolean
  readonly name: Arg | undefined
  /** Pub/sub commands only: the confirmation kind (`"subscribe"`, ...) and the names, one confirmation each. */
  kind: string | undefined = undefined
  names: ReadonlyArray<string> | undefined = undefined
  /** A single blocking command's arguments: what to put back if it pops for a caller who left. */
  args: ReadonlyArray<Arg> | undefined = undefined
  /** Written, its caller gone, its reply not in: counted in `ConnSocket.overdue` until the reply lands. */
  overdue = false
  /** How long it may wait to be written (the call's own timeout, else `writeTimeout`). */
  writeTimeout = 0
  constructor(
    resume: Resume,
    bytes: Uint8Array,
    count: number,
    readTimeout: number,
    blocking: boolean,
    name: Arg | undefined,
    batch: boolean
  ) {
    this.resume = resume
    this.bytes = bytes
    this.count = count
    this.remaining = count
    this.readTimeout = readTimeout
    this.blocking = blocking
    this.name = name
    this.replies = batch ? [] : undefined
  }
}
