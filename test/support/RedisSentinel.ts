/**
 * A throwaway Sentinel group for tests, as a scoped Effect resource: a master,
 * its replicas and a few sentinels watching it, all `redis-server`
 * processes on free loopback ports (see {@link RedisServer.make}: own
 * temporary directories, killed and removed when the scope closes, also on
 * interruption, dying with the test worker).
 *
 * Sentinels run the same binary through a link named `redis-sentinel` (the
 * name is what puts `redis-server` in Sentinel mode), each from a fresh
 * config file, since Sentinel rewrites its file with what it learns. The
 * start returns once {@link RedisSentinel.waitHealthy} holds: ~2.2 s, the time
 * sentinels need to find the replicas and each other through the master.
 *
 * Healthy means: every running, unpaused sentinel names the same master, which
 * is a running data node answering `ROLE` master, flags neither it nor a running
 * replica nor a running sentinel as down, knows every other running sentinel
 * and every running replica; every running replica says it is linked to that
 * master. (What `SENTINEL REPLICAS` says of a replica's master and link comes
 * from an `INFO` every 10 s and may lag behind.)
 *
 * What Sentinel does that tests must expect (measured on 7.0): after a
 * `SENTINEL FAILOVER` the old master stays master for ~10 s (until a sentinel's
 * periodic `INFO` sees it), and a killed master restarted with its old config
 * comes back claiming master for 10–15 s; {@link RedisSentinel.waitHealthy}
 * waits until Sentinel has converted it.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { RedisReplyError } from "../../src/Errors.ts"
import type * as Resp from "../../src/Resp.ts"
import * as RedisServer from "./RedisServer.ts"
import { command, infoFields, request, text, waitUntil } from "./request.ts"

/**
 * Starting or steering the group failed: `start`, `state` (the operation
 * does not fit, e.g. an unknown node), `timeout` (a wait passed its bound;
 * the message says what was still wrong), `command` (an error reply or no
 * answer).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisSentinelError extends Data.TaggedError("RedisSentinelError")<{
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
export interface RedisSentinelOptions {
  /** Replicas of the master. Default 1. */
  readonly replicas?: number | undefined
  /** Sentinels. Default 3. */
  readonly sentinels?: number | undefined
  /** Sentinels that must agree the master is down. Default 2. */
  readonly quorum?: number | undefined
  /** The monitored master's name. Default `mymaster`. */
  readonly masterName?: string | undefined
  /** `sentinel down-after-milliseconds`. Default 1000. */
  readonly downAfterMillis?: number | undefined
  /** `sentinel failover-timeout`. Default 5000. */
  readonly failoverTimeoutMillis?: number | undefined
  /** `appendonly yes` on the data nodes, and with `"always"` also `appendfsync always`. Default: no persistence. */
  readonly appendonly?: boolean | "always" | undefined
  /** Extra `redis.conf` lines for the master and replicas. */
  readonly config?: ReadonlyArray<string> | undefined
  /** Extra lines for every sentinel's file (`sentinel ...` directives need the master's name). */
  readonly sentinelConfig?: ReadonlyArray<string> | undefined
  /** `redis-server` binary; see `RedisServer`. */
  readonly binary?: string | undefined
  /** Bound on the start and on every wait that has no bound of its own. Default 30 000 ms. */
  readonly timeoutMillis?: number | undefined
}

/**
 * One process of the group: a data node (master or replica, whichever it is
 * now) or a sentinel.
 *
 * @since 0.1.0
 * @category models
 */
export interface SentinelGroupNode {
  readonly kind: "data" | "sentinel"
  readonly host: "127.0.0.1"
  readonly port: number
  /** `127.0.0.1:<port>` */
  readonly address: string
  /** Data nodes: 0 is the first master, then the replicas. Sentinels: 0, 1, ... */
  readonly index: number
  readonly dir: string
  readonly pid: number
  /** A process is up (paused or not). */
  readonly running: boolean
  readonly paused: boolean
  readonly server: RedisServer.RedisServer
}

