/**
 * Commands that span the cluster, after the server's own command tips
 * (`COMMAND INFO`, request/response policies):
 *
 * - keyless commands about the whole keyspace run on every master and their
 *   replies are merged: `KEYS` (concatenated), `DBSIZE` (summed), `FLUSHALL`,
 *   `FLUSHDB`, `SCRIPT LOAD`, `SCRIPT FLUSH` (all must succeed), `SCRIPT
 *   EXISTS` (logical and, position by position);
 * - multi-key commands whose keys span slots are split by slot and the parts
 *   merged: `MGET` (values back in key order), `DEL`, `UNLINK`, `EXISTS`,
 *   `TOUCH` (counts summed), `MSET` (all must succeed). Split commands are not
 *   atomic: each slot's part is, the whole is not.
 *
 * Any other multi-key command across slots is a `CrossSlotError`. `SCAN`
 * walks the masters one after the other under one virtual cursor.
 *
 * @internal
 */
import type { Reply } from "../Resp.ts"
import type { Arg } from "../Resp.ts"
import { keySlot } from "./clusterSlot.ts"
import { argText } from "./text.ts"

/** How the replies of the parts become one. */
export type Merge = (replies: ReadonlyArray<Reply>) => Reply

const sum: Merge = (replies) => replies.reduce<number>((total, reply) => total + (typeof reply === "number" ? reply : 0), 0)
const ok: Merge = () => "OK"
const concat: Merge = (replies) => replies.flatMap((reply) => (Array.isArray(reply) ? reply : []))
const first: Merge = (replies) => replies[0] ?? null
const and: Merge = (replies) => {
  const out: Array<number> = []
  for (const reply of replies) {
    if (!Array.isArray(reply)) continue
    reply.forEach((value, i) => {
      out[i] = (out[i] ?? 1) && (value === 1 || value === true ? 1 : 0)
    })
  }
  return out
}

/**
 * The merge of a keyless command that runs on every master, or undefined
 * when it runs on one.
 *
 * @internal
 */
export const allMasters = (name: string, args: ReadonlyArray<Arg>): Merge | undefined => {
  switch (name) {
    case "KEYS":
      return concat
    case "DBSIZE":
      return sum
    case "FLUSHALL":
    case "FLUSHDB":
      return ok
    case "SCRIPT": {
      const sub = argText(args[1]).toUpperCase()
      return sub === "LOAD" ? first : sub === "FLUSH" ? ok : sub === "EXISTS" ? and : undefined
    }
    default:
      return undefined
  }
}

/** One slot's part of a split command, and where its keys sat in the original. */
export interface Part {
  readonly slot: number
  readonly args: Array<Arg>
  /** Index of each key of the part among the original command's keys. */
  readonly positions: Array<number>
}

/** A split command: its parts (slot order of first appearance) and the merge of their replies. */
export interface Split {
  readonly parts: ReadonlyArray<Part>
  readonly merge: Merge
}

const keyText = (arg: Arg): string | Uint8Array => typeof arg === "string" || arg instanceof Uint8Array ? arg : String(arg)

/**
 * The split of a multi-key command across slots, or undefined when the
 * command cannot be split.
 *
 * @internal
 */
export const split = (name: string, args: ReadonlyArray<Arg>): Split | undefined => {
  const step = name === "MSET" ? 2 : name === "MGET" || name === "DEL" || name === "UNLINK" || name === "EXISTS" || name === "TOUCH" ? 1 : 0
  if (step === 0) return undefined
  const bySlot = new Map<number, Part>()
  const parts: Array<Part> = []
  let index = 0
  for (let i = 1; i + step - 1 < args.length; i += step) {
    const slot = keySlot(keyText(args[i]!))
    let part = bySlot.get(slot)
    if (part === undefined) {
      part = { slot, args: [args[0]!], positions: [] }
      bySlot.set(slot, part)
      parts.push(part)
    }
    for (let k = 0; k < step; k++) part.args.push(args[i + k]!)
    part.positions.push(index++)
  }
  if (name === "MGET") {
    const total = index
    return {
      parts,
      merge: (replies) => {
        const out = new Array<Reply>(total).fill(null)
        replies.forEach((reply, p) => {
          if (!Array.isArray(reply)) return
          parts[p]!.positions.forEach((position, k) => {
            out[position] = (reply as ReadonlyArray<Reply>)[k] ?? null
          })
        })
        return out
      }
    }
  }
  return { parts, merge: name === "MSET" ? ok : sum }
}

/** Masters a virtual SCAN cursor can address (the cluster's shard limit). */
const CURSOR_NODES = 16384n

/**
 * A cluster-wide SCAN cursor: the master's index in the shard map and that
 * master's own cursor, as one decimal number (`cursor × 16384 + index`), so it
 * stays an opaque number to callers; `"0"` starts at the first master and is
 * answered once the last master is done. Undefined for text that is not a
 * cursor.
 *
 * @internal
 */
export const readScanCursor = (text: string): { readonly index: number; readonly cursor: string } | undefined => {
  if (!/^\d+$/.test(text)) return undefined
  const value = BigInt(text)
  return { index: Number(value % CURSOR_NODES), cursor: (value / CURSOR_NODES).toString() }
}

/** The virtual cursor after master `index` answered `next`, with `masters` masters in all. @internal */
export const nextScanCursor = (index: number, next: string, masters: number): string => {
  if (next !== "0") return (BigInt(next) * CURSOR_NODES + BigInt(index)).toString()
  return index + 1 < masters ? String(index + 1) : "0"
}
