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
import * as net from "node:net"
import * as tls from "node:tls"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import {
  type CommandTimeoutError,
  ConnectionError,
  type ConnectionErrorReason,
  type InvalidArgumentError,
  ProtocolError,
  RedisReplyError
} from "./Errors.ts"
import { version } from "./internal/connVersion.ts"
import { ConnSocket, type Settings } from "./internal/connSocket.ts"
import type * as Resp from "./Resp.ts"
import { textOf } from "./internal/text.ts"

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

const toCallOptions = (options: SendOptions | undefined) =>
  options === undefined
    ? undefined
    : { timeout: options.timeout === undefined ? undefined : millis(options.timeout, 0), blocking: options.blocking }

class ConnImpl implements Conn {
  readonly socket: ConnSocket
  readonly quitTimeout: number
  constructor(socket: ConnSocket) {
    this.socket = socket
    this.quitTimeout = socket.settings.readTimeout > 0 ? socket.settings.readTimeout : 1000
  }
  get id() {
    return this.socket.id
  }
  get clientId() {
    return this.socket.clientId
  }
  get address() {
    return this.socket.address
  }
  get protocol() {
    return this.socket.protocol
  }
  get createdAt() {
    return this.socket.createdAt
  }
  get usedAt() {
    return this.socket.usedAt
  }
  get pending() {
    return this.socket.pending
  }
  get inFlight() {
    return this.socket.inFlightCount
  }
  get writeCount() {
    return this.socket.writeCount
  }
  get isHealthy() {
    return this.socket.isHealthy
  }
  readonly send = (args: ReadonlyArray<Resp.Arg>, options?: SendOptions) =>
    this.socket.send(args, options === undefined ? undefined : toCallOptions(options))
  readonly sendBatch = (commands: ReadonlyArray<ReadonlyArray<Resp.Arg>>, options?: SendOptions) =>
    this.socket.sendBatch(commands, options === undefined ? undefined : toCallOptions(options))
  readonly sendPubSub = (args: ReadonlyArray<Resp.Arg>, options?: SendOptions) =>
    this.socket.sendPubSub(args, options === undefined ? undefined : toCallOptions(options))
  readonly setPushHandler = (handler: ((push: ReadonlyArray<Resp.Reply>) => void) | undefined) =>
    this.socket.setPushHandler(handler)
  get awaitIdle() {
    return this.socket.awaitIdle
  }
  get awaitClose() {
    return this.socket.awaitClose
  }
  get close() {
    return this.socket.close
  }
  get quit(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.socket.isClosed
        ? Effect.void
        : this.socket.send(["QUIT"], { timeout: this.quitTimeout }).pipe(
          Effect.exit,
          Effect.andThen(this.socket.close)
        )
    )
  }
}

// -----------------------------------------------------------------------------
// dial

const tlsCodes = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/

const dialError = (error: NodeJS.ErrnoException, address: string, tlsPhase: boolean): ConnectionError => {
  const code = error.code ?? ""
  let reason: ConnectionErrorReason
  if (code === "ECONNREFUSED" || code === "ENOENT" || code === "EACCES") reason = "refused"
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_FAIL" || code === "EAI_NONAME") reason = "dns"
  else if (code === "ETIMEDOUT") reason = "timeout"
  else if (tlsCodes.test(code) || (tlsPhase && code !== "ECONNRESET")) reason = "tls"
  else if (code === "ECONNRESET" || code === "EPIPE") reason = tlsPhase ? "tls" : "reset"
  else reason = "unknown"
  return new ConnectionError({
    reason,
    message: `${reason}: dialing ${address} failed: ${error.message}`,
    address,
    written: false,
    cause: error
  })
}

const ignore = () => {}