/**
 * What operations accept as a node.
 *
 * @since 0.1.0
 * @category models
 */
export type NodeRef = { readonly port: number }

/**
 * A running Sentinel group.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisSentinel {
  readonly masterName: string
  /** Data nodes in start order: the first master, then its replicas. */
  readonly data: ReadonlyArray<SentinelGroupNode>
  readonly sentinels: ReadonlyArray<SentinelGroupNode>
  /** `127.0.0.1:<port>` of every sentinel, for a client's sentinel list. */
  readonly sentinelAddresses: ReadonlyArray<string>
  /** Milliseconds from `make` being run to the first healthy state. */
  readonly startMillis: number
  /** `SENTINEL GET-MASTER-ADDR-BY-NAME` of the first running sentinel that answers. */
  readonly masterAddress: Effect.Effect<{ readonly host: string; readonly port: number }, RedisSentinelError>
  /** The data node the sentinels name as master (see `masterAddress`). */
  readonly master: Effect.Effect<SentinelGroupNode, RedisSentinelError>
  /** The handle of a node, by port; throws a `RedisSentinelError` (`state`) for a port of another group. */
  readonly node: (ref: NodeRef) => SentinelGroupNode
  /** SIGKILL; returns once the process is gone. */
  readonly kill: (ref: NodeRef) => Effect.Effect<void, RedisSentinelError>
  /** Starts the node again on the same port with its current config file (after `kill`; a running node is stopped first). */
  readonly restart: (ref: NodeRef) => Effect.Effect<void, RedisSentinelError>
  readonly pause: (ref: NodeRef) => Effect.Effect<void, RedisSentinelError>
  readonly resume: (ref: NodeRef) => Effect.Effect<void, RedisSentinelError>
  /**
   * `SENTINEL FAILOVER <name>` on a running sentinel, once every running
   * sentinel's own record has every running replica linked to the master
   * (those records are refreshed every 10 s: right after a replica joined or
   * was converted this waits up to 10 s, else the failover may be aborted);
   * returns the new master once every running sentinel names it and it answers
   * `ROLE` master. The old master may still claim master for ~10 s;
   * `waitHealthy` waits that out.
   */
  readonly failover: (options?: { readonly timeoutMillis?: number | undefined }) => Effect.Effect<SentinelGroupNode, RedisSentinelError>
  /**
   * Waits until every running sentinel names a master other than `from` (and
   * it answers `ROLE` master), e.g. after killing `from`; returns it.
   */
  readonly waitForNewMaster: (
    from: NodeRef,
    options?: { readonly timeoutMillis?: number | undefined }
  ) => Effect.Effect<SentinelGroupNode, RedisSentinelError>
  /** Waits until the group is healthy (see the module doc). */
  readonly waitHealthy: (options?: { readonly timeoutMillis?: number | undefined }) => Effect.Effect<void, RedisSentinelError>
  /** `redis-cli -p <port> ...args`; see `RedisServer.cli`. */
  readonly cli: (ref: NodeRef, ...args: ReadonlyArray<string>) => Effect.Effect<string, RedisServer.RedisServerError | RedisSentinelError>
  /** One command on a new connection; an error reply is a `RedisReplyError` value, not a failure. */
  readonly send: (ref: NodeRef, ...args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisSentinelError>
}

/**
 * The service key, for suites that share one group through `layer(...)`.
 *
 * @since 0.1.0
 * @category services
 */
export const RedisSentinel = Context.Service<RedisSentinel>("effect-redis-pool/test/RedisSentinel")

interface Handle {
  readonly kind: "data" | "sentinel"
  readonly index: number
  readonly server: RedisServer.RedisServer
  paused: boolean
}

const toError = (reason: RedisSentinelError["reason"]) => (cause: unknown): RedisSentinelError =>
  cause instanceof RedisSentinelError
    ? cause
    : new RedisSentinelError({ reason, message: cause instanceof Error ? cause.message : String(cause), cause })

const fail = (reason: RedisSentinelError["reason"], message: string) => new RedisSentinelError({ reason, message })

