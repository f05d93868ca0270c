/**
 * The `RedisPool` service over a Redis Cluster: a program written against
 * `RedisPool.RedisPool` runs unchanged; only the layer differs.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const redis = yield* RedisPool.RedisPool
 *   yield* redis.set("greeting", "hello")
 *   return yield* redis.get("greeting")
 * })
 * program.pipe(Effect.provide(Cluster.layer({ nodes: ["10.0.0.1:7000", "10.0.0.2:7000"] })))
 * ```
 *
 * The topology comes from the seed nodes (`CLUSTER SHARDS`, or `CLUSTER
 * SLOTS` before Redis 7) when the layer is built. Each command goes to the
 * master owning the hash slot of its keys, on that node's pool (one pool per
 * node, with the pool and connection options given here); a keyless command
 * goes to any master. `MOVED` is followed at once and refreshes the map in
 * the background (one refresh at a time, however many commands were
 * redirected); `ASK` sends `ASKING` and the command to the named node without
 * changing the map. `TRYAGAIN`, `CLUSTERDOWN` and an unreachable owner (a
 * failover under way) are retried with jittered backoff for up to
 * `retryTimeout`, under the single-node safety rules: a command that may
 * have run is sent again only when that is harmless.
 *
 * What is atomic: one command, and `multi`/`watch`, whose keys must share a
 * slot (`CrossSlotError` before anything is sent otherwise; use hash tags,
 * `{user:1}:a` and `{user:1}:b`). `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`
 * and `TOUCH` over keys of many slots are split by slot and their replies
 * merged (values in key order, counts summed): each slot's part is atomic,
 * the whole is not. Any other multi-key command must keep to one slot
 * (`CrossSlotError`). `KEYS`, `DBSIZE`, `FLUSHALL`, `FLUSHDB` and `SCRIPT
 * LOAD|FLUSH|EXISTS` run on every master, merged; `SCAN` walks the masters
 * one after the other under one cursor. A pipeline may span nodes:
 * it is split by node, each part written in one go, the results given back
 * in the caller's order; it is not atomic, and the parts run concurrently
 * (one slot's commands keep their order).
 *
 * `withConnection` and `reserve` give a connection to one master (any):
 * commands there for other masters' slots answer `MOVED`. Classic pub/sub
 * (`subscribe`, `psubscribe`) uses one connection to any master, since the
 * cluster forwards every message to every node; `subscriber` is that
 * connection's. `ssubscribe` (shard channels, which live on their slot's
 * owner) uses a subscriber per slot, connected to the owner; the channels
 * of one call must share a slot (`CrossSlotError`); when the slot moves, the
 * subscriber refreshes the map, reconnects to the new owner and renews
 * (`Resubscribed`).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Conn from "./Conn.ts"
import { type ClusterUnreachableError, InvalidArgumentError, type RedisError } from "./Errors.ts"
import { makeLatency, nearest } from "./internal/clusterLatency.ts"
import { makeNodes, sumStats } from "./internal/clusterNodes.ts"
import { makeShardSubscribe } from "./internal/clusterPubSub.ts"
import { makeRouter } from "./internal/clusterRouter.ts"
import { makeState } from "./internal/clusterState.ts"
import { type Address, formatAddress, nodes as topologyNodes, type Topology, type TopologyNode } from "./internal/clusterTopology.ts"
import { commandMethods } from "./internal/methods.ts"
import { durationMillis } from "./internal/options.ts"
import { Observer } from "./internal/redisPoolObserve.ts"
import { resolve } from "./internal/redisPoolOptions.ts"
import { makeShared } from "./internal/shared.ts"
import type * as Pool from "./Pool.ts"
import * as PubSub from "./PubSub.ts"
import * as RedisPool from "./RedisPool.ts"

/**
 * A node address: `"host:port"`, `"[::1]:port"`, a `redis://` or `rediss://`
 * URL (only its host and port are read), or `{ host, port }`.
 *
 * @since 0.1.0
 * @category models
 */
export type NodeAddress = string | { readonly host: string; readonly port: number }

