/**
 * Replica reads of a Sentinel service (`readFrom: "replica"`): read-only
 * commands (`isReplicaRead`) run on a replica, everything else on the master.
 *
 * The replicas come from `SENTINEL REPLICAS <name>`, asked of the sentinels in
 * order; those flagged `s_down`, `o_down` or `disconnected`, or whose
 * `master-link-status` is not `ok`, are left out. Each replica has a pool of
 * its own (a `Pool.makeKeyed` keyed by address), whose connections must answer
 * `ROLE` slave with a connected link before anyone uses them. A read takes the
 * replicas in turn (a SCAN-family step always the first, so a scan's cursors
 * stay on one server while the list does not change); one that fails with a connection failure, a timeout, an
 * open breaker, `LOADING` or `MASTERDOWN` is left out (its pool closed) for a
 * while, the list asked for again, and the read runs on the master: reads are
 * safe to repeat, and the master has the data. With no usable replica, reads run
 * on the master. The list is asked for again on every switch of master, after a
 * replica failure, and as reads come: every 30 s, or every second while no
 * replica is usable.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Conn from "../Conn.ts"
import { type ConnectionError, type RedisError, RedisReplyError, SentinelRoleError } from "../Errors.ts"
import * as Pool from "../Pool.ts"
import type { BatchItem, BatchResults, Command, Executor } from "../RedisPool.ts"
import type * as Resp from "../Resp.ts"
import { argsOf } from "./batch.ts"
import { commandName, isReplicaRead } from "./commandTraits.ts"
import { Observer } from "./redisPoolObserve.ts"
import type { Resolved } from "./redisPoolOptions.ts"
import { type Address, addressText, asConnectionError, type Sentinels } from "./sentinelDiscovery.ts"
import { makeShared } from "./shared.ts"

const text = (reply: unknown): string | undefined =>
  typeof reply === "string" ? reply : reply instanceof Uint8Array ? new TextDecoder().decode(reply) : undefined

/** The usable replicas of a `SENTINEL REPLICAS` reply (RESP2 field/value arrays or RESP3 maps). */
export const parseReplicas = (reply: Resp.Reply | undefined): Array<Address> => {
  const out: Array<Address> = []
  if (!Array.isArray(reply)) return out
  for (const entry of reply) {
    const fields = new Map<string, string | undefined>()
    if (entry instanceof Map) {
      for (const [k, v] of entry) fields.set(String(text(k)), text(v))
    } else if (Array.isArray(entry)) {
      for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(text(entry[i])), text(entry[i + 1]))
    } else continue
    const flags = (fields.get("flags") ?? "").split(",")
    if (flags.some((flag) => flag === "s_down" || flag === "o_down" || flag === "disconnected")) continue
    const link = fields.get("master-link-status")
    if (link !== undefined && link !== "ok") continue
    const host = fields.get("ip")
    const port = Number(fields.get("port"))
    if (host === undefined || host === "" || !Number.isInteger(port) || port < 1 || port > 65535) continue
    out.push({ host, port })
  }
  return out
}

/** The replicas as the first sentinel that answers lists them; undefined when none answers. */
export const resolveReplicas = (sentinels: Sentinels): Effect.Effect<Array<Address> | undefined> =>
  Effect.suspend(() => {
    const order = [...sentinels.list]
    const loop = (i: number): Effect.Effect<Array<Address> | undefined> =>
      i >= order.length ? Effect.succeed(undefined) : Effect.matchEffect(
        sentinels.query(order[i]!, [["SENTINEL", "REPLICAS", sentinels.masterName]]),
        {
          onFailure: () => loop(i + 1),
          onSuccess: ([reply]) =>
            reply instanceof RedisReplyError || !Array.isArray(reply) ? loop(i + 1) : Effect.succeed(parseReplicas(reply))
        }
      )
    return loop(0)
  })

