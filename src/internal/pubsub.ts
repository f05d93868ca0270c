/**
 * The subscriber behind `PubSub.make`: one connection, a table of live
 * subscriptions (channel, pattern, shard channel → listeners), a fiber that
 * (re)connects and renews them, and the listeners that buffer events for their
 * streams and queues.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type { Conn } from "../Conn.ts"
import {
  ConnectionError,
  InvalidArgumentError,
  type RedisError,
  RedisReplyError,
  SubscriberOverflowError
} from "../Errors.ts"
import type { Reply } from "../Resp.ts"
import { textOf } from "./text.ts"

/** What a subscription is to: a channel, a glob pattern, or a shard channel. */
export type Kind = "channel" | "pattern" | "shard"

/** Events a listener receives; see `PubSub.PubSubEvent`. */
export type Event =
  | { readonly _tag: "Message"; readonly channel: string; readonly message: string; readonly pattern?: string }
  | { readonly _tag: "Subscribed" }
  | { readonly _tag: "Resubscribed"; readonly disconnectedAt: number }
  | { readonly _tag: "Dropped"; readonly count: number }

type Marker = Extract<Event, { readonly _tag: "Subscribed" | "Resubscribed" }>

const subscribeCommand = { channel: "SUBSCRIBE", pattern: "PSUBSCRIBE", shard: "SSUBSCRIBE" } as const
const unsubscribeCommand = { channel: "UNSUBSCRIBE", pattern: "PUNSUBSCRIBE", shard: "SUNSUBSCRIBE" } as const
const kinds: ReadonlyArray<Kind> = ["channel", "pattern", "shard"]

const text = (value: Reply | undefined): string | undefined => textOf(value)

/** What a full buffer does with one more event: drop the oldest (and count it), or fail. */
export type Overflow = "dropOldest" | "fail"

const overflowError = (bufferSize: number) =>
  new SubscriberOverflowError({
    bufferSize,
    message: `the consumer fell more than ${bufferSize} events behind (overflow: "fail")`
  })

/**
 * The receiving end of one `subscribe` call. Until its subscription is confirmed
 * (`pending` set), messages wait in `early` so that the marker event precedes them.
 */
export abstract class Listener {
  pending: Marker | undefined = { _tag: "Subscribed" }
  confirmed = false
  private early: Array<Event> = []
  private earlyDropped = 0
  readonly capacity: number
  readonly overflow: Overflow
  constructor(capacity: number, overflow: Overflow) {
    this.capacity = capacity
    this.overflow = overflow
  }
  /** Hands an event to the consumer's buffer. */
  protected abstract push(event: Event): void
  /** Ends the consumer's buffer with a failure (after what it holds). */
  abstract fail(error: RedisError): void

  message(event: Event): void {
    if (this.pending === undefined) this.push(event)
    else if (this.early.length < this.capacity) this.early.push(event)
    else if (this.overflow === "fail") this.fail(overflowError(this.capacity))
    else {
      this.early.shift()
      this.early.push(event)
      this.earlyDropped++
    }
  }

  /** The subscription is live: emit the marker, then whatever arrived meanwhile. */
  flush(): void {
    const marker = this.pending
    if (marker === undefined) return
    this.pending = undefined
    this.confirmed = true
    this.push(marker)
    if (this.earlyDropped > 0) this.push({ _tag: "Dropped", count: this.earlyDropped })
    const early = this.early
    this.early = []
    this.earlyDropped = 0
    for (let i = 0; i < early.length; i++) this.push(early[i]!)
  }

  /** The connection was replaced: the next events start with `Resubscribed` (or `Subscribed` if never confirmed). */
  expect(disconnectedAt: number): void {
    this.pending = this.confirmed ? { _tag: "Resubscribed", disconnectedAt } : { _tag: "Subscribed" }
  }
}

/** A listener feeding a stream: a sliding buffer of `capacity` events; drops are counted and surfaced on the next pull. */
export class StreamListener extends Listener {
  dropped = 0
  readonly queue: Queue.Queue<Event, RedisError | Cause.Done>
  readonly pull: Effect.Effect<ReadonlyArray<Event>, RedisError | Cause.Done>
  constructor(capacity: number, overflow: Overflow, queue: Queue.Queue<Event, RedisError | Cause.Done>) {
    super(capacity, overflow)
    this.queue = queue
    this.pull = Effect.map(Queue.takeAll(queue), (events) => {
      const dropped = this.dropped
      if (dropped === 0) return events
      this.dropped = 0
      return [{ _tag: "Dropped", count: dropped } as Event, ...events]
    })
  }
  protected push(event: Event): void {
    if (Queue.isFullUnsafe(this.queue)) {
      if (this.overflow === "fail") return this.fail(overflowError(this.capacity))
      this.dropped++
    }
    Queue.offerUnsafe(this.queue, event)
  }
  fail(error: RedisError): void {
    Queue.failCauseUnsafe(this.queue, Cause.fail(error))
  }
}

