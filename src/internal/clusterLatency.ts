/**
 * Round trips to the cluster's nodes, for `readFrom: "nearest"`: each node of
 * the topology (masters and replicas) is sent a few `PING`s over its pool and
 * keeps the fastest; a node that does not answer within the probe's timeout
 * counts as infinitely far until it answers again. The whole table is
 * measured again after each topology load and every `intervalMillis`, and
 * replaced as one value, so a reader never sees half a measurement.
 *
 * go-redis's `RouteByLatency` does the same (ten pings per node per state
 * load); the choice among the nodes of a shard (`nearest`) takes every node
 * within `toleranceMillis` of the fastest and picks one of them at random, so
 * reads spread over equally near nodes instead of piling onto the one that
 * happened to answer a few microseconds sooner.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type { Nodes } from "./clusterNodes.ts"
import { type Address, formatAddress, nodes as topologyNodes, type Topology } from "./clusterTopology.ts"

/** @internal */
export interface Latency {
  /** The node's fastest round trip in ms; undefined when not measured yet, Infinity when it did not answer. */
  readonly of: (address: Address) => number | undefined
  /** Measures every node of `topology` and replaces the table. Never fails. */
  readonly measure: (topology: Topology) => Effect.Effect<void>
}

/** @internal */
export interface LatencyOptions {
  readonly nodes: Nodes
  /** Pings per node per measurement; the fastest counts. */
  readonly samples: number
  /** A ping without an answer this long makes the node infinitely far. */
  readonly timeoutMillis: number
}

/** @internal */
export const makeLatency = (options: LatencyOptions): Effect.Effect<Latency> =>
  Effect.map(Ref.make<ReadonlyMap<string, number>>(new Map()), (table) => {
    const once = (address: Address) =>
      Effect.gen(function*() {
        const node = yield* options.nodes.get(address.host, address.port)
        const start = yield* Clock.currentTimeNanos
        yield* node.pool.withShared((conn) => conn.send(["PING"]))
        return Number((yield* Clock.currentTimeNanos) - start) / 1e6
      }).pipe(
        Effect.timeoutOption(options.timeoutMillis),
        Effect.map((took) => took._tag === "Some" ? took.value : Infinity),
        Effect.catchCause(() => Effect.succeed(Infinity))
      )
    const fastest = (address: Address) =>
      Effect.map(
        Effect.forEach(Array.from({ length: options.samples }), () => once(address)),
        (times) => Math.min(...times)
      )
    return {
      of: (address) => Ref.getUnsafe(table).get(formatAddress(address.host, address.port)),
      measure: (topology) =>
        Effect.flatMap(
          Effect.forEach(topologyNodes(topology), (node) =>
            Effect.map(fastest(node), (millis) => [node.address, millis] as const), { concurrency: "unbounded" }),
          (entries) => Ref.set(table, new Map(entries))
        )
    }
  })

/**
 * The nearest of `candidates` (a shard's master first, then its replicas): one
 * picked at random among those within `toleranceMillis` of the fastest
 * measured; the first (the master) when none was measured or none answered.
 *
 * @internal
 */
export const nearest = (
  candidates: ReadonlyArray<Address>,
  latency: (address: Address) => number | undefined,
  toleranceMillis: number
): Address | undefined => {
  let best = Infinity
  const times = candidates.map((address) => {
    const millis = latency(address) ?? Infinity
    if (millis < best) best = millis
    return millis
  })
  if (best === Infinity) return candidates[0]
  const near = candidates.filter((_, i) => times[i]! <= best + toleranceMillis)
  return near[Math.floor(Math.random() * near.length)]
}