/** What a replica's connection must answer to `ROLE`: slave, with its link to the master up. */
export const checkReplicaRole = (conn: Conn.Conn, masterName: string): Effect.Effect<void, ConnectionError> => {
  const refuse = (role: string, said: string, cause?: unknown) =>
    Effect.fail(asConnectionError(
      new SentinelRoleError({
        masterName,
        address: conn.address,
        role,
        message: `${conn.address}, named replica of ${JSON.stringify(masterName)} by the sentinels, answered ROLE ${said}`,
        cause
      }),
      conn.address
    ))
  return Effect.matchEffect(conn.send(["ROLE"]), {
    onFailure: (error) => error._tag === "ConnectionError" ? Effect.fail(error) : refuse("unknown", error.message, error),
    onSuccess: (reply) => {
      const role = Array.isArray(reply) ? text(reply[0]) ?? "unknown" : "unknown"
      const state = Array.isArray(reply) ? text(reply[3]) : undefined
      if ((role === "slave" || role === "replica") && state === "connected") return Effect.void
      return refuse(
        role,
        role === "slave" || role === "replica" ? `${role} with its link to the master ${state ?? "unknown"}` : role
      )
    }
  })
}

/** Errors after which a replica is left out and the read runs on the master. */
const replicaFailed = (error: RedisError): boolean => {
  switch (error._tag) {
    case "ConnectionError":
    case "CommandTimeoutError":
    case "ProtocolError":
    case "CircuitOpenError":
    case "PoolTimeoutError":
    case "PoolExhaustedError":
    case "PoolQueueFullError":
    case "PoolClosedError":
      return true
    case "RedisReplyError":
      return error.code === "LOADING" || error.code === "MASTERDOWN" || error.code === "READONLY"
    default:
      return false
  }
}

interface Entry {
  readonly executor: Executor
  readonly scope: Scope.Closeable
}

