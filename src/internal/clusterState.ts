/**
 * Where each slot lives: one immutable topology (`clusterTopology.ts`) plus
 * the `MOVED` answers seen since it was loaded, swapped as one value in a
 * `Ref`, so a reader never sees half a refresh.
 *
 * A refresh asks the node that sent a `MOVED` first (it knows the news),
 * then the known masters in random order, then their replicas, then the
 * seeds: `CLUSTER SHARDS`, or `CLUSTER SLOTS` where the server lacks it. It
 * is single-flight: callers that ask while one runs wait for that one; a
 * background request made while one runs sets a pending flag, served by one
 * more refresh after a short cooldown, so a burst of `MOVED`s costs two
 * refreshes, not one per command; and background refreshes start at most
 * once per cooldown, so failures that each ask for one (a cluster that is
 * down) cannot make a refresh storm; after refreshes that failed, the pause
 * grows (doubling, jittered, up to a bound) until one succeeds.
 *
 * When a master stops answering, its replicas are asked for their `ROLE`
 * every few milliseconds until one says it was promoted (then the map is
 * loaded from it) or the map names another owner: the new master is seen
 * within a probe of its promotion, not at the next refresh that happens to
 * ask a node that already knows. The refresh runs in the cluster's scope,
 * so a caller that leaves does not cancel it for the others.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { ClusterUnreachableError, RedisReplyError } from "../Errors.ts"
import type * as Resp from "../Resp.ts"
import type { Nodes } from "./clusterNodes.ts"
import { type Address, formatAddress, parseTopology, type Topology, type TopologyCommand, type TopologyNode } from "./clusterTopology.ts"

/** @internal */
export interface State {
  readonly topology: Topology
  /** Slot → owner named by a `MOVED` since `topology` was loaded. */
  readonly moved: ReadonlyMap<number, Address>
}

/** @internal */
export interface ClusterState {
  readonly ref: Ref.Ref<State>
  /** The master that owns `slot` now, as far as this client knows. */
  readonly owner: (slot: number) => Address | undefined
  /** `owner(slot)` as `host:port` (the topology's own string, nothing allocated), for the command path. */
  readonly ownerAddress: (slot: number) => string | undefined
  /** A replica of the shard owning `slot` (one at random), or undefined when it has none or the slot moved. */
  readonly replicaOf: (slot: number) => Address | undefined
  /** The master and then the replicas of the shard owning `slot`, or undefined when no shard does or the slot moved. */
  readonly shardOf: (slot: number) => ReadonlyArray<Address> | undefined
  /** A master for a keyless command: any master of the current topology, picked at random. */
  readonly anyMaster: () => Address | undefined
  /** The current topology. */
  readonly topology: () => Topology
  /** Every master of the current topology. */
  readonly masters: () => ReadonlyArray<Address>
  /** Every node of the current topology: the masters, then the replicas. */
  readonly nodes: () => ReadonlyArray<Address>
  /** Records a `MOVED` (the slot's new owner) until the next refresh. */
  readonly noteMoved: (slot: number, owner: Address) => void
  /** Loads the topology again (single-flight) and waits for it. */
  readonly refresh: (hint?: Address) => Effect.Effect<void, ClusterUnreachableError>
  /** Asks for a refresh in the background; never waits, never fails. */
  readonly requestRefresh: (hint?: Address) => Effect.Effect<void>
  /** Refreshes completed so far. */
  readonly refreshes: () => number
  /** How long the refreshes took (completed or failed): total and slowest, in ms. */
  readonly refreshTimes: () => { readonly totalMillis: number; readonly maxMillis: number; readonly failed: number }
  /**
   * Waits for the end of the next refresh (one under way, or the next one
   * anybody starts): true when it changed who owns some slot, false when the
   * map stayed the same or the refresh failed.
   */
  readonly nextRefresh: () => Effect.Effect<boolean>
  /** Drops what `MOVED`s said about slots now owned by `address` (a node that takes no connections). */
  readonly forgetMovedTo: (address: Address) => void
  /**
   * A master stopped answering: until the map names a new owner of its slots, ask its replicas for their `ROLE`
   * every `probeEveryMillis` (one probe per master, whoever asks), and reload the map from the first replica that
   * says it is a master. Never waits, never fails.
   */
  readonly watchPromotion: (master: Address) => Effect.Effect<void>
  /** `ROLE`s sent by promotion probes so far. */
  readonly probes: () => number
}

