/**
 * A throwaway Redis Cluster for tests, as a scoped Effect resource, built from
 * `redis-server` alone (no `redis-cli --cluster`).
 *
 * Every node is a {@link RedisServer.RedisServer} (free loopback port, own
 * temporary directory, killed and removed when the scope closes, also on
 * interruption, dies with the test worker) with an explicit `cluster-port` on a
 * second free port, so the bus port is free too and never port + 10000 (which
 * may be past 65535 for an ephemeral port). Start-up: `SET-CONFIG-EPOCH`,
 * `ADDSLOTSRANGE` on the masters (redis-cli's split), a full mesh of `MEET`s,
 * `REPLICATE`, one `FLUSHALL` per master (so replication offsets leave 0, which
 * `CLUSTER SHARDS` would report as `loading`), then {@link RedisCluster.waitHealthy}.
 * The floor is the server's own 2 s `CLUSTER_WRITABLE_DELAY`.
 *
 * Healthy means: every running, unpaused node says `cluster_state:ok`, knows
 * every node, flags none of the running nodes, sees every slot owned by a
 * running node, and all of them agree on roles and slot owners; replicas have
 * `master_link_status:up` and every node's `CLUSTER SHARDS` calls them `online`.
 *
 * Operations that change the topology (`failover`, `migrateSlot`) return once
 * the cluster is healthy again and shows the change; `kill`, `pause` and
 * `restart` return at once, so a test decides what to wait for.
 *
 * ```ts
 * const cluster = yield* RedisCluster.make()
 * const owner = yield* cluster.masterOf(866)
 * yield* cluster.kill(owner)
 * yield* cluster.waitHealthy() // a replica took over slot 866
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { RedisReplyError } from "../../src/Errors.ts"
import type * as Resp from "../../src/Resp.ts"
import { freePort } from "./ports.ts"
import * as RedisServer from "./RedisServer.ts"
import { command, infoFields, request, text, waitUntil } from "./request.ts"

/**
 * Starting or steering the cluster failed. `reason`: `start` (a node did not
 * start or the cluster did not become healthy in time), `state` (the
 * operation does not fit the cluster as it is, e.g. failing over a master),
 * `timeout` (a wait passed its bound; the message says what was still wrong),
 * `command` (a node answered with an error or did not answer).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisClusterError extends Data.TaggedError("RedisClusterError")<{
  readonly reason: "start" | "state" | "timeout" | "command"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClusterOptions {
  /** Masters, each given a contiguous share of the 16384 slots. Default 3. */
  readonly masters?: number | undefined
  /** Replicas of each master. Default 1. */
  readonly replicasPerMaster?: number | undefined
  /** `cluster-node-timeout` in ms: how soon a silent node is flagged and failed over. Default 1000. */
  readonly nodeTimeoutMillis?: number | undefined
  /** `appendonly yes`, and with `"always"` also `appendfsync always`. Default: no persistence. */
  readonly appendonly?: boolean | "always" | undefined
  /** Extra `redis.conf` lines for every node, after the defaults (so they win). */
  readonly config?: ReadonlyArray<string> | undefined
  /** `redis-server` binary; see `RedisServer`. */
  readonly binary?: string | undefined
  /** Bound on the start and on every wait that has no bound of its own. Default 30 000 ms. */
  readonly timeoutMillis?: number | undefined
}

/**
 * One process of the cluster. Its `id` survives `restart` (it is in the
 * node's `nodes.conf`); its role does not belong here, since failovers change
 * it: ask {@link RedisCluster.nodes}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterNode {
  readonly id: string
  readonly host: "127.0.0.1"
  readonly port: number
  /** The cluster bus port (`cluster-port`). */
  readonly busPort: number
  /** `127.0.0.1:<port>`, as MOVED and ASK name it. */
  readonly address: string
  /** Position in start order: masters first, then replicas (replica `k` of master `m` is `masters + m * replicasPerMaster + k`). */
  readonly index: number
  readonly dir: string
  readonly pid: number
  /** A process is up (paused or not). */
  readonly running: boolean
  readonly paused: boolean
  readonly server: RedisServer.RedisServer
}

