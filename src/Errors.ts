/**
 * Every failure a user of this library can catch, as tagged errors.
 *
 * The split: a server's error reply is a {@link RedisReplyError} and leaves the
 * connection usable; trouble with the socket is a {@link ConnectionError}; a late
 * reply is a {@link CommandTimeoutError}; bytes that are not RESP are a
 * {@link ProtocolError}; the pool speaks through {@link PoolTimeoutError},
 * {@link PoolExhaustedError}, {@link PoolQueueFullError}, {@link PoolClosedError} and
 * {@link CircuitOpenError}.
 * A defect always means a bug in this library.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`, RESP3 `!`).
 * `code` is the first word (`ERR`, `WRONGTYPE`, `NOSCRIPT`, `MOVED`, `LOADING`, ...).
 * The connection it arrived on stays usable.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisReplyError extends Data.TaggedError("RedisReplyError")<{
  readonly code: string
  readonly message: string
}> {
  /**
   * Builds the error from the text of an error reply: the first word is the code.
   *
   * @since 0.1.0
   */
  static fromText(text: string): RedisReplyError {
    const space = text.indexOf(" ")
    return new RedisReplyError({ code: space === -1 ? text : text.slice(0, space), message: text })
  }
  /**
   * The server's text, as `redis-cli` shows it.
   *
   * @since 0.1.0
   */
  override toString(): string {
    return this.message
  }
}

/**
 * Bytes that are not valid RESP, or that exceed a configured limit (bulk length,
 * aggregate length, nesting depth, or a reply nobody asked for). The connection it
 * arrived on can no longer be trusted and is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly reason: "malformed" | "limit" | "unexpected"
  readonly message: string
}> {}

/**
 * Why a {@link ConnectionError} happened.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionErrorReason =
  | "refused" // nothing listens at the address
  | "timeout" // the dial did not complete within dialTimeout
  | "dns" // the host name did not resolve
  | "tls" // the TLS handshake failed
  | "auth" // the server refused the credentials (WRONGPASS, NOAUTH, NOPERM on AUTH/HELLO)
  | "handshake" // any other handshake step failed (HELLO, SELECT, CLIENT SETNAME, onConnect), or answered with a reply of the wrong shape (cause: a ProtocolError)
  | "closed" // the socket closed (by us, the server or the network) while commands were pending
  | "reset" // the peer reset the connection
  | "sentinel" // the Sentinel-managed master could not be resolved, or was not a master (cause: a SentinelError)
  | "unknown"

/**
 * Dialing, handshaking or talking to a server failed at the socket level.
 * `address` is `host:port` or the socket path. `written` says whether the
 * command this error answers may have reached the server (`false` means it
 * certainly did not, so it is safe to retry).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  readonly reason: ConnectionErrorReason
  readonly message: string
  readonly address?: string | undefined
  readonly written?: boolean | undefined
  readonly cause?: unknown
}> {}

/**
 * A command's reply (or its write) did not come within its deadline. The
 * connection stays in sync: the pending reply is dropped when it lands.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandTimeoutError extends Data.TaggedError("CommandTimeoutError")<{
  readonly command: string
  readonly phase: "read" | "write"
  readonly timeoutMillis: number
  readonly message: string
}> {}

/**
 * A snapshot of a pool's state, carried by pool errors so that a timeout explains
 * itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolSnapshot {
  readonly total: number
  readonly idle: number
  readonly inUse: number
  readonly pending: number
  readonly max: number
}

/**
 * No connection could be had within `poolTimeout`. One deadline covers the wait
 * for a turn, the dial and the handshake; `waitingFor` says which was under way
 * when it passed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolTimeoutError extends Data.TaggedError("PoolTimeoutError")<{
  readonly waitingFor: "turn" | "dial" | "handshake"
  readonly waitedMillis: number
  readonly pool: PoolSnapshot
  readonly message: string
}> {}

/**
 * `maxActiveConns` connections are open already; as in go-redis, this fails at
 * once rather than waiting.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  readonly maxActiveConns: number
  readonly pool: PoolSnapshot
  readonly message: string
}> {}

/**
 * `maxWaiters` callers are waiting for a connection already: this one fails at
 * once rather than join them, so a burst cannot grow memory without bound or
 * starve the dials that would serve the callers already waiting.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolQueueFullError extends Data.TaggedError("PoolQueueFullError")<{
  readonly maxWaiters: number
  readonly pool: PoolSnapshot
  readonly message: string
}> {}

/**
 * The pool's scope has closed (or is closing): it admits nobody.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolClosedError extends Data.TaggedError("PoolClosedError")<{
  readonly message: string
}> {}

/**
 * The dial breaker is open: the last `failures` dials failed in a row, the first
 * of them at `since` (epoch milliseconds). The pool fails fast without touching
 * the network until a background probe dials successfully.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Data.TaggedError("CircuitOpenError")<{
  readonly lastError: ConnectionError
  readonly since: number
  readonly failures: number
  readonly message: string
}> {}

/**
 * EXEC answered nil: a watched key changed, nothing in the transaction ran.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionAbortedError extends Data.TaggedError("TransactionAbortedError")<{
  readonly message: string
}> {}

/**
 * A typed command got a reply of a shape it cannot decode (for example a map
 * where it expected a string). The connection is still in sync.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplyTypeError extends Data.TaggedError("ReplyTypeError")<{
  readonly command: string
  readonly expected: string
  readonly received: string
  readonly message: string
}> {}

/**
 * A pub/sub consumer fell more than `bufferSize` events behind on a subscriber made
 * with `overflow: "fail"`: its stream (or queue) delivers what it buffered, then fails
 * with this error instead of dropping messages.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubscriberOverflowError extends Data.TaggedError("SubscriberOverflowError")<{
  readonly bufferSize: number
  readonly message: string
}> {}

/**
 * An option, URL or argument passed by the caller is invalid.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgumentError extends Data.TaggedError("InvalidArgumentError")<{
  readonly message: string
  readonly option?: string | undefined
}> {}

/**
 * Redis Cluster: the keys of a command (or of a transaction, a WATCH) hash to
 * different slots, which the server refuses (`CROSSSLOT`). Detected before
 * anything is sent; use hash tags (`{user:1}:name`, `{user:1}:mail`) to put
 * keys that go together in one slot.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrossSlotError extends Data.TaggedError("CrossSlotError")<{
  readonly command: string
  readonly message: string
}> {}

/**
 * Redis Cluster: a command was redirected (`MOVED`, `ASK`) more than
 * `maxRedirects` times, so the cluster's nodes disagree about who owns its
 * slot. `cause` is the last redirect.
 *
 * @since 0.1.0
 * @category errors
 */
