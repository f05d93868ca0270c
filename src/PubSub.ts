/**
 * Redis pub/sub as Effect streams, served by one dedicated connection.
 *
 * A {@link Subscriber} owns one subscriber connection for all of its
 * subscriptions: channels (`SUBSCRIBE`), patterns (`PSUBSCRIBE`) and shard
 * channels (`SSUBSCRIBE`), in RESP3 or RESP2. Each `subscribe` call returns a
 * `Stream` that holds its subscription while it is consumed; several streams may
 * share a channel (each gets every message), and the last one to leave sends the
 * `UNSUBSCRIBE`.
 *
 * When the connection drops, the subscriber reconnects on a `Schedule` and renews
 * every live subscription; each stream then sees a `Resubscribed` event, since
 * messages published meanwhile are lost (Redis pub/sub does not store them). If
 * it cannot reconnect within `reconnectTimeout`, every stream fails with the
 * last `ConnectionError` instead of waiting forever. A server that refuses the
 * handshake (a wrong password, an ACL, a `SELECT` of a database it does not
 * have) fails every stream at once with its reason: retrying would get the same
 * answer. Network faults, and "not now" replies (`LOADING`, `BUSY`, `MASTERDOWN`,
 * `TRYAGAIN`, `CLUSTERDOWN`, "max number of clients"), keep the schedule.
 *
 * Each stream buffers at most `bufferSize` events. When a consumer falls behind,
 * the oldest events are dropped and the next pull starts with a `Dropped` event
 * that counts them: memory stays bounded and the gap is visible. With
 * `overflow: "fail"` the stream fails with `SubscriberOverflowError` instead.
 *
 * ```ts
 * const subscriber = yield* PubSub.make({ connect: Conn.make({ port: 6379 }) })
 * yield* subscriber.subscribe("news").pipe(
 *   PubSub.messages,
 *   Stream.runForEach((m) => Effect.log(m.channel, m.message))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Conn } from "./Conn.ts"
import type { ConnectionError, RedisError } from "./Errors.ts"
import * as internal from "./internal/pubsub.ts"

/**
 * A message: `channel` is the channel it was published to, `pattern` the pattern
 * that matched it (for `psubscribe` only). Payloads are decoded as UTF-8.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly _tag: "Message"
  readonly channel: string
  readonly message: string
  readonly pattern?: string
}

/**
 * What a subscription stream emits.
 *
 * - `Subscribed`: first event; every message published after it is delivered.
 * - `Message`: a published message.
 * - `Resubscribed`: the connection was lost (at `disconnectedAt`, epoch ms) and
 *   the subscription renewed on a new one; messages published in between are lost.
 * - `Dropped`: the consumer fell behind and `count` older events were dropped
 *   from its buffer before the events that follow (a dropped `Subscribed` or
 *   `Resubscribed` is counted too: the gap stays visible either way).
 *
 * @since 0.1.0
 * @category models
 */
export type PubSubEvent =
  | Message
  | { readonly _tag: "Subscribed" }
  | { readonly _tag: "Resubscribed"; readonly disconnectedAt: number }
  | { readonly _tag: "Dropped"; readonly count: number }

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriberOptions {
  /** Opens the subscriber connection (a `Conn.make` with the service's options); called again on every reconnect. */
  readonly connect: Effect.Effect<Conn, ConnectionError, Scope.Scope>
  /** Events buffered per stream (and messages per `subscribeQueue`). Default 1024. */
  readonly bufferSize?: number | undefined
  /**
   * What a full buffer does with one more event. `"dropOldest"` (default): drop the
   * oldest and start the next pull with a `Dropped` event counting them (invisible in
   * `subscribeQueue`). `"fail"`: deliver what is buffered, then fail with
   * `SubscriberOverflowError` (and unsubscribe).
   */
  readonly overflow?: "dropOldest" | "fail" | undefined
  /** Delays between connection attempts. Default: exponential from 50 ms, capped at 2 s, jittered. */
  readonly reconnect?: Schedule.Schedule<unknown, ConnectionError> | undefined
  /**
   * How long (re)connecting may take before the subscriptions are lost for good and their
   * streams fail with the last `ConnectionError`. Default 30 s; zero means no bound (the
   * `reconnect` schedule alone decides). A handshake refusal (reason `auth`, or a handshake
   * step answered with an error reply) does not wait for it: the streams fail at once.
   */
  readonly reconnectTimeout?: Duration.Input | undefined
  /**
   * How often the subscriber connection is PINGed; a PING unanswered within the same
   * interval replaces the connection, so that a silent network is noticed. Default 10 s;
   * zero disables.
   */
  readonly pingInterval?: Duration.Input | undefined
}

/**
 * A snapshot of a subscriber.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriberStats {
  readonly channels: number
  readonly patterns: number
  readonly shardChannels: number
  /** Whether a connection is up with every subscription renewed on it. */
  readonly connected: boolean
  /** Connections opened so far. */
  readonly connections: number
}

