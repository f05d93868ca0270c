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
   *
   * Each value is a view into a private copy of (at most 64 KiB of) the chunk it
   * arrived in: it never shares memory with the chunk passed to `write`, but its
   * `.buffer` may hold the bytes of other replies, so read it through
   * `byteOffset`/`byteLength` (or copy it with `slice()` to keep it apart).
   */
  readonly bytes?: boolean | undefined
  /**
   * Largest bulk string, verbatim string, blob error, simple string or error line
   * accepted, in bytes. Default 512 MiB (Redis' own limit). Whatever it says, text
   * is capped at V8's longest string (`buffer.constants.MAX_STRING_LENGTH`,
   * 2^29 - 24 = 536 870 888 bytes on 64-bit; 24 bytes under 512 MiB), and values in
   * `bytes` mode at 4 GiB - 1.
   */
  readonly maxBulkLength?: number | undefined
  /**
   * Largest declared element count of an array, set, map (in pairs), push or
   * attribute. Default 2^24 (16 777 216). Whatever it says, sets, maps and
   * attributes are capped at 2^24 (V8's `Map` and `Set` hold no more) and arrays
   * and pushes at 2^26 (V8 cannot grow an array much past 112 M elements).
   */
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
 * `ProtocolError`, and nothing else (short of a throwing callback or running out
 * of memory); the decoder then refuses all input (throwing the same
 * error) until `reset()`. A callback that throws also stops the decoder until
 * `reset()`, and its exception propagates from `write`. Callbacks must not call
 * `write` or `reset` on the decoder that is calling them.
 *
 * Limits apply the same way however the stream is cut: a line is measured
 * whole, whether it arrives in one chunk or many, and bytes that cannot start
 * a valid line fail as soon as they arrive. Lines other than simple strings and
 * errors hold at most 4 096 bytes between the type byte and CRLF, except big
 * numbers (`(`), which may have at most 10 000 digits (checked before `BigInt`,
 * whose cost grows with the square of the digits). See `DecoderOptions` for the
 * length limits and the caps that keep every value within what V8 can hold.
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