/**
 * A node as the cluster sees it (from `CLUSTER NODES` of a running node).
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeInfo {
  readonly node: ClusterNode
  readonly id: string
  readonly address: string
  readonly port: number
  readonly role: "master" | "replica"
  /** The master of a replica. */
  readonly masterId: string | undefined
  /** Owned slot ranges, inclusive, ascending (migration markers left out). */
  readonly slots: ReadonlyArray<readonly [start: number, end: number]>
  /** Flags other than `myself`/`master`/`slave`, e.g. `fail`, `fail?`, `handshake`. */
  readonly flags: ReadonlyArray<string>
}

/**
 * What operations accept as a node: a {@link ClusterNode} or a {@link NodeInfo}.
 *
 * @since 0.1.0
 * @category models
 */
export type NodeRef = { readonly id: string }

/**
 * A running test cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisCluster {
  /** Every node in start order, whatever its state. */
  readonly all: ReadonlyArray<ClusterNode>
  /** `127.0.0.1:<port>` of every node, for a client's seed list. */
  readonly addresses: ReadonlyArray<string>
  /** Milliseconds from `make` being run to the first healthy state. */
  readonly startMillis: number
  /** Roles and slots as the first running, unpaused node sees them. */
  readonly nodes: Effect.Effect<ReadonlyArray<NodeInfo>, RedisClusterError>
  readonly masters: Effect.Effect<ReadonlyArray<NodeInfo>, RedisClusterError>
  readonly replicas: Effect.Effect<ReadonlyArray<NodeInfo>, RedisClusterError>
  /** The master that owns `slot` (as the first running node sees it). */
  readonly masterOf: (slot: number) => Effect.Effect<ClusterNode, RedisClusterError>
  /** The handle of a node; throws a `RedisClusterError` (`state`) for a node of another cluster. */
  readonly node: (ref: NodeRef) => ClusterNode
  /** SIGKILL; returns once the process is gone. The others notice after `nodeTimeoutMillis` and fail over. */
  readonly kill: (ref: NodeRef) => Effect.Effect<void, RedisClusterError>
  /** Starts the node again on the same port and directory (after `kill`; a running node is stopped first). Returns once it answers PING. */
  readonly restart: (ref: NodeRef) => Effect.Effect<void, RedisClusterError>
  /** SIGSTOP: the node keeps its sockets but answers nothing, the cluster bus included. */
  readonly pause: (ref: NodeRef) => Effect.Effect<void, RedisClusterError>
  /** SIGCONT after `pause`. */
  readonly resume: (ref: NodeRef) => Effect.Effect<void, RedisClusterError>
  /**
   * `CLUSTER FAILOVER` (or `FORCE` / `TAKEOVER`) on a replica; returns once the
   * cluster is healthy with that node as master (and its old master, if up,
   * as its replica).
   */
  readonly failover: (
    replica: NodeRef,
    options?: { readonly mode?: "default" | "force" | "takeover" | undefined; readonly timeoutMillis?: number | undefined }
  ) => Effect.Effect<void, RedisClusterError>
  /** Waits until the cluster is healthy (see the module doc); fails with `timeout` naming what was still wrong. */
  readonly waitHealthy: (options?: { readonly timeoutMillis?: number | undefined }) => Effect.Effect<void, RedisClusterError>
  /**
   * Moves `slot` from its owner to the master `to`: `SETSLOT IMPORTING` on
   * `to`, `SETSLOT MIGRATING` on the owner, `MIGRATE` of keys. With
   * `finish: false` only `keys` move (default none) and the slot stays
   * half-migrated: the owner answers `ASK` for keys it lacks and `TRYAGAIN`
   * for multi-key commands over both kinds. With `finish: true` every key
   * moves, `SETSLOT NODE` goes to `to`, the owner and every other master, and
   * it returns once all running nodes agree that `to` owns the slot. A slot
   * left half-migrated can be finished by a second call.
   */
  readonly migrateSlot: (
    slot: number,
    to: NodeRef,
    options: { readonly finish: boolean; readonly keys?: ReadonlyArray<string | Uint8Array> | undefined }
  ) => Effect.Effect<{ readonly source: ClusterNode; readonly target: ClusterNode }, RedisClusterError>
  /** `redis-cli -p <port> ...args` on a node; see `RedisServer.cli`. */
  readonly cli: (ref: NodeRef, ...args: ReadonlyArray<string>) => Effect.Effect<string, RedisServer.RedisServerError | RedisClusterError>
  /** One command on a new connection; an error reply is a `RedisReplyError` value, not a failure. */
  readonly send: (ref: NodeRef, ...args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisClusterError>
  /** Commands on one new connection (e.g. `ASKING` then `GET`), replies in order, error replies as values. */
  readonly sendBatch: (
    ref: NodeRef,
    commands: ReadonlyArray<ReadonlyArray<Resp.Arg>>,
    options?: { readonly resp3?: boolean | undefined; readonly bytes?: boolean | undefined }
  ) => Effect.Effect<Array<Resp.Reply>, RedisClusterError>
}

