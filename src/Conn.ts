/**
 * One Redis connection as a scoped Effect resource: dialed (TCP, TLS or a Unix
 * socket), handshaked (`HELLO`, `AUTH`, `SELECT`, `CLIENT SETINFO`, then the user's
 * `onConnect`), pipelined, timed, and closed when its scope closes.
 *
 * Many fibers may `send` on one connection at once: commands are written in call
 * order, the writes of one tick are coalesced into one socket write, and replies
 * come back to their own callers. A late reply costs its caller a
 * `CommandTimeoutError` but not the connection: the reply is dropped when it lands,
 * and only if it does not land within `drainTimeout` is the connection closed.
 * Until it lands, nothing new is written: Redis answers in order and would have
 * made the commands behind it wait anyway, and a request that never reached the
 * server (a middlebox that dropped it) can then never shift the replies that
 * follow onto the wrong callers.
 *
 * A blocking pop whose caller leaves (interrupted, or past its deadline) cannot be
 * taken back from the server by closing alone: a server that was stalled serves
 * the pop before it reads the close. With the `unblock` option (the `RedisPool`
 * service sets it), another connection sends `CLIENT UNBLOCK` for this one, so the
 * server answers the pop, nil or what it popped, as soon as it runs again, however
 * long it was stalled; this connection reads on until it does, pushes back what
 * was popped for nobody, and is not reused. Without `unblock`, a pop with a
 * deadline reads on until that deadline, and one without closes at once. A server
 * that is gone for good (killed, its host lost) keeps what it had: an element it
 * popped for a connection it never answered is lost with the server.
 *
 * @since 0.1.0
 */
import type * as tls from "node:tls"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import {
  type CommandTimeoutError,
  ConnectionError,
  type InvalidArgumentError,
  type ProtocolError,
  type RedisReplyError
} from "./Errors.ts"
import { dial } from "./internal/connDial.ts"
import { handshake } from "./internal/connHandshake.ts"
import type { Settings } from "./internal/connSlot.ts"
import { ConnSocket } from "./internal/connSocket.ts"
import type * as Resp from "./Resp.ts"

/**
 * How to reach a server and how to talk to it. Durations accept anything
 * `Duration.Input` does; zero (or `Duration.infinity`) disables a deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnOptions {
  /** Host name or IP address. Default `"127.0.0.1"` (no DNS lookup, no IPv4/IPv6 guessing). */
  readonly host?: string | undefined
  /** TCP port. Default `6379`. */
  readonly port?: number | undefined
  /** Unix socket path; when set, `host` and `port` are ignored. */
  readonly path?: string | undefined
  /**
   * TLS: `true` for Node's defaults, or Node's `tls.connect` options (ca, cert, key, servername, rejectUnauthorized, ...).
   * The server name (SNI) defaults to `host` when it is a name; an IP address is never sent as one (RFC 6066).
   */
  readonly tls?: boolean | tls.ConnectionOptions | undefined
  /** Bound on dial, handshake and `onConnect` together. Default 5 s. */
  readonly dialTimeout?: Duration.Input | undefined
  /** How long a reply may take after its command was written. Default 3 s; overridable per call. */
  readonly readTimeout?: Duration.Input | undefined
  /** How long a command may wait to be written (socket backpressure, `maxPending`). Default: `readTimeout`. */
  readonly writeTimeout?: Duration.Input | undefined
  /**
   * After a read timeout, how long the late reply may still take before the connection
   * is closed. Default: `readTimeout`. Zero closes the connection at the first timeout.
   */
  readonly drainTimeout?: Duration.Input | undefined
  /** Commands in flight (written, awaiting replies) per connection; beyond it callers wait to be written. Default 1000. */
  readonly maxPending?: number | undefined
  /** ACL user name; default user when absent. */
  readonly username?: string | undefined
  /** Password; never appears in errors, logs or spans. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Database selected after the handshake when greater than 0. Default 0. */
  readonly db?: number | undefined
  /** RESP version asked for with `HELLO`. Default 3; falls back to RESP2 when the server does not know `HELLO`. */
  readonly protocol?: 2 | 3 | undefined
  /** `CLIENT SETNAME` (through `HELLO ... SETNAME`). */
  readonly clientName?: string | undefined
  /** `CLIENT SETINFO LIB-NAME`. Default `"effect-redis-pool"`; `""` skips both SETINFO commands. */
  readonly libName?: string | undefined
  /** `CLIENT SETINFO LIB-VER`. Default: this library's version. */
  readonly libVer?: string | undefined
  /** Runs ordinary commands on the new connection after the handshake, before anyone else sees it. */
  readonly onConnect?: ((conn: Conn) => Effect.Effect<void, unknown>) | undefined
  /**
   * Receives RESP3 push frames (invalidation, pub/sub messages) and, on a subscriber
   * connection (see `Conn.sendPubSub`), RESP2 pub/sub frames; they never reach a caller.
   * Replaceable later with `Conn.setPushHandler`.
   */
  readonly onPush?: ((push: ReadonlyArray<Resp.Reply>) => void) | undefined
  /**
   * Releases this connection's blocked command from another connection, given the
   * connection's `CLIENT ID` (send `CLIENT UNBLOCK <id>`; succeed with whether the
   * server answered 1, "released"). Used when the caller of a
   * blocking command leaves (interrupted, or past its deadline): the server answers the
   * blocked command, nil or what it popped, as soon as it runs, and a pop that popped
   * for nobody is pushed back. The `RedisPool` service sets it to a command on its own
   * pool. Without it the connection reads on until the command's deadline, then closes.
   */
  readonly unblock?: ((clientId: number) => Effect.Effect<boolean, unknown>) | undefined
  /** Strings as `Uint8Array` instead of UTF-8 `string` in replies. Default false. */
  readonly bytes?: boolean | undefined
  /** Decoder limits; see `Resp.Decoder`. */
  readonly maxBulkLength?: number | undefined
  readonly maxAggregateLength?: number | undefined
  readonly maxDepth?: number | undefined
}

