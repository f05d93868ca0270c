/**
 * Recognises Redis commands that block on the server (BLPOP, XREAD BLOCK, WAIT, ...)
 * and reads how long they may block. The connection gives such a command its block
 * time plus a margin as read deadline; when the caller leaves early it closes at once
 * (no deadline) or reads on until the deadline and pushes back what a pop took for
 * nobody (see `connRestore.ts`). The service layer routes them to exclusive connections.
 */
import type { Arg } from "../Resp.ts"

const decoder = new TextDecoder()

const text = (arg: Arg | undefined): string | undefined => {
  if (arg === undefined) return undefined
  if (typeof arg === "string") return arg
  if (arg instanceof Uint8Array) return decoder.decode(arg)
  return String(arg)
}

/** Seconds (may be fractional) as milliseconds; undefined when not a number. */
const seconds = (arg: Arg | undefined): number | undefined => {
  const value = Number(text(arg))
  return Number.isFinite(value) && value >= 0 ? Math.ceil(value * 1000) : undefined
}

const millis = (arg: Arg | undefined): number | undefined => {
  const value = Number(text(arg))
  return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined
}

/** The value following `option` (case-insensitive) before `stop`, searching from `from`. */
const optionValue = (args: ReadonlyArray<Arg>, from: number, option: string, stop: string): Arg | undefined => {
  for (let i = from; i < args.length - 1; i++) {
    const word = text(args[i])?.toUpperCase()
    if (word === stop) return undefined
    if (word === option) return args[i + 1]
  }
  return undefined
}

/** `undefined`: not blocking; otherwise the block time in milliseconds, 0 meaning "forever". */
const blockTime = (args: ReadonlyArray<Arg>): number | undefined => {
  const first = args[0]
  if (first === undefined) return undefined
  // Cheap filter first: every blocking command starts with B, X or W.
  let c: number
  if (typeof first === "string") c = first.charCodeAt(0)
  else if (first instanceof Uint8Array) c = first[0] ?? 0
  else return undefined
  c |= 0x20
  if (c !== 0x62 /* b */ && c !== 0x78 /* x */ && c !== 0x77 /* w */) return undefined
  const name = text(first)!.toUpperCase()
  switch (name) {
    case "BLPOP":
    case "BRPOP":
    case "BLMOVE":
    case "BRPOPLPUSH":
    case "BZPOPMIN":
    case "BZPOPMAX":
      return seconds(args[args.length - 1]) ?? 0
    case "BLMPOP":
    case "BZMPOP":
      return seconds(args[1]) ?? 0
    case "XREAD":
    case "XREADGROUP": {
      const block = optionValue(args, 1, "BLOCK", "STREAMS")
      return block === undefined ? undefined : millis(block) ?? 0
    }
    case "WAIT":
    case "WAITAOF":
      return millis(args[args.length - 1]) ?? 0
    default:
      return undefined
  }
}

/**
 * Whether `args` is a command that blocks on the server: BLPOP, BRPOP, BLMOVE,
 * BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BLMPOP, BZMPOP, XREAD/XREADGROUP with BLOCK,
 * WAIT, WAITAOF.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isBlocking = (args: ReadonlyArray<Arg>): boolean => blockTime(args) !== undefined

/**
 * How long a blocking command may block on the server, in milliseconds
 * (`0`: without limit), or `undefined` when the command does not block.
 *
 * @since 0.1.0
 * @category getters
 */
export const blockingMillis: (args: ReadonlyArray<Arg>) => number | undefined = blockTime