/** @internal */
export interface StateOptions {
  readonly seeds: ReadonlyArray<Address>
  readonly nodes: Nodes
  readonly mapAddress?: ((host: string, port: number) => Address) | undefined
  readonly tls: boolean
  /** Pause between a refresh and the pending one it owes. */
  readonly cooldownMillis: number
  /** After failed refreshes the pause doubles from `cooldownMillis` up to this (jittered: half to all of it). */
  readonly maxBackoffMillis: number
  /** How often a promotion probe asks a dead master's replicas for their role, and for how long at most. */
  readonly probeEveryMillis: number
  readonly probeForMillis: number
  /** Called with each topology loaded after the first. */
  readonly onRefresh?: ((topology: Topology) => Effect.Effect<void>) | undefined
}

const shuffled = <A>(items: ReadonlyArray<A>): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const addressOf = (node: TopologyNode): Address => ({ host: node.host, port: node.port })

/** The topology as one node sees it: CLUSTER SHARDS, CLUSTER SLOTS when SHARDS is unknown there. */
const loadFrom = (options: StateOptions, origin: Address): Effect.Effect<Topology, unknown> =>
  Effect.flatMap(options.nodes.get(origin.host, origin.port), (node) => {
    const ask = (command: TopologyCommand) =>
      node.pool.withShared((conn) => conn.send(command.split(" ") as Array<Resp.Arg>)).pipe(
        Effect.flatMap((reply) => parseTopology(command, reply, { origin, mapAddress: options.mapAddress, tls: options.tls }))
      )
    return Effect.catchIf(
      ask("CLUSTER SHARDS"),
      (error) => error instanceof RedisReplyError && error.code === "ERR",
      () => ask("CLUSTER SLOTS")
    )
  })

/**
 * The pause before the next background refresh: the cooldown after a success;
 * after `failed` failures in a row, the cooldown doubled per failure up to
 * `maxMillis`, jittered to half to all of it (`random` in [0, 1)), so that
 * clients that lost the cluster together do not all come back together.
 *
 * @internal
 */
export const refreshGap = (failed: number, cooldownMillis: number, maxMillis: number, random: number): number => {
  if (failed <= 0) return cooldownMillis
  const cap = Math.max(cooldownMillis, Math.min(maxMillis, cooldownMillis * 2 ** failed))
  return cap / 2 + random * cap / 2
}

