/**
 * One plain command (or pipeline) on a shared connection in one asynchronous
 * step: the common case of the service's shared path (`shared.ts`) and of a
 * cluster command's first try (`clusterRouter.ts`).
 *
 * `pool.withShared((conn) => conn.send(args))` composes the same thing from
 * the pool's Effect and the connection's: a `withFiber` to take a connection,
 * an exit hook to give it back, a second asynchronous step for the reply, and
 * closures for each. Here a single `Effect.callback` takes a shared connection
 * synchronously, queues the command on its socket, and when the reply lands
 * gives the connection back and hands the reply's `Exit` to the caller's
 * `onReply`, which says what the caller resumes with (the value decoded, or a
 * retry). Measured in bench/RESULTS.md ("One step per command").
 *
 * The pool's contract is the same as `withShared`'s: the connection is given
 * back exactly once, with the reply's exit (a connection error closes it), or
 * with an interruption when the caller leaves before the reply (the socket
 * then drops the reply when it lands). When no shared connection is free now,
 * the pool is closed, a span is to be recorded, or the connection is not a
 * socket of this library, `otherwise` runs instead: the composed path, which
 * waits for a connection under `poolTimeout`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Conn from "../Conn.ts"
import type { RedisError } from "../Errors.ts"
import type { Command } from "../RedisPool.ts"
import type * as Resp from "../Resp.ts"
import { decodeReply } from "./batch.ts"
import { ConnSocket } from "./connSocket.ts"
import type { Slot } from "./connSlot.ts"
import type { PoolImpl } from "./pool.ts"
import type { Observer } from "./redisPoolObserve.ts"

/** @internal */
export interface StepHandler<A, In, R = Resp.Reply> {
  /** Whether `fiber` records spans: such commands take `otherwise`, which records them. */
  readonly spans: (fiber: Fiber.Fiber<unknown, unknown>) => boolean
  /** Read the clock at the start (for metrics). */
  readonly timed: boolean
  /** What the caller resumes with once the reply (or the connection's failure) is in and the connection given back. */
  readonly onReply: (exit: Exit.Exit<R, RedisError>, input: In, start: number) => Effect.Effect<A, RedisError>
  /** The composed path, when this one cannot serve now. */
  readonly otherwise: (input: In) => Effect.Effect<A, RedisError>
}

/**
 * A reply that came at once: its duration recorded (with metrics on), decoded by `command` when given.
 *
 * @internal
 */
export const replied = <A>(
  observer: Observer,
  name: string,
  command: Command<A> | undefined,
  exit: Exit.Success<Resp.Reply, RedisError>,
  start: number
): Effect.Effect<A, RedisError> => {
  observer.succeeded(name, start)
  return command === undefined ? exit as unknown as Exit.Exit<A> : decodeReply(name, command, exit.value)
}

/**
 * One command (`args`), or a pipeline (`batch`, error replies as values) when `args` is undefined.
 *
 * @internal
 */
export const sharedStep = <A, In, R = Resp.Reply>(
  pool: PoolImpl<Conn.Conn>,
  args: ReadonlyArray<Resp.Arg> | undefined,
  batch: ReadonlyArray<ReadonlyArray<Resp.Arg>> | undefined,
  input: In,
  handler: StepHandler<A, In, R>
): Effect.Effect<A, RedisError> =>
  Effect.callback<A, RedisError>((resume) => {
    const fiber = Fiber.getCurrent()
    const entry = pool.closed || (fiber !== undefined && handler.spans(fiber)) ? undefined : pool.shared.take()
    const conn = entry?.conn
    if (!(conn instanceof ConnSocket)) {
      // A connection of another kind goes back untouched: an interruption's exit proves and condemns nothing.
      if (entry !== undefined) pool.shared.release(entry, Exit.interrupt())
      return resume(handler.otherwise(input))
    }
    const start = handler.timed ? performance.now() : 0
    let slot: Slot | undefined
    try {
      slot = conn.enqueueSlot(args, batch, undefined, (exit: Exit.Exit<R, RedisError>) => {
        pool.shared.release(entry!, exit)
        let next: Effect.Effect<A, RedisError>
        try {
          next = handler.onReply(exit, input, start)
        } catch (defect) {
          // Never into the socket's reply loop: a defect of the caller's decoding is the caller's.
          next = Effect.die(defect)
        }
        resume(next)
      })
    } catch (defect) {
      // A bug, not a failure of the command: the connection goes back as after any defect (closed).
      pool.shared.release(entry!, Exit.die(defect))
      return resume(Effect.die(defect))
    }
    if (slot === undefined) return
    // Runs when the caller is interrupted while it waits, and also when what `onReply` gave it (a retry)
    // is interrupted later: the connection went back with the reply then, and the slot says so.
    return Effect.sync(() => {
      if (slot.resume === undefined) return
      conn.leave(slot)
      pool.shared.release(entry!, Exit.interrupt(fiber?.id))
    })
  })
