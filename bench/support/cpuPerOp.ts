/**
 * CPU time per command, ours beside ioredis and node-redis: `node bench/support/cpuPerOp.ts PORT [C] [N]`
 * runs N GETs at concurrency C (c fibers or async workers on one client each, 16-byte values over 10 000 keys)
 * per contender, five interleaved rounds after a warm-up of one round each, and prints the median CPU time
 * (user + system, from `process.cpuUsage`) per command and the median ops/s. On a shared machine the CPU time a
 * client spends per command moves far less with the load than its throughput does.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createClient } from "redis"
import * as RedisPool from "../../src/RedisPool.ts"

const port = Number(process.argv[2])
const C = Number(process.argv[3] ?? 50)
const N = Number(process.argv[4] ?? 200_000)
const KEYS = Array.from({ length: 10_000 }, (_, i) => `key:${String(i).padStart(12, "0")}`)

const scope = Effect.runSync(Scope.make())
const redis = await Effect.runPromise(Scope.provide(RedisPool.make({ port }), scope))
const io = new IORedis(port)
const nodeRedis = createClient({ socket: { port } })
await nodeRedis.connect()
await Promise.all(KEYS.map((key) => io.set(key, "0123456789abcdef")))

const ours = () =>
  Effect.runPromise(Effect.forEach(Array.from({ length: C }), (_, w) =>
    Effect.gen(function*() {
      for (let i = 0; i < N / C; i++) yield* redis.get(KEYS[(i * C + w) % KEYS.length]!)
    }), { concurrency: "unbounded", discard: true }))
const promised = (get: (key: string) => Promise<unknown>) => async () => {
  await Promise.all(Array.from({ length: C }, async (_, w) => {
    for (let i = 0; i < N / C; i++) await get(KEYS[(i * C + w) % KEYS.length]!)
  }))
}
const contenders: ReadonlyArray<readonly [string, () => Promise<void>]> = [
  ["ours", ours],
  ["ioredis", promised((key) => io.get(key))],
  ["node-redis", promised((key) => nodeRedis.get(key))]
]

const median = (values: Array<number>) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
for (const [, run] of contenders) await run()
const cpu = new Map<string, Array<number>>()
const rate = new Map<string, Array<number>>()
for (let round = 0; round < 5; round++) {
  for (let k = 0; k < contenders.length; k++) {
    const [name, run] = contenders[(round + k) % contenders.length]!
    const before = process.cpuUsage()
    const started = performance.now()
    await run()
    const used = process.cpuUsage(before)
    cpu.set(name, [...(cpu.get(name) ?? []), (used.user + used.system) / N])
    rate.set(name, [...(rate.get(name) ?? []), N / ((performance.now() - started) / 1000)])
  }
}
console.log(`c=${C}, ${N} GETs per round, 5 rounds`)
for (const [name] of contenders) {
  console.log(`${name.padEnd(11)} ${median(cpu.get(name)!).toFixed(2)} µs CPU per GET, ${Math.round(median(rate.get(name)!))} GET/s`)
}
io.disconnect()
await nodeRedis.quit()
await Effect.runPromise(Scope.close(scope, Exit.void))
process.exit(0)