/**
 * The service key, for suites that share one cluster through `layer(...)`.
 *
 * @since 0.1.0
 * @category services
 */
export const RedisCluster = Context.Service<RedisCluster>("effect-redis-pool/test/RedisCluster")

const SLOTS = 16384
const NODE_ATTEMPTS = 3

interface Handle {
  readonly server: RedisServer.RedisServer
  readonly busPort: number
  id: string
  paused: boolean
}

interface ViewEntry {
  readonly id: string
  readonly port: number
  readonly role: "master" | "replica"
  readonly masterId: string | undefined
  readonly slots: Array<readonly [number, number]>
  readonly flags: Array<string>
  readonly myself: boolean
  readonly connected: boolean
  /** Migration markers on this node's own line: `[slot->-id]` and `[slot-<-id]`. */
  readonly migrating: ReadonlyArray<number>
}

/** Parses `CLUSTER NODES`. */
const parseNodes = (reply: string): Array<ViewEntry> =>
  reply.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const [id = "", address = "", flagText = "", master = "-", , , , link = "", ...slotFields] = line.trim().split(" ")
    const flags = flagText.split(",")
    const slots: Array<readonly [number, number]> = []
    const migrating: Array<number> = []
    for (const field of slotFields) {
      if (field.startsWith("[")) {
        migrating.push(Number.parseInt(field.slice(1), 10))
        continue
      }
      const dash = field.indexOf("-")
      slots.push(dash === -1 ? [Number(field), Number(field)] : [Number(field.slice(0, dash)), Number(field.slice(dash + 1))])
    }
    const port = Number(address.slice(address.lastIndexOf(":") + 1, address.indexOf("@") === -1 ? undefined : address.indexOf("@")))
    return {
      id,
      port,
      role: flags.includes("slave") ? "replica" : "master",
      masterId: master === "-" ? undefined : master,
      slots,
      flags: flags.filter((flag) => flag !== "myself" && flag !== "master" && flag !== "slave" && flag !== "noflags"),
      myself: flags.includes("myself"),
      connected: link === "connected",
      migrating
    }
  })

/** The `health` of every node in a RESP2 `CLUSTER SHARDS` reply, by id. */
const shardHealth = (reply: Resp.Reply): Map<string, string> => {
  const health = new Map<string, string>()
  if (!Array.isArray(reply)) return health
  for (const shard of reply as ReadonlyArray<Resp.Reply>) {
    if (!Array.isArray(shard)) continue
    const fields = shard as ReadonlyArray<Resp.Reply>
    const nodes = fields[fields.indexOf("nodes") + 1]
    if (!Array.isArray(nodes)) continue
    for (const node of nodes as ReadonlyArray<ReadonlyArray<Resp.Reply>>) {
      const id = node[node.indexOf("id") + 1]
      const value = node[node.indexOf("health") + 1]
      if (typeof id === "string" && typeof value === "string") health.set(id, value)
    }
  }
  return health
}

