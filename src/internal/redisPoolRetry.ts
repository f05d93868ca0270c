/**
 * Which failures may be retried, and the retry loop. The loop is entered only
 * after a first failure, so a command that succeeds pays nothing for it.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import type { RedisError } from "../Errors.ts"
import type { Arg } from "../Resp.ts"
import { isIdempotent } from "./commandTraits.ts"

/** Reply codes meaning "the server did not run it, try again later". */
const transientCodes = new Set(["LOADING", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY", "BUSY"])

/**
 * Whether a failure of the command `args` (named `name`) may be retried:
 *
 * - nothing was sent: a `ConnectionError` before the command reached a
 *   connection (`sent` false: a failed dial or handshake) or with
 *   `written: false`, a `CommandTimeoutError` in the write phase, `PoolExhaustedError`
 *   and `CircuitOpenError` (a `PoolTimeoutError` already waited the whole
 *   `poolTimeout` and is not retried, nor is `PoolClosedError`);
 * - the server refused to run it: `LOADING`, `TRYAGAIN`, `MASTERDOWN`,
 *   `CLUSTERDOWN`, `READONLY`, `BUSY` and "max number of clients reached";
 * - it may have run, but running it twice is harmless: a `ConnectionError`,
 *   `ProtocolError` or read `CommandTimeoutError` for an idempotent command
 *   (see `isIdempotent`) that does not block.
 *
 * @internal
 */
export const isRetryable = (
  error: RedisError,
  name: string,
  args: ReadonlyArray<Arg>,
  blocking: boolean,
  sent: boolean
): boolean => {
  switch (error._tag) {
    case "ConnectionError":
      return !sent || error.written === false || (!blocking && isIdempotent(name, args))
    case "CommandTimeoutError":
      return error.phase === "write" || (!blocking && isIdempotent(name, args))
    case "ProtocolError":
      return !blocking && isIdempotent(name, args)
    case "PoolExhaustedError":
    case "CircuitOpenError":
      return true
    case "RedisReplyError":
      return transientCodes.has(error.code) ||
        (error.code === "ERR" && error.message.includes("max number of clients reached"))
    default:
      return false
  }
}

/**
 * go-redis's backoff as a `Schedule`: at most `maxRetries` retries, the n-th
 * after a delay drawn uniformly from `[0, min(maxBackoff, minBackoff × 2^n)]`
 * (full jitter). `maxRetries` 0 never retries.
 *
 * @internal
 */
export const backoffSchedule = (
  maxRetries: number,
  minBackoff: number,
  maxBackoff: number
): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(Duration.millis(Math.max(minBackoff, 0)), 2).pipe(
    Schedule.modifyDelay(({ duration }) => {
      const cap = Math.min(Duration.toMillis(duration), maxBackoff)
      return Effect.succeed(Duration.millis(cap <= 0 ? 0 : Math.random() * cap))
    }),
    Schedule.upTo({ times: maxRetries })
  )

/**
 * Runs `attempt` again under `schedule` after its first failure `first`, as long
 * as `retryable` says so; the last failure is the result when the schedule
 * ends.
 *
 * @internal
 */
export const retryAfter = <A>(
  attempt: Effect.Effect<A, RedisError>,
  first: RedisError,
  schedule: Schedule.Schedule<unknown, RedisError>,
  retryable: (error: RedisError) => boolean
): Effect.Effect<A, RedisError> =>
  Effect.flatMap(Schedule.toStepWithSleep(schedule), (step) => {
    let last = first
    const loop = (error: RedisError): Effect.Effect<A, unknown> =>
      Effect.flatMap(step(error), () =>
        Effect.catch(attempt, (next) => {
          last = next
          return retryable(next) ? loop(next) : Effect.fail(next)
        }))
    return Pull.catchDone(loop(first), () => Effect.fail(last))
  }) as Effect.Effect<A, RedisError>

/** The typed failure of a cause, unless it was interrupted (or holds only defects). */
export const failureOf = <E>(cause: Cause.Cause<E>): E | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Interrupt") return undefined
  }
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") return reason.error
  }
  return undefined
}