/** A listener feeding a `Queue` of `{ channel, message }` (markers are not representable there). */
export class QueueListener extends Listener {
  readonly queue: Queue.Queue<{ readonly channel: string; readonly message: string }, RedisError>
  private onConfirm: (() => void) | undefined
  constructor(
    capacity: number,
    overflow: Overflow,
    queue: Queue.Queue<{ readonly channel: string; readonly message: string }, RedisError>,
    onConfirm: () => void
  ) {
    super(capacity, overflow)
    this.queue = queue
    this.onConfirm = onConfirm
  }
  protected push(event: Event): void {
    if (event._tag === "Message") {
      if (this.overflow === "fail" && Queue.isFullUnsafe(this.queue)) return this.fail(overflowError(this.capacity))
      Queue.offerUnsafe(this.queue, { channel: event.channel, message: event.message })
    }
    else if (event._tag === "Subscribed" && this.onConfirm !== undefined) {
      const onConfirm = this.onConfirm
      this.onConfirm = undefined
      onConfirm()
    }
  }
  fail(error: RedisError): void {
    Queue.failCauseUnsafe(this.queue, Cause.fail(error))
    const onConfirm = this.onConfirm
    this.onConfirm = undefined
    onConfirm?.()
  }
}

/** Resolved options. */
export interface Settings {
  readonly connect: Effect.Effect<Conn, ConnectionError, Scope.Scope>
  readonly bufferSize: number
  readonly overflow: Overflow
  readonly reconnect: Schedule.Schedule<unknown, ConnectionError>
  readonly reconnectTimeout: number
  readonly pingInterval: number
}

/** The default reconnect schedule: exponential from 50 ms, capped at 2 s, jittered. */
export const defaultReconnect: Schedule.Schedule<unknown, ConnectionError> = Schedule.exponential("50 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(2)))),
  Schedule.jittered
)

const closedError = () =>
  new ConnectionError({ reason: "closed", message: "closed: the subscriber's scope has closed" })

// Error replies that say "not now" rather than "no": a server loading its data, busy with a script,
// without its master or its cluster, or out of client slots.
const transientCodes = new Set(["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"])

/**
 * Whether the server refused the connection for good: credentials or ACLs (reason `auth`), or a
 * handshake step (`SELECT`, `CLIENT SETNAME`, `onConnect`, ...) it answered with an error reply.
 * Retrying would get the same answer until someone changes the configuration, so the subscriptions
 * fail at once; network faults and replies of the wrong shape keep the reconnect schedule.
 *
 * @internal
 */
export const isRefusal = (error: RedisError): boolean => {
  if (error._tag !== "ConnectionError") return false
  if (error.reason === "auth") return true
  if (error.reason !== "handshake" || !(error.cause instanceof RedisReplyError)) return false
  const reply = error.cause
  return !transientCodes.has(reply.code) && !/max number of clients/i.test(reply.message)
}

/** The state of one subscriber; every change to the table or the connection happens under `lock`. */
export class Subscriber {
  readonly settings: Settings
  readonly tables: Record<Kind, Map<string, Set<Listener>>> = {
    channel: new Map(),
    pattern: new Map(),
    shard: new Map()
  }
  /** The current connection, set once every subscription on it is confirmed. */
  conn: Conn | undefined = undefined
  /** Connections made so far (for stats and tests). */
  connections = 0
  closed = false
  disconnectedAt = 0
  readonly lock: Semaphore.Semaphore = Semaphore.makeUnsafe(1)
  private wake: (() => void) | undefined

  /** Connections live in children of this scope, so closing it closes them whatever the fiber was doing. */
  readonly scope: Scope.Scope
  constructor(settings: Settings, scope: Scope.Scope) {
    this.settings = settings
    this.scope = scope
  }

  get isEmpty(): boolean {
    return this.tables.channel.size === 0 && this.tables.pattern.size === 0 && this.tables.shard.size === 0
  }

  // ---------------------------------------------------------------------------
  // messages

