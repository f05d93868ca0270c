/**
 * A typed command: the arguments to send and how to decode the reply, and the
 * ways to run one over any `send` (a `Conn`, a connection of your own). The
 * constructors live in `Commands`; the `RedisPool` service runs them as methods.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { InvalidArgumentError } from "./Errors.ts"
import { ReplyTypeError } from "./Errors.ts"
import { setField } from "./internal/commands.ts"
import { sha1 } from "./internal/script.ts"
import type * as Resp from "./Resp.ts"

/**
 * A command ready to run: `args` is the full argument list, command name first;
 * `decode` turns a non-error reply into `A` and throws `ReplyTypeError` for a
 * shape it cannot decode. When `invalid` is present the caller passed a bad
 * argument: the command must not be sent, and running it fails with that error.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<A> {
  readonly args: ReadonlyArray<Resp.Arg>
  readonly decode: (reply: Resp.Reply) => A
  readonly invalid?: InvalidArgumentError
}

/**
 * The decoded result type of a command.
 *
 * @since 0.1.0
 * @category models
 */
export type Success<C> = C extends Command<infer A> ? A : never

/**
 * Runs a command and decodes its reply; supplied by whoever owns the connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Execute<E, R = never> = <A>(command: Command<A>) => Effect.Effect<A, E, R>

/**
 * A Lua script with its SHA1 digest, for EVALSHA.
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  readonly source: string
  readonly sha1: string
}

/**
 * Decodes `reply` with `command`, as an Effect: a wrong shape fails with `ReplyTypeError`.
 *
 * @since 0.1.0
 * @category running
 */
export const decodeReply = <A>(command: Command<A>, reply: Resp.Reply): Effect.Effect<A, ReplyTypeError> => {
  try {
    return Effect.succeed(command.decode(reply))
  } catch (error) {
    if (error instanceof ReplyTypeError) return Effect.fail(error)
    throw error
  }
}

/**
 * Builds an {@link Execute} from a raw `send` (for example `Conn.send`): checks
 * `invalid`, sends `args`, decodes the reply.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Command, Commands, Conn } from "effect-redis-pool"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const conn = yield* Conn.make({ port: 6379 })
 *   const run = Command.executeWith((args) => conn.send(args))
 *   yield* run(Commands.set("greeting", "hello", { expire: "10 seconds" }))
 *   const greeting: string | null = yield* run(Commands.get("greeting"))
 *   const scores = yield* run(Commands.zrangeWithScores("board", 0, -1))
 *   return { greeting, scores }
 * }))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const executeWith = <E, R>(
  send: (args: ReadonlyArray<Resp.Arg>) => Effect.Effect<Resp.Reply, E, R>
): Execute<E | InvalidArgumentError | ReplyTypeError, R> =>
<A>(command: Command<A>) =>
  command.invalid !== undefined
    ? Effect.fail(command.invalid)
    : Effect.flatMap(send(command.args), (reply) => decodeReply(command, reply))

/**
 * A {@link Script} from Lua source, with its SHA1 computed locally.
 *
 * @since 0.1.0
 * @category constructors
 */
export const script = (source: string): Script => ({ source, sha1: sha1(source) })

/**
 * Parses INFO text into a flat record of `field: value` (section headers and blank lines skipped).
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseInfo = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    if (line.length === 0 || line.startsWith("#")) continue
    const colon = line.indexOf(":")
    if (colon > 0) setField(out, line.slice(0, colon), line.slice(colon + 1))
  }
  return out
}