export class MaxRedirectsError extends Data.TaggedError("MaxRedirectsError")<{
  readonly command: string
  readonly redirects: number
  readonly cause: RedisReplyError
  readonly message: string
}> {}

/**
 * Redis Cluster: the command's slot had no serving master for as long as the
 * retry budget (`retryTimeout`) lasted: the server answered `CLUSTERDOWN`
 * (the cluster lost a shard, or a failover did not complete), or no node this
 * client knows owns the slot. `cause` is the last `CLUSTERDOWN` reply. The
 * command did not run.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClusterDownError extends Data.TaggedError("ClusterDownError")<{
  readonly command: string
  readonly cause: RedisReplyError
  readonly message: string
}> {}

/**
 * Redis Cluster: no node (seed or known) answered `CLUSTER SHARDS` or
 * `CLUSTER SLOTS` with a topology. `cause` is the last node's failure.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClusterUnreachableError extends Data.TaggedError("ClusterUnreachableError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * No sentinel of the list answered `SENTINEL GET-MASTER-ADDR-BY-NAME` within
 * its timeout: `causes` holds each sentinel's failure, in the order tried.
 *
 * @since 0.1.0
 * @category errors
 */
export class SentinelUnreachableError extends Data.TaggedError("SentinelUnreachableError")<{
  readonly masterName: string
  readonly sentinels: ReadonlyArray<string>
  readonly causes: ReadonlyArray<ConnectionError | CommandTimeoutError | ProtocolError | RedisReplyError>
  readonly message: string
}> {}

/**
 * Sentinels answered, but none of them knows a master by this name (their
 * reply was nil, or an error reply: `cause` is the last one).
 *
 * @since 0.1.0
 * @category errors
 */
export class SentinelMasterUnknownError extends Data.TaggedError("SentinelMasterUnknownError")<{
  readonly masterName: string
  readonly sentinels: ReadonlyArray<string>
  readonly cause?: RedisReplyError | undefined
  readonly message: string
}> {}

/**
 * The address the sentinels named (`address`) did not answer `ROLE` as a
 * master: `role` is what it said (`slave`, `sentinel`, ...), or it answered
 * `READONLY` to a write. The connection was closed; the next dial asks the
 * sentinels again.
 *
 * @since 0.1.0
 * @category errors
 */
export class SentinelRoleError extends Data.TaggedError("SentinelRoleError")<{
  readonly masterName: string
  readonly address: string
  readonly role: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * What resolving a Sentinel-managed master can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type SentinelError = SentinelUnreachableError | SentinelMasterUnknownError | SentinelRoleError

/**
 * The pool's own failures.
 *
 * @since 0.1.0
 * @category models
 */
export type PoolError = PoolTimeoutError | PoolExhaustedError | PoolQueueFullError | PoolClosedError | CircuitOpenError

/**
 * Everything a command can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisError =
  | RedisReplyError
  | ProtocolError
  | ConnectionError
  | CommandTimeoutError
  | PoolError
  | TransactionAbortedError
  | ReplyTypeError
  | InvalidArgumentError
  | SubscriberOverflowError
  | CrossSlotError
  | MaxRedirectsError
  | ClusterDownError
  | ClusterUnreachableError