  readonly onPush = (frame: ReadonlyArray<Reply>): void => {
    const kind = text(frame[0])
    if (kind === "message" || kind === "smessage") {
      const channel = text(frame[1])
      const listeners = channel === undefined ? undefined : this.tables[kind === "message" ? "channel" : "shard"].get(channel)
      if (listeners === undefined) return
      const event: Event = { _tag: "Message", channel: channel!, message: text(frame[2]) ?? String(frame[2]) }
      for (const listener of listeners) listener.message(event)
    } else if (kind === "pmessage") {
      const pattern = text(frame[1])
      const listeners = pattern === undefined ? undefined : this.tables.pattern.get(pattern)
      if (listeners === undefined) return
      const event: Event = {
        _tag: "Message",
        channel: text(frame[2]) ?? "",
        message: text(frame[3]) ?? String(frame[3]),
        pattern: pattern!
      }
      for (const listener of listeners) listener.message(event)
    } else if (kind === "sunsubscribe" && this.conn !== undefined) {
      // The server dropped a shard subscription on its own (its slot moved): renew everything on a new connection.
      const channel = text(frame[1])
      if (channel !== undefined && this.tables.shard.has(channel)) Effect.runFork(this.conn.close)
    }
  }

  // ---------------------------------------------------------------------------
  // subscribing

  /** Adds `listener` under `names`; returns the names that had no listener before. */
  private attach(kind: Kind, names: ReadonlyArray<string>, listener: Listener): Array<string> {
    const table = this.tables[kind]
    const fresh: Array<string> = []
    for (const name of names) {
      let listeners = table.get(name)
      if (listeners === undefined) {
        listeners = new Set()
        table.set(name, listeners)
        fresh.push(name)
      }
      listeners.add(listener)
    }
    return fresh
  }

  /** Removes `listener` from `names`; returns the names left without listeners (now removed). */
  private detach(kind: Kind, names: ReadonlyArray<string>, listener: Listener): Array<string> {
    const table = this.tables[kind]
    const gone: Array<string> = []
    for (const name of names) {
      const listeners = table.get(name)
      if (listeners === undefined || !listeners.delete(listener)) continue
      if (listeners.size === 0) {
        table.delete(name)
        gone.push(name)
      }
    }
    return gone
  }

  /**
   * Subscribes `listener` to `names`. Succeeds once the subscription is confirmed, or at
   * once while (re)connecting (the renewal confirms it); fails on an error reply.
   */
  readonly subscribe = (kind: Kind, names: ReadonlyArray<string>, listener: Listener): Effect.Effect<void, RedisError> =>
    this.lock.withPermit(Effect.suspend(() => {
      if (this.closed) return Effect.fail(closedError())
      const fresh = this.attach(kind, names, listener)
      const conn = this.conn
      if (conn === undefined) {
        this.wakeUp()
        return Effect.void
      }
      if (fresh.length === 0) {
        listener.flush()
        return Effect.void
      }
      const sent = Effect.exit(conn.sendPubSub([subscribeCommand[kind], ...fresh]))
      return Effect.flatMap(sent, (exit): Effect.Effect<void, RedisError> => {
        if (Exit.isSuccess(exit)) {
          listener.flush()
          return Effect.void
        }
        const error = Exit.findErrorOption(exit)
        const refused = error._tag === "Some" &&
          (error.value._tag === "RedisReplyError" || error.value._tag === "InvalidArgumentError")
        if (refused) {
          this.detach(kind, names, listener)
          return Effect.fail(error.value)
        }
        // The connection is in doubt: replace it; the renewal confirms this subscription.
        return conn.close
      })
    }))

  /** Removes `listener`; UNSUBSCRIBEs the names nobody listens to any more. */
  readonly unsubscribe = (kind: Kind, names: ReadonlyArray<string>, listener: Listener): Effect.Effect<void> =>
    this.lock.withPermit(Effect.suspend(() => {
      const gone = this.detach(kind, names, listener)
      const conn = this.conn
      if (gone.length === 0 || conn === undefined) return Effect.void
      return Effect.ignore(conn.sendPubSub([unsubscribeCommand[kind], ...gone]))
    }))

