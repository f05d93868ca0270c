/**
 * The RESP2/RESP3 stream decoder behind `Resp.Decoder` (see its contract there).
 *
 * @internal
 */
import { Buffer, constants } from "node:buffer"
import { ProtocolError, RedisReplyError } from "../Errors.ts"
import type { DecoderOptions, Reply } from "../Resp.ts"
import { parseDouble } from "./respDouble.ts"
import { forgetBuffer, type NodeBuffer, text } from "./respText.ts"

/** @internal */
export class RespDecoder {
  readonly #onReply: (reply: Reply) => void
  readonly #onPush: ((push: ReadonlyArray<Reply>) => void) | undefined
  readonly #onAttribute: ((attributes: ReadonlyMap<Reply, Reply>) => void) | undefined
  readonly #bytes: boolean
  // Effective limits: the options, capped at what V8 can hold (see the constants below).
  // `#maxBulk` bounds `$`, `=` and `+` (strings or bytes), `#maxText` `!` and `-` (always text).
  readonly #maxBulk: number
  readonly #maxText: number
  readonly #maxArray: number
  readonly #maxKeyed: number
  readonly #maxDepth: number

  #failed = false
  #failure: unknown = undefined

  // The element cut by the end of the previous chunk: its first
  // `#pendingLength` bytes, copied into `#partial`. `#need` is its total size
  // once known (a bulk whose header was read), 0 while it is a line still
  // waiting for its CRLF. `#partial` grows by doubling, up to `#need`, so it
  // holds at most twice the bytes that actually arrived.
  #partial: NodeBuffer | undefined = undefined
  #pendingLength = 0
  #need = 0

  // Bytes mode: values are views into a private copy of the chunk being parsed,
  // made at its first value and covering up to COPY_WINDOW bytes from there, so
  // that a reply never shares memory with the caller's chunk and costs one view,
  // not an allocation and a copy each. Values cut by a chunk's end come from
  // `#partial`, which is ours already (`#owned`). Forgotten after every write.
  #owned = false
  #copy: ArrayBuffer | undefined = undefined
  #copyOf: NodeBuffer | undefined = undefined
  #copyFrom = 0
  #copyEnd = 0

  // The stack of open aggregates, as parallel arrays.
  #depth = 0
  readonly #kinds: Array<number> = []
  readonly #remaining: Array<number> = []
  readonly #containers: Array<Array<Reply> | Map<Reply, Reply> | Set<Reply> | undefined> = []
  readonly #keys: Array<Reply | undefined> = []

  constructor(options: DecoderOptions) {
    this.#onReply = options.onReply
    this.#onPush = options.onPush
    this.#onAttribute = options.onAttribute
    this.#bytes = options.bytes === true
    const bulk = options.maxBulkLength ?? DEFAULT_MAX_BULK
    this.#maxText = Math.min(bulk, MAX_STRING)
    this.#maxBulk = this.#bytes ? Math.min(bulk, MAX_BYTES) : this.#maxText
    const aggregate = options.maxAggregateLength ?? DEFAULT_MAX_AGGREGATE
    this.#maxArray = Math.min(aggregate, MAX_ARRAY)
    this.#maxKeyed = Math.min(aggregate, MAX_KEYED)
    this.#maxDepth = options.maxDepth ?? 512
  }

  /**
   * Feeds the next bytes of the stream. Throws {@link ProtocolError} on bytes
   * that are not RESP or exceed a limit.
   */
  write(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failure
    const buf = asBuffer(chunk)
    const end = buf.length
    try {
      let pos = 0
      while (this.#pendingLength > 0) {
        if (pos >= end) return
        const stop = this.#completes(buf, pos)
        if (stop === -1) {
          this.#append(buf, pos, end)
          if (this.#need === 0) this.#probe()
          return
        }
        const whole = this.#takePending(buf, pos, stop)
        pos = stop
        this.#owned = true
        this.#parse(whole, 0)
      }
      this.#owned = false
      if (pos < end) this.#parse(buf, pos)
    } catch (error) {
      this.#clear()
      this.#failed = true
      this.#failure = error
      throw error
    } finally {
      forgetBuffer()
      this.#copy = undefined
      this.#copyOf = undefined
    }
  }

  /** Forgets any partial input and a previous failure. */
  reset(): void {
    this.#clear()
    this.#failed = false
    this.#failure = undefined
  }

  #clear(): void {
    this.#partial = undefined
    this.#pendingLength = 0
    this.#need = 0
    this.#depth = 0
    this.#kinds.length = 0
    this.#remaining.length = 0
    this.#containers.length = 0
    this.#keys.length = 0
  }

