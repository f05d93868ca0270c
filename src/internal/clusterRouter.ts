/**
 * Commands over a cluster: each goes to the master that owns the slot of its
 * keys (a keyless one to any master), on that node's pooled connections.
 *
 * - `MOVED`: the owner is remembered and a refresh requested in the
 *   background; the command goes to the new owner at once.
 * - `ASK`: `ASKING` and the command, written together on one connection of
 *   the named node; the map does not change.
 * - At most `maxRedirects` redirects per command, then `MaxRedirectsError`
 *   with the last one as cause.
 * - `CLUSTERDOWN` still answered when the retry budget is over (or retries
 *   are off) reaches the caller as `ClusterDownError`, the reply as cause.
 * - `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, `READONLY`, and the
 *   failures the single-node rules call safe to retry (never written, or
 *   idempotent; see `redisPoolRetry.ts`), are retried after a jittered
 *   exponential backoff until `retryTimeoutMillis` has passed since the
 *   first attempt; failures that hint at a stale map (`CLUSTERDOWN`,
 *   `READONLY`, an unreachable owner) also keep refreshes coming while they
 *   wait (one per cooldown for all callers), and try again as soon as one
 *   changes a slot's owner.
 * - A `MOVED` to a node that takes no connections names a stale owner: the
 *   redirect is not counted, the `MOVED` is forgotten, and the command backs
 *   off and goes where the next map says. Redirects do
 *   not count against this budget, nor backoffs against the redirects.
 * - The keys of one command (or transaction, or WATCH) must share a slot:
 *   `CrossSlotError` before anything is sent, except for the commands
 *   `clusterFanout.ts` splits by slot; the keyless ones it names run on every
 *   master.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Conn from "../Conn.ts"
import {
  ClusterDownError,
  CrossSlotError,
  InvalidArgumentError,
  MaxRedirectsError,
  type RedisError,
  RedisReplyError
} from "../Errors.ts"
import type { BatchItem, BatchResults, Command, Connection, Executor, Service } from "../RedisPool.ts"
import type * as Resp from "../Resp.ts"
import { argsOf, batchResults, checkItems, decodeEffect, refusal, transactionResults } from "./batch.ts"
import { allMasters, nextScanCursor, readScanCursor, split } from "./clusterFanout.ts"
import { type CommandTable, readCommandTable, slotWith, spreadWith } from "./clusterCommands.ts"
import { commandKeys, commandsSlot, keysSlot } from "./clusterKeys.ts"
import type { Node, Nodes } from "./clusterNodes.ts"
import { parseRedirect, type Redirect, transientCodes } from "./clusterRedirect.ts"
import type { ClusterState } from "./clusterState.ts"
import type { Address } from "./clusterTopology.ts"
import { commandName, isBlocking, isReadOnly } from "./commandTraits.ts"
import { watchKeysError } from "./exclusive.ts"
import type { Observer } from "./redisPoolObserve.ts"
import { implOf } from "./pool.ts"
import { failureOf, isRetryable } from "./redisPoolRetry.ts"
import { replied, sharedStep, type StepHandler } from "./sharedStep.ts"
import { evalScriptWith } from "./shared.ts"

/** @internal */
export interface RouterOptions {
  readonly maxRedirects: number
  /** How long transient failures are retried, from the first attempt; 0 disables their retries. */
  readonly retryTimeoutMillis: number
  readonly minBackoffMillis: number
  readonly maxBackoffMillis: number
  readonly mapAddress?: ((host: string, port: number) => Address) | undefined
  /**
   * Where a read-only command of `slot` goes on its first try (a replica, or the nearest node of the slot's
   * shard; every connection sent READONLY), undefined for its owner; absent when reads go to masters.
   */
  readonly readTarget?: ((slot: number) => Address | undefined) | undefined
}

/** A command on its first try, in one step (`sharedStep.ts`). */
interface FirstTry<A> {
  readonly name: string
  readonly args: ReadonlyArray<Resp.Arg>
  readonly slot: number
  readonly node: Node
  readonly command: Command<A> | undefined
}