/** The router: reads to a replica, the rest (and reads with no usable replica) to `master`. */
export interface ReplicaReads {
  readonly run: <A>(command: Command<A>) => Effect.Effect<A, RedisError>
  readonly send: (command: string, ...args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, RedisError>
  readonly pipeline: <const T extends ReadonlyArray<BatchItem>>(commands: T) => Effect.Effect<BatchResults<T>, RedisError>
  /** The master moved: replica pools are dropped and the list asked for again. */
  readonly switched: () => void
  /** The replicas usable now (`host:port`). */
  readonly replicas: () => ReadonlyArray<string>
}

/** A cursor of one server means nothing to another: these stay on the first replica of the list. */
const scans = new Set(["SCAN", "HSCAN", "SSCAN", "ZSCAN"])

/** How long a replica that failed is left out, even if a sentinel still lists it. */
const failedFor = 2_000
/** While no replica is usable, the list is asked for at most this often. */
const emptyRefreshEvery = 1_000
/** Otherwise, this often (as reads come): replicas added to the group, or back after a failure, join. */
const refreshEvery = 30_000

/** @internal */
export const makeReplicaReads = (
  sentinels: Sentinels,
  resolved: Resolved,
  master: Executor
): Effect.Effect<ReplicaReads, never, Scope.Scope> =>
  Effect.gen(function*() {
    const masterName = sentinels.masterName
    const serviceScope = yield* Effect.scope
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)
    const observer = new Observer(resolved.observer, context)
    yield* Effect.addFinalizer(() => Effect.sync(() => observer.close()))
    // A replica's failure is not retried on it: the read goes to the master at once.
    const replicaResolved: Resolved = { ...resolved, maxRetries: 0, customRetrySchedule: false }
    const keyed = yield* Pool.makeKeyed<string, Conn.Conn>({
      options: (address) => {
        const [, host, port] = /^(.*):(\d+)$/.exec(address)!
        const user = resolved.conn.onConnect
        return {
          ...resolved.pool,
          dial: Conn.make({
            ...resolved.conn,
            host: host!.startsWith("[") ? host!.slice(1, -1) : host!,
            port: Number(port),
            path: undefined,
            onConnect: (conn) => {
              const checked = checkReplicaRole(conn, masterName)
              return user === undefined ? checked : Effect.andThen(checked, Effect.suspend(() => user(conn)))
            }
          })
        }
      }
    })

    let usable: Array<string> = []
    let turn = 0
    let refreshedAt = 0
    let refreshing = false
    let generation = 0
    const failed = new Map<string, number>()
    const entries = new Map<string, Effect.Effect<Entry, never>>()

    const dropEntry = (address: string): void => {
      const entry = entries.get(address)
      if (entry === undefined) return
      entries.delete(address)
      runFork(Effect.flatMap(entry, (e) => Effect.andThen(Scope.close(e.scope, Exit.void), keyed.invalidate(address))))
    }

    const refresh: Effect.Effect<void> = Effect.suspend(() => {
      if (refreshing) return Effect.void
      refreshing = true
      refreshedAt = Date.now()
      const asked = generation
      return Effect.ensuring(
        Effect.map(resolveReplicas(sentinels), (replicas) => {
          // A switch while asking: the answer may be about the old master; the switch asks again.
          if (replicas === undefined || asked !== generation) return
          const now = Date.now()
          const next = replicas.map(addressText).filter((address) => {
            const since = failed.get(address)
            if (since === undefined) return true
            if (now - since >= failedFor) {
              failed.delete(address)
              return true
            }
            return false
          })
          usable = next
          for (const address of [...entries.keys()]) if (!next.includes(address)) dropEntry(address)
        }),
        Effect.sync(() => void (refreshing = false))
      )
    })
    const refreshInBackground = (): void => {
      if (!refreshing) runFork(refresh)
    }

    const fail = (address: string): void => {
      failed.set(address, Date.now())
      usable = usable.filter((known) => known !== address)
      dropEntry(address)
      refreshInBackground()
    }

    const entryOf = (address: string): Effect.Effect<Entry, never> => {
      let entry = entries.get(address)
      if (entry === undefined) {
        const create = Effect.suspend(() => {
          const scope = Scope.forkUnsafe(serviceScope)
          return Effect.map(
            Effect.orDie(Scope.provide(keyed.get(address), scope)),
            (pool): Entry => ({ executor: makeShared(pool, observer, replicaResolved), scope })
          )
        })
        entry = Effect.runSync(Effect.cached(create))
        entries.set(address, entry)
      }
      return entry
    }

    /** The next replica in turn; the first for a SCAN-family step, so that a scan's cursors stay on one server. */
    const pick = (sticky: boolean): string | undefined => {
      const age = Date.now() - refreshedAt
      if (age >= (usable.length === 0 ? emptyRefreshEvery : refreshEvery)) refreshInBackground()
      if (usable.length === 0) return undefined
      if (sticky) return usable[0]
      turn = (turn + 1) % usable.length
      return usable[turn]
    }

    /** `f` on a replica's executor, or on the master's when none is usable or the replica fails. */
    const routed = <A>(
      f: (executor: Executor) => Effect.Effect<A, RedisError>,
      sticky = false
    ): Effect.Effect<A, RedisError> =>
      Effect.suspend(() => {
        const address = pick(sticky)
        if (address === undefined) return f(master)
        return Effect.catchIf(
          Effect.flatMap(entryOf(address), (entry) => f(entry.executor)),
          replicaFailed,
          () => {
            fail(address)
            return f(master)
          }
        )
      })

    yield* refresh

    const router: ReplicaReads = {
      run: (command) => {
        const name = commandName(command.args)
        return command.invalid === undefined && isReplicaRead(name)
          ? routed((executor) => executor.run(command), scans.has(name))
          : master.run(command)
      },
      send: (command, ...args) => {
        const name = commandName([command])
        return isReplicaRead(name)
          ? routed((executor) => executor.send(command, ...args), scans.has(name))
          : master.send(command, ...args)
      },
      pipeline: (commands) =>
        commands.length > 0 && commands.every((item) => isReplicaRead(commandName(argsOf(item))))
          ? routed((executor) => executor.pipeline(commands))
          : master.pipeline(commands),
      switched: () => {
        generation++
        usable = []
        for (const address of [...entries.keys()]) dropEntry(address)
        refreshing = false
        runFork(refresh)
      },
      replicas: () => usable
    }
    return router
  })
