/**
 * One contender's heap allocation per command, in a process of its own (run by
 * `bench/allocations.ts`, which gives it a young generation large enough that no
 * collection runs during the sample): `node --expose-gc bench/support/allocated.ts
 * NAME PORT OP WORKERS COMMANDS`. Prints `{ "bytesPerCommand": n, "collections": n }`.
 */
import { PerformanceObserver } from "node:perf_hooks"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createClient } from "redis"
import type * as RedisPoolModule from "../../src/RedisPool.ts"

const [name, portText, op, workersText, commandsText] = process.argv.slice(2)
const port = Number(portText)
const workers = Number(workersText)
const commands = Number(commandsText)
const NKEYS = 10_000
const VALUE = "0123456789abcdef"
const KEYS = Array.from({ length: NKEYS }, (_, i) => `key:${String(i).padStart(12, "0")}`)

/** Runs `n` commands spread over `workers` concurrent loops. */
type Runner = (n: number) => Promise<void>

const effectRunner = (call: (key: string) => Effect.Effect<unknown, unknown>): Runner => (n) => {
  let left = n
  const loop = (start: number) =>
    Effect.gen(function*() {
      let i = start
      while (left > 0) {
        left--
        yield* call(KEYS[i]!)
        i = i + 1 === NKEYS ? 0 : i + 1
      }
    })
  const all = Array.from({ length: workers }, (_, w) => loop((w * 7919) % NKEYS))
  return Effect.runPromise(Effect.all(all, { concurrency: "unbounded", discard: true }))
}

const promiseRunner = (call: (key: string) => Promise<unknown>): Runner => async (n) => {
  let left = n
  const loop = async (start: number) => {
    let i = start
    while (left > 0) {
      left--
      await call(KEYS[i]!)
      i = i + 1 === NKEYS ? 0 : i + 1
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, w) => loop((w * 7919) % NKEYS)))
}

const make = async (): Promise<{ run: Runner; close: () => Promise<void> }> => {
  switch (name) {
    case "ours":
    case "ours (src)": {
      const path = name === "ours" ? "../../dist/RedisPool.js" : "../../src/RedisPool.ts"
      const RedisPool = (await import(path)) as typeof RedisPoolModule
      const scope = await Effect.runPromise(Scope.make())
      const redis = await Effect.runPromise(RedisPool.make({ host: "127.0.0.1", port }).pipe(Scope.provide(scope)))
      return {
        run: effectRunner(op === "GET" ? (key) => redis.get(key) : (key) => redis.set(key, VALUE)),
        close: () => Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }
    case "ioredis":
    case "ioredis-auto": {
      const io = new IORedis({ port, host: "127.0.0.1", enableAutoPipelining: name === "ioredis-auto" })
      return {
        run: promiseRunner(op === "GET" ? (key) => io.get(key) : (key) => io.set(key, VALUE)),
        close: async () => void io.disconnect()
      }
    }
    case "node-redis": {
      const nr = createClient({ socket: { port, host: "127.0.0.1" } })
      await nr.connect()
      return {
        run: promiseRunner(op === "GET" ? (key) => nr.get(key) : (key) => nr.set(key, VALUE)),
        close: async () => void nr.destroy()
      }
    }
    default:
      throw new Error(`unknown contender ${name}`)
  }
}

const contender = await make()
await contender.run(Math.max(20_000, commands))
let collections = 0
const observer = new PerformanceObserver((list) => void (collections += list.getEntries().length))
observer.observe({ entryTypes: ["gc"] })
;(globalThis as { gc?: () => void }).gc?.()
// Let the observer deliver the forced collection before counting starts.
await new Promise((resolve) => setTimeout(resolve, 20))
collections = 0
const before = process.memoryUsage().heapUsed
await contender.run(commands)
const after = process.memoryUsage().heapUsed
await new Promise((resolve) => setTimeout(resolve, 20))
observer.disconnect()
await contender.close()
console.log(JSON.stringify({ bytesPerCommand: (after - before) / commands, collections }))
process.exit(0)