/** What a routed attempt carries from one try to the next. */
interface Attempt {
  redirects: number
  failures: number
  /** When the first attempt started (Clock millis), set on the first transient failure. */
  started: number | undefined
  /** The node an `ASK` named, for the next try only. */
  ask: Address | undefined
  /** The node a `MOVED` named, for the next try only (a command of unknown keys has no slot to look up). */
  moved: Address | undefined
}

const fresh = (): Attempt => ({ redirects: 0, failures: 0, started: undefined, ask: undefined, moved: undefined })

/** A try that reached nobody (nothing was sent): the node refused or did not answer the dial, or its breaker is open. */
const unreachable = (error: RedisError): boolean =>
  (error._tag === "ConnectionError" && error.written !== true &&
    (error.reason === "refused" || error.reason === "timeout" || error.reason === "dns")) ||
  error._tag === "CircuitOpenError"

/** Failures after which the map is probably stale. */
const staleHint = (error: RedisError): boolean =>
  error._tag === "ConnectionError" || error._tag === "CircuitOpenError" ||
  (error._tag === "RedisReplyError" && (error.code === "CLUSTERDOWN" || error.code === "READONLY"))

/** @internal */
export type ClusterOps = Executor & Pick<Service, "multi" | "watch" | "withConnection" | "reserve"> & {
  /** Redirects followed so far. */
  readonly redirects: { moved: number; ask: number }
  /**
   * Reads the server's command table (`COMMAND`) from a master once, and when that fails tries again in the
   * background (`scope`), a few times a second apart; until it is in, or when no try succeeds, the hand-written
   * tables route alone. Never fails.
   */
  readonly learnCommands: (scope: Scope.Scope) => Effect.Effect<void>
}