  // Where, in `buf` from `pos`, the pending element ends; -1 when it does not.
  #completes(buf: NodeBuffer, pos: number): number {
    if (this.#need > 0) {
      const stop = pos + this.#need - this.#pendingLength
      return stop <= buf.length ? stop : -1
    }
    if (this.#partial![this.#pendingLength - 1] === CR) return pos + 1
    const cr = buf.indexOf(CR, pos)
    return cr === -1 || cr + 1 >= buf.length ? -1 : cr + 2
  }

  // Adds buf[pos..end) to the pending element. A line is first checked against
  // its type's limit, as #parse checks one that arrives whole: `complete` says
  // whether these bytes end it (its CR and the byte after), else a trailing CR
  // is not counted.
  #append(buf: NodeBuffer, pos: number, end: number, complete = false): void {
    const length = this.#pendingLength + end - pos
    let partial = this.#partial
    if (this.#need === 0) {
      const type = this.#pendingLength > 0 ? partial![0]! : buf[pos]!
      const text = complete ? length - 3 : length - 1 - (buf[end - 1] === CR ? 1 : 0)
      const limit = this.#lineLimit(type)
      if (text > limit) throw lineTooLong(type, limit)
    }
    if (partial === undefined || partial.length < length) {
      let size = partial === undefined ? 64 : partial.length * 2
      if (size < length) size = length
      if (this.#need > 0 && size > this.#need) size = this.#need
      const grown = this.#allocate(size)
      if (partial !== undefined) partial.copy(grown, 0, 0, this.#pendingLength)
      this.#partial = partial = grown
    }
    buf.copy(partial, this.#pendingLength, pos, end)
    this.#pendingLength = length
  }

  // A buffer for the pending element. In bytes mode never from Node's shared pool, since replies
  // are views into it; in strings mode the pool is cheaper and nothing escapes.
  #allocate(size: number): NodeBuffer {
    return (this.#bytes ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size)) as NodeBuffer
  }

  // The longest text (between the type byte and CRLF) a line of `type` may have.
  #lineLimit(type: number): number {
    return type === PLUS ? this.#maxBulk : type === MINUS ? this.#maxText : type === PAREN ? MAX_BIG_DIGITS + 1 : MAX_LINE
  }

  // The bound #parse gives readLength for a header of `type` (tighter ones are checked once it is whole).
  #maxLength(type: number): number {
    return type === DOLLAR || type === EQUALS || type === BANG ? this.#maxBulk : this.#maxArray
  }

  // Checks an unfinished line as #parse checks the same bytes when they are the
  // end of a chunk, so that malformed input fails at the same byte however it
  // is cut. Only integer and length lines, nulls and booleans are checked
  // before their CRLF; the other lines wait for it either way.
  #probe(): void {
    const line = this.#partial!
    const n = this.#pendingLength
    switch (line[0]) {
      case COLON: {
        let p = 1
        if (p < n && (line[p] === MINUS || line[p] === PLUS)) p++
        const first = p
        while (p < n && (line[p]! - 48) >>> 0 <= 9) p++
        if (p < n && (line[p] !== CR || p === first)) throw malformed("an integer that is not a decimal number")
        return
      }
      case UNDERSCORE:
        if (n >= 3) throw malformed("a null with content")
        return
      case HASH:
        if (n >= 4) throw malformed("a boolean that is neither t nor f")
        return
      case PLUS:
      case MINUS:
      case COMMA:
      case PAREN:
        return
      default:
        readLength(line, 1, n, this.#maxLength(line[0]!))
    }
  }

