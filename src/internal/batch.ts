/**
 * Batches (pipelines and transactions) and typed replies: validating the items,
 * decoding each reply with its command, and reading a transaction's replies.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { InvalidArgumentError, type RedisError, RedisReplyError, ReplyTypeError, TransactionAbortedError } from "../Errors.ts"
import type { BatchItem, BatchResults, Command } from "../RedisPool.ts"
import type * as Resp from "../Resp.ts"
import { commandName, statefulAdvice } from "./commandTraits.ts"

export const isCommand = (item: BatchItem): item is Command<any> => !Array.isArray(item) && "args" in item

export const argsOf = (item: BatchItem): ReadonlyArray<Resp.Arg> => isCommand(item) ? item.args : item

const describe = (reply: Resp.Reply): string =>
  reply === null
    ? "nil"
    : Array.isArray(reply)
    ? "array"
    : reply instanceof Map
    ? "map"
    : reply instanceof Set
    ? "set"
    : reply instanceof Uint8Array
    ? "bytes"
    : typeof reply

const decodeWith = <A>(name: string, decode: (reply: Resp.Reply) => A, reply: Resp.Reply): A | ReplyTypeError => {
  try {
    return decode(reply)
  } catch (error) {
    if (error instanceof ReplyTypeError) return error
    if (error instanceof RedisReplyError) return error as never
    return new ReplyTypeError({
      command: name,
      expected: "a decodable reply",
      received: describe(reply),
      message: `${name}: could not decode the reply: ${error instanceof Error ? error.message : String(error)}`
    })
  }
}

export const decodeReply = <A>(name: string, command: Command<A>, reply: Resp.Reply): Effect.Effect<A, RedisError> => {
  const value = decodeWith(name, command.decode, reply)
  return value instanceof ReplyTypeError || value instanceof RedisReplyError
    ? Effect.fail(value)
    : Effect.succeed(value as A)
}

export const decodeEffect = <A>(name: string, command: Command<A>) => (reply: Resp.Reply): Effect.Effect<A, RedisError> =>
  decodeReply(name, command, reply)

export const batchResults = <T extends ReadonlyArray<BatchItem>>(
  items: T,
  replies: ReadonlyArray<Resp.Reply>
): BatchResults<T> => {
  const out: Array<unknown> = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const reply = replies[i] ?? null
    out[i] = !isCommand(item) || reply instanceof RedisReplyError
      ? reply
      : decodeWith(commandName(item.args), item.decode, reply)
  }
  return out as BatchResults<T>
}

export const checkItems = (items: ReadonlyArray<BatchItem>, shared: boolean): InvalidArgumentError | undefined => {
  if (!Array.isArray(items)) return new InvalidArgumentError({ message: "a batch must be an array of commands" })
  for (const item of items) {
    if (isCommand(item) && item.invalid !== undefined) return item.invalid
    const args = argsOf(item)
    if (!Array.isArray(args) || args.length === 0) {
      return new InvalidArgumentError({ message: "each command of a batch needs at least its name" })
    }
    if (shared) {
      const failure = refusal(commandName(args), args)
      if (failure !== undefined) return failure
    }
  }
  return undefined
}

export const refusal = (name: string, args: ReadonlyArray<Resp.Arg>): InvalidArgumentError | undefined => {
  const advice = statefulAdvice(name, args)
  return advice === undefined ? undefined : new InvalidArgumentError({
    option: "command",
    message: `${name} changes the state of its connection and cannot run on a shared connection: ${advice}`
  })
}

export const transactionResults = <T extends ReadonlyArray<BatchItem>>(
  items: T,
  replies: ReadonlyArray<Resp.Reply>
): Effect.Effect<BatchResults<T>, RedisError> => {
  // replies: MULTI's OK, one QUEUED (or error) per command, then EXEC's reply.
  const multi = replies[0] ?? null
  if (multi instanceof RedisReplyError) return Effect.fail(multi)
  const exec = replies[items.length + 1] ?? null
  if (exec === null) {
    return Effect.fail(
      new TransactionAbortedError({ message: "EXEC answered nil: a watched key changed; nothing ran" })
    )
  }
  if (exec instanceof RedisReplyError) {
    for (let i = 0; i < items.length; i++) {
      const queued = replies[i + 1]
      if (queued instanceof RedisReplyError) {
        return Effect.fail(
          new RedisReplyError({
            code: exec.code,
            message: `${exec.message} (command ${i + 1}, ${commandName(argsOf(items[i]!))}: ${queued.message})`
          })
        )
      }
    }
    return Effect.fail(exec)
  }
  if (!Array.isArray(exec)) {
    return Effect.fail(
      new ReplyTypeError({
        command: "EXEC",
        expected: "array",
        received: describe(exec),
        message: `EXEC: expected an array, got ${describe(exec)}`
      })
    )
  }
  return Effect.succeed(batchResults(items, exec as ReadonlyArray<Resp.Reply>))
}
