/**
 * The RESP2/RESP3 codec: commands to bytes, bytes to replies.
 *
 * {@link encodeCommand} turns an argument list into a RESP array of bulk strings.
 * {@link Decoder} turns a byte stream, cut anywhere, into one callback per
 * top-level reply. No I/O and no Effect runtime here: the connection layer wraps it.
 *
 * @since 0.1.0
 */
import type { RedisReplyError } from "./Errors.ts"
import { RespDecoder } from "./internal/respDecoder.ts"
import { RespWriter } from "./internal/respWriter.ts"

/**
 * One argument of a command. Strings are sent as UTF-8, bytes as they are,
 * numbers and bigints as their decimal text (`Infinity` as `inf`).
 *
 * @since 0.1.0
 * @category models
 */
export type Arg = string | Uint8Array | number | bigint

/**
 * A decoded reply. Strings arrive as `string` (or `Uint8Array` with
 * `bytes: true`), integers as `number` (`bigint` outside the safe range),
 * doubles as `number`, big numbers as `bigint`, nil as `null`, error replies as
 * {@link RedisReplyError} values. Aggregates are plain (mutable) `Array`, `Map`
 * and `Set` instances.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply =
  | string
  | Uint8Array
  | number
  | bigint
  | boolean
  | null
  | RedisReplyError
  | ReadonlyArray<Reply>
  | ReadonlyMap<Reply, Reply>
  | ReadonlySet<Reply>

const sharedWriter = new RespWriter()

/**
 * Encodes one command as a RESP array of bulk strings. Binary safe. Throws
 * `InvalidArgumentError` for an argument of another type (or a number
 * that is `NaN`).
 *
 * The returned bytes are a view that this module never writes again.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeCommand = (args: ReadonlyArray<Arg>): Uint8Array => {
  sharedWriter.add(args)
  return sharedWriter.take()
}

/**
 * Options of a {@link Decoder}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecoderOptions {
  /** Called once per complete top-level reply, in order. */
  readonly onReply: (reply: Reply) => void
  /** Called with each top-level RESP3 push frame (`>`); without it pushes are dropped. */
  readonly onPush?: ((push: ReadonlyArray<Reply>) => void) | undefined
  /** Called with each RESP3 attribute map (`|`); without it attributes are dropped. */
  readonly onAttribute?: ((attributes: ReadonlyMap<Reply, Reply>) => void) | undefined
  /**
   * Simple, bulk and verbatim strings as `Uint8Array` instead of UTF-8 `string`
   * (map keys and set members too, which then compare by identity). Error
   * replies stay text. Default `false`.
   */
  readonly bytes?: boolean | undefined
  /** Largest bulk string, verbatim string or blob error accepted, in bytes. Default 512 MiB (Redis' own limit). */
  readonly maxBulkLength?: number | undefined
  /** Largest declared element count of an array, set, map, push or attribute. Default 2^32 - 1. */
  readonly maxAggregateLength?: number | undefined
  /** Deepest nesting of aggregates accepted. Default 512. */
  readonly maxDepth?: number | undefined
}

/**
 * A RESP2/RESP3 stream decoder.
 *
 * `write` accepts the stream cut at any byte and calls `onReply` once per
 * complete top-level reply, in order; push frames go to `onPush` instead and
 * attributes to `onAttribute`, so neither disturbs the order of replies. An
 * error reply is a {@link RedisReplyError} value passed to `onReply`.
 *
 * Malformed bytes or an exceeded limit make `write` throw a
 * `ProtocolError`; the decoder then refuses all input (throwing the same
 * error) until `reset()`. A callback that throws also stops the decoder until
 * `reset()`, and its exception propagates from `write`. Callbacks must not call
 * `write` or `reset` on the decoder that is calling them.
 *
 * Declared lengths are never allocated up front: memory grows only with the
 * bytes that actually arrive. Nesting is handled with an explicit stack, never
 * by recursion. RESP3 streamed strings and aggregates (`$?`, `*?`), which
 * Redis does not send, are malformed here.
 *
 * @since 0.1.0
 * @category decoding
 */
export interface Decoder {
  /**
   * Feeds the next bytes of the stream. Throws `ProtocolError` on bytes
   * that are not RESP or exceed a limit.
   */
  write(chunk: Uint8Array): void
  /** Forgets any partial input and a previous failure. */
  reset(): void
}

/**
 * Makes a {@link Decoder}.
 *
 * @example
 * ```ts
 * import { Resp } from "effect-redis-pool"
 *
 * const replies: Array<Resp.Reply> = []
 * const decoder = new Resp.Decoder({ onReply: (reply) => replies.push(reply) })
 * const bytes = new TextEncoder().encode("+OK\r\n*2\r\n$5\r\nhello\r\n:42\r\n")
 * decoder.write(bytes.subarray(0, 9)) // cut anywhere: one reply so far
 * decoder.write(bytes.subarray(9))
 * // replies: ["OK", ["hello", 42]]
 * const command: Uint8Array = Resp.encodeCommand(["SET", "k", 1])
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const Decoder: new(options: DecoderOptions) => Decoder = RespDecoder