  // The pending element completed by buf[pos..stop).
  #takePending(buf: NodeBuffer, pos: number, stop: number): NodeBuffer {
    this.#append(buf, pos, stop, true)
    const length = this.#pendingLength
    const partial = this.#partial!
    this.#partial = undefined
    this.#pendingLength = 0
    this.#need = 0
    return partial.length === length ? partial : (partial.subarray(0, length) as NodeBuffer)
  }

  // Keeps buf[start..) for the next chunk. `need` is the element's total size
  // when known, 0 for a line without its CRLF yet. A short bulk gets its final
  // size at once.
  #stash(buf: NodeBuffer, start: number, need: number): void {
    this.#need = need
    if (need > 0 && need <= PREALLOCATE) this.#partial = this.#allocate(need)
    this.#append(buf, start, buf.length)
  }

  #parse(buf: NodeBuffer, pos: number): void {
    const end = buf.length
    forgetBuffer()
    while (pos < end) {
      const start = pos
      let value: Reply
      switch (buf[pos]) {
        case DOLLAR:
        case EQUALS:
        case BANG: {
          const length = readLength(buf, pos + 1, end, this.#maxBulk)
          if (length === INCOMPLETE) return this.#stash(buf, start, 0)
          if (length === -1) {
            if (buf[start] !== DOLLAR) throw malformed("a null blob error or verbatim string")
            value = null
            pos = lineEnd
            break
          }
          const from = lineEnd
          const to = from + length
          if (to + 2 > end) {
            if (buf[start] === BANG && length > this.#maxText) throw limitError(`a declared length above ${this.#maxText}`)
            return this.#stash(buf, start, to + 2 - start)
          }
          if (buf[to] !== CR || buf[to + 1] !== LF) throw malformed("a bulk string not followed by CRLF")
          pos = to + 2
          const type = buf[start]
          if (type === DOLLAR) {
            value = this.#bytes ? this.#bytesOf(buf, from, to) : text(buf, from, to)
          } else if (type === BANG) {
            if (length > this.#maxText) throw limitError(`a declared length above ${this.#maxText}`)
            value = replyError(buf.utf8Slice(from, to))
          } else {
            if (length < 4 || buf[from + 3] !== COLON) throw malformed("a verbatim string without its format prefix")
            value = this.#bytes ? this.#bytesOf(buf, from + 4, to) : text(buf, from + 4, to)
          }
          break
        }
        case PLUS:
        case MINUS: {
          const type = buf[pos]!
          let p = pos + 1
          while (p < end && buf[p] !== CR) p++
          // The same limit #append puts on a line cut by a chunk's end (#maxText <= #maxBulk).
          if (p - pos - 1 > this.#maxText && (type === MINUS || p - pos - 1 > this.#maxBulk)) {
            throw lineTooLong(type, this.#lineLimit(type))
          }
          if (p + 1 >= end) return this.#stash(buf, start, 0)
          if (buf[p + 1] !== LF) throw malformed("CR not followed by LF")
          pos = p + 2
          if (type === PLUS) {
            value = this.#bytes ? this.#bytesOf(buf, start + 1, p) : text(buf, start + 1, p)
          } else {
            value = replyError(buf.utf8Slice(start + 1, p))
          }
          break
        }
        case COLON: {
          let p = pos + 1
          let negative = false
          if (p < end && (buf[p] === MINUS || buf[p] === PLUS)) {
            negative = buf[p] === MINUS
            p++
          }
          const first = p
          let n = 0
          while (p < end) {
            const digit = buf[p]! - 48
            if (digit >>> 0 > 9) break
            n = n * 10 + digit
            p++
          }
          if (p - pos > MAX_LINE + 1) throw lineTooLong(COLON, MAX_LINE)
          if (p >= end) return this.#stash(buf, start, 0)
          if (buf[p] !== CR || p === first) throw malformed("an integer that is not a decimal number")
          if (p + 1 >= end) return this.#stash(buf, start, 0)
          if (buf[p + 1] !== LF) throw malformed("CR not followed by LF")
          pos = p + 2
          value = n <= Number.MAX_SAFE_INTEGER ? (negative ? 0 - n : n) : BigInt(buf.latin1Slice(start + 1, p))
          break
        }
        case STAR:
        case TILDE:
        case PERCENT:
        case GT:
        case PIPE: {
          const count = readLength(buf, pos + 1, end, this.#maxArray)
          if (count === INCOMPLETE) return this.#stash(buf, start, 0)
          pos = lineEnd
          const kind = buf[start]!
          if (count === -1) {
            if (kind !== STAR) throw malformed("a null set, map, push or attribute")
            value = null
            break
          }
          if (count > 0) {
            this.#open(kind, count)
            continue
          }
          if (kind === PIPE) {
            if (this.#onAttribute !== undefined) this.#onAttribute(new Map())
            continue
          }
          value = kind === PERCENT ? new Map() : kind === TILDE ? new Set() : []
          if (kind === GT && this.#depth === 0) {
            if (this.#onPush !== undefined) this.#onPush(value as Array<Reply>)
            continue
          }
          break
        }
        case UNDERSCORE: {
          if (pos + 2 >= end) return this.#stash(buf, start, 0)
          if (buf[pos + 1] !== CR || buf[pos + 2] !== LF) throw malformed("a null with content")
          pos += 3
          value = null
          break
        }
        case HASH: {
          if (pos + 3 >= end) return this.#stash(buf, start, 0)
          const c = buf[pos + 1]
          if ((c !== T && c !== F) || buf[pos + 2] !== CR || buf[pos + 3] !== LF) {
            throw malformed("a boolean that is neither t nor f")
          }
          pos += 4
          value = c === T
          break
        }
        case COMMA:
        case PAREN: {
          const type = buf[pos]!
          let p = pos + 1
          while (p < end && buf[p] !== CR) p++
          const limit = type === COMMA ? MAX_LINE : MAX_BIG_DIGITS + 1
          if (p - pos - 1 > limit) throw lineTooLong(type, limit)
          if (p + 1 >= end) return this.#stash(buf, start, 0)
          if (buf[p + 1] !== LF) throw malformed("CR not followed by LF")
          pos = p + 2
          const literal = buf.latin1Slice(start + 1, p)
          value = type === COMMA ? doubleOf(literal) : parseBigNumber(literal)
          break
        }
        default:
          throw malformed(`unknown type byte 0x${buf[pos]!.toString(16).padStart(2, "0")}`)
      }
      if (this.#depth === 0) this.#onReply(value)
      else this.#emit(value)
    }
  }

  // The bytes of buf[from..to) as a view that shares no memory with the caller's chunk.
  #bytesOf(buf: NodeBuffer, from: number, to: number): Uint8Array {
    if (this.#owned) return new Uint8Array(buf.buffer, buf.byteOffset + from, to - from)
    let copy = this.#copy
    if (copy === undefined || this.#copyOf !== buf || from < this.#copyFrom || to > this.#copyEnd) {
      const end = Math.min(buf.length, Math.max(to, from + COPY_WINDOW))
      copy = (buf.buffer as ArrayBuffer).slice(buf.byteOffset + from, buf.byteOffset + end)
      this.#copy = copy
      this.#copyOf = buf
      this.#copyFrom = from
      this.#copyEnd = end
    }
    return new Uint8Array(copy, from - this.#copyFrom, to - from)
  }

  #open(kind: number, count: number): void {
    const depth = this.#depth
    if (depth >= this.#maxDepth) throw limitError(`aggregates nested deeper than ${this.#maxDepth}`)
    if (count > this.#maxKeyed && kind !== STAR && kind !== GT) {
      throw limitError(`a set, map or attribute of more than ${this.#maxKeyed} members`)
    }
    this.#kinds[depth] = kind
    if (kind === PERCENT || kind === PIPE) {
      this.#remaining[depth] = count * 2
      this.#containers[depth] = new Map()
    } else {
      this.#remaining[depth] = count
      this.#containers[depth] = kind === TILDE ? new Set() : []
    }
    this.#keys[depth] = undefined
    this.#depth = depth + 1
  }

  // Hands a complete value to its parent aggregate, closing every aggregate it
  // completes, or to the callbacks at the top level.
  #emit(value: Reply): void {
    let depth = this.#depth
    while (depth > 0) {
      const f = depth - 1
      const kind = this.#kinds[f]!
      const container = this.#containers[f]!
      const left = this.#remaining[f]! - 1
      if (kind === STAR || kind === GT) {
        ;(container as Array<Reply>).push(value)
      } else if (kind === TILDE) {
        ;(container as Set<Reply>).add(value)
      } else if (left % 2 === 1) {
        this.#keys[f] = value
      } else {
        ;(container as Map<Reply, Reply>).set(this.#keys[f]!, value)
        this.#keys[f] = undefined
      }
      if (left > 0) {
        this.#remaining[f] = left
        return
      }
      this.#containers[f] = undefined
      depth = f
      this.#depth = f
      if (kind === PIPE) {
        if (this.#onAttribute !== undefined) this.#onAttribute(container as Map<Reply, Reply>)
        return
      }
      if (kind === GT && f === 0) {
        if (this.#onPush !== undefined) this.#onPush(container as Array<Reply>)
        return
      }
      value = container
    }
    this.#onReply(value)
  }
}


const CR = 13
const LF = 10
const BANG = 33 // !
const HASH = 35 // #
const DOLLAR = 36 // $
const PERCENT = 37 // %
const PAREN = 40 // (
const STAR = 42 // *
const PLUS = 43 // +
const COMMA = 44 // ,
const MINUS = 45 // -
const COLON = 58 // :
const EQUALS = 61 // =
const GT = 62 // >
const UNDERSCORE = 95 // _
const F = 102 // f
const T = 116 // t
const PIPE = 124 // |
const TILDE = 126 // ~

const INCOMPLETE = -2
// A bulk element up to this size, once cut by a chunk's end, is gathered into
// one buffer of its final size from the start.
const PREALLOCATE = 64 * 1024
// Bytes mode: the most of a chunk copied at once for the views handed out.
const COPY_WINDOW = 64 * 1024
// The longest text of a length, integer, double, null or boolean line.
const MAX_LINE = 4096

// Limits, documented on `Resp.DecoderOptions` and `Resp.Decoder`.
const DEFAULT_MAX_BULK = 512 * 1024 * 1024
const DEFAULT_MAX_AGGREGATE = 2 ** 24
// V8's longest string (2^29 - 24 on 64-bit): a longer text cannot be made at all.
const MAX_STRING = constants.MAX_STRING_LENGTH
// Bytes mode: the largest value accepted whatever `maxBulkLength` says.
const MAX_BYTES = Math.min(2 ** 32 - 1, constants.MAX_LENGTH)
// V8's Map and Set hold at most 2^24 entries; adding one more throws a RangeError.
const MAX_KEYED = 2 ** 24
// A JS array grown by push fails near 112.8 M elements (Node 22); 2^26 stays clear of it.
const MAX_ARRAY = 2 ** 26
// BigInt() is quadratic in the digits: 10 M of them block the event loop for seconds.
const MAX_BIG_DIGITS = 10_000

// Set by readLength: the position after the CRLF of the line it read.
let lineEnd = 0

const asBuffer = (chunk: Uint8Array): NodeBuffer =>
  (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)) as NodeBuffer

// An error reply is a value, not a failure of this code: its stack trace would
// only show the decoder, and capturing one costs more than decoding the reply.
const replyError = (text: string): RedisReplyError => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return RedisReplyError.fromText(text)
  } finally {
    Error.stackTraceLimit = limit
  }
}

const malformed = (what: string): ProtocolError =>
  new ProtocolError({ reason: "malformed", message: `malformed RESP: ${what}` })

const limitError = (what: string): ProtocolError =>
  new ProtocolError({ reason: "limit", message: `RESP limit exceeded: ${what}` })

const lineTooLong = (type: number, limit: number): ProtocolError =>
  limitError(
    type === PLUS || type === MINUS
      ? `a simple string or error of more than ${limit} bytes`
      : type === PAREN
      ? `a big number of more than ${MAX_BIG_DIGITS} digits`
      : `a line of more than ${limit} bytes`
  )

// Reads `<digits>\r\n` or `-1\r\n` at `p`: the number, -1, or INCOMPLETE; sets
// `lineEnd`. Throws as soon as the bytes cannot be a valid length up to `max`.
const readLength = (buf: NodeBuffer, p: number, end: number, max: number): number => {
  if (p >= end) return INCOMPLETE
  if (buf[p] === MINUS) {
    if (p + 1 >= end) return INCOMPLETE
    if (buf[p + 1] !== 49) throw malformed("a negative length other than -1")
    if (p + 2 >= end) return INCOMPLETE
    if (buf[p + 2] !== CR) throw malformed("a negative length other than -1")
    if (p + 3 >= end) return INCOMPLETE
    if (buf[p + 3] !== LF) throw malformed("CR not followed by LF")
    lineEnd = p + 4
    return -1
  }
  const first = p
  let n = 0
  while (p < end) {
    const c = buf[p]!
    if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48)
      if (n > max) throw limitError(`a declared length above ${max}`)
      p++
      continue
    }
    // Leading zeros: the same bound #append puts on a line cut by a chunk's end.
    if (p - first > MAX_LINE) break
    if (c !== CR || p === first) throw malformed("a length that is not a decimal number")
    if (p + 1 >= end) return INCOMPLETE
    if (buf[p + 1] !== LF) throw malformed("CR not followed by LF")
    lineEnd = p + 2
    return n
  }
  if (p - first > MAX_LINE) throw limitError(`a line of more than ${MAX_LINE} bytes`)
  return INCOMPLETE
}

const doubleOf = (text: string): number => {
  const value = parseDouble(text)
  if (value === undefined) throw malformed(`a double that is not a number: ${JSON.stringify(text.slice(0, 40))}`)
  return value
}

const BIG_NUMBER = /^[+-]?\d+$/

const parseBigNumber = (text: string): bigint => {
  if (!BIG_NUMBER.test(text)) throw malformed(`a big number that is not an integer: ${JSON.stringify(text.slice(0, 40))}`)
  const digits = text.charCodeAt(0) === MINUS || text.charCodeAt(0) === PLUS ? text.length - 1 : text.length
  if (digits > MAX_BIG_DIGITS) throw limitError(`a big number of more than ${MAX_BIG_DIGITS} digits`)
  return BigInt(text)
}