/**
 * Options of {@link make} and {@link layer}: the seed nodes, what the cluster
 * client adds, and every option of `RedisPool.Options` but the address ones,
 * which apply to each node's own pool and connections (`poolSize` is per
 * node, as in go-redis).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<RedisPool.Options, "url" | "host" | "port" | "path" | "db" | "lazyConnect"> {
  /** Nodes to load the topology from; any reachable node of the cluster will do. */
  readonly nodes: ReadonlyArray<NodeAddress>
  /** Redirects (`MOVED`, `ASK`) one command may follow before failing with `MaxRedirectsError`. Default 16. */
  readonly maxRedirects?: number | undefined
  /**
   * How long a command keeps retrying `TRYAGAIN`, `CLUSTERDOWN`, `LOADING` and an unreachable slot owner (with
   * jittered backoff from `minRetryBackoff` to `maxRetryBackoff`), from its first attempt. Default 5 seconds,
   * above a failover's usual 2–3 s; `maxRetries: 0` disables these retries.
   */
  readonly retryTimeout?: Duration.Input | undefined
  /**
   * Where read-only commands go: `"master"` (default); `"replica"`: a replica of the key's shard, picked at
   * random (the master when it has none); `"nearest"`: the node of the key's shard (master or replica) with the
   * shortest round trip, measured by `PING` after each topology load and every 10 seconds (nodes within 1 ms of
   * the fastest share the reads; a node that does not answer is skipped). With `"replica"` and `"nearest"` every
   * connection sends `READONLY` in its handshake. Replicas lag their master (replication is asynchronous): a read
   * there may not see a write just acknowledged. A read that fails on a replica is retried on the master.
   */
  readonly readFrom?: "master" | "replica" | "nearest" | undefined
  /** A refresh of the topology this often even without a `MOVED` (nodes added, replicas changed). Default 60 seconds; 0 disables. */
  readonly refreshInterval?: Duration.Input | undefined
  /** The pool of a node that left the topology is closed this long after a refresh first missed it. Default 1 minute. */
  readonly nodeCloseDelay?: Duration.Input | undefined
  /** Rewrites every node address the cluster announces (topology, `MOVED`, `ASK`): NAT, Docker, tunnels. */
  readonly mapAddress?: ((host: string, port: number) => { readonly host: string; readonly port: number }) | undefined
}

/**
 * A node of the shard map.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterNode {
  readonly id: string
  /** Host and port this client dials (after `mapAddress`). */
  readonly host: string
  readonly port: number
  /** `host:port` (`[host]:port` for IPv6). */
  readonly address: string
  readonly role: "master" | "replica"
  /** `online`, `loading` or `fail` from `CLUSTER SHARDS`; undefined from `CLUSTER SLOTS`. */
  readonly health: string | undefined
}

/**
 * A shard: a master, its usable replicas and the slot ranges it owns
 * (inclusive, ascending).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterShard {
  readonly master: ClusterNode
  readonly replicas: ReadonlyArray<ClusterNode>
  readonly slots: ReadonlyArray<readonly [start: number, end: number]>
}

/**
 * One master, to run commands on it and nowhere else (no routing, no
 * redirects): what {@link Cluster.forEachMaster} hands out.
 *
 * @since 0.1.0
 * @category models
 */
export interface MasterNode extends RedisPool.Executor, RedisPool.CommandMethods {
  readonly node: ClusterNode
}

/**
 * The service over a cluster, with what only a cluster has.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cluster extends RedisPool.Service {
  /** The shard map as this client knows it now (loaded at start, refreshed after `MOVED`s and by `refresh`). */
  readonly shards: Effect.Effect<ReadonlyArray<ClusterShard>>
  /** Each node's pool counters, by node address (`stats` is their sum). */
  readonly nodeStats: Effect.Effect<ReadonlyMap<string, Pool.PoolStats>>
  /**
   * Runs `f` on every master of the current map, all at once, and collects
   * the results in shard order (`refresh` first for a map checked just now).
   */
  readonly forEachMaster: <A, E, R>(
    f: (master: MasterNode) => Effect.Effect<A, E, R>
  ) => Effect.Effect<ReadonlyArray<A>, E | RedisError, R>
  /** Loads the topology again now (joining a refresh under way). */
  readonly refresh: Effect.Effect<void, ClusterUnreachableError>
  /** Topology refreshes completed since the service was built (the first load not counted). */
  readonly refreshes: Effect.Effect<number>
  /**
   * What those refreshes cost: their total and slowest duration in ms (a refresh asks one node, then the next
   * until one answers), and how many failed (no node answered).
   */
  readonly refreshTimes: Effect.Effect<{ readonly totalMillis: number; readonly maxMillis: number; readonly failed: number }>
  /** Redirects followed since the service was built: `MOVED` (the map was stale) and `ASK` (a slot mid-migration). */
  readonly redirects: Effect.Effect<{ readonly moved: number; readonly ask: number }>
}