/** Slot → owner id from a view ("" when nobody owns it). */
const ownerTable = (view: ReadonlyArray<ViewEntry>): Array<string> => {
  const owners = new Array<string>(SLOTS).fill("")
  for (const entry of view) {
    if (entry.role !== "master") continue
    for (const [start, end] of entry.slots) for (let slot = start; slot <= end; slot++) owners[slot] = entry.id
  }
  return owners
}

/** redis-cli's split of the slots over `masters`. */
const slotRanges = (masters: number): Array<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  const per = SLOTS / masters
  let first = 0
  let cursor = 0
  for (let i = 0; i < masters; i++) {
    let last = Math.round(cursor + per - 1)
    if (last > SLOTS - 1 || i === masters - 1) last = SLOTS - 1
    if (last < first) last = first
    ranges.push([first, last])
    first = last + 1
    cursor += per
  }
  return ranges
}

const toError = (reason: RedisClusterError["reason"]) => (cause: unknown): RedisClusterError =>
  cause instanceof RedisClusterError
    ? cause
    : new RedisClusterError({
      reason: cause instanceof RedisServer.RedisServerError && cause.reason === "missing" ? "start" : reason,
      message: cause instanceof Error ? cause.message : String(cause),
      cause
    })

const fail = (reason: RedisClusterError["reason"], message: string) => new RedisClusterError({ reason, message })

