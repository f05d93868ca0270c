/**
 * Text out of a decoder's buffer, fast: short ASCII strings built in JavaScript,
 * long ones copied byte for byte after one native ASCII check of the rest of the
 * buffer, UTF-8 decoding only where needed.
 *
 * @internal
 */
import { type Buffer, isAscii } from "node:buffer"

/**
 * A Node `Buffer` with the fast string methods that Node defines but its type
 * declarations omit.
 */
export interface NodeBuffer extends Buffer {
  utf8Slice(start: number, end: number): string
  latin1Slice(start: number, end: number): string
}

// The buffer being parsed, once a long string in it sent us to check whether
// its bytes from `checkedFrom` on are all ASCII; reset for every buffer.
let checked: NodeBuffer | undefined = undefined
let checkedFrom = 0
let checkedAscii = false

/** Forgets the buffer checked last (a new chunk, or the end of one). */
export const forgetBuffer = (): void => {
  checked = undefined
}

// UTF-8 text of b[s..e). Long strings: one native ASCII check of the rest of
// the buffer lets every later string in it be copied byte for byte, which is
// about twice as fast as UTF-8 decoding.
export const text = (b: NodeBuffer, s: number, e: number): string => {
  if (e - s <= 16) return shortText(b, s, e)
  if (b !== checked || s < checkedFrom) {
    checked = b
    checkedFrom = s
    checkedAscii = isAscii(b.subarray(s))
  }
  return checkedAscii ? b.latin1Slice(s, e) : b.utf8Slice(s, e)
}

// Short ASCII strings are built in JS, which beats the cost of calling into
// Node's native decoder.
const shortText = (b: NodeBuffer, s: number, e: number): string => {
  switch (e - s) {
    case 0:
      return ""
    case 1:
      if (b[s]! & 128) break
      return String.fromCharCode(b[s]!)
    case 2:
      if ((b[s]! | b[s + 1]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!)
    case 3:
      if ((b[s]! | b[s + 1]! | b[s + 2]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!)
    case 4:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!)
    case 5:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!)
    case 6:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!)
    case 7:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!)
    case 8:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!)
    case 9:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!)
    case 10:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!)
    case 11:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!)
    case 12:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]! | b[s + 11]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!)
    case 13:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]! | b[s + 11]! | b[s + 12]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!)
    case 14:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]! | b[s + 11]! | b[s + 12]! | b[s + 13]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!)
    case 15:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]! | b[s + 11]! | b[s + 12]! | b[s + 13]! | b[s + 14]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!)
    case 16:
      if ((b[s]! | b[s + 1]! | b[s + 2]! | b[s + 3]! | b[s + 4]! | b[s + 5]! | b[s + 6]! | b[s + 7]! | b[s + 8]! | b[s + 9]! | b[s + 10]! | b[s + 11]! | b[s + 12]! | b[s + 13]! | b[s + 14]! | b[s + 15]!) & 128) break
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!, b[s + 15]!)
  }
  return b.utf8Slice(s, e)
}