/** Builds the state from a first topology, loaded from the seeds. @internal */
export const makeState = (options: StateOptions): Effect.Effect<ClusterState, ClusterUnreachableError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    let refreshes = 0
    const times = { totalMillis: 0, maxMillis: 0, failed: 0 }
    const candidates = (current: Topology | undefined, hint: Address | undefined): Array<Address> => {
      const seen = new Set<string>()
      const out: Array<Address> = []
      const add = (address: Address) => {
        const key = `${address.host}:${address.port}`
        if (seen.has(key)) return
        seen.add(key)
        out.push(address)
      }
      if (hint !== undefined) add(hint)
      if (current !== undefined) {
        for (const shard of shuffled(current.shards)) add(addressOf(shard.master))
        for (const shard of shuffled(current.shards)) for (const replica of shard.replicas) add(addressOf(replica))
      }
      for (const seed of options.seeds) add(seed)
      return out
    }
    const load = (current: Topology | undefined, hint: Address | undefined) =>
      Effect.suspend(() => {
        const tries = candidates(current, hint)
        let last: unknown = undefined
        const next = (i: number): Effect.Effect<Topology, ClusterUnreachableError> =>
          i >= tries.length
            ? Effect.fail(
              new ClusterUnreachableError({
                message: `no node answered CLUSTER SHARDS or CLUSTER SLOTS (tried ${tries.map((a) => `${a.host}:${a.port}`).join(", ")})${
                  last instanceof Error || (typeof last === "object" && last !== null && "message" in last)
                    ? `: ${(last as { message: string }).message}`
                    : ""
                }`,
                cause: last
              })
            )
            : Effect.catchCause(loadFrom(options, tries[i]!), (cause) => {
              last = cause.reasons.find((reason) => reason._tag === "Fail")?.error ?? cause
              return next(i + 1)
            })
        return next(0)
      })

    const ref = yield* Ref.make<State>({ topology: yield* load(undefined, undefined), moved: new Map() })

    let running: Deferred.Deferred<void, ClusterUnreachableError> | undefined
    /** Completed with the end of the next refresh: whether it changed a slot's owner. */
    let nextDone = Deferred.makeUnsafe<boolean>()
    /** Slot → owner address of a topology, to tell whether a refresh changed anything. */
    const owners = (topology: Topology): Array<string> => {
      const masters = topology.shards.map((shard) => shard.master.address)
      return Array.from(topology.slots, (index) => index < 0 ? "" : masters[index]!)
    }
    const sameOwners = (a: Topology, b: Topology): boolean => {
      if (a === b) return true
      const [x, y] = [owners(a), owners(b)]
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
      return true
    }
    let pending: boolean | Address = false
    /** When the last refresh ended (epoch ms), and whether a background one waits for the cooldown to pass. */
    let lastEnd = 0
    let scheduled = false
    /** Refreshes failed in a row, and the pause owed after the last one (the cooldown, or a backoff). */
    let failedInRow = 0
    let gap = options.cooldownMillis

    const refresh = (hint?: Address): Effect.Effect<void, ClusterUnreachableError> =>
      Effect.suspend(() => {
        if (running !== undefined) return Deferred.await(running)
        const done = Deferred.makeUnsafe<void, ClusterUnreachableError>()
        running = done
        const before = Ref.getUnsafe(ref).topology
        const began = Date.now()
        let changed = false
        const work = load(before, hint).pipe(
          Effect.flatMap((topology) => {
            changed = !sameOwners(before, topology)
            return Effect.andThen(
              Ref.set(ref, { topology, moved: new Map() }),
              options.onRefresh === undefined ? Effect.void : options.onRefresh(topology)
            )
          }),
          Effect.onExit((exit) => {
            running = undefined
            lastEnd = Date.now()
            if (Exit.isSuccess(exit)) refreshes++
            else times.failed++
            failedInRow = Exit.isSuccess(exit) ? 0 : failedInRow + 1
            gap = refreshGap(failedInRow, options.cooldownMillis, options.maxBackoffMillis, Math.random())
            const took = lastEnd - began
            times.totalMillis += took
            if (took > times.maxMillis) times.maxMillis = took
            Deferred.doneUnsafe(done, exit)
            const waiting = nextDone
            nextDone = Deferred.makeUnsafe<boolean>()
            Deferred.doneUnsafe(waiting, Exit.succeed(Exit.isSuccess(exit) && changed))
            if (pending === false) return Effect.void
            const again = pending === true ? undefined : pending
            pending = false
            return Effect.asVoid(Effect.forkIn(Effect.delay(Effect.ignore(refresh(again)), gap), scope))
          })
        )
        return Effect.flatMap(Effect.forkIn(work, scope), () => Deferred.await(done))
      })

    const requestRefresh = (hint?: Address): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (running !== undefined) {
          if (pending === false) pending = hint ?? true
          return Effect.void
        }
        if (scheduled) return Effect.void
        // At most one background refresh per cooldown, however many failures ask for one, and fewer still while
        // refreshes fail (no refresh storm while a cluster is down and every command fails).
        const wait = lastEnd + gap - Date.now()
        if (wait <= 0) return Effect.asVoid(Effect.forkIn(Effect.ignore(refresh(hint)), scope))
        scheduled = true
        const later = Effect.suspend(() => {
          scheduled = false
          return Effect.ignore(refresh(hint))
        })
        return Effect.asVoid(Effect.forkIn(Effect.delay(later, wait), scope))
      })

    /** Masters (`host:port`) whose replicas a promotion probe is asking. */
    const probing = new Set<string>()
    let probes = 0
    const watchPromotion = (master: Address): Effect.Effect<void> =>
      Effect.suspend(() => {
        const key = `${master.host}:${master.port}`
        const shardOf = () =>
          Ref.getUnsafe(ref).topology.shards.find((shard) => shard.master.host === master.host && shard.master.port === master.port)
        if (probing.has(key) || (shardOf()?.replicas.length ?? 0) === 0) return Effect.void
        probing.add(key)
        const until = Date.now() + options.probeForMillis
        const role = (replica: TopologyNode) =>
          options.nodes.get(replica.host, replica.port).pipe(
            Effect.flatMap((node) => {
              probes++
              return node.pool.withShared((conn) => conn.send(["ROLE"]))
            }),
            Effect.timeoutOption(options.probeEveryMillis * 10),
            Effect.map((reply) => reply._tag === "Some" && Array.isArray(reply.value) && reply.value[0] === "master"),
            Effect.catchCause(() => Effect.succeed(false))
          )
        // Ends once the map no longer has this master owning slots (a refresh saw the promotion), or in time.
        const probe: Effect.Effect<void> = Effect.suspend(() => {
          const shard = shardOf()
          if (shard === undefined || Date.now() >= until) return Effect.void
          return Effect.flatMap(Effect.forEach(shard.replicas, role, { concurrency: "unbounded" }), (roles) => {
            const promoted = shard.replicas.find((_, i) => roles[i])
            return promoted === undefined
              ? Effect.delay(probe, options.probeEveryMillis)
              : Effect.andThen(Effect.ignore(refresh(addressOf(promoted))), probe)
          })
        })
        return Effect.asVoid(Effect.forkIn(Effect.ensuring(probe, Effect.sync(() => probing.delete(key))), scope))
      })

    return {
      ref,
      watchPromotion,
      probes: () => probes,
      owner: (slot) => {
        const state = Ref.getUnsafe(ref)
        const moved = state.moved.get(slot)
        if (moved !== undefined) return moved
        const index = state.topology.slots[slot]
        if (index === undefined || index < 0) return undefined
        return addressOf(state.topology.shards[index]!.master)
      },
      replicaOf: (slot) => {
        const state = Ref.getUnsafe(ref)
        if (state.moved.has(slot)) return undefined
        const index = state.topology.slots[slot]
        if (index === undefined || index < 0) return undefined
        const replicas = state.topology.shards[index]!.replicas
        return replicas.length === 0 ? undefined : addressOf(replicas[Math.floor(Math.random() * replicas.length)]!)
      },
      ownerAddress: (slot) => {
        const state = Ref.getUnsafe(ref)
        if (state.moved.size > 0) {
          const moved = state.moved.get(slot)
          if (moved !== undefined) return formatAddress(moved.host, moved.port)
        }
        const index = state.topology.slots[slot]
        return index === undefined || index < 0 ? undefined : state.topology.shards[index]!.master.address
      },
      shardOf: (slot) => {
        const state = Ref.getUnsafe(ref)
        if (state.moved.has(slot)) return undefined
        const index = state.topology.slots[slot]
        if (index === undefined || index < 0) return undefined
        const shard = state.topology.shards[index]!
        return [addressOf(shard.master), ...shard.replicas.map(addressOf)]
      },
      anyMaster: () => {
        const shards = Ref.getUnsafe(ref).topology.shards
        return shards.length === 0 ? undefined : addressOf(shards[Math.floor(Math.random() * shards.length)]!.master)
      },
      topology: () => Ref.getUnsafe(ref).topology,
      masters: () => Ref.getUnsafe(ref).topology.shards.map((shard) => addressOf(shard.master)),
      nodes: () => {
        const shards = Ref.getUnsafe(ref).topology.shards
        return [...shards.map((shard) => addressOf(shard.master)), ...shards.flatMap((shard) => shard.replicas.map(addressOf))]
      },
      noteMoved: (slot, owner) => {
        const state = Ref.getUnsafe(ref)
        const moved = new Map(state.moved)
        moved.set(slot, owner)
        ref.ref.current = { topology: state.topology, moved }
      },
      refresh,
      requestRefresh,
      refreshes: () => refreshes,
      refreshTimes: () => ({ ...times }),
      nextRefresh: () => Effect.suspend(() => Deferred.await(nextDone)),
      forgetMovedTo: (address) => {
        const state = Ref.getUnsafe(ref)
        const moved = new Map([...state.moved].filter(([, owner]) => owner.host !== address.host || owner.port !== address.port))
        if (moved.size !== state.moved.size) ref.ref.current = { topology: state.topology, moved }
      }
    }
  })
