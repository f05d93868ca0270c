/**
 * The text of a RESP double (`,` in RESP3, or a bulk string holding one in RESP2):
 * decimal or exponent notation, `inf`, `+inf`, `-inf`, `nan`, `-nan`.
 *
 * @internal
 */
const DOUBLE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** The number `text` spells, or undefined when it is not a RESP double. @internal */
export const parseDouble = (text: string): number | undefined => {
  switch (text) {
    case "inf":
    case "+inf":
      return Infinity
    case "-inf":
      return -Infinity
    case "nan":
    case "-nan":
      return NaN
  }
  return DOUBLE.test(text) ? Number(text) : undefined
}
