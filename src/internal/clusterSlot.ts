/**
 * Redis Cluster key slots: `CRC16-XMODEM(k) mod 16384`, where `k` is the text
 * between the first `{` and the first `}` after it when that text is not
 * empty, else the whole key (the hash tag rule of the cluster spec).
 *
 * String keys are hashed over their UTF-8 encoding without allocating it (a
 * lone surrogate counts as U+FFFD, as `TextEncoder` and the command encoder
 * send it); byte keys are hashed as they are.
 *
 * @internal
 */

/** Number of hash slots of a Redis Cluster. @internal */
export const SLOT_COUNT = 16384

const TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

const step = (crc: number, byte: number): number => ((crc << 8) & 0xffff) ^ TABLE[((crc >>> 8) ^ byte) & 0xff]!

/**
 * CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection) of
 * `bytes[start, end)`.
 *
 * @internal
 */
export const crc16 = (bytes: Uint8Array, start = 0, end = bytes.length): number => {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/** CRC16 of the UTF-8 encoding of `text[start, end)`, encoded on the fly. */
const crc16Utf8 = (text: string, start: number, end: number): number => {
  let crc = 0
  for (let i = start; i < end; i++) {
    let code = text.charCodeAt(i)
    if (code < 0x80) {
      crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >>> 8) ^ code) & 0xff]!
      continue
    }
    if (code < 0x800) {
      crc = step(crc, 0xc0 | (code >> 6))
      crc = step(crc, 0x80 | (code & 0x3f))
      continue
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < end ? text.charCodeAt(i + 1) : 0
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
        i++
        crc = step(crc, 0xf0 | (code >> 18))
        crc = step(crc, 0x80 | ((code >> 12) & 0x3f))
        crc = step(crc, 0x80 | ((code >> 6) & 0x3f))
        crc = step(crc, 0x80 | (code & 0x3f))
        continue
      }
      code = 0xfffd // a lone surrogate: what TextEncoder writes
    }
    crc = step(crc, 0xe0 | (code >> 12))
    crc = step(crc, 0x80 | ((code >> 6) & 0x3f))
    crc = step(crc, 0x80 | (code & 0x3f))
  }
  return crc
}

/**
 * The hash slot (0–16383) of a key. A string's hash tag is found in the
 * string itself: `{` and `}` are ASCII, so they sit at the same places in its
 * UTF-8 bytes, and cutting at them never splits a surrogate pair.
 *
 * @internal
 */
export const keySlot = (key: string | Uint8Array): number => {
  if (typeof key === "string") {
    const open = key.indexOf("{")
    if (open !== -1) {
      const close = key.indexOf("}", open + 1)
      if (close > open + 1) return crc16Utf8(key, open + 1, close) & (SLOT_COUNT - 1)
    }
    return crc16Utf8(key, 0, key.length) & (SLOT_COUNT - 1)
  }
  const open = key.indexOf(0x7b)
  if (open !== -1) {
    const close = key.indexOf(0x7d, open + 1)
    if (close > open + 1) return crc16(key, open + 1, close) & (SLOT_COUNT - 1)
  }
  return crc16(key, 0, key.length) & (SLOT_COUNT - 1)
}
