/**
 * The command writer of the connection layer: encodes many commands into one
 * reusable slab of memory, so that a batch becomes one socket write without
 * a copy per command. Produces the same bytes as `Resp.encodeCommand`.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { InvalidArgumentError } from "../Errors.ts"
import type { Arg } from "../Resp.ts"

/**
 * Encodes commands back to back; `take()` hands out everything added since the
 * previous `take()` as one `Uint8Array`.
 *
 * Handed-out bytes are never written again: later commands go after them in
 * the slab, or into a new slab once it is full. Only the slab's unused tail is
 * reused, so the caller may keep the bytes for as long as a socket write needs.
 *
 * @since 0.1.0
 * @category encoding
 */
export class RespWriter {
  readonly #slabSize: number
  // The size of the next slab: a writer starts small and doubles up to `slabSize` as slabs fill, so
  // an idle connection (a handshake and a few commands) holds 4 KiB, not 64.
  #nextSize: number
  #slab: Slab = EMPTY
  #start = 0
  #end = 0

  constructor(slabSize = 64 * 1024) {
    this.#slabSize = slabSize
    this.#nextSize = Math.min(FIRST_SLAB, slabSize)
  }

  /** Bytes added and not yet taken. */
  get length(): number {
    return this.#end - this.#start
  }

  /**
   * Appends one command. Throws `InvalidArgumentError` (and adds nothing) for
   * an argument that is not a string, bytes, a bigint or a number other than NaN.
   */
  add(args: ReadonlyArray<Arg>): void {
    const count = args.length
    const commandStart = this.#end - this.#start
    let pos = this.#room(this.#end, 16)
    let buf = this.#slab
    pos = header(buf, pos, STAR, count)
    for (let i = 0; i < count; i++) {
      let arg = args[i]
      if (typeof arg !== "string") {
        if (arg instanceof Uint8Array) {
          const length = arg.length
          pos = this.#room(pos, length + 16)
          buf = this.#slab
          pos = header(buf, pos, DOLLAR, length)
          buf.set(arg, pos)
          pos += length
          buf[pos] = CR
          buf[pos + 1] = LF
          pos += 2
          continue
        }
        const text = numberText(arg)
        if (text === undefined) {
          this.#end = this.#start + commandStart
          throw new InvalidArgumentError({
            message: `command argument ${i} must be a string, Uint8Array, number or bigint, got ${describe(arg)}`
          })
        }
        arg = text
      }
      const n = arg.length
      if (n <= 128) {
        // Optimistically ASCII: one byte per character.
        pos = this.#room(pos, n + 16)
        buf = this.#slab
        let p = header(buf, pos, DOLLAR, n)
        let j = 0
        for (; j < n; j++) {
          const c = arg.charCodeAt(j)
          if (c >= 128) break
          buf[p + j] = c
        }
        if (j === n) {
          p += n
          buf[p] = CR
          buf[p + 1] = LF
          pos = p + 2
          continue
        }
      }
      const length = Buffer.byteLength(arg, "utf8")
      pos = this.#room(pos, length + 16)
      buf = this.#slab
      pos = header(buf, pos, DOLLAR, length)
      pos += buf.utf8Write(arg, pos, length)
      buf[pos] = CR
      buf[pos + 1] = LF
      pos += 2
    }
    this.#end = pos
  }

  /** Everything added since the last `take()`; empty when nothing was. */
  take(): Uint8Array {
    const start = this.#start
    const end = this.#end
    const slab = this.#slab
    if (slab.length > this.#slabSize) {
      // An oversized slab made for one large command is not kept for the next ones.
      this.#slab = EMPTY
      this.#start = 0
      this.#end = 0
    } else {
      this.#start = end
    }
    return new Uint8Array(slab.buffer, slab.byteOffset + start, end - start)
  }

  // Makes room for `bytes` more bytes at `pos`, moving the untaken bytes to a
  // new slab if needed; returns where `pos` now is.
  #room(pos: number, bytes: number): number {
    if (pos + bytes <= this.#slab.length) return pos
    const kept = pos - this.#start
    const wanted = kept + bytes
    let size: number
    if (wanted <= this.#nextSize) {
      size = this.#nextSize
      this.#nextSize = Math.min(this.#nextSize * 2, this.#slabSize)
    } else {
      size = wanted <= this.#slabSize ? this.#slabSize : Math.max(wanted + this.#slabSize, kept * 2)
    }
    const slab = Buffer.allocUnsafeSlow(size) as Slab
    this.#slab.copy(slab, 0, this.#start, pos)
    this.#slab = slab
    this.#start = 0
    return kept
  }
}

interface Slab extends Buffer {
  utf8Write(text: string, offset: number, length: number): number
}

const EMPTY = Buffer.alloc(0) as Slab
const FIRST_SLAB = 4 * 1024
const CR = 13
const LF = 10
const DOLLAR = 36
const STAR = 42

const numberText = (arg: unknown): string | undefined => {
  if (typeof arg === "number") {
    if (arg === Infinity) return "inf"
    if (arg === -Infinity) return "-inf"
    return Number.isNaN(arg) ? undefined : String(arg)
  }
  return typeof arg === "bigint" ? String(arg) : undefined
}

const describe = (arg: unknown): string =>
  arg === null ? "null" : typeof arg === "number" ? "NaN" : typeof arg

// Writes the decimal digits of a non-negative integer at `p`; returns the position after them.
const writeUint = (buf: Uint8Array, p: number, n: number): number => {
  if (n < 10) {
    buf[p] = 48 + n
    return p + 1
  }
  if (n < 100) {
    const tens = (n / 10) | 0
    buf[p] = 48 + tens
    buf[p + 1] = 48 + n - tens * 10
    return p + 2
  }
  let digits = 3
  for (let x = 1000; x <= n; x *= 10) digits++
  let q = n
  for (let i = p + digits - 1; i >= p; i--) {
    const next = Math.floor(q / 10)
    buf[i] = 48 + q - next * 10
    q = next
  }
  return p + digits
}

// Writes `<type><n>\r\n` (an array or bulk string header) at `p`; returns the position after it.
const header = (buf: Uint8Array, p: number, type: number, n: number): number => {
  buf[p] = type
  p = writeUint(buf, p + 1, n)
  buf[p] = CR
  buf[p + 1] = LF
  return p + 2
}