const dial = (options: ConnOptions, address: string): Effect.Effect<net.Socket, ConnectionError> =>
  Effect.callback<net.Socket, ConnectionError>((resume) => {
    const useTls = options.tls !== undefined && options.tls !== false
    let socket: net.Socket
    try {
      if (useTls) {
        const tlsOptions: tls.ConnectionOptions = options.tls === true ? {} : { ...(options.tls as tls.ConnectionOptions) }
        // SNI carries host names only (RFC 6066): Node warns about an IP address (DEP0123) and will ignore it.
        // Certificate checks are unchanged: without a server name they use the host, the same address.
        if (tlsOptions.servername !== undefined && net.isIP(tlsOptions.servername) !== 0) delete tlsOptions.servername
        if (options.path !== undefined) socket = tls.connect({ ...tlsOptions, path: options.path })
        else {
          const host = options.host ?? "127.0.0.1"
          socket = tls.connect({
            ...tlsOptions,
            host,
            port: options.port ?? 6379,
            ...(tlsOptions.servername === undefined && net.isIP(host) === 0 ? { servername: host } : {})
          })
        }
      } else {
        socket = options.path !== undefined
          ? net.connect({ path: options.path })
          : net.connect({ host: options.host ?? "127.0.0.1", port: options.port ?? 6379 })
      }
    } catch (error) {
      resume(Exit.fail(dialError(error as NodeJS.ErrnoException, address, false)))
      return
    }
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 15_000)
    // Never an unhandled 'error' event, whatever happens between the dial and the connection's own listeners.
    socket.on("error", ignore)
    let tcpConnected = false
    const onConnect = () => {
      tcpConnected = true
    }
    const onError = (error: NodeJS.ErrnoException) => {
      cleanup()
      socket.destroy()
      resume(Exit.fail(dialError(error, address, useTls && tcpConnected)))
    }
    const onClose = () => {
      cleanup()
      resume(Exit.fail(
        new ConnectionError({
          reason: useTls && tcpConnected ? "tls" : "closed",
          message: `closed: ${address} closed the connection while dialing`,
          address,
          written: false
        })
      ))
    }
    const onReady = () => {
      cleanup()
      resume(Exit.succeed(socket))
    }
    const cleanup = () => {
      socket.off("connect", onConnect)
      socket.off("error", onError)
      socket.off("close", onClose)
      socket.off(useTls ? "secureConnect" : "connect", onReady)
    }
    socket.on("connect", onConnect)
    socket.on("error", onError)
    socket.on("close", onClose)
    socket.on(useTls ? "secureConnect" : "connect", onReady)
    return Effect.sync(() => {
      cleanup()
      socket.destroy()
    })
  })

// -----------------------------------------------------------------------------
// handshake

const authCodes = new Set(["WRONGPASS", "NOAUTH", "NOPERM"])

const isUnknownCommand = (reply: Resp.Reply): boolean =>
  reply instanceof RedisReplyError && /unknown (sub)?command/i.test(reply.message)

const isHelloUnsupported = (reply: Resp.Reply): boolean =>
  reply instanceof RedisReplyError && (reply.code === "NOPROTO" || /unknown command/i.test(reply.message))


// `+OK`, also as bytes (`bytes: true`).
const isOk = (reply: Resp.Reply): boolean => textOf(reply) === "OK"

/** A field of a `HELLO` reply: a RESP3 map or a RESP2 flat array of pairs. */
const helloField = (reply: Resp.Reply, key: string): Resp.Reply | undefined => {
  if (reply instanceof Map) {
    for (const [k, v] of reply) if (textOf(k) === key) return v
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) if (textOf(reply[i]) === key) return reply[i + 1]
  }
  return undefined
}

const asNumber = (value: unknown): number | undefined => {
  if (typeof value === "number") return value
  if (typeof value === "bigint") return Number(value)
  const text = textOf(value)
  if (text === undefined) return undefined
  const n = Number(text)
  return Number.isFinite(n) ? n : undefined
}