/**
 * The key of the {@link Cluster} service, which {@link layer} provides
 * beside `RedisPool.RedisPool` (the same value).
 *
 * @since 0.1.0
 * @category services
 */
export class RedisCluster extends Context.Service<RedisCluster, Cluster>()("effect-redis-pool/Cluster/RedisCluster") {}

const publicNode = (node: TopologyNode): ClusterNode => ({
  id: node.id,
  host: node.host,
  port: node.port,
  address: node.address,
  role: node.role,
  health: node.health
})

const invalid = (message: string) => new InvalidArgumentError({ option: "nodes", message })

/** A seed as host and port. */
const parseNode = (node: NodeAddress): Address | InvalidArgumentError => {
  if (typeof node === "object" && node !== null) {
    return typeof node.host === "string" && Number.isInteger(node.port) && node.port > 0 && node.port < 65536
      ? { host: node.host, port: node.port }
      : invalid(`a node needs a host and a port from 1 to 65535`)
  }
  if (typeof node !== "string") return invalid("a node is a string or { host, port }")
  if (node.includes("://")) {
    try {
      const url = new URL(node)
      if (url.protocol !== "redis:" && url.protocol !== "rediss:") return invalid(`not a redis:// or rediss:// URL`)
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
      return { host, port: url.port === "" ? 6379 : Number(url.port) }
    } catch {
      return invalid("a node URL that does not parse")
    }
  }
  const colon = node.lastIndexOf(":")
  let host = colon === -1 ? node : node.slice(0, colon)
  const port = colon === -1 ? 6379 : Number(node.slice(colon + 1))
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  if (host === "" || !Number.isInteger(port) || port <= 0 || port >= 65536) {
    return invalid(`"${node}" is not host:port`)
  }
  return { host, port }
}

