/**
 * The socket machinery behind a `Conn`: a FIFO of pending replies fed by one `data`
 * listener, a write queue flushed once per tick as one `socket.write`, one timer per
 * connection for read, write and drain deadlines, and the health state the pool reads.
 * Plain objects and callbacks, no fiber per command.
 */
import type * as net from "node:net"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import {
  ConnectionError,
  type ConnectionErrorReason,
  InvalidArgumentError,
  ProtocolError,
  RedisReplyError
} from "../Errors.ts"
import type { Conn, SendOptions } from "../Conn.ts"
import { type Arg, Decoder, type Reply } from "../Resp.ts"
import { blockingMillis } from "./commandTraits.ts"
import { lingerForRestore, restore } from "./connBlocked.ts"
import { expire, orphan } from "./connDeadlines.ts"
import { confirm, deliver, pubSubCommands, routeSubscriber } from "./connPubSub.ts"
import {
  type BatchError,
  callOptions,
  type CallOptions,
  ignoreExit,
  type Resume,
  type SendError,
  type Settings,
  Slot
} from "./connSlot.ts"
import { RespWriter } from "./respWriter.ts"
import { argText, textOf } from "./text.ts"

const concat = (chunks: Array<Uint8Array>, total: number): Uint8Array => {
  const out = Buffer.allocUnsafe(total)
  let offset = 0
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const withWritten = (error: ConnectionError, written: boolean): ConnectionError =>
  new ConnectionError({
    reason: error.reason,
    message: error.message,
    address: error.address,
    written,
    cause: error.cause
  })

const emptyBatch = Effect.sync((): Array<Reply> => [])

/** The pub/sub commands `sendPubSub` accepts, by upper-case name, with the kind of their confirmations. */
let nextId = 1

/**
 * One socket to one Redis server. Public fields are read by `Conn`; the rest is
 * private to this module.
 */
export class ConnSocket implements Conn {
  readonly id = nextId++
  readonly createdAt = Date.now()
  usedAt = this.createdAt
  clientId = -1
  protocol: 2 | 3 = 2
  /** Number of `socket.write` calls so far: commands issued in one tick share one. */
  writeCount = 0
  /** Elements popped for callers who had left, pushed back (see `connRestore`). */
  restored = 0

  /** Commands queued and not yet written, cancelled ones excluded. */
  queued = 0
  /** Commands written whose replies have not arrived, orphaned ones included. */
  written = 0
  readonly writeQueue: Array<Slot> = []
  writeHead = 0
  readonly readQueue: Array<Slot> = []
  readHead = 0
  private flushScheduled = false
  waitingDrain = false
  closed = false
  /** Closed by the client while only callers who left are in flight, one of them a blocking pop: reads on until they land. */
  lingering = false
  /** A blocking command's caller left and the server was asked to release it: never reused, read until it answers. */
  retired = false
  /** The fiber asking the server to release the blocked command is running. */
  unblocking = false
  /**
   * Written commands whose callers left before their replies came. While any is
   * out, nothing new is written: if its request never reached the server (a
   * middlebox that dropped it), the next reply would otherwise be taken for its
   * reply, and every reply after it would go to the caller before its own.
   */
  overdue = 0
  private closeError: ConnectionError | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private timerAt = 0
  idleWaiters: Array<() => void> = []
  closeWaiters: Array<(error: ConnectionError) => void> = []
  /** Set by the first pub/sub command on a RESP2 connection: from then on pub/sub frames there are pushes, not replies. */
  subscriber = false
  pushHandler: ((push: ReadonlyArray<Reply>) => void) | undefined
  private readonly decoder: Decoder
  /** Encodes each command once into a slab; consecutive commands are adjacent there, so a flush is usually one view. */
  private readonly writer = new RespWriter()
  private readonly socket: net.Socket
  readonly settings: Settings

  constructor(socket: net.Socket, settings: Settings) {
    this.socket = socket
    this.settings = settings
    this.pushHandler = settings.onPush
    this.decoder = new Decoder({
      onReply: (reply: Reply) => this.onReply(reply),
      onPush: (push: ReadonlyArray<Reply>) => {
        if (this.closed || confirm(this, push)) return
        deliver(this, push)
      },
      ...settings.decoder
    })
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("drain", () => {
      this.waitingDrain = false
      this.flush()
    })
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const reason: ConnectionErrorReason = error.code === "ECONNRESET" || error.code === "EPIPE" ? "reset" : "closed"
      this.fail(new ConnectionError({ reason, message: `${reason}: ${error.message}`, address: settings.address, cause: error }))
    })
    socket.on("end", () => this.fail(this.closedError(this.serverClosedMessage())))
    socket.on("close", () => this.fail(this.closedError("the connection closed")))
  }

  get address(): string {
    return this.settings.address
  }

  /** Commands queued or awaiting replies, orphaned ones included. */
  get pending(): number {
    return this.queued + this.written
  }

  /** Commands written and awaiting replies, orphaned ones included. */
  get inFlight(): number {
    return this.written
  }

  get isHealthy(): boolean {
    return !this.closed && !this.lingering && !this.retired
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Sends QUIT, waits for its reply within `readTimeout` (1 s if none), then closes. */
  get quit(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.closed
        ? Effect.void
        : this.send(["QUIT"], { timeout: this.settings.readTimeout > 0 ? this.settings.readTimeout : 1000 }).pipe(
          Effect.exit,
          Effect.andThen(this.close)
        )
    )
  }

  // ---------------------------------------------------------------------------
  // sending

  /** Sends one command; an error reply is a failure. */
  readonly send = (args: ReadonlyArray<Arg>, options?: SendOptions): Effect.Effect<Reply, SendError> =>
    Effect.callback<Reply, SendError>((resume) => this.leaving(this.enqueueSlot(args, undefined, callOptions(options), resume)))

  /** Sends commands written in one go; error replies are values. */
  readonly sendBatch = (
    commands: ReadonlyArray<ReadonlyArray<Arg>>,
    options?: SendOptions
  ): Effect.Effect<Array<Reply>, BatchError> =>
    commands.length === 0
      ? emptyBatch
      : Effect.callback<Array<Reply>, BatchError>((resume) =>
        this.leaving(this.enqueueSlot(undefined, commands, callOptions(options), resume))
      )

  /**
   * Sends one (P|S)(UN)SUBSCRIBE command with at least one name and completes with its
   * confirmations, one per name, whether they arrive as RESP3 pushes or RESP2 replies.
   * An error reply fails it. From then on the connection is a subscriber: RESP2 frames
   * that are pub/sub messages or unmatched confirmations go to the push handler.
   */
  readonly sendPubSub = (
    args: ReadonlyArray<Arg>,
    options?: SendOptions
  ): Effect.Effect<Array<Reply>, SendError> =>
    Effect.callback<Array<Reply>, SendError>((resume) => {
      const name = textOf(args[0] as Reply)
      const kind = name === undefined ? undefined : pubSubCommands.get(name.toUpperCase())
      const names: Array<string> = []
      for (let i = 1; i < args.length; i++) {
        const arg = args[i]
        names.push(argText(arg))
      }
      if (kind === undefined || names.length === 0) {
        resume(Exit.fail(
          new InvalidArgumentError({
            message: `sendPubSub takes (P|S)(UN)SUBSCRIBE and at least one name, not ${String(name)} with ${names.length}`
          })
        ))
        return undefined
      }
      // RESP3 marks pub/sub frames as pushes; only RESP2 needs them told apart from replies.
      if (this.protocol === 2) this.subscriber = true
      return this.leaving(
        this.enqueueSlot(args, undefined, { timeout: callOptions(options)?.timeout, blocking: false }, resume, kind, names)
      )
    })

  /** Replaces the push handler given in the settings (`undefined` drops pushes). */
  setPushHandler(handler: ((push: ReadonlyArray<Reply>) => void) | undefined): void {
    this.pushHandler = handler
  }

  /** What an `Effect.callback` returns for a queued slot: its caller leaving before the reply. */
  private leaving(slot: Slot | undefined): Effect.Effect<void> | undefined {
    return slot === undefined ? undefined : Effect.sync(() => this.leave(slot))
  }

  /**
   * Queues a command (or a batch) for writing; `resume` gets its outcome. Undefined when `resume` was
   * called already (a closed connection, arguments that cannot be encoded); otherwise the slot, for
   * `leave` when the caller goes before its reply.
   */
  enqueueSlot(
    args: ReadonlyArray<Arg> | undefined,
    commands: ReadonlyArray<ReadonlyArray<Arg>> | undefined,
    options: CallOptions | undefined,
    resume: Resume,
    kind?: string,
    names?: ReadonlyArray<string>
  ): Slot | undefined {
    if (this.closed || (this.lingering && resume !== ignoreExit)) {
      resume(Exit.fail(this.closeError ?? this.closedError("the connection is closed", false)))
      return undefined
    }
    let count = 1
    let block: number | undefined
    let name: Arg | undefined
    try {
      if (args !== undefined) {
        this.writer.add(args)
        name = args[0]
        block = options?.blocking === false ? undefined : blockingMillis(args)
      } else {
        const list = commands!
        count = list.length
        for (let i = 0; i < count; i++) {
          this.writer.add(list[i]!)
          if (options?.blocking !== false) {
            const b = blockingMillis(list[i]!)
            if (b !== undefined) block = (block ?? 0) + b
          }
        }
        name = list[0]![0]
      }
    } catch (error) {
      this.writer.take()
      resume(error instanceof InvalidArgumentError ? Exit.fail(error) : Exit.die(error))
      return undefined
    }
    const bytes = this.writer.take()
    const blocking = options?.blocking === true || block !== undefined
    let readTimeout: number
    if (options?.timeout !== undefined) readTimeout = options.timeout
    else if (block !== undefined) {
      // The server checks blocking timeouts on its own clock (every 1/hz s), so the margin is at least 1 s.
      readTimeout = block === 0 || this.settings.readTimeout === 0 ? 0 : block + Math.max(this.settings.readTimeout, 1000)
    }
    else readTimeout = blocking ? 0 : this.settings.readTimeout
    let slot: Slot
    if (kind === undefined) {
      slot = new Slot(resume, bytes, count, readTimeout, blocking, name, commands !== undefined)
      if (blocking && args !== undefined) slot.args = args
    } else {
      count = names!.length
      slot = new Slot(resume, bytes, count, readTimeout, false, name, true)
      slot.kind = kind
      slot.names = names
    }
    // A call's own timeout bounds its wait to be written too (behind a late reply, say: see `overdue`).
    const writeTimeout = options?.timeout ?? this.settings.writeTimeout
    if (writeTimeout > 0) {
      slot.writeTimeout = writeTimeout
      slot.deadline = Date.now() + writeTimeout
      this.armTimer(slot.deadline)
    }
    this.writeQueue.push(slot)
    this.queued += count
    this.scheduleFlush()
    return slot
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.waitingDrain) return
    this.flushScheduled = true
    queueMicrotask(this.flushTask)
  }

  private readonly flushTask = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  private flush(): void {
    if (this.closed || this.waitingDrain || this.overdue > 0) return
    const queue = this.writeQueue
    const max = this.settings.maxPending
    let head = this.writeHead
    let now = 0
    // The current run of adjacent bytes, and the runs before it.
    let run: Uint8Array | undefined
    let runLength = 0
    let runs: Array<Uint8Array> | undefined
    let total = 0
    let minDeadline = 0
    while (head < queue.length) {
      const slot = queue[head]!
      if (slot.state === "cancelled") {
        head++
        continue
      }
      if (this.written > 0 && this.written + slot.count > max) break
      head++
      if (now === 0) now = Date.now()
      this.queued -= slot.count
      this.written += slot.count
      slot.state = "written"
      if (slot.readTimeout > 0) {
        slot.deadline = now + slot.readTimeout
        if (minDeadline === 0 || slot.deadline < minDeadline) minDeadline = slot.deadline
      } else {
        slot.deadline = 0
      }
      const bytes = slot.bytes!
      slot.bytes = undefined
      total += bytes.length
      if (run !== undefined && bytes.buffer === run.buffer && bytes.byteOffset === run.byteOffset + runLength) {
        runLength += bytes.length
      } else {
        if (run !== undefined) (runs ??= []).push(new Uint8Array(run.buffer, run.byteOffset, runLength))
        run = bytes
        runLength = bytes.length
      }
      this.readQueue.push(slot)
    }
    if (head === queue.length) {
      queue.length = 0
      this.writeHead = 0
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head)
      this.writeHead = 0
    } else {
      this.writeHead = head
    }
    if (run === undefined) return
    if (minDeadline !== 0) this.armTimer(minDeadline)
    this.usedAt = now
    this.writeCount++
    const last = runLength === run.length ? run : new Uint8Array(run.buffer, run.byteOffset, runLength)
    const out = runs === undefined ? last : (runs.push(last), concat(runs, total))
    if (!this.socket.write(out)) this.waitingDrain = true
  }

  /** The caller left (interrupted) before its reply arrived. */
  leave(slot: Slot): void {
    if (slot.resume === undefined) return
    slot.resume = undefined
    if (slot.state === "queued") {
      slot.state = "cancelled"
      slot.bytes = undefined
      this.queued -= slot.count
      this.checkIdle()
    } else if (slot.state === "written") {
      orphan(this, slot, Date.now())
    }
  }




  // ---------------------------------------------------------------------------
  // receiving

  private onData(chunk: Buffer): void {
    if (this.closed) return
    if (this.writeCount === 0) {
      // A server speaks only when spoken to: bytes before the first command (a greeting, a banner,
      // another protocol) would be taken as that command's reply and shift every reply after it.
      const error = new ProtocolError({
        reason: "unexpected",
        message: `the server sent ${chunk.length} bytes before any command was written`
      })
      this.fail(this.closedError(error.message), error, true)
      return
    }
    this.usedAt = Date.now()
    try {
      this.decoder.write(chunk)
    } catch (error) {
      const protocolError = error instanceof ProtocolError
        ? error
        : new ProtocolError({ reason: "malformed", message: `the reply could not be decoded: ${String(error)}` })
      this.fail(this.closedError(`protocol error: ${protocolError.message}`), protocolError)
    }
  }

  private onReply(reply: Reply): void {
    if (this.closed) return
    if (this.subscriber && Array.isArray(reply) && routeSubscriber(this, reply)) return
    const slot = this.readQueue[this.readHead]
    if (slot === undefined) {
      const error = new ProtocolError({
        reason: "unexpected",
        message: reply instanceof RedisReplyError
          ? `the server sent an error nobody asked for: ${reply.message}`
          : "the server sent a reply nobody asked for"
      })
      this.fail(this.closedError(error.message), error)
      return
    }
    if (slot.replies !== undefined) {
      if (slot.kind !== undefined && reply instanceof RedisReplyError) {
        this.complete(slot, Exit.fail(reply))
        return
      }
      slot.replies.push(reply)
      if (--slot.remaining > 0) return
    }
    this.shiftHead(slot)
    const resume = slot.resume
    if (resume !== undefined) {
      slot.resume = undefined
      if (slot.replies !== undefined) resume(Exit.succeed(slot.replies))
      else if (reply instanceof RedisReplyError) resume(Exit.fail(reply))
      else resume(Exit.succeed(reply))
    } else if (slot.args !== undefined) {
      restore(this, slot.args, reply)
    }
    if (this.writeHead < this.writeQueue.length) this.scheduleFlush()
    else if (this.written === 0) {
      if (this.lingering) this.fail(this.closedError("closed by the client"))
      else this.checkIdle()
    }
  }





  /** Takes the head slot, whose replies are all in, off the read queue. */
  private shiftHead(slot: Slot): void {
    this.readQueue[this.readHead] = undefined as any
    this.readHead++
    if (this.readHead === this.readQueue.length) {
      this.readQueue.length = 0
      this.readHead = 0
    } else if (this.readHead > 1024 && this.readHead * 2 > this.readQueue.length) {
      this.readQueue.splice(0, this.readHead)
      this.readHead = 0
    }
    this.written -= slot.count
    slot.state = "done"
    if (slot.overdue) {
      slot.overdue = false
      // Back in step: what waited to be written goes now.
      if (--this.overdue === 0 && this.writeHead < this.writeQueue.length) this.scheduleFlush()
    }
  }

  /** Removes the head slot (all its replies are in) and answers its caller. */
  complete(slot: Slot, exit: Exit.Exit<any, any>): void {
    this.shiftHead(slot)
    const resume = slot.resume
    if (resume !== undefined) {
      slot.resume = undefined
      resume(exit)
    }
    if (this.writeHead < this.writeQueue.length) this.scheduleFlush()
    else if (this.written === 0) this.checkIdle()
  }


  // ---------------------------------------------------------------------------
  // deadlines

  armTimer(at: number): void {
    if (this.timer !== undefined) {
      if (at >= this.timerAt) return
      clearTimeout(this.timer)
    }
    this.timerAt = at
    this.timer = setTimeout(this.onTimer, Math.max(1, at - Date.now()))
    this.timer.unref()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    this.timerAt = 0
    expire(this)
  }

  // ---------------------------------------------------------------------------
  // idle and close

  checkIdle(): void {
    if (this.queued + this.written !== 0 && !this.closed) return
    const waiters = this.idleWaiters
    if (waiters.length === 0) return
    this.idleWaiters = []
    for (let i = 0; i < waiters.length; i++) waiters[i]!()
  }

  /** Completes when nothing is queued or in flight, or when the connection closes. */
  readonly awaitIdle: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.closed || this.queued + this.written === 0) {
      resume(Effect.void)
      return
    }
    const waiter = () => resume(Effect.void)
    this.idleWaiters.push(waiter)
    return Effect.sync(() => {
      const index = this.idleWaiters.indexOf(waiter)
      if (index !== -1) this.idleWaiters.splice(index, 1)
    })
  })

  /** Completes with the error that closed the connection, once it is closed. */
  readonly awaitClose: Effect.Effect<ConnectionError> = Effect.callback<ConnectionError>((resume) => {
    if (this.closed) {
      resume(Effect.succeed(this.closeError!))
      return
    }
    const waiter = (error: ConnectionError) => resume(Effect.succeed(error))
    this.closeWaiters.push(waiter)
    return Effect.sync(() => {
      const index = this.closeWaiters.indexOf(waiter)
      if (index !== -1) this.closeWaiters.splice(index, 1)
    })
  })

  /**
   * Why the server hung up, when it said so: a server that refuses a client (`-ERR max
   * number of clients reached`) answers the first command with an error and closes,
   * which would otherwise fail a pipelined handshake with a bare "closed".
   */
  private serverClosedMessage(): string {
    const head = this.readQueue[this.readHead]
    const said = head?.replies?.find((reply) => reply instanceof RedisReplyError)
    return said === undefined
      ? "the server closed the connection"
      : `the server closed the connection after answering: ${(said as RedisReplyError).message}`
  }

  closedError(message: string, written?: boolean): ConnectionError {
    return new ConnectionError({
      reason: "closed",
      message: `closed: ${message}`,
      address: this.settings.address,
      written
    })
  }

  /**
   * Closes now; queued commands fail unwritten, in-flight ones with `error` (or `inFlightError`,
   * which `queuedToo` gives the queued ones as well).
   */
  fail(error: ConnectionError, inFlightError?: ProtocolError, queuedToo = false): void {
    if (this.closed) return
    this.closed = true
    this.closeError = withWritten(error, false)
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    this.socket.destroy()
    const queue = this.writeQueue
    const reads = this.readQueue
    const writeHead = this.writeHead
    const readHead = this.readHead
    this.queued = 0
    this.written = 0
    this.writeHead = 0
    this.readHead = 0
    const queued = queue.splice(0)
    const written = reads.splice(0)
    const unwritten = Exit.fail(queuedToo && inFlightError !== undefined ? inFlightError : this.closeError)
    for (let i = writeHead; i < queued.length; i++) {
      const slot = queued[i]!
      const resume = slot.resume
      slot.resume = undefined
      slot.state = "cancelled"
      slot.bytes = undefined
      resume?.(unwritten)
    }
    const sent = Exit.fail(inFlightError ?? withWritten(error, true))
    for (let i = readHead; i < written.length; i++) {
      const slot = written[i]!
      const resume = slot.resume
      slot.resume = undefined
      slot.state = "done"
      resume?.(sent)
    }
    this.checkIdle()
    const closeWaiters = this.closeWaiters
    this.closeWaiters = []
    for (let i = 0; i < closeWaiters.length; i++) closeWaiters[i]!(this.closeError)
  }

  /** Destroys the socket now (idempotent). */
  readonly close: Effect.Effect<void> = Effect.sync(() => {
    if (!lingerForRestore(this)) this.fail(this.closedError("closed by the client"))
  })
}
