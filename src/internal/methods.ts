/**
 * Every constructor of `Commands` as a method that runs it (`redis.get(key)`), and the
 * SCAN families as streams. Derived from the module, so nothing is listed by hand.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import * as Commands from "../Commands.ts"
import type { RedisError } from "../Errors.ts"
import type { Command, CommandMethods } from "../RedisPool.ts"

/** @internal */
export const commandMethods = (run: <A>(command: Command<A>) => Effect.Effect<A, RedisError>): CommandMethods => {
  const methods: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(Commands)) {
    if (typeof value !== "function") continue
    const constructor = value as (...args: Array<unknown>) => never
    methods[name] = name.endsWith("Stream")
      ? (...rest: Array<unknown>) => constructor(run, ...rest)
      : (...args: Array<unknown>) => run(constructor(...args))
  }
  return methods as CommandMethods
}