/** @internal */
export const makeRouter = (
  state: ClusterState,
  nodes: Nodes,
  observer: Observer,
  options: RouterOptions
): ClusterOps => {
  const redirects = { moved: 0, ask: 0 }
  /** The server's command table (`clusterCommands.ts`), once `learnCommands` has read it. */
  let commands: CommandTable | undefined
  const slotOf = (name: string, args: ReadonlyArray<Resp.Arg>): number => slotWith(commands, name, args)
  const mapped = (redirect: Redirect): Address =>
    options.mapAddress === undefined ? redirect : options.mapAddress(redirect.host, redirect.port)

  const noOwner = (slot: number) =>
    new RedisReplyError({
      code: "CLUSTERDOWN",
      message: slot >= 0 ? `CLUSTERDOWN Hash slot ${slot} is not served by any node this client knows` : "CLUSTERDOWN no master known"
    })

  /**
   * The node for the next try: the one an `ASK` named, else (for a read on the first try, when reads may go
   * elsewhere) the `readTarget`, else the slot's owner, else any master.
   */
  const target = (slot: number, attempt: Attempt, read = false): Effect.Effect<Node, RedisError> => {
    const reader = read && attempt.redirects === 0 && attempt.failures === 0
      ? options.readTarget?.(slot)
      : undefined
    const address = attempt.ask ?? attempt.moved ?? reader ?? (slot >= 0 ? state.owner(slot) : state.anyMaster())
    if (address === undefined) return Effect.fail(noOwner(slot))
    const known = nodes.known(address.host, address.port)
    return known !== undefined ? Effect.succeed(known) : nodes.get(address.host, address.port)
  }

  /** The error a caller gets once retries are over: `CLUSTERDOWN` becomes a `ClusterDownError` keeping it. */
  const final = (name: string, error: RedisError): RedisError =>
    error._tag === "RedisReplyError" && error.code === "CLUSTERDOWN"
      ? new ClusterDownError({ command: name, cause: error, message: `${name}: ${error.message}` })
      : error

  /**
   * After a failed try: the effect that tries again (following a redirect, or
   * after a backoff), or undefined when the failure is final.
   */
  const next = <A, E, R>(
    error: RedisError,
    origin: Address | undefined,
    attempt: Attempt,
    name: string,
    retryable: (error: RedisError) => boolean,
    again: () => Effect.Effect<A, E, R>,
    blind = false
  ): Effect.Effect<A, E | RedisError, R> => {
    const redirect = origin === undefined ? undefined : parseRedirect(error, origin)
    const afterMoved = attempt.moved
    attempt.ask = undefined
    attempt.moved = undefined
    if (redirect === undefined && afterMoved !== undefined && unreachable(error)) {
      // The MOVED named a node that takes no connections: its sender's view is stale (or that node just died).
      // A stale owner, not a redirect spent: forget what the MOVED said, back off and refresh below.
      attempt.redirects = Math.max(0, attempt.redirects - 1)
      state.forgetMovedTo(afterMoved)
    }
    if (redirect !== undefined) {
      if (attempt.redirects >= options.maxRedirects) {
        return Effect.fail(
          new MaxRedirectsError({
            command: name,
            redirects: attempt.redirects,
            cause: error as RedisReplyError,
            message: `${name}: more than ${options.maxRedirects} redirects; the last: ${error.message}`
          })
        )
      }
      attempt.redirects++
      const to = mapped(redirect)
      if (redirect.kind === "ASK") {
        redirects.ask++
        attempt.ask = to
        return Effect.suspend(again)
      }
      redirects.moved++
      attempt.moved = to
      state.noteMoved(redirect.slot, to)
      // A command sent blind (keys this client cannot find) says nothing about the map being stale.
      return blind ? Effect.suspend(again) : Effect.andThen(state.requestRefresh(to), Effect.suspend(again))
    }
    if (options.retryTimeoutMillis <= 0 || !retryable(error)) return Effect.fail(final(name, error))
    return Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, E | RedisError, R> => {
      if (attempt.started === undefined) attempt.started = now
      else if (now - attempt.started >= options.retryTimeoutMillis) return Effect.fail(final(name, error))
      const cap = Math.min(options.maxBackoffMillis, options.minBackoffMillis * 2 ** attempt.failures)
      attempt.failures++
      const backoff = Math.max(1, Math.random() * cap)
      if (!staleHint(error)) return Effect.andThen(Effect.sleep(backoff), Effect.suspend(again))
      // The node tried does not answer: if it is a master, its replicas are asked whether one took over.
      const probe = origin !== undefined && (error._tag === "ConnectionError" || error._tag === "CircuitOpenError")
        ? state.watchPromotion(origin)
        : Effect.void
      // The map is probably stale: refreshes go on (one per cooldown for all callers) while this one waits, and
      // it tries again as soon as one changes a slot's owner (a replica promoted), not at the end of its backoff.
      const until = now + backoff
      const waitStale: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (at) => {
        if (at >= until) return Effect.void
        return Effect.andThen(
          state.requestRefresh(),
          Effect.flatMap(
            Effect.raceFirst(Effect.as(Effect.sleep(until - at), true), state.nextRefresh()),
            (changed) => changed ? Effect.void : waitStale
          )
        )
      })
      return Effect.andThen(probe, Effect.andThen(waitStale, Effect.suspend(again)))
    })
  }

  const crossSlot = (name: string) =>
    new CrossSlotError({ command: name, message: `${name}: keys in request don't hash to the same slot` })

  /** One command, routed, redirected and retried; the raw reply. */
  const route = (name: string, args: ReadonlyArray<Resp.Arg>, slot: number, attempt: Attempt): Effect.Effect<Resp.Reply, RedisError> => {
    const blocking = isBlocking(args)
    const read = options.readTarget !== undefined && slot >= 0 && !blocking && isReadOnly(name)
    const tryOnce = (): Effect.Effect<Resp.Reply, RedisError> => {
      let sent = false
      let origin: Address | undefined
      const asking = attempt.ask !== undefined
      const body = (conn: Conn.Conn): Effect.Effect<Resp.Reply, RedisError> => {
        sent = true
        if (!asking) return conn.send(args)
        return Effect.flatMap(conn.sendBatch([["ASKING"], args]), ([ok, reply]) =>
          ok instanceof RedisReplyError ? Effect.fail(ok) : reply instanceof RedisReplyError ? Effect.fail(reply) : Effect.succeed(reply ?? null))
      }
      const once = Effect.flatMap(target(slot, attempt, read), (node) => {
        origin = node
        return blocking ? node.pool.withConn(body) : node.pool.withShared(body)
      })
      return Effect.catch(once, (error) =>
        next(
          error,
          origin,
          attempt,
          name,
          (e) => isRetryable(e, name, args, blocking, sent) || (e._tag === "RedisReplyError" && transientCodes.has(e.code)),
          tryOnce,
          slot === -1
        ))
    }
    return tryOnce()
  }

  /** One command on one node, as it is (a keyless command of a fan-out). */
  const onNode = (address: Address, args: ReadonlyArray<Resp.Arg>): Effect.Effect<Resp.Reply, RedisError> =>
    Effect.flatMap(nodes.get(address.host, address.port), (node) => node.pool.withShared((conn) => conn.send(args)))

  /**
   * SCAN over the whole cluster: the masters of the map one after the other, each to its end, under one
   * virtual cursor (`clusterFanout.ts`). A topology change during the scan may skip or repeat keys.
   */
  const scan = (args: ReadonlyArray<Resp.Arg>): Effect.Effect<Resp.Reply, RedisError> => {
    const at = readScanCursor(String(args[1] ?? ""))
    if (at === undefined) {
      return Effect.fail(new InvalidArgumentError({ option: "cursor", message: `SCAN: invalid cursor ${String(args[1])}` }))
    }
    const masters = state.masters()
    const master = masters[at.index]
    if (master === undefined) return Effect.succeed(["0", []])
    return Effect.flatMap(onNode(master, ["SCAN", at.cursor, ...args.slice(2)]), (reply): Effect.Effect<Resp.Reply> => {
      if (!Array.isArray(reply) || reply.length < 2) return Effect.succeed(reply)
      const next = reply[0] instanceof Uint8Array ? new TextDecoder().decode(reply[0]) : String(reply[0])
      return Effect.succeed([nextScanCursor(at.index, next, masters.length), reply[1]!])
    })
  }

  /** A command routed by its slot, split by slot (MGET, DEL, ...), or run on every master (KEYS, DBSIZE, ...). */
  const dispatch = (name: string, args: ReadonlyArray<Resp.Arg>, known?: number): Effect.Effect<Resp.Reply, RedisError> => {
    if (name === "SCAN") return observer.observe(name, args, () => scan(args))
    const slot = known ?? slotOf(name, args)
    if (slot === -2) {
      const plan = split(name, args)
      if (plan === undefined) return Effect.fail(crossSlot(name))
      return observer.observe(name, args, () =>
        Effect.map(
          Effect.forEach(plan.parts, (part) => route(name, part.args, part.slot, fresh()), { concurrency: "unbounded" }),
          plan.merge
        ))
    }
    const merge = slot === -1 ? allMasters(name, args) : undefined
    if (merge !== undefined) {
      return observer.observe(name, args, () =>
        Effect.suspend(() =>
          Effect.map(Effect.forEach(state.masters(), (master) => onNode(master, args), { concurrency: "unbounded" }), merge)
        ))
    }
    const spread = slot === -1 ? spreadWith(commands, name, args) : undefined
    if (spread !== undefined) {
      return observer.observe(name, args, () =>
        Effect.suspend(() =>
          Effect.flatMap(
            Effect.forEach(spread.nodes === "all" ? state.nodes() : state.masters(), (node) => Effect.exit(onNode(node, args)), {
              concurrency: "unbounded"
            }),
            spread.combine
          )
        ))
    }
    return observer.observe(name, args, () => route(name, args, slot, fresh()))
  }

  const metrics = observer.options.metrics

  /**
   * A command's first try in one step (`sharedStep.ts`) on a shared connection of the node its slot maps to:
   * the reply decoded, or the failure handed to `next` as the routed path would (redirect, retry, or fail),
   * the rest of the way routed. With a span to record, or no connection free now, the routed path.
   */
  const first: StepHandler<any, FirstTry<any>> = {
    spans: (fiber) => observer.spans(fiber),
    timed: metrics,
    onReply: (exit, call, start) => {
      if (exit._tag === "Success") return replied(observer, call.name, call.command, exit, start)
      const error = failureOf(exit.cause)
      let rest: Effect.Effect<Resp.Reply, RedisError> = Effect.failCause(exit.cause)
      if (error !== undefined) {
        const attempt = fresh()
        const { name, args, slot } = call
        rest = next(
          error,
          call.node,
          attempt,
          name,
          (e) => isRetryable(e, name, args, false, true) || (e._tag === "RedisReplyError" && transientCodes.has(e.code)),
          () => route(name, args, slot, attempt)
        )
      }
      rest = observer.timedFrom(rest, call.name, start)
      return call.command === undefined ? rest : Effect.flatMap(rest, decodeEffect(call.name, call.command))
    },
    otherwise: (call) => {
      const routed = observer.observe(call.name, call.args, () => route(call.name, call.args, call.slot, fresh()))
      return call.command === undefined ? routed : Effect.flatMap(routed, decodeEffect(call.name, call.command))
    }
  }

  const exec = <A = Resp.Reply>(args: ReadonlyArray<Resp.Arg>, command?: Command<A>): Effect.Effect<A, RedisError> => {
    const name = commandName(args)
    const refused = refusal(name, args)
    if (refused !== undefined) return Effect.fail(refused)
    let slot: number | undefined
    if (name !== "SCAN" && !isBlocking(args)) {
      slot = slotOf(name, args)
      if (slot >= 0) {
        const reader = options.readTarget !== undefined && isReadOnly(name) ? options.readTarget(slot) : undefined
        const owner = reader === undefined ? state.ownerAddress(slot) : undefined
        const node = reader !== undefined
          ? nodes.known(reader.host, reader.port)
          : owner === undefined
          ? undefined
          : nodes.byAddress(owner)
        if (node !== undefined) return sharedStep<A, FirstTry<A>>(implOf(node.pool), args, undefined, { name, args, slot, node, command }, first)
      }
    }
    // The slot found above, when there was one, is not looked for twice.
    const routed = dispatch(name, args, slot)
    return command === undefined ? routed as Effect.Effect<A, RedisError> : Effect.flatMap(routed, decodeEffect(name, command))
  }

  const send = (command: string, ...args: ReadonlyArray<Resp.Arg>) => exec([command, ...args])

  const run = <A>(command: Command<A>): Effect.Effect<A, RedisError> =>
    command.invalid !== undefined ? Effect.fail(command.invalid) : exec(command.args, command)

  /**
   * A pipeline split by node: each node's commands written in one go on one
   * of its connections, all nodes at once; commands that themselves span
   * nodes (a split MGET, KEYS, SCAN) run on their own afterwards, in order. Commands answered with a redirect
   * or a transient refusal (they did not run) go again through the routed
   * path, one slot's commands in their order; a node whose connection failed
   * has its commands routed again only when every one of them is safe to
   * retry, else the pipeline fails as it would on one node.
   */
  const pipeline = <const T extends ReadonlyArray<BatchItem>>(items: T): Effect.Effect<BatchResults<T>, RedisError> => {
    const invalid = checkItems(items, true)
    if (invalid !== undefined) return Effect.fail(invalid)
    const batch = items.map(argsOf)
    const slots = new Array<number>(batch.length)
    /** Commands that span nodes (split by slot, or run on every master): sent on their own, after the rest. */
    const spanning: Array<number> = []
    for (let i = 0; i < batch.length; i++) {
      const args = batch[i]!
      const name = commandName(args)
      const slot = slotOf(name, args)
      if (slot === -2 && split(name, args) === undefined) return Effect.fail(crossSlot(name))
      if (
        slot === -2 ||
        (slot === -1 && (name === "SCAN" || allMasters(name, args) !== undefined || spreadWith(commands, name, args) !== undefined))
      ) spanning.push(i)
      slots[i] = slot
    }
    // Per run: an Effect may run many times, each with replies of its own.
    const body = Effect.suspend((): Effect.Effect<BatchResults<T>, RedisError> => {
      const replies = new Array<Resp.Reply>(batch.length)
      /** Commands `from` to `to` (exclusive), none spanning: split by node, sent at once, redirects followed. */
      const runPart = (from: number, to: number) => Effect.suspend((): Effect.Effect<void, RedisError> => {
        const keyless = state.anyMaster()
        const groups = new Map<string, { address: Address; indices: Array<number> }>()
        for (let i = from; i < to; i++) {
          const address = slots[i]! >= 0 ? state.owner(slots[i]!) : keyless
          if (address === undefined) return Effect.fail(noOwner(slots[i]!))
          const key = `${address.host}:${address.port}`
          let group = groups.get(key)
          if (group === undefined) groups.set(key, group = { address, indices: [] })
          group.indices.push(i)
        }
        const again = new Set<number>()
        /** The node each command was sent to (an empty host in a redirect means that node's). */
        const sentTo = new Array<Address>(batch.length)
        const sendGroup = ({ address, indices }: { address: Address; indices: Array<number> }) => {
          const commands = indices.map((i) => batch[i]!)
          const blocking = commands.some(isBlocking)
          let sent = false
          const once = Effect.flatMap(nodes.get(address.host, address.port), (node) => {
            const write = (conn: Conn.Conn) => {
              sent = true
              return conn.sendBatch(commands)
            }
            return blocking ? node.pool.withConn(write) : node.pool.withShared(write)
          })
          return Effect.matchEffect(once, {
            onSuccess: (got) =>
              Effect.sync(() => {
                for (let k = 0; k < indices.length; k++) {
                  const reply = got[k] ?? null
                  const i = indices[k]!
                  replies[i] = reply
                  sentTo[i] = address
                  if (
                    reply instanceof RedisReplyError &&
                    (reply.code === "MOVED" || reply.code === "ASK" || transientCodes.has(reply.code))
                  ) again.add(i)
                }
              }),
            onFailure: (error) =>
              commands.every((args) => isRetryable(error, commandName(args), args, blocking, sent))
                ? Effect.sync(() => indices.forEach((i) => again.add(i)))
                : Effect.fail(error)
          })
        }
        return Effect.forEach(groups.values(), sendGroup, { concurrency: "unbounded", discard: true }).pipe(
          Effect.andThen(Effect.suspend(() => {
            if (again.size === 0) return Effect.void
            // Again, through the routed path: by slot, each slot's commands in order.
            const bySlot = new Map<number, Array<number>>()
            for (const i of [...again].sort((a, b) => a - b)) {
              const list = bySlot.get(slots[i]!)
              if (list === undefined) bySlot.set(slots[i]!, [i])
              else list.push(i)
            }
            return Effect.forEach(bySlot.values(), (indices) =>
              Effect.forEach(indices, (i) => {
                const args = batch[i]!
                const first = replies[i]
                const attempt = fresh()
                // A redirect answered in the batch counts, and is followed.
                const redirect = first instanceof RedisReplyError ? parseRedirect(first, sentTo[i]!) : undefined
                if (redirect !== undefined) {
                  attempt.redirects = 1
                  const to = mapped(redirect)
                  if (redirect.kind === "ASK") {
                    redirects.ask++
                    attempt.ask = to
                  } else {
                    redirects.moved++
                    attempt.moved = to
                    state.noteMoved(redirect.slot, to)
                  }
                }
                const refresh = redirect?.kind === "MOVED" ? state.requestRefresh() : Effect.void
                const redo = Effect.catchIf(
                  route(commandName(args), args, slots[i]!, attempt),
                  (error): error is RedisReplyError => error instanceof RedisReplyError,
                  (error) => Effect.succeed(error)
                )
                return Effect.andThen(refresh, Effect.map(redo, (reply) => {
                  replies[i] = reply
                }))
              }, { discard: true }), { concurrency: "unbounded", discard: true })
          })),
        )
      })
      /** A command that spans nodes, alone, its error reply as a value. */
      const runSpanning = (i: number) => {
        const args = batch[i]!
        return Effect.map(
          Effect.catchIf(
            dispatch(commandName(args), args),
            (error): error is RedisReplyError => error instanceof RedisReplyError,
            (error) => Effect.succeed(error)
          ),
          (reply) => {
            replies[i] = reply
          }
        )
      }
      // The runs between spanning commands, and those commands, one after the other: order holds across them.
      const steps: Array<Effect.Effect<void, RedisError>> = []
      let start = 0
      for (const i of spanning) {
        if (i > start) steps.push(runPart(start, i))
        steps.push(runSpanning(i))
        start = i + 1
      }
      if (start < batch.length) steps.push(runPart(start, batch.length))
      return Effect.map(Effect.forEach(steps, (step) => step, { discard: true }), () => batchResults(items, replies))
    })
    return observer.observe("PIPELINE", undefined, () => body, batch.length)
  }

  /**
   * MULTI/EXEC on the owner of the transaction's slot, `ASKING` first when an
   * `ASK` named the node. A redirect or transient refusal of a queued command
   * aborts the transaction on the server (EXECABORT: nothing ran), and so
   * does one of EXEC itself: both are followed like a single command's.
   */
  const multi = <const T extends ReadonlyArray<BatchItem>>(items: T): Effect.Effect<BatchResults<T>, RedisError> => {
    const invalid = checkItems(items, true)
    if (invalid !== undefined) return Effect.fail(invalid)
    const batch = items.map(argsOf)
    const slot = commandsSlot(batch, commandName, slotOf)
    if (slot === -2) return Effect.fail(crossSlot("MULTI"))
    const attempt = fresh()
    const tryOnce = (): Effect.Effect<BatchResults<T>, RedisError> => {
      let origin: Address | undefined
      const asking = attempt.ask !== undefined
      const once = Effect.flatMap(target(slot, attempt), (node) => {
        origin = node
        const commands: Array<ReadonlyArray<Resp.Arg>> = [...(asking ? [["ASKING"]] : []), ["MULTI"], ...batch, ["EXEC"]]
        return node.exclusive.withConnection((connection) => connection.pipeline(commands))
      })
      return Effect.flatMap(once, (all) => {
        const replies = (asking ? all.slice(1) : all) as ReadonlyArray<Resp.Reply>
        const exec = replies[batch.length + 1]
        if (exec instanceof RedisReplyError) {
          // The first queued command's redirect or refusal says why EXEC was aborted.
          const queued = replies.slice(1, batch.length + 1).find((reply): reply is RedisReplyError =>
            reply instanceof RedisReplyError && (reply.code === "MOVED" || reply.code === "ASK" || transientCodes.has(reply.code))
          )
          const why = exec.code === "EXECABORT" ? queued : exec
          if (why !== undefined && (why.code === "MOVED" || why.code === "ASK" || transientCodes.has(why.code))) {
            return next(why, origin, attempt, "MULTI", (e) => e._tag === "RedisReplyError" && transientCodes.has(e.code), tryOnce)
          }
        }
        return transactionResults(items, replies)
      })
    }
    return observer.observe("MULTI", undefined, tryOnce, items.length)
  }

  /**
   * WATCH on the owner of the keys' slot, then `f`, then MULTI/EXEC there.
   * A redirect of WATCH itself (before `f` ran) is followed; once `f` has
   * run, a redirect fails the call, since `f` may have done things that must
   * not happen twice. The commands `f` returns must hash to the keys' slot.
   */
  const watch = <const T extends ReadonlyArray<BatchItem>, E, R>(
    keys: ReadonlyArray<Resp.Arg>,
    f: (tx: Connection) => Effect.Effect<T, E, R>
  ): Effect.Effect<BatchResults<T>, E | RedisError, R> => {
    const invalid = watchKeysError(keys)
    if (invalid !== undefined) return Effect.fail(invalid)
    const slot = keysSlot(keys)
    if (slot === -2) return Effect.fail(crossSlot("WATCH"))
    const attempt = fresh()
    const tryOnce = (): Effect.Effect<BatchResults<T>, E | RedisError, R> => {
      let origin: Address | undefined
      let began = false
      const checked = (tx: Connection) =>
        Effect.flatMap(Effect.suspend(() => {
          began = true
          return f(tx)
        }), (items): Effect.Effect<T, E | RedisError, R> => {
          if (!Array.isArray(items)) return Effect.succeed(items)
          for (const item of items as ReadonlyArray<BatchItem>) {
            const args = argsOf(item)
            if (!Array.isArray(args)) continue
            const other = keysSlot(commandKeys(commandName(args), args))
            if (other !== -1 && other !== slot) return Effect.fail(crossSlot(commandName(args)))
          }
          return Effect.succeed(items)
        })
      const once = Effect.flatMap(target(slot, attempt), (node) => {
        origin = node
        return node.exclusive.watch(keys, checked)
      })
      return Effect.catch(once, (error: E | RedisError) =>
        !began && isRedisError(error)
          ? next(error, origin, attempt, "WATCH", (e) => e._tag === "RedisReplyError" && transientCodes.has(e.code), tryOnce)
          : Effect.fail(error))
    }
    return Effect.suspend(tryOnce)
  }

  /** A connection of one master's (any); keys of other nodes' slots answer MOVED there. */
  const anyNode = Effect.suspend(() => target(-1, fresh()))

  const withConnection = <A, E, R>(f: (connection: Connection) => Effect.Effect<A, E, R>) =>
    Effect.flatMap(anyNode, (node) => node.exclusive.withConnection(f))

  const reserve = Effect.flatMap(anyNode, (node) => node.exclusive.reserve)

  const learnOnce = Effect.suspend(() => {
    const master = state.anyMaster()
    return master === undefined ? Effect.fail(noOwner(-1)) : onNode(master, ["COMMAND"])
  }).pipe(Effect.tap((reply) => Effect.sync(() => void (commands = readCommandTable(reply)))))
  const learnCommands = (scope: Scope.Scope): Effect.Effect<void> =>
    Effect.catch(learnOnce, () =>
      Effect.asVoid(Effect.forkIn(Effect.ignore(Effect.retry(learnOnce, { times: 4, schedule: Schedule.spaced(1_000) })), scope)))

  return { send, run, pipeline, evalScript: evalScriptWith(exec), multi, watch, withConnection, reserve, redirects, learnCommands }
}

const redisErrorTags = new Set([
  "RedisReplyError",
  "ProtocolError",
  "ConnectionError",
  "CommandTimeoutError",
  "PoolTimeoutError",
  "PoolExhaustedError",
  "PoolQueueFullError",
  "PoolClosedError",
  "CircuitOpenError",
  "TransactionAbortedError",
  "ReplyTypeError",
  "InvalidArgumentError",
  "SubscriberOverflowError",
  "CrossSlotError",
  "MaxRedirectsError",
  "ClusterDownError",
  "ClusterUnreachableError"
])

const isRedisError = (error: unknown): error is RedisError =>
  typeof error === "object" && error !== null && "_tag" in error && redisErrorTags.has(String(error._tag))