  private wakeUp(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  // ---------------------------------------------------------------------------
  // the connection

  private readonly demand: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (!this.isEmpty) {
      resume(Effect.void)
      return
    }
    this.wake = () => resume(Effect.void)
    return Effect.sync(() => {
      this.wake = undefined
    })
  })

  /** Every live subscription on `conn`, then `conn` becomes current. Error replies fail their listeners. */
  private renew(conn: Conn): Effect.Effect<void, RedisError> {
    const self = this
    return this.lock.withPermit(Effect.gen(function*() {
      for (const listener of self.allListeners()) listener.expect(self.disconnectedAt)
      for (const kind of kinds) {
        const table = self.tables[kind]
        if (table.size === 0) continue
        const exit = yield* Effect.exit(conn.sendPubSub([subscribeCommand[kind], ...table.keys()]))
        if (Exit.isSuccess(exit)) continue
        const error = Exit.findErrorOption(exit)
        if (error._tag === "Some" && error.value._tag === "RedisReplyError") {
          // Refused on this server (an ACL, say): those subscriptions are lost for good.
          const failed = new Set<Listener>()
          for (const listeners of table.values()) for (const listener of listeners) failed.add(listener)
          table.clear()
          for (const listener of failed) listener.fail(error.value)
          continue
        }
        return yield* Effect.failCause(exit.cause)
      }
      self.conn = conn
      for (const listener of self.allListeners()) listener.flush()
    }))
  }

  private allListeners(): Set<Listener> {
    const all = new Set<Listener>()
    for (const kind of kinds) for (const listeners of this.tables[kind].values()) for (const l of listeners) all.add(l)
    return all
  }

  /** Dials and renews; the connection lives in a child scope of the subscriber's, closed on failure. */
  private connectOnce(): Effect.Effect<{ readonly conn: Conn; readonly scope: Scope.Closeable }, RedisError> {
    const self = this
    return Effect.flatMap(Scope.fork(this.scope), (scope) =>
      Effect.gen(function*() {
        const conn = yield* Scope.provide(scope)(self.settings.connect)
        self.connections++
        conn.setPushHandler(self.onPush)
        yield* self.renew(conn)
        return { conn, scope }
      }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))))
  }

  /** `connectOnce` retried on the reconnect schedule, within `reconnectTimeout`; fails with the last error. */
  private connectWithin(): Effect.Effect<{ readonly conn: Conn; readonly scope: Scope.Closeable }, RedisError> {
    let last: RedisError | undefined
    const attempt = this.connectOnce().pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          last = error
        })
      )
    )
    const retried = Effect.retry(attempt, {
      schedule: this.settings.reconnect as Schedule.Schedule<unknown, RedisError>,
      while: (error: RedisError) => error._tag !== "InvalidArgumentError" && !isRefusal(error)
    })
    const bound = this.settings.reconnectTimeout
    if (bound === 0) return retried
    return Effect.timeoutOrElse(retried, {
      duration: bound,
      orElse: () =>
        Effect.fail(
          last ?? new ConnectionError({
            reason: "timeout",
            message: `timeout: the subscriber could not connect within ${bound}ms`
          })
        )
    })
  }

  /** PINGs every `pingInterval`; a failed PING closes the connection (a silent network never closes it). */
  private ping(conn: Conn): Effect.Effect<void> {
    const interval = this.settings.pingInterval
    if (interval === 0) return Effect.never
    return Effect.forever(
      Effect.andThen(
        Effect.sleep(interval),
        // Unanswered within one interval (whatever the connection's own readTimeout): the connection is dead.
        Effect.catch(conn.send(["PING"], { timeout: interval }), () => conn.close)
      )
    )
  }

  /** Lost for good: every listener fails with `error`, and the table starts over. */
  private failAll(error: RedisError): Effect.Effect<void> {
    return this.lock.withPermit(Effect.sync(() => {
      const all = this.allListeners()
      for (const kind of kinds) this.tables[kind].clear()
      for (const listener of all) listener.fail(error)
    }))
  }

  /** The subscriber's fiber: connect when there is demand, renew, watch the connection, repeat. */
  run(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      while (true) {
        yield* self.demand
        const exit = yield* Effect.exit(self.connectWithin())
        if (Exit.isFailure(exit)) {
          const error = Exit.findErrorOption(exit)
          if (error._tag === "None") return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
          yield* self.failAll(error.value)
          continue
        }
        const { conn, scope } = exit.value
        yield* Effect.raceFirst(Effect.asVoid(conn.awaitClose), self.ping(conn)).pipe(
          Effect.ensuring(Effect.suspend(() => {
            self.conn = undefined
            self.disconnectedAt = Date.now()
            return Scope.close(scope, Exit.void)
          }))
        )
      }
    }).pipe(
      // A defect here is a bug; still, no stream may wait forever for a fiber that is gone.
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.suspend(() => {
          self.closed = true
          return self.failAll(
            new ConnectionError({
              reason: "unknown",
              message: `unknown: the subscriber stopped: ${Cause.pretty(cause)}`,
              cause: Cause.squash(cause)
            })
          )
        })
      ),
      Effect.asVoid
    )
  }

  /** The subscriber's scope closed: every listener fails, nothing reconnects. */
  readonly shutdown: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    return this.failAll(closedError())
  })
}

/** Names of one `subscribe` call, deduplicated; at least one, each a string. */
export const checkNames = (names: ReadonlyArray<string>): Effect.Effect<Array<string>, InvalidArgumentError> => {
  const unique = [...new Set(names)]
  if (unique.length === 0) {
    return Effect.fail(new InvalidArgumentError({ message: "subscribe needs at least one channel or pattern" }))
  }
  for (const name of unique) {
    if (typeof name !== "string") {
      return Effect.fail(new InvalidArgumentError({ message: `a channel or pattern must be a string, not ${typeof name}` }))
    }
  }
  return Effect.succeed(unique)
}