/**
 * Builds the service over the cluster the seed nodes belong to, in the
 * current scope (closing it closes every node's pool). It loads the topology
 * before it returns: `ClusterUnreachableError` when no seed answers with one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Cluster, InvalidArgumentError | ClusterUnreachableError, Scope.Scope> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null || !Array.isArray(options.nodes) || options.nodes.length === 0) {
      return yield* invalid("a cluster needs at least one seed node")
    }
    const seeds: Array<Address> = []
    for (const node of options.nodes) {
      const parsed = parseNode(node)
      if (parsed instanceof InvalidArgumentError) return yield* parsed
      seeds.push(parsed)
    }
    const maxRedirects = options.maxRedirects ?? 16
    if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
      return yield* new InvalidArgumentError({ option: "maxRedirects", message: "must be an integer ≥ 0" })
    }
    if (options.mapAddress !== undefined && typeof options.mapAddress !== "function") {
      return yield* new InvalidArgumentError({ option: "mapAddress", message: "must be a function" })
    }
    const millis = (option: string, input: Duration.Input | undefined, fallback: number) =>
      Effect.try({
        try: () => input === undefined ? fallback : durationMillis(option, input),
        catch: (error) => error instanceof InvalidArgumentError ? error : invalid(String(error))
      })
    const retryTimeout = yield* millis("retryTimeout", options.retryTimeout, 5_000)
    const refreshInterval = yield* millis("refreshInterval", options.refreshInterval, 60_000)
    const nodeCloseDelay = yield* millis("nodeCloseDelay", options.nodeCloseDelay, 60_000)
    /** `readFrom: "nearest"`: how often round trips are measured again, and how close to the fastest counts as near. */
    const latencyInterval = 10_000
    const nearTolerance = 1
    const readFrom = options.readFrom ?? "master"
    if (readFrom !== "master" && readFrom !== "replica" && readFrom !== "nearest") {
      return yield* new InvalidArgumentError({ option: "readFrom", message: `must be "master", "replica" or "nearest"` })
    }
    const readFromReplicas = readFrom !== "master"
    const userOnConnect = options.onConnect
    const resolved = yield* resolve(
      readFromReplicas
        ? {
          ...options,
          // READONLY lets a replica serve reads of its master's slots; a master ignores it.
          onConnect: (conn) =>
            Effect.andThen(
              Effect.flatMap(conn.send(["READONLY"]), () => Effect.void),
              userOnConnect === undefined ? Effect.void : userOnConnect(conn)
            )
        }
        : options
    )
    const observer = new Observer(
      { ...resolved.observer, serverAddress: seeds[0]!.host, serverPort: seeds[0]!.port },
      yield* Effect.context<never>()
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => observer.close()))
    const nodes = yield* makeNodes({ conn: resolved.conn, pool: resolved.pool, observer })
    const mapAddress = options.mapAddress
    const scope = yield* Effect.scope
    const seedAddresses = mapAddress === undefined ? seeds : seeds.map((seed) => mapAddress(seed.host, seed.port))
    // Nodes that left the topology: their pools close after `nodeCloseDelay`, unless they are back by then.
    const leaving = new Set<string>()
    const present = (topology: Topology): Set<string> =>
      new Set([
        ...topologyNodes(topology).map((node) => node.address),
        ...seedAddresses.map((seed) => formatAddress(seed.host, seed.port))
      ])
    let current: (() => Topology) | undefined
    /** `readFrom: "nearest"` measures the nodes of each new topology, in the background. */
    let measureAfterRefresh: ((topology: Topology) => Effect.Effect<void>) | undefined
    const onRefresh = (topology: Topology): Effect.Effect<void> =>
      Effect.suspend(() => {
        const here = present(topology)
        const gone = nodes.all().filter((node) => !here.has(node.address) && !leaving.has(node.address))
        const measure = measureAfterRefresh === undefined ? Effect.void : Effect.forkIn(measureAfterRefresh(topology), scope)
        return Effect.andThen(measure, Effect.forEach(gone, (node) => {
          leaving.add(node.address)
          const retire = Effect.suspend(() => {
            leaving.delete(node.address)
            return current === undefined || present(current()).has(node.address) ? Effect.void : nodes.retire(node.address)
          })
          return Effect.asVoid(Effect.forkIn(Effect.delay(retire, nodeCloseDelay), scope))
        }, { discard: true }))
      })
    const state = yield* makeState({
      seeds: seedAddresses,
      nodes,
      mapAddress,
      tls: resolved.conn.tls !== undefined && resolved.conn.tls !== false,
      cooldownMillis: 100,
      maxBackoffMillis: 2_000,
      probeEveryMillis: 10,
      probeForMillis: Math.max(retryTimeout, 1_000),
      onRefresh
    })
    current = state.topology
    let readTarget: ((slot: number) => Address | undefined) | undefined
    if (readFrom === "replica") readTarget = state.replicaOf
    if (readFrom === "nearest") {
      const latency = yield* makeLatency({ nodes, samples: 3, timeoutMillis: 1_000 })
      yield* latency.measure(state.topology())
      yield* Effect.forkIn(
        Effect.forever(Effect.andThen(Effect.sleep(latencyInterval), Effect.suspend(() => latency.measure(state.topology())))),
        scope
      )
      measureAfterRefresh = latency.measure
      readTarget = (slot) => {
        const shard = state.shardOf(slot)
        return shard === undefined ? undefined : nearest(shard, latency.of, nearTolerance)
      }
    }
    if (refreshInterval > 0 && Number.isFinite(refreshInterval)) {
      yield* Effect.forkIn(Effect.forever(Effect.andThen(Effect.sleep(refreshInterval), Effect.ignore(state.refresh()))), scope)
    }
    const router = makeRouter(state, nodes, observer, {
      maxRedirects,
      retryTimeoutMillis: resolved.maxRetries > 0 || resolved.customRetrySchedule ? retryTimeout : 0,
      minBackoffMillis: options.minRetryBackoff === undefined ? 8 : durationMillis("minRetryBackoff", options.minRetryBackoff),
      maxBackoffMillis: options.maxRetryBackoff === undefined ? 512 : durationMillis("maxRetryBackoff", options.maxRetryBackoff),
      mapAddress,
      readTarget
    })
    // Classic pub/sub reaches every node of a cluster: one subscriber connection to any master, picked
    // again on every reconnect.
    const subscriber = yield* PubSub.make({
      ...options.pubsub,
      connect: Effect.suspend(() => {
        const at = state.anyMaster() ?? seeds[0]!
        return Conn.make({ ...resolved.conn, host: at.host, port: at.port })
      })
    })
    const masterNode = (shard: { readonly master: TopologyNode }): Effect.Effect<MasterNode, InvalidArgumentError> =>
      Effect.map(nodes.get(shard.master.host, shard.master.port), (node) => {
        const executor = makeShared(node.pool, observer, resolved)
        return { ...commandMethods(executor.run), ...executor, node: publicNode(shard.master) }
      })
    const { learnCommands, redirects, ...routed } = router
    yield* learnCommands(scope)
    if (resolved.observer.metrics) {
      observer.registerCounter("redis.cluster.topology.refreshes", "Topology refreshes completed", {}, () => state.refreshes())
      observer.registerCounter(
        "redis.cluster.topology.refresh.failures",
        "Topology refreshes that failed (no node answered)",
        {},
        () => state.refreshTimes().failed
      )
      observer.registerCounter(
        "redis.cluster.topology.refresh.time",
        "Milliseconds spent in topology refreshes, completed or failed",
        {},
        () => state.refreshTimes().totalMillis
      )
      observer.registerCounter("redis.cluster.redirects", "Redirects followed", { "redis.cluster.redirect": "MOVED" }, () => redirects.moved)
      observer.registerCounter("redis.cluster.redirects", "Redirects followed", { "redis.cluster.redirect": "ASK" }, () => redirects.ask)
    }
    const cluster: Cluster = {
      ...commandMethods(router.run),
      ...routed,
      redirects: Effect.sync(() => ({ ...redirects })),
      subscribe: subscriber.subscribe,
      psubscribe: subscriber.psubscribe,
      ssubscribe: makeShardSubscribe({ state, conn: resolved.conn, pubsub: options.pubsub, scope }),
      subscriber,
      stats: Effect.suspend(() => Effect.map(Effect.forEach(nodes.all(), (node) => node.pool.stats), sumStats)),
      shards: Effect.sync(() =>
        state.topology().shards.map((shard) => ({
          master: publicNode(shard.master),
          replicas: shard.replicas.map(publicNode),
          slots: shard.slots
        }))
      ),
      nodeStats: Effect.suspend(() =>
        Effect.map(
          Effect.forEach(nodes.all(), (node) => Effect.map(node.pool.stats, (stats) => [node.address, stats] as const)),
          (entries) => new Map(entries)
        )
      ),
      forEachMaster: <A, E, R>(f: (master: MasterNode) => Effect.Effect<A, E, R>) =>
        Effect.suspend(() =>
          Effect.forEach(state.topology().shards, (shard) => Effect.flatMap(masterNode(shard), f), { concurrency: "unbounded" })
        ),
      refresh: state.refresh(),
      refreshes: Effect.sync(() => state.refreshes()),
      refreshTimes: Effect.sync(() => state.refreshTimes())
    }
    return cluster
  })