/** `[k, v, k, v]` (RESP2) as a record. */
const pairs = (reply: Resp.Reply | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  const flat = reply as ReadonlyArray<Resp.Reply>
  for (let i = 0; i + 1 < flat.length; i += 2) out[text(flat[i])] = text(flat[i + 1])
  return out
}

const list = (reply: Resp.Reply | undefined): Array<Record<string, string>> =>
  Array.isArray(reply) ? (reply as ReadonlyArray<Resp.Reply>).map(pairs) : []

const resolveBinary = (name: string): string | undefined => {
  const candidates = name.includes("/") ? [name] : (process.env["PATH"] ?? "").split(path.delimiter).map((dir) => path.join(dir, name))
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate // not its real path: redis-server is often a link to redis-check-rdb, and argv[0] picks the mode
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * Starts a group in the current scope and waits until it is healthy. The
 * scope's closing kills every process and removes their directories.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisSentinelOptions = {}): Effect.Effect<RedisSentinel, RedisSentinelError, Scope.Scope> =>
  Effect.gen(function*() {
    const began = Date.now()
    const name = options.masterName ?? "mymaster"
    const replicaCount = options.replicas ?? 1
    const sentinelCount = options.sentinels ?? 3
    const quorum = options.quorum ?? 2
    const bound = options.timeoutMillis ?? 30_000
    if (!/^[A-Za-z0-9._-]+$/.test(name)) return yield* fail("start", `master name ${JSON.stringify(name)}: letters, digits, . _ - only`)
    if (!Number.isInteger(replicaCount) || replicaCount < 0) return yield* fail("start", `replicas must be >= 0, got ${replicaCount}`)
    if (!Number.isInteger(sentinelCount) || sentinelCount < 1) return yield* fail("start", `sentinels must be >= 1, got ${sentinelCount}`)
    if (!Number.isInteger(quorum) || quorum < 1) return yield* fail("start", `quorum must be >= 1, got ${quorum}`)

    const binaryName = options.binary ?? process.env["REDIS_SERVER_BIN"] ?? "redis-server"
    const binary = resolveBinary(binaryName)
    if (binary === undefined) {
      return yield* fail("start", `redis-server not found (looked for ${JSON.stringify(binaryName)}): install it with \`apt-get install -y redis-server\` (Debian/Ubuntu)`)
    }
    // `redis-server` enters Sentinel mode when its argv[0] contains "redis-sentinel".
    const linkDir = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => fsp.mkdtemp(path.join(os.tmpdir(), "erp-sentinel-bin-")), catch: toError("start") }),
      (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
    )
    const sentinelBinary = path.join(linkDir, "redis-sentinel")
    yield* Effect.tryPromise({ try: () => fsp.symlink(binary, sentinelBinary), catch: toError("start") })

    const dataConfig = [
      "repl-diskless-sync-delay 0",
      ...(options.appendonly ? ["appendonly yes"] : []),
      ...(options.appendonly === "always" ? ["appendfsync always"] : []),
      ...(options.config ?? [])
    ]
    const startServer = (serverOptions: RedisServer.RedisServerOptions) =>
      RedisServer.make({ startTimeoutMillis: bound, ...serverOptions }).pipe(Effect.mapError(toError("start")))

    const master = yield* startServer({ binary, config: dataConfig })
    const replicas = yield* Effect.all(
      Array.from({ length: replicaCount }, () => startServer({ binary, config: [...dataConfig, `replicaof 127.0.0.1 ${master.port}`] })),
      { concurrency: "unbounded" }
    )
    const sentinelLines = [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMillis ?? 1000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMillis ?? 5000}`,
      ...(options.sentinelConfig ?? [])
    ]
    const sentinels = yield* Effect.all(
      Array.from({ length: sentinelCount }, () => startServer({ binary: sentinelBinary, config: sentinelLines })),
      { concurrency: "unbounded" }
    )
    const handles: Array<Handle> = [
      ...[master, ...replicas].map((server, index): Handle => ({ kind: "data", index, server, paused: false })),
      ...sentinels.map((server, index): Handle => ({ kind: "sentinel", index, server, paused: false }))
    ]
    const live = (kind: Handle["kind"]) => handles.filter((handle) => handle.kind === kind && handle.server.running && !handle.paused)
    const byPort = (port: number) => handles.find((handle) => handle.server.port === port)
    const run = <A>(reason: RedisSentinelError["reason"], f: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({ try: (signal) => f(signal), catch: toError(reason) })
    const ok = async (handle: Handle, args: ReadonlyArray<Resp.Arg>, signal?: AbortSignal) => {
      try {
        return await command(handle.server.port, args, { signal, timeoutMillis: 5_000 })
      } catch (error) {
        throw error instanceof RedisReplyError ? fail("command", `${args.join(" ")} on port ${handle.server.port}: ${error.message}`) : error
      }
    }

    /** The master address every running sentinel names, or a reason why there is none. */
    const agreedMaster = async (signal?: AbortSignal): Promise<number | string> => {
      const running = live("sentinel")
      if (running.length === 0) return "no sentinel is running"
      const ports = await Promise.all(running.map(async (sentinel) => {
        const reply = await ok(sentinel, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name], signal)
        return Array.isArray(reply) ? Number(text((reply as ReadonlyArray<Resp.Reply>)[1])) : Number.NaN
      }))
      if (ports.some((port) => port !== ports[0])) return `sentinels disagree on the master: ports ${ports.join(", ")}`
      return ports[0]!
    }
    const roleOf = async (handle: Handle, signal?: AbortSignal) => {
      const reply = await ok(handle, ["ROLE"], signal)
      return Array.isArray(reply) ? text((reply as ReadonlyArray<Resp.Reply>)[0]) : ""
    }
    const isUp = (flags: string | undefined) =>
      flags !== undefined && !flags.split(",").some((flag) => flag === "s_down" || flag === "o_down" || flag === "disconnected")

    const healthProblem = async (signal?: AbortSignal): Promise<string | undefined> => {
      const masterPort = await agreedMaster(signal)
      if (typeof masterPort === "string") return masterPort
      const masterHandle = byPort(masterPort)
      if (masterHandle?.kind !== "data" || !masterHandle.server.running || masterHandle.paused) {
        return `the sentinels name ${masterPort}, which is not a running data node`
      }
      if ((await roleOf(masterHandle, signal)) !== "master") return `${masterPort} does not answer ROLE master yet`
      const replicaPorts = live("data").filter((handle) => handle !== masterHandle).map((handle) => handle.server.port)
      const sentinelPorts = live("sentinel").map((handle) => handle.server.port)
      for (const sentinel of live("sentinel")) {
        const where = `sentinel ${sentinel.server.port}`
        const [masterInfo, replicaList, sentinelList] = await request(
          sentinel.server.port,
          [["SENTINEL", "MASTER", name], ["SENTINEL", "REPLICAS", name], ["SENTINEL", "SENTINELS", name]],
          { signal, timeoutMillis: 5_000 }
        )
        const flags = pairs(masterInfo)["flags"]
        if (flags !== "master") return `${where}: master flags ${flags}`
        const known = new Map(list(replicaList).map((replica) => [Number(replica["port"]), replica]))
        for (const port of replicaPorts) {
          const replica = known.get(port)
          if (replica === undefined) return `${where}: does not know replica ${port}`
          // Not its `master-port` or `master-link-status`: a sentinel reads those from its INFO every
          // 10 s, so they lag a failover by up to 10 s per sentinel; the replica itself is asked below.
          if (!isUp(replica["flags"])) return `${where}: replica ${port} flags ${replica["flags"]}`
        }
        const peers = new Map(list(sentinelList).map((peer) => [Number(peer["port"]), peer]))
        for (const port of sentinelPorts) {
          if (port === sentinel.server.port) continue
          const peer = peers.get(port)
          if (peer === undefined) return `${where}: does not know sentinel ${port}`
          if (!isUp(peer["flags"])) return `${where}: sentinel ${port} flags ${peer["flags"]}`
        }
      }
      for (const port of replicaPorts) {
        const replication = infoFields(await ok(byPort(port)!, ["INFO", "replication"], signal))
        if (replication["role"] !== "slave" || replication["master_port"] !== String(masterPort)) {
          return `data node ${port} is ${replication["role"]} of ${replication["master_port"] ?? "nobody"}, not a replica of ${masterPort}`
        }
        if (replication["master_link_status"] !== "up") return `replica ${port}: master_link_status:${replication["master_link_status"]}`
      }
      return undefined
    }
    // ERP_SENTINEL_DEBUG=1 prints what each wait is waiting for, when it changes.
    const debug = process.env["ERP_SENTINEL_DEBUG"] !== undefined
    const waitFor = (what: string, check: () => Promise<string | undefined>, timeoutMillis: number, signal?: AbortSignal) => {
      let last: string | undefined = ""
      const since = Date.now()
      const traced = debug
        ? async () => {
          const problem = await check()
          if (problem !== last) console.error(`[sentinel] ${what} +${Date.now() - since} ms: ${problem ?? "met"}`)
          last = problem
          return problem
        }
        : check
      return waitUntil(what, traced, { timeoutMillis, signal }).catch((error: unknown) => {
        throw error instanceof RedisSentinelError ? error : fail("timeout", error instanceof Error ? error.message : String(error))
      })
    }

    yield* run("start", (signal) => waitFor("sentinel group healthy", () => healthProblem(signal), Math.max(bound - (Date.now() - began), 1), signal))
    const startMillis = Date.now() - began

    const groupNode = (handle: Handle): SentinelGroupNode => ({
      kind: handle.kind,
      host: "127.0.0.1",
      port: handle.server.port,
      address: `127.0.0.1:${handle.server.port}`,
      index: handle.index,
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
    const nodes = handles.map(groupNode)
    const nodeOf = (handle: Handle) => nodes[handles.indexOf(handle)]!
    const withHandle = <A, E>(ref: NodeRef, f: (handle: Handle) => Effect.Effect<A, E>): Effect.Effect<A, E | RedisSentinelError> =>
      Effect.suspend((): Effect.Effect<A, E | RedisSentinelError> => {
        const handle = byPort(ref.port)
        return handle === undefined ? Effect.fail(fail("state", `no node on port ${ref.port} in this group`)) : f(handle)
      })
    const serverOp = (ref: NodeRef, f: (handle: Handle) => Effect.Effect<void, RedisServer.RedisServerError>, paused: (handle: Handle) => boolean) =>
      withHandle(ref, (handle) =>
        f(handle).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              handle.paused = paused(handle)
            })
          ),
          Effect.mapError(toError("state"))
        ))

    const masterAddress = run("command", async (signal) => {
      let last: unknown = fail("state", "no sentinel is running")
      for (const sentinel of live("sentinel")) {
        try {
          const reply = await ok(sentinel, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name], signal)
          if (Array.isArray(reply)) {
            const [host, port] = reply as ReadonlyArray<Resp.Reply>
            return { host: text(host), port: Number(text(port)) }
          }
          last = fail("state", `sentinel ${sentinel.server.port} does not know ${name}`)
        } catch (error) {
          last = error
        }
      }
      throw last
    })
    const newMaster = (fromPort: number, timeoutMillis: number, signal: AbortSignal) =>
      waitFor(`a master other than ${fromPort}`, async () => {
        const port = await agreedMaster(signal)
        if (typeof port === "string") return port
        if (port === fromPort) return `the sentinels still name ${fromPort}`
        const handle = byPort(port)
        if (handle === undefined) return `the sentinels name ${port}, not a node of this group`
        if ((await roleOf(handle, signal)) !== "master") return `${port} does not answer ROLE master yet`
        return undefined
      }, timeoutMillis, signal).then(async () => nodeOf(byPort(await agreedMaster(signal) as number)!))

    const group: RedisSentinel = {
      masterName: name,
      data: nodes.filter((node) => node.kind === "data"),
      sentinels: nodes.filter((node) => node.kind === "sentinel"),
      sentinelAddresses: nodes.filter((node) => node.kind === "sentinel").map((node) => node.address),
      startMillis,
      masterAddress,
      master: Effect.flatMap(masterAddress, ({ port }) => {
        const handle = byPort(port)
        return handle === undefined ? Effect.fail(fail("state", `the sentinels name ${port}, not a node of this group`)) : Effect.succeed(nodeOf(handle))
      }),
      node: (ref) => {
        const handle = byPort(ref.port)
        if (handle === undefined) throw fail("state", `no node on port ${ref.port} in this group`)
        return nodeOf(handle)
      },
      kill: (ref) => serverOp(ref, (handle) => handle.server.kill, () => false),
      restart: (ref) => serverOp(ref, (handle) => (handle.server.running ? handle.server.restart : handle.server.start), () => false),
      pause: (ref) => serverOp(ref, (handle) => handle.server.pause, () => true),
      resume: (ref) => serverOp(ref, (handle) => handle.server.resume, () => false),
      failover: (failoverOptions = {}) =>
        run("state", async (signal) => {
          const from = await agreedMaster(signal)
          if (typeof from === "string") throw fail("state", from)
          const timeoutMillis = failoverOptions.timeoutMillis ?? bound
          // Every sentinel's own record of every running replica must say "replica of the master, link
          // up" first. A sentinel refreshes that record by INFO only every 10 s: one that missed a
          // restarted old master's conversion still has it as claiming master, and converts it back
          // right after this failover promotes it, which aborts the failover (measured: 2 runs in ~22
          // when failing over at once after a conversion). And a sentinel that sees no such replica
          // answers SENTINEL FAILOVER with -failover-abort-no-good-slave.
          const replicaPorts = () => live("data").filter((handle) => handle.server.port !== from).map((handle) => String(handle.server.port))
          await waitFor("every sentinel sees the replicas linked to the master", async () => {
            const ports = replicaPorts()
            if (ports.length === 0) return "no running replica"
            for (const sentinel of live("sentinel")) {
              const replicas = new Map(list(await ok(sentinel, ["SENTINEL", "REPLICAS", name], signal)).map((replica) => [replica["port"], replica]))
              for (const port of ports) {
                const replica = replicas.get(port)
                if (replica === undefined) return `sentinel ${sentinel.server.port} does not know replica ${port}`
                if (!isUp(replica["flags"]) || replica["role-reported"] !== "slave" || replica["master-port"] !== String(from) || replica["master-link-status"] !== "ok") {
                  return `sentinel ${sentinel.server.port} has replica ${port} as ${replica["role-reported"]} of ${replica["master-port"]}, link ${replica["master-link-status"]}, flags ${replica["flags"]}`
                }
              }
            }
            return undefined
          }, timeoutMillis, signal)
          const chosen = live("sentinel")[0]
          if (chosen === undefined) throw fail("state", "no sentinel is running")
          await ok(chosen, ["SENTINEL", "FAILOVER", name], signal)
          return newMaster(from, timeoutMillis, signal)
        }),
      waitForNewMaster: (from, waitOptions = {}) => run("timeout", (signal) => newMaster(from.port, waitOptions.timeoutMillis ?? bound, signal)),
      waitHealthy: (waitOptions = {}) =>
        run("timeout", (signal) => waitFor("sentinel group healthy", () => healthProblem(signal), waitOptions.timeoutMillis ?? bound, signal)),
      cli: (ref, ...args) => withHandle(ref, (handle) => handle.server.cli(...args)),
      send: (ref, ...args) =>
        withHandle(ref, (handle) => run("command", async (signal) => (await request(handle.server.port, [args], { signal }))[0] ?? null))
    }
    return group
  })

/**
 * A layer providing {@link RedisSentinel}: one group for the whole suite.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisSentinelOptions = {}): Layer.Layer<RedisSentinel, RedisSentinelError> =>
  Layer.effect(RedisSentinel, make(options))