/**
 * Per-call options.
 *
 * @since 0.1.0
 * @category models
 */
export interface SendOptions {
  /**
   * Timeout for this call, replacing `readTimeout` for its reply and `writeTimeout` for its wait to be written. A blocking command's default is its
   * block time plus `max(readTimeout, 1 s)`, or none when it blocks without limit.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * Whether the command blocks on the server. Detected from the command by default
   * (BLPOP, XREAD ... BLOCK, WAIT, ...). When a caller leaves a blocking command early
   * (interrupted, or past its read deadline), the connection keeps reading until the
   * server answers: a stalled server may still pop for that caller once it runs again,
   * and what a BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX or BZMPOP popped for nobody is
   * pushed back where it came from. With `unblock` the server is asked to answer at
   * once and the wait has no bound; without it, it is bounded by the block time plus
   * `max(drainTimeout, readTimeout, 1 s)`, and a command that blocks without limit
   * closes the connection.
   */
  readonly blocking?: boolean | undefined
}

/**
 * An open, handshaked connection. `send` and `sendBatch` may be called by many
 * fibers at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conn {
  /** Process-local sequence number. */
  readonly id: number
  /** `CLIENT ID` learned in the handshake (`-1` if the server would not say). */
  readonly clientId: number
  /** `"host:port"` or the socket path. */
  readonly address: string
  /** RESP version agreed in the handshake. */
  readonly protocol: 2 | 3
  /** Epoch milliseconds of the dial. */
  readonly createdAt: number
  /** Epoch milliseconds of the last write or read. */
  readonly usedAt: number
  /** Commands queued or awaiting replies, orphaned (timed-out, interrupted) ones included. */
  readonly pending: number
  /** Commands written and awaiting replies, orphaned ones included; at most `maxPending` (or one oversized batch). */
  readonly inFlight: number
  /** Number of socket writes so far; the commands of one tick share one. */
  readonly writeCount: number
  /** False once the socket closed, ended, errored, or the server sent something nobody asked for. */
  readonly isHealthy: boolean
  /** Sends one command; an error reply fails with `RedisReplyError`. */
  readonly send: (
    args: ReadonlyArray<Resp.Arg>,
    options?: SendOptions
  ) => Effect.Effect<
    Resp.Reply,
    RedisReplyError | ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError
  >
  /** Sends commands in one write and returns their replies in order; error replies are values. */
  readonly sendBatch: (
    commands: ReadonlyArray<ReadonlyArray<Resp.Arg>>,
    options?: SendOptions
  ) => Effect.Effect<Array<Resp.Reply>, ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError>
  /**
   * Sends one `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` or `(P|S)UNSUBSCRIBE` naming at least
   * one channel or pattern, and completes with the server's confirmations, one per name
   * (`[kind, name, count]`), whether they come as RESP3 pushes or RESP2 replies. An error
   * reply (ACL, CROSSSLOT, ...) fails it; any other command name is an `InvalidArgumentError`.
   *
   * The first call makes this a subscriber connection: in RESP2, where the server now
   * sends only pub/sub frames and replies to PING, frames that are messages
   * (`message`, `pmessage`, `smessage`) or confirmations nobody waits for go to the push
   * handler instead of a caller. Dedicate such a connection to pub/sub: in RESP2 the
   * server allows only (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET on it.
   */
  readonly sendPubSub: (
    args: ReadonlyArray<Resp.Arg>,
    options?: SendOptions
  ) => Effect.Effect<
    Array<Resp.Reply>,
    RedisReplyError | ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError
  >
  /** Replaces the push handler (the `onPush` option); `undefined` drops push frames. A handler that throws is ignored. */
  readonly setPushHandler: (handler: ((push: ReadonlyArray<Resp.Reply>) => void) | undefined) => void
  /** Completes when nothing is pending, or when the connection closes. */
  readonly awaitIdle: Effect.Effect<void>
  /** Completes once the connection has closed (for whatever reason), with the error that closed it. */
  readonly awaitClose: Effect.Effect<ConnectionError>
  /** Sends QUIT, waits for its reply within `readTimeout` (1 s if none), then closes. */
  readonly quit: Effect.Effect<void>
  /**
   * Destroys the socket now; queued and in-flight commands fail with `ConnectionError` (reason closed).
   * Exception: when every command in flight was left by its caller and one of them is a blocking pop,
   * the connection refuses new commands at once but reads on until those replies land (each within its
   * own deadline), so that what the pop took is put back (see `SendOptions.blocking`).
   */
  readonly close: Effect.Effect<void>
}