/**
 * One subscriber connection shared by every subscription made through it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscriber {
  /** Messages of the given channels, for as long as the stream is consumed. */
  readonly subscribe: (...channels: ReadonlyArray<string>) => Stream.Stream<PubSubEvent, RedisError>
  /** Messages of every channel matching the given glob patterns (`Message.pattern` says which). */
  readonly psubscribe: (...patterns: ReadonlyArray<string>) => Stream.Stream<PubSubEvent, RedisError>
  /** Messages of the given shard channels (`SSUBSCRIBE`, Redis 7+). */
  readonly ssubscribe: (...channels: ReadonlyArray<string>) => Stream.Stream<PubSubEvent, RedisError>
  /**
   * One channel as a queue of messages, subscribed until the scope closes: the shape
   * `effect/persistence/Redis` wants. Completes once the subscription is confirmed. The
   * queue fails when the subscription is refused or lost for good; reconnects and drops
   * (beyond `bufferSize`, oldest first) are not visible in it.
   */
  readonly subscribeQueue: (
    channel: string
  ) => Effect.Effect<Queue.Dequeue<{ readonly channel: string; readonly message: string }, RedisError>, never, Scope.Scope>
  readonly stats: Effect.Effect<SubscriberStats>
}

const millis = (input: Duration.Input | undefined, fallback: number): number => {
  if (input === undefined) return fallback
  const ms = Duration.toMillis(Duration.fromInputUnsafe(input))
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0
}

/**
 * Builds a subscriber whose connection is opened on the first subscription and closed
 * with the scope. Closing the scope fails the streams still running with a
 * `ConnectionError` (reason `closed`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  options: SubscriberOptions
): Effect.fn.Return<Subscriber, never, Scope.Scope> {
  const bufferSize = options.bufferSize !== undefined && options.bufferSize >= 1 ? Math.floor(options.bufferSize) : 1024
  const overflow = options.overflow ?? "dropOldest"
  const scope = yield* Effect.scope
  const connections = yield* Scope.fork(scope)
  const subscriber = new internal.Subscriber({
    connect: options.connect,
    bufferSize,
    overflow,
    reconnect: options.reconnect ?? internal.defaultReconnect,
    reconnectTimeout: millis(options.reconnectTimeout, 30_000),
    pingInterval: millis(options.pingInterval, 10_000)
  }, connections)
  yield* Effect.forkIn(subscriber.run(), scope)
  yield* Scope.addFinalizer(scope, subscriber.shutdown)

  const stream = (kind: internal.Kind, names: ReadonlyArray<string>): Stream.Stream<PubSubEvent, RedisError> =>
    Stream.unwrap(Effect.gen(function*() {
      const unique = yield* internal.checkNames(names)
      const queue = yield* Queue.make<internal.Event, RedisError | Cause.Done>({ capacity: bufferSize, strategy: "sliding" })
      const listener = new internal.StreamListener(bufferSize, overflow, queue)
      yield* Effect.addFinalizer(() => subscriber.unsubscribe(kind, unique, listener))
      yield* subscriber.subscribe(kind, unique, listener)
      // `takeAll` never yields an empty array, so neither does `pull`.
      const pull = listener.pull as Effect.Effect<readonly [PubSubEvent, ...Array<PubSubEvent>], RedisError | Cause.Done>
      return Stream.fromPull(Effect.succeed(pull))
    }))

  const subscribeQueue = Effect.fnUntraced(function*(channel: string) {
    const queue = yield* Queue.make<{ readonly channel: string; readonly message: string }, RedisError>({
      capacity: bufferSize,
      strategy: "sliding"
    })
    let confirmed = false
    let wake: (() => void) | undefined
    const listener = new internal.QueueListener(bufferSize, overflow, queue, () => {
      confirmed = true
      wake?.()
    })
    yield* Effect.addFinalizer(() =>
      Effect.andThen(subscriber.unsubscribe("channel", [channel], listener), Queue.shutdown(queue))
    )
    const exit = yield* Effect.exit(
      Effect.flatMap(internal.checkNames([channel]), (names) => subscriber.subscribe("channel", names, listener))
    )
    if (exit._tag === "Failure") {
      const error = exit.cause
      yield* Queue.failCause(queue, error)
      return Queue.asDequeue(queue)
    }
    yield* Effect.callback<void>((resume) => {
      if (confirmed) return resume(Effect.void)
      wake = () => resume(Effect.void)
    })
    return Queue.asDequeue(queue)
  })

  return {
    subscribe: (...channels) => stream("channel", channels),
    psubscribe: (...patterns) => stream("pattern", patterns),
    ssubscribe: (...channels) => stream("shard", channels),
    subscribeQueue,
    stats: Effect.sync(() => ({
      channels: subscriber.tables.channel.size,
      patterns: subscriber.tables.pattern.size,
      shardChannels: subscriber.tables.shard.size,
      connected: subscriber.conn !== undefined,
      connections: subscriber.connections
    }))
  }
})

/**
 * Keeps only the messages of a subscription stream.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { PubSub, RedisPool } from "effect-redis-pool"
 *
 * // The first three messages on "news", as text.
 * const firstThree = Effect.gen(function*() {
 *   const redis = yield* RedisPool.RedisPool
 *   return yield* redis.subscribe("news").pipe(
 *     PubSub.messages,
 *     Stream.map((event) => `${event.channel}: ${event.message}`),
 *     Stream.take(3),
 *     Stream.runCollect
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const messages = <E, R>(self: Stream.Stream<PubSubEvent, E, R>): Stream.Stream<Message, E, R> =>
  Stream.filter(self, (event): event is Message => event._tag === "Message")