/** What a reply is, for an error about its shape; never its content (a hostile server may echo a password). */
const shapeOf = (reply: Resp.Reply | undefined): string => {
  if (reply === undefined) return "nothing"
  if (reply === null) return "nil"
  switch (typeof reply) {
    case "string":
      return "a string"
    case "number":
      return Number.isInteger(reply) ? "an integer" : "a double"
    case "bigint":
      return "a big number"
    case "boolean":
      return "a boolean"
  }
  if (reply instanceof Uint8Array) return "a string"
  if (reply instanceof RedisReplyError) return "an error"
  if (Array.isArray(reply)) return "an array"
  if (reply instanceof Map) return "a map"
  return "a set"
}

/**
 * One handshake command's reply check. `accepts` says whether the reply is what the step
 * expects, error replies it tolerates included (they are counted, so the connection stays in
 * step); `shape` says what else it got.
 */
interface Step {
  readonly name: string
  readonly accepts: (reply: Resp.Reply) => boolean
  readonly shape: (reply: Resp.Reply | undefined) => string
}

const okStep = (name: string, tolerates: (reply: Resp.Reply) => boolean = () => false): Step => ({
  name,
  accepts: (reply) => isOk(reply) || tolerates(reply),
  shape: (reply) => textOf(reply) === undefined ? shapeOf(reply) : "a string other than OK"
})

const helloStep: Step = {
  name: "HELLO",
  accepts: (reply) => {
    const proto = asNumber(helloField(reply, "proto"))
    return (reply instanceof Map || Array.isArray(reply)) && (proto === 2 || proto === 3)
  },
  shape: (reply) =>
    !(reply instanceof Map || Array.isArray(reply))
      ? shapeOf(reply)
      : helloField(reply, "proto") === undefined
      ? `${shapeOf(reply)} without proto`
      : `${shapeOf(reply)} with a proto other than 2 or 3`
}

// Redis < 5 does not know CLIENT ID, and an ACL user may not run it: the id is then unknown (-1).
const clientIdStep: Step = {
  name: "CLIENT ID",
  accepts: (reply) => (typeof reply === "number" && Number.isInteger(reply)) || reply instanceof RedisReplyError,
  shape: shapeOf
}

/** The server refused a step (an error reply): its own words, reason `auth` for credentials and ACLs. */
const refused = (address: string, step: string, reply: RedisReplyError): ConnectionError => {
  const reason: ConnectionErrorReason = authCodes.has(reply.code) ? "auth" : "handshake"
  return new ConnectionError({
    reason,
    message: `${reason}: ${step} on ${address} failed: ${reply.message}`,
    address,
    written: true,
    cause: reply
  })
}

/**
 * A step answered with a shape it never has: bytes the server sent unasked (a greeting) or
 * replies out of step. The connection cannot be trusted; the dial fails with the
 * `ProtocolError` as cause.
 */
const malformedReply = (address: string, step: string, shape: string): ConnectionError => {
  const cause = new ProtocolError({ reason: "unexpected", message: `handshake: ${step} answered ${shape}` })
  return new ConnectionError({
    reason: "handshake",
    message: `handshake: ${step} on ${address} failed: ${cause.message}`,
    address,
    written: true,
    cause
  })
}

const check = (address: string, step: Step, reply: Resp.Reply | undefined): ConnectionError | undefined => {
  if (reply !== undefined && step.accepts(reply)) return undefined
  if (reply instanceof RedisReplyError) return refused(address, step.name, reply)
  return malformedReply(address, step.name, step.shape(reply))
}

const checkAll = (
  address: string,
  steps: ReadonlyArray<Step>,
  replies: ReadonlyArray<Resp.Reply>,
  offset: number
): ConnectionError | undefined => {
  for (let i = 0; i < steps.length; i++) {
    const failed = check(address, steps[i]!, replies[offset + i])
    if (failed !== undefined) return failed
  }
  return undefined
}

