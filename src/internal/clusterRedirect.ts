/**
 * The cluster's redirects: `MOVED <slot> <endpoint>:<port>` (the slot lives
 * elsewhere now: remember it, refresh the map) and `ASK <slot>
 * <endpoint>:<port>` (this one key is being migrated: send `ASKING` and the
 * command there once, change nothing). An empty endpoint (`:7001`) means the
 * host of the node that answered, as a NULL endpoint does in the topology.
 *
 * @internal
 */
import { RedisReplyError } from "../Errors.ts"
import type { Address } from "./clusterTopology.ts"

/** @internal */
export interface Redirect {
  readonly kind: "MOVED" | "ASK"
  readonly slot: number
  readonly host: string
  readonly port: number
}

/**
 * The redirect an error stands for, or undefined (another error, or a
 * redirect whose text cannot be read). `origin` is the node that answered.
 *
 * @internal
 */
export const parseRedirect = (error: unknown, origin: Address): Redirect | undefined => {
  if (!(error instanceof RedisReplyError) || (error.code !== "MOVED" && error.code !== "ASK")) return undefined
  const parts = error.message.split(" ")
  if (parts.length < 3) return undefined
  const slot = Number(parts[1])
  const endpoint = parts[2]!
  const colon = endpoint.lastIndexOf(":")
  const port = Number(endpoint.slice(colon + 1))
  if (!Number.isInteger(slot) || slot < 0 || slot > 16383 || colon === -1 || !Number.isInteger(port) || port <= 0) {
    return undefined
  }
  let host = endpoint.slice(0, colon)
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  return { kind: error.code, slot, host: host === "" ? origin.host : host, port }
}

/** Reply codes meaning "not now; the same command may succeed in a moment" (it did not run). @internal */
export const transientCodes: ReadonlySet<string> = new Set(["TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN"])