/**
 * A layer providing `RedisPool.RedisPool` over a cluster, and the same
 * service as {@link RedisCluster} for what only a cluster has; every node's
 * pool closes with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<RedisPool.RedisPool | RedisCluster, InvalidArgumentError | ClusterUnreachableError> =>
  Layer.effectContext(
    Effect.map(make(options), (cluster) => Context.make(RedisPool.RedisPool, cluster).pipe(Context.add(RedisCluster, cluster)))
  )


/**
 * The options read from configuration: `CLUSTER_NODES`, the seed nodes
 * separated by commas (`10.0.0.1:7000,10.0.0.2:7000`), `CLUSTER_MAX_REDIRECTS`,
 * and every per-node option `RedisPool.config` reads (`POOL_SIZE`,
 * `PASSWORD`, `READ_TIMEOUT`, ...; a `URL` lends its credentials and options,
 * not its address). Under `prefix` (default `"REDIS"`): `REDIS_CLUSTER_NODES`,
 * `REDIS_POOL_SIZE`, ...
 *
 * @since 0.1.0
 * @category config
 */
export const config = (prefix = "REDIS"): Config.Config<Options> => {
  const own = Config.all({
    nodes: Config.String("CLUSTER_NODES"),
    maxRedirects: Config.option(Config.Int("CLUSTER_MAX_REDIRECTS"))
  })
  return Config.all({ pool: RedisPool.config(prefix), own: prefix === "" ? own : Config.nested(own, prefix) }).pipe(
    Config.map(({ own, pool }): Options => {
      const { url: _url, host: _host, port: _port, path: _path, db: _db, lazyConnect: _lazy, ...rest } = pool
      return {
        ...rest,
        nodes: own.nodes.split(",").map((node) => node.trim()).filter((node) => node !== ""),
        ...(own.maxRedirects._tag === "Some" ? { maxRedirects: own.maxRedirects.value } : {})
      }
    })
  )
}

/**
 * A layer whose options come from configuration: by default {@link config}
 * (`REDIS_CLUSTER_NODES`, `REDIS_POOL_SIZE`, `REDIS_PASSWORD`, ... from the
 * environment), or any `Config` of options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config()
): Layer.Layer<RedisPool.RedisPool | RedisCluster, InvalidArgumentError | ClusterUnreachableError | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(options as Config.Wrap<Options>), (resolved: Options) => layer(resolved)))