/**
 * Starts a cluster in the current scope and waits until it is healthy. The
 * scope's closing kills every node and removes their directories.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisClusterOptions = {}): Effect.Effect<RedisCluster, RedisClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const began = Date.now()
    const masterCount = options.masters ?? 3
    const replicasPer = options.replicasPerMaster ?? 1
    const nodeTimeout = options.nodeTimeoutMillis ?? 1000
    const bound = options.timeoutMillis ?? 30_000
    if (!Number.isInteger(masterCount) || masterCount < 1 || masterCount > SLOTS) {
      return yield* fail("start", `masters must be an integer in [1, ${SLOTS}], got ${masterCount}`)
    }
    if (!Number.isInteger(replicasPer) || replicasPer < 0) {
      return yield* fail("start", `replicasPerMaster must be a non-negative integer, got ${replicasPer}`)
    }
    const total = masterCount * (1 + replicasPer)
    const scope = yield* Effect.scope

    const baseConfig = [
      "cluster-enabled yes",
      `cluster-node-timeout ${nodeTimeout}`,
      "cluster-config-file nodes.conf",
      "cluster-announce-ip 127.0.0.1",
      "repl-diskless-sync-delay 0",
      ...(options.appendonly ? ["appendonly yes"] : []),
      ...(options.appendonly === "always" ? ["appendfsync always"] : []),
      ...(options.config ?? [])
    ]

    // One node: a fresh bus port per attempt, in a child scope that is closed when the attempt fails.
    const startNode = Effect.gen(function*() {
      let last: unknown
      for (let attempt = 1; attempt <= NODE_ATTEMPTS; attempt++) {
        const busPort = yield* Effect.promise(() => freePort())
        const child = yield* Scope.fork(scope)
        const exit = yield* RedisServer.make({
          binary: options.binary,
          config: [...baseConfig, `cluster-port ${busPort}`],
          startTimeoutMillis: bound
        }).pipe(Scope.provide(child), Effect.exit)
        if (Exit.isSuccess(exit)) {
          if (exit.value.port !== busPort) return { server: exit.value, busPort, id: "", paused: false } satisfies Handle
          last = new Error(`the node took port ${busPort}, chosen for its bus`)
        } else {
          const error = exit.cause.reasons.find(Cause.isFailReason)?.error
          last = error ?? exit.cause
          if (error?.reason === "missing") {
            yield* Scope.close(child, Exit.void)
            return yield* toError("start")(error)
          }
        }
        yield* Scope.close(child, Exit.void)
      }
      return yield* fail("start", `a cluster node did not start in ${NODE_ATTEMPTS} attempts: ${last instanceof Error ? last.message : String(last)}`)
    })
    const handles: Array<Handle> = yield* Effect.all(Array.from({ length: total }, () => startNode), {
      concurrency: "unbounded"
    })

    const byId = new Map<string, Handle>()
    const handleOf = (ref: NodeRef): Handle => {
      const handle = byId.get(ref.id)
      if (handle === undefined) throw fail("state", `no node with id ${ref.id} in this cluster`)
      return handle
    }
    const live = () => handles.filter((handle) => handle.server.running && !handle.paused)
    const run = <A>(what: RedisClusterError["reason"], f: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({ try: (signal) => f(signal), catch: toError(what) })
    const ok = async (handle: Handle, args: ReadonlyArray<Resp.Arg>, signal?: AbortSignal) => {
      try {
        return await command(handle.server.port, args, { signal })
      } catch (error) {
        throw error instanceof RedisReplyError
          ? fail("command", `${args.join(" ")} on port ${handle.server.port}: ${error.message}`)
          : error
      }
    }
    const viewOf = async (handle: Handle, signal?: AbortSignal) =>
      parseNodes(text(await ok(handle, ["CLUSTER", "NODES"], signal)))
    const firstView = async (signal?: AbortSignal) => {
      const handle = live()[0]
      if (handle === undefined) throw fail("state", "no node is running")
      return viewOf(handle, signal)
    }

    // ERP_CLUSTER_DEBUG=1 prints the phases of the start with their times.
    const debug = process.env["ERP_CLUSTER_DEBUG"] ? (what: string) => console.error(`[cluster] ${Date.now() - began} ms ${what}`) : () => {}
    /** What keeps the cluster from being healthy, or undefined. */
    const healthProblem = async (signal?: AbortSignal): Promise<string | undefined> => {
      const running = live()
      if (running.length === 0) return "no node is running"
      const liveIds = new Set(running.map((handle) => handle.id))
      const reports = await Promise.all(running.map(async (handle) => {
        const [info, nodes, replication, shards] = await request(
          handle.server.port,
          [["CLUSTER", "INFO"], ["CLUSTER", "NODES"], ["INFO", "replication"], ["CLUSTER", "SHARDS"]],
          { signal, timeoutMillis: 5_000 }
        )
        return { handle, info: infoFields(info), view: parseNodes(text(nodes)), replication: infoFields(replication), shards: shardHealth(shards ?? null) }
      }))
      let signature: string | undefined
      for (const { handle, info, replication, shards, view } of reports) {
        const where = `node ${handle.server.port}`
        if (info["cluster_state"] !== "ok") return `${where}: cluster_state:${info["cluster_state"]}`
        if (Number(info["cluster_known_nodes"]) !== total) return `${where}: knows ${info["cluster_known_nodes"]} of ${total} nodes`
        const seen = new Map(view.map((entry) => [entry.id, entry]))
        for (const id of liveIds) {
          const entry = seen.get(id)
          if (entry === undefined) return `${where}: does not list ${id}`
          if (entry.flags.length > 0) return `${where}: flags ${entry.port} ${entry.flags.join(",")}`
          if (!entry.myself && !entry.connected) return `${where}: no link to ${entry.port}`
          if (entry.role === "replica" && shards.get(id) !== "online") return `${where}: CLUSTER SHARDS says replica ${entry.port} is ${shards.get(id)}`
        }
        const owners = ownerTable(view)
        const orphan = owners.findIndex((owner) => !liveIds.has(owner))
        if (orphan !== -1) return `${where}: slot ${orphan} is owned by ${owners[orphan] || "nobody"}, not a running node`
        const self = view.find((entry) => entry.myself)
        if (self?.role === "replica" && replication["master_link_status"] !== "up") {
          return `${where}: master_link_status:${replication["master_link_status"]}`
        }
        const mine = view
          .filter((entry) => liveIds.has(entry.id))
          .map((entry) => `${entry.id}:${entry.role}:${entry.masterId ?? ""}:${entry.slots.map(([a, b]) => `${a}-${b}`).join(",")}`)
          .sort()
          .join(" ")
        if (signature !== undefined && signature !== mine) return `${where}: disagrees with node ${running[0]!.server.port} on roles or slots`
        signature = mine
      }
      return undefined
    }
    const waitHealthyPromise = (timeoutMillis: number, signal?: AbortSignal, extra?: () => Promise<string | undefined>) =>
      waitUntil("cluster healthy", async () => (await healthProblem(signal)) ?? (extra === undefined ? undefined : await extra()), {
        timeoutMillis,
        signal
      }).catch((error: unknown) => {
        throw error instanceof RedisClusterError ? error : fail("timeout", error instanceof Error ? error.message : String(error))
      })

    // Build the cluster.
    debug("processes up")
    yield* run("start", async (signal) => {
      for (const handle of handles) {
        handle.id = text(await ok(handle, ["CLUSTER", "MYID"], signal))
        byId.set(handle.id, handle)
      }
      // Before any MEET: a node takes SET-CONFIG-EPOCH only while it knows no one.
      await Promise.all(handles.map((handle, i) => ok(handle, ["CLUSTER", "SET-CONFIG-EPOCH", i + 1], signal)))
      const ranges = slotRanges(masterCount)
      await Promise.all(ranges.map(([start, end], i) => ok(handles[i]!, ["CLUSTER", "ADDSLOTSRANGE", start, end], signal)))
      await Promise.all(handles.map(async (handle) => {
        const replies = await request(
          handle.server.port,
          handles.filter((other) => other !== handle).map((other) => ["CLUSTER", "MEET", "127.0.0.1", other.server.port, other.busPort]),
          { signal }
        )
        const error = replies.find((reply) => reply instanceof RedisReplyError)
        if (error !== undefined) throw fail("start", `CLUSTER MEET from ${handle.server.port}: ${text(error)}`)
      }))
      debug("met")
      // REPLICATE needs the master known to the replica by its id (`cluster_known_nodes` counts handshakes too).
      await waitUntil("every node knows every other", async () => {
        for (const handle of handles) {
          const known = new Map((await viewOf(handle, signal)).map((entry) => [entry.id, entry]))
          const missing = handles.find((other) => known.get(other.id) === undefined || known.get(other.id)!.flags.includes("handshake"))
          if (missing !== undefined) return `node ${handle.server.port} does not know ${missing.server.port} yet`
        }
        return undefined
      }, { timeoutMillis: bound, intervalMillis: 20, signal })
      debug("all known")
      for (let m = 0; m < masterCount; m++) {
        for (let k = 0; k < replicasPer; k++) {
          await ok(handles[masterCount + m * replicasPer + k]!, ["CLUSTER", "REPLICATE", handles[m]!.id], signal)
        }
      }
      // Then writes something to each replication stream: CLUSTER SHARDS calls a replica with offset 0
      // `loading`, and a write before the replica is linked leaves the offset at 0 (no backlog yet).
      await waitUntil("replicas linked", async () => {
        for (const handle of handles.slice(masterCount)) {
          const link = infoFields(await ok(handle, ["INFO", "replication"], signal))["master_link_status"]
          if (link !== "up") return `replica ${handle.server.port}: master_link_status:${link}`
        }
        return undefined
      }, { timeoutMillis: bound, intervalMillis: 20, signal })
      debug("replicas linked")
      await Promise.all(handles.slice(0, masterCount).map((handle) => ok(handle, ["FLUSHALL"], signal)))
      await waitHealthyPromise(Math.max(bound - (Date.now() - began), 1), signal)
    })
    const startMillis = Date.now() - began

    const nodeHandle = (handle: Handle): ClusterNode => ({
      id: handle.id,
      host: "127.0.0.1",
      port: handle.server.port,
      busPort: handle.busPort,
      address: `127.0.0.1:${handle.server.port}`,
      index: handles.indexOf(handle),
      dir: handle.server.dir,
      get pid() {
        return handle.server.pid
      },
      get running() {
        return handle.server.running
      },
      get paused() {
        return handle.paused
      },
      server: handle.server
    })
    const all = handles.map(nodeHandle)
    const nodeOf = (ref: NodeRef): ClusterNode => all[handles.indexOf(handleOf(ref))]!
    const withHandle = <A, E>(ref: NodeRef, f: (handle: Handle) => Effect.Effect<A, E>): Effect.Effect<A, E | RedisClusterError> =>
      Effect.suspend((): Effect.Effect<A, E | RedisClusterError> => {
        const handle = byId.get(ref.id)
        return handle === undefined ? Effect.fail(fail("state", `no node with id ${ref.id} in this cluster`)) : f(handle)
      })
    const info = (entry: ViewEntry): NodeInfo | undefined => {
      const handle = byId.get(entry.id)
      if (handle === undefined) return undefined
      const node = nodeOf(handle)
      return { node, id: entry.id, address: node.address, port: node.port, role: entry.role, masterId: entry.masterId, slots: entry.slots, flags: entry.flags }
    }
    const nodes = run("command", async (signal) => (await firstView(signal)).flatMap((entry) => info(entry) ?? []))
      .pipe(Effect.map((list) => list.sort((a, b) => a.node.index - b.node.index)))
    const serverOp = (ref: NodeRef, f: (handle: Handle) => Effect.Effect<void, RedisServer.RedisServerError>) =>
      withHandle(ref, (handle) => f(handle).pipe(Effect.mapError(toError("state"))))

    const cluster: RedisCluster = {
      all,
      addresses: all.map((node) => node.address),
      startMillis,
      nodes,
      masters: Effect.map(nodes, (list) => list.filter((node) => node.role === "master")),
      replicas: Effect.map(nodes, (list) => list.filter((node) => node.role === "replica")),
      masterOf: (slot) =>
        run("command", async (signal) => {
          const owner = ownerTable(await firstView(signal))[slot]
          if (owner === undefined || owner === "") throw fail("state", `slot ${slot} has no owner`)
          return nodeOf({ id: owner })
        }),
      node: nodeOf,
      kill: (ref) =>
        serverOp(ref, (handle) =>
          Effect.tap(handle.server.kill, () =>
            Effect.sync(() => {
              handle.paused = false
            }))),
      restart: (ref) =>
        serverOp(ref, (handle) =>
          Effect.tap(handle.server.running ? handle.server.restart : handle.server.start, () =>
            Effect.sync(() => {
              handle.paused = false
            }))),
      pause: (ref) =>
        serverOp(ref, (handle) =>
          Effect.tap(handle.server.pause, () =>
            Effect.sync(() => {
              handle.paused = true
            }))),
      resume: (ref) =>
        serverOp(ref, (handle) =>
          Effect.tap(handle.server.resume, () =>
            Effect.sync(() => {
              handle.paused = false
            }))),
      failover: (ref, failoverOptions = {}) =>
        withHandle(ref, (handle) =>
          run("state", async (signal) => {
            const view = await viewOf(handle, signal)
            const self = view.find((entry) => entry.myself)
            if (self?.role !== "replica" || self.masterId === undefined) {
              throw fail("state", `node ${handle.server.port} is not a replica`)
            }
            const oldMaster = self.masterId
            const mode = failoverOptions.mode ?? "default"
            await ok(handle, mode === "default" ? ["CLUSTER", "FAILOVER"] : ["CLUSTER", "FAILOVER", mode.toUpperCase()], signal)
            await waitHealthyPromise(failoverOptions.timeoutMillis ?? bound, signal, async () => {
              const now = await firstView(signal)
              const promoted = now.find((entry) => entry.id === handle.id)
              if (promoted?.role !== "master") return `node ${handle.server.port} is not master yet`
              const demoted = now.find((entry) => entry.id === oldMaster)
              const old = byId.get(oldMaster)
              if (old !== undefined && old.server.running && !old.paused && demoted?.masterId !== handle.id) {
                return `the old master ${old.server.port} is not a replica of ${handle.server.port} yet`
              }
              return undefined
            })
          })
        ),
      waitHealthy: (waitOptions = {}) =>
        run("timeout", (signal) => waitHealthyPromise(waitOptions.timeoutMillis ?? bound, signal)),
      migrateSlot: (slot, to, migrateOptions) =>
        withHandle(to, (target) =>
          run("state", async (signal) => {
            if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw fail("state", `no slot ${slot}`)
            const view = await firstView(signal)
            const targetEntry = view.find((entry) => entry.id === target.id)
            if (targetEntry?.role !== "master") throw fail("state", `node ${target.server.port} is not a master`)
            const ownerId = ownerTable(view)[slot] ?? ""
            const source = byId.get(ownerId)
            if (source === undefined) throw fail("state", `slot ${slot} has no owner`)
            const result = { source: nodeOf(source), target: nodeOf(target) }
            if (source === target) return result
            await ok(target, ["CLUSTER", "SETSLOT", slot, "IMPORTING", source.id], signal)
            await ok(source, ["CLUSTER", "SETSLOT", slot, "MIGRATING", target.id], signal)
            const migrate = async (keys: ReadonlyArray<string | Uint8Array>) => {
              if (keys.length === 0) return
              const [reply] = await request(
                source.server.port,
                [["MIGRATE", "127.0.0.1", target.server.port, "", 0, 5000, "KEYS", ...keys]],
                { signal }
              )
              if (reply instanceof RedisReplyError && reply.code !== "NOKEY") {
                throw fail("command", `MIGRATE of slot ${slot} from ${source.server.port}: ${reply.message}`)
              }
            }
            if (!migrateOptions.finish) {
              await migrate(migrateOptions.keys ?? [])
              return result
            }
            while (true) {
              const [keys] = await request(source.server.port, [["CLUSTER", "GETKEYSINSLOT", slot, 100]], { bytes: true, signal })
              if (!Array.isArray(keys)) throw fail("command", `CLUSTER GETKEYSINSLOT ${slot}: ${text(keys)}`)
              if (keys.length === 0) break
              await migrate(keys as ReadonlyArray<Uint8Array>)
            }
            // The spec's order: the target first (it stops asking for ASKING), then the source, then everyone else.
            const masters = view.filter((entry) => entry.role === "master").flatMap((entry) => byId.get(entry.id) ?? [])
            const others = masters.filter((handle) => handle !== target && handle !== source && handle.server.running && !handle.paused)
            for (const handle of [target, source, ...others]) {
              await ok(handle, ["CLUSTER", "SETSLOT", slot, "NODE", target.id], signal)
            }
            await waitHealthyPromise(bound, signal, async () => {
              for (const handle of live()) {
                const seen = await viewOf(handle, signal)
                if (ownerTable(seen)[slot] !== target.id) return `node ${handle.server.port} does not see slot ${slot} on ${target.server.port} yet`
                if (seen.some((entry) => entry.myself && entry.migrating.includes(slot))) {
                  return `node ${handle.server.port} still marks slot ${slot} as migrating`
                }
              }
              return undefined
            })
            return result
          })
        ),
      cli: (ref, ...args) => withHandle(ref, (handle) => handle.server.cli(...args)),
      send: (ref, ...args) =>
        withHandle(ref, (handle) => run("command", async (signal) => (await request(handle.server.port, [args], { signal }))[0] ?? null)),
      sendBatch: (ref, commands, batchOptions = {}) =>
        withHandle(ref, (handle) =>
          run("command", (signal) =>
            request(handle.server.port, commands, { signal, resp3: batchOptions.resp3, bytes: batchOptions.bytes })))
    }
    return cluster
  })

/**
 * A layer providing {@link RedisCluster}: one cluster for the whole suite.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisClusterOptions = {}): Layer.Layer<RedisCluster, RedisClusterError> =>
  Layer.effect(RedisCluster, make(options))
