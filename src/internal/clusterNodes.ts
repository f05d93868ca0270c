/**
 * The cluster's nodes: one pool per node address (`Pool.makeKeyed`), made on
 * first use with the per-node options and kept until the cluster's scope
 * closes, with the exclusive operations (`multi`, `watch`, `withConnection`,
 * `reserve`) of that pool.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Conn from "../Conn.ts"
import type { InvalidArgumentError } from "../Errors.ts"
import * as Pool from "../Pool.ts"
import { formatAddress } from "./clusterTopology.ts"
import { type ExclusiveOps, makeExclusive } from "./exclusive.ts"
import { withHousekeeping } from "./pool.ts"
import type { Observer } from "./redisPoolObserve.ts"

/** @internal */
export interface Node {
  readonly host: string
  readonly port: number
  /** `host:port` (`[host]:port` for IPv6). */
  readonly address: string
  readonly pool: Pool.Pool<Conn.Conn>
  readonly exclusive: ExclusiveOps
}

/** @internal */
export interface Nodes {
  /** The node at `host:port`, its pool made on first use. */
  readonly get: (host: string, port: number) => Effect.Effect<Node, InvalidArgumentError>
  /** The node at `host:port` when its pool exists already. */
  readonly known: (host: string, port: number) => Node | undefined
  /** The node at `address` (`host:port`, as `formatAddress` writes it) when its pool exists already. */
  readonly byAddress: (address: string) => Node | undefined
  /** Every node with a pool. */
  readonly all: () => ReadonlyArray<Node>
  /** Closes the node's pool and forgets it (the next `get` makes a new one). */
  readonly retire: (address: string) => Effect.Effect<void>
}

/** @internal */
export const makeNodes = (options: {
  readonly conn: Conn.ConnOptions
  readonly pool: Omit<Pool.PoolOptions<Conn.Conn>, "dial">
  readonly observer: Observer
}): Effect.Effect<Nodes, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const nodes = new Map<string, Node>()
    /** Each node's hold on its pool, closed when the node is retired. */
    const holds = new Map<string, Scope.Closeable>()
    const hosts = new Map<string, readonly [string, number]>()
    const keyed = yield* Pool.makeKeyed<string, Conn.Conn>({
      options: (address) => {
        const [host, port] = hosts.get(address)!
        // A blocking command whose caller left is released by a CLIENT UNBLOCK on another connection
        // of the same node (see `Conn.ConnOptions.unblock`), checked out for it alone, as on one node
        // (internal/redisPoolMake.ts says why: never on a pipeline whose replies may be out of step).
        const unblock = (clientId: number): Effect.Effect<boolean, unknown> => {
          const node = nodes.get(address)
          return node === undefined
            ? Effect.succeed(false)
            : Effect.map(withHousekeeping(node.pool, (conn) => conn.send(["CLIENT", "UNBLOCK", clientId])), (n) => n === 1)
        }
        return { ...options.pool, name: `${options.pool.name ?? "default"}@${address}`, dial: Conn.make({ ...options.conn, host, port, unblock }) }
      }
    })
    const get = (host: string, port: number): Effect.Effect<Node, InvalidArgumentError> =>
      Effect.suspend(() => {
        const address = formatAddress(host, port)
        const found = nodes.get(address)
        if (found !== undefined) return Effect.succeed(found)
        hosts.set(address, [host, port])
        return Effect.flatMap(Scope.fork(scope), (hold) =>
          Effect.flatMap(Scope.provide(keyed.get(address), hold), (pool) => {
            // Two fibers may have raced to make it: the keyed pool gave both the same pool.
            const raced = nodes.get(address)
            if (raced !== undefined) return Effect.as(Scope.close(hold, Exit.void), raced)
            const node: Node = { host, port, address, pool, exclusive: makeExclusive(pool, options.observer) }
            nodes.set(address, node)
            holds.set(address, hold)
            return Effect.succeed(node)
          }))
      })
    return {
      get,
      known: (host, port) => nodes.get(formatAddress(host, port)),
      byAddress: (address) => nodes.get(address),
      all: () => [...nodes.values()],
      retire: (address) =>
        Effect.suspend(() => {
          const hold = holds.get(address)
          nodes.delete(address)
          holds.delete(address)
          return Effect.andThen(keyed.invalidate(address), hold === undefined ? Effect.void : Scope.close(hold, Exit.void))
        })
    }
  })

/**
 * The counters of many pools added up: counts summed, the breaker open when
 * any is (with the first open one's last error), closed when all are.
 *
 * @internal
 */
export const sumStats = (stats: ReadonlyArray<Pool.PoolStats>): Pool.PoolStats => {
  const removals: Record<string, number> = {}
  const total: Record<string, number> = {}
  const numeric = [
    "hits",
    "misses",
    "timeouts",
    "waitCount",
    "waitDurationMillis",
    "total",
    "idle",
    "inUse",
    "shared",
    "sharedInFlight",
    "draining",
    "dialing",
    "turnsInUse",
    "pendingWaiters"
  ] as const
  for (const key of numeric) total[key] = 0
  let open: Pool.PoolStats["breaker"] | undefined
  let failures = 0
  for (const one of stats) {
    for (const key of numeric) total[key]! += one[key]
    for (const [reason, count] of Object.entries(one.removals)) removals[reason] = (removals[reason] ?? 0) + count
    failures += one.breaker.failures
    if (open === undefined && one.breaker.state === "open") open = one.breaker
  }
  return {
    ...(total as Record<(typeof numeric)[number], number>),
    removals: removals as Pool.PoolStats["removals"],
    breaker: open === undefined
      ? { state: "closed", failures, since: undefined, lastError: undefined }
      : { ...open, failures },
    closed: stats.length > 0 && stats.every((one) => one.closed)
  }
}