const sendFailed = (address: string, step: string) =>
(
  error: ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError
) =>
  error._tag === "ConnectionError"
    ? error
    : new ConnectionError({
      reason: "handshake",
      message: `handshake: ${step} on ${address} failed: ${error.message}`,
      address,
      written: true,
      cause: error
    })

/** The commands after HELLO/AUTH, shared by both paths, and the checks of their replies. */
const tailCommands = (options: ConnOptions, withClientId: boolean) => {
  const commands: Array<Array<Resp.Arg>> = []
  const steps: Array<Step> = []
  const db = options.db ?? 0
  if (db > 0) {
    commands.push(["SELECT", db])
    steps.push(okStep(`SELECT ${db}`))
  }
  const libName = options.libName ?? "effect-redis-pool"
  if (libName !== "") {
    // Only "the server does not know this" (Redis < 7.2) or "this ACL user may not" may be ignored:
    // the reply is counted either way, so the connection stays in sync.
    const tolerated = (reply: Resp.Reply) =>
      isUnknownCommand(reply) || (reply instanceof RedisReplyError && reply.code === "NOPERM")
    commands.push(["CLIENT", "SETINFO", "LIB-NAME", libName])
    steps.push(okStep("CLIENT SETINFO LIB-NAME", tolerated))
    commands.push(["CLIENT", "SETINFO", "LIB-VER", options.libVer ?? version])
    steps.push(okStep("CLIENT SETINFO LIB-VER", tolerated))
  }
  if (withClientId) {
    commands.push(["CLIENT", "ID"])
    steps.push(clientIdStep)
  }
  return { commands, steps }
}

const handshake = Effect.fnUntraced(function*(socket: ConnSocket, options: ConnOptions) {
  const address = socket.address
  const protocol = options.protocol ?? 3
  const password = options.password === undefined ? undefined : Redacted.value(options.password)
  const hello: Array<Resp.Arg> = ["HELLO", protocol]
  if (password !== undefined) hello.push("AUTH", options.username ?? "default", password)
  if (options.clientName !== undefined) hello.push("SETNAME", options.clientName)
  const first = tailCommands(options, false)
  const replies = yield* socket.sendBatch([hello, ...first.commands]).pipe(
    Effect.mapError(sendFailed(address, "HELLO"))
  )
  const helloReply = replies[0]
  if (helloReply === undefined || !isHelloUnsupported(helloReply)) {
    const failed = checkAll(address, [helloStep, ...first.steps], replies, 0)
    if (failed !== undefined) return yield* failed
    socket.protocol = asNumber(helloField(helloReply!, "proto")) === 3 ? 3 : 2
    socket.clientId = asNumber(helloField(helloReply!, "id")) ?? -1
    return
  }
  // RESP2 fallback: the server does not know HELLO (or that protocol version).
  const commands: Array<Array<Resp.Arg>> = []
  const steps: Array<Step> = []
  if (password !== undefined) {
    commands.push(options.username === undefined ? ["AUTH", password] : ["AUTH", options.username, password])
    steps.push(okStep("AUTH"))
  }
  if (options.clientName !== undefined) {
    commands.push(["CLIENT", "SETNAME", options.clientName])
    steps.push(okStep("CLIENT SETNAME"))
  }
  const rest = tailCommands(options, true)
  steps.push(...rest.steps)
  const fallback = yield* socket.sendBatch([...commands, ...rest.commands]).pipe(
    Effect.mapError(sendFailed(address, steps[0]!.name))
  )
  const failed = checkAll(address, steps, fallback, 0)
  if (failed !== undefined) return yield* failed
  socket.protocol = 2
  const id = fallback[fallback.length - 1]
  socket.clientId = typeof id === "number" ? id : -1
})

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
    const socket = new ConnSocket(raw, settings)
    const conn = new ConnImpl(socket)
    return handshake(socket, options).pipe(
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
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : socket.close),
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