const millis = (input: Duration.Input | undefined, fallback: number): number => {
  if (input === undefined) return fallback
  const ms = Duration.toMillis(input)
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0
}

// -----------------------------------------------------------------------------
// make

const connect = (options: ConnOptions): Effect.Effect<Conn, ConnectionError> => {
  const address = options.path ?? `${options.host ?? "127.0.0.1"}:${options.port ?? 6379}`
  const readTimeout = millis(options.readTimeout, 3000)
  const dialTimeout = millis(options.dialTimeout, 5000)
  const settings: Settings = {
    address,
    readTimeout,
    writeTimeout: millis(options.writeTimeout, readTimeout),
    drainTimeout: millis(options.drainTimeout, readTimeout),
    maxPending: options.maxPending !== undefined && options.maxPending >= 1 ? Math.floor(options.maxPending) : 1000,
    onPush: options.onPush,
    unblock: options.unblock,
    decoder: {
      ...(options.bytes === true ? { bytes: true } : {}),
      ...(options.maxBulkLength !== undefined ? { maxBulkLength: options.maxBulkLength } : {}),
      ...(options.maxAggregateLength !== undefined ? { maxAggregateLength: options.maxAggregateLength } : {}),
      ...(options.maxDepth !== undefined ? { maxDepth: options.maxDepth } : {})
    }
  }
  const program = Effect.flatMap(dial(options, address), (raw) => {
    const conn = new ConnSocket(raw, settings)
    return handshake(conn, options).pipe(
      Effect.andThen(
        options.onConnect === undefined ? Effect.void : Effect.suspend(() => options.onConnect!(conn)).pipe(
          Effect.mapError((cause) =>
            cause instanceof ConnectionError ? cause : new ConnectionError({
              reason: "handshake",
              message: `handshake: onConnect on ${address} failed: ${
                cause instanceof Error || (typeof cause === "object" && cause !== null && "message" in cause)
                  ? String((cause as { message: unknown }).message)
                  : String(cause)
              }`,
              address,
              written: true,
              cause
            })
          )
        )
      ),
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : conn.close),
      Effect.as(conn as Conn)
    )
  })
  if (dialTimeout === 0) return program
  return Effect.timeoutOrElse(program, {
    duration: dialTimeout,
    orElse: () =>
      Effect.fail(
        new ConnectionError({
          reason: "timeout",
          message: `timeout: dialing and handshaking ${address} took longer than ${dialTimeout}ms`,
          address,
          written: false
        })
      )
  })
}

/**
 * Dials, handshakes and returns a connection that closes with the scope (pending
 * commands then fail with `ConnectionError`, reason closed). Interrupting it while
 * dialing or handshaking closes the socket.
 *
 * Every handshake reply is checked: `HELLO` must answer a map (or a RESP2 array of
 * pairs) with `proto`, `AUTH`, `SELECT` and `CLIENT SETNAME` `OK`, `CLIENT ID` an
 * integer. A refusal fails with the server's error reply as `cause` (reason `auth`
 * for credentials and ACLs); any other shape, or bytes the server sent before the
 * first command (a greeting), fails with reason `handshake` and a `ProtocolError`
 * naming the step as `cause`, since every reply after it would be out of step.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Conn } from "effect-redis-pool"
 *
 * // One connection of your own, outside any pool: 100 INCRs pipelined on one socket.
 * const counted = Effect.scoped(Effect.gen(function*() {
 *   const conn = yield* Conn.make({ host: "127.0.0.1", port: 6379, readTimeout: "500 millis" })
 *   const replies = yield* Effect.forEach(
 *     Array.from({ length: 100 }, () => conn.send(["INCR", "counter"])),
 *     (send) => send,
 *     { concurrency: "unbounded" }
 *   )
 *   return replies.at(-1)
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ConnOptions = {}): Effect.Effect<Conn, ConnectionError, Scope.Scope> =>
  Effect.acquireRelease(connect(options), (conn) => conn.close, { interruptible: true })
