/**
 * What to write back when a blocking pop answers after its caller left.
 *
 * A caller may leave a BLPOP (interrupted, or its read deadline passed) while
 * the server is about to pop for it: closing the socket does not stop that,
 * since a server that was stalled (SIGSTOP, a slow disk, a network pause)
 * serves the pop before it reads the close. So the connection keeps reading
 * for a bounded time instead, and an element popped for nobody is pushed back
 * where it came from: the head for BLPOP and BLMPOP LEFT, the tail for BRPOP
 * and BLMPOP RIGHT, the sorted set for BZPOPMIN/BZPOPMAX/BZMPOP. BLMOVE and
 * BRPOPLPUSH need nothing (the element is in the destination), nor do XREAD,
 * XREADGROUP (entries stay pending) and WAIT.
 *
 * @internal
 */
import type { Arg, Reply } from "../Resp.ts"
import { textOf } from "./text.ts"

const text = (value: Arg | Reply | undefined): string | undefined =>
  typeof value === "number" || typeof value === "bigint" ? String(value) : textOf(value)

const isArg = (value: Reply | undefined): value is Arg =>
  typeof value === "string" || typeof value === "number" || typeof value === "bigint" || value instanceof Uint8Array

/** The word `LEFT`/`RIGHT`/`MIN`/`MAX` of a BLMPOP/BZMPOP after its keys. */
const direction = (args: ReadonlyArray<Arg>): string | undefined => {
  const numkeys = Number(text(args[2]))
  return Number.isInteger(numkeys) && numkeys > 0 ? text(args[3 + numkeys])?.toUpperCase() : undefined
}

/** `[member, score]` pairs (RESP3) or a flat `member, score, ...` list, as ZADD's `score member ...`. */
const scoreMembers = (entries: ReadonlyArray<Reply>): Array<Arg> | undefined => {
  const out: Array<Arg> = []
  const flat = entries.every(isArg)
  if (flat) {
    for (let i = 0; i + 1 < entries.length; i += 2) out.push(entries[i + 1] as Arg, entries[i] as Arg)
    return out
  }
  for (const entry of entries) {
    if (!Array.isArray(entry) || !isArg(entry[0]) || !isArg(entry[1])) return undefined
    out.push(entry[1], entry[0])
  }
  return out
}

/**
 * The command that puts back what the blocking command `args` popped, given
 * its `reply`; undefined when there is nothing to put back (a nil reply, an
 * error, a command that pops nothing, a reply of a shape it does not know).
 *
 * @internal
 */
export const restoreCommand = (args: ReadonlyArray<Arg>, reply: Reply): ReadonlyArray<Arg> | undefined => {
  if (!Array.isArray(reply) || reply.length < 2) return undefined
  const key = reply[0]
  if (!isArg(key)) return undefined
  switch (text(args[0])?.toUpperCase()) {
    case "BLPOP":
      return isArg(reply[1]) ? ["LPUSH", key, reply[1]] : undefined
    case "BRPOP":
      return isArg(reply[1]) ? ["RPUSH", key, reply[1]] : undefined
    case "BZPOPMIN":
    case "BZPOPMAX":
      return isArg(reply[1]) && isArg(reply[2]) ? ["ZADD", key, reply[2], reply[1]] : undefined
    case "BLMPOP": {
      const elements = reply[1]
      const side = direction(args)
      if (!Array.isArray(elements) || elements.length === 0 || !elements.every(isArg)) return undefined
      // LEFT popped from the head in order, RIGHT from the tail in order: pushing them back reversed restores both.
      const back = [...(elements as ReadonlyArray<Arg>)].reverse()
      return side === "LEFT" ? ["LPUSH", key, ...back] : side === "RIGHT" ? ["RPUSH", key, ...back] : undefined
    }
    case "BZMPOP": {
      const entries = reply[1]
      if (!Array.isArray(entries) || entries.length === 0) return undefined
      const pairs = scoreMembers(entries)
      return pairs === undefined || pairs.length === 0 ? undefined : ["ZADD", key, ...pairs]
    }
    default:
      return undefined
  }
}
