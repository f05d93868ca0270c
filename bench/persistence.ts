/**
 * `npm run bench persistence`: Effect's own persistence stores on this
 * library's `effect/persistence/Redis` backend (`Persistence.layerWithPool`)
 * against `@effect/platform-node`'s `NodeRedis.layer` (node-redis), in the
 * same process run, interleaved (the order rotates every round), medians of
 * ops/s. Workloads, each with N concurrent fibers looping until a deadline:
 *
 * - `RateLimiter.consume` (fixed window, `RateLimiter.layerStoreRedis`): one
 *   EVALSHA per call, keys spread over 100 limiters;
 * - `PersistedCache.get` (`Persistence.layerRedis`) with the in-memory layer
 *   disabled (zero TTL), so every get is a Redis GET of a stored entry
 *   (1000 keys, prefilled).
 *
 * Starts its own redis-server on a free port. Options: `ROUNDS` (default 5),
 * `MILLIS` per run (default 1500), `CONCURRENCY` (default "50,500"),
 * `OURS_OPTIONS` (JSON `RedisPool.Options` for ours, default `{}`).
 */
import { spawn } from "node:child_process"
import * as os from "node:os"
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import * as EffectPersistence from "effect/persistence/Persistence"
import * as RateLimiter from "effect/persistence/RateLimiter"
import type * as Redis from "effect/persistence/Redis"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Persistence from "../src/Persistence.ts"
import type * as RedisPool from "../src/RedisPool.ts"
import { freePort, waitForPort } from "./support/server.ts"

const ROUNDS = Number(process.env["ROUNDS"] ?? 5)
const MILLIS = Number(process.env["MILLIS"] ?? 1500)
const LEVELS = (process.env["CONCURRENCY"] ?? "50,500").split(",").map(Number)
const OURS_OPTIONS = JSON.parse(process.env["OURS_OPTIONS"] ?? "{}") as RedisPool.Options
const KEYS = 1000

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

class Item extends Persistable.Class<{ payload: { readonly id: number } }>()("Item", {
  primaryKey: ({ id }) => String(id),
  success: Schema.String
}) {}

type Runner = (fibers: number, millis: number) => Promise<number>

/** One backend's two workloads, on services built once in `scope`. */
const workloads = async (name: string, backend: Layer.Layer<Redis.Redis, unknown>, scope: Scope.Scope) => {
  const services = Layer.mergeAll(
    RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: `bench:${name}:rl:` }))),
    EffectPersistence.layerRedis
  ).pipe(Layer.provide(backend))
  const context = await Effect.runPromise(Layer.buildWithScope(services, scope))
  const limiter = Context.get(context, RateLimiter.RateLimiter)
  const cache = await Effect.runPromise(
    PersistedCache.make((item: Item) => Effect.succeed(`value-${item.id}`), {
      storeId: `bench-${name}`,
      timeToLive: () => "1 hour",
      inMemoryTTL: () => Duration.zero
    }).pipe(Effect.provideContext(context), Scope.provide(scope))
  )
  const items = Array.from({ length: KEYS }, (_, id) => new Item({ id }))
  // Prefill: the first get runs the lookup and stores the entry.
  await Effect.runPromise(Effect.forEach(items, (item) => cache.get(item), { concurrency: 50, discard: true }))

  const loop = (fibers: number, millis: number, op: (fiber: number, i: number) => Effect.Effect<unknown, unknown>) => {
    let ops = 0
    const end = Date.now() + millis
    const worker = (fiber: number) =>
      Effect.gen(function*() {
        let i = 0
        while (Date.now() < end) {
          yield* op(fiber, i++)
          ops++
        }
      })
    const started = performance.now()
    return Effect.runPromise(
      Effect.forEach(Array.from({ length: fibers }, (_, i) => i), worker, { concurrency: "unbounded", discard: true })
    ).then(() => ops / ((performance.now() - started) / 1000))
  }
  const consume: Runner = (fibers, millis) =>
    loop(fibers, millis, (fiber, i) =>
      limiter.consume({ key: `k${(fiber + i) % 100}`, limit: 1_000_000_000, window: "1 minute" }))
  const get: Runner = (fibers, millis) =>
    loop(fibers, millis, (fiber, i) => cache.get(items[(fiber * 7 + i) % KEYS]!))
  return { consume, get }
}

const main = async () => {
  const port = await freePort()
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })
  process.on("exit", () => server.kill("SIGKILL"))
  await waitForPort(port)

  const scope = Scope.makeUnsafe()
  const ours = await workloads("ours", Persistence.layerWithPool({ ...OURS_OPTIONS, port }), scope)
  const theirs = await workloads("noderedis", NodeRedis.layer({ socket: { port, host: "127.0.0.1" } }), scope)
  const backends: Array<[string, typeof ours]> = [["ours", ours], ["NodeRedis", theirs]]

  console.log(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }; ${ROUNDS} rounds x ${MILLIS} ms per backend, workload and level; ours ${JSON.stringify(OURS_OPTIONS)}`
  )
  for (const [, backend] of backends) {
    await backend.consume(50, 300)
    await backend.get(50, 300)
  }
  for (const workload of ["consume", "get"] as const) {
    for (const fibers of LEVELS) {
      const results = new Map<string, Array<number>>(backends.map(([name]) => [name, []]))
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < backends.length; k++) {
          const [name, backend] = backends[(round + k) % backends.length]!
          ;(globalThis as any).gc?.()
          results.get(name)!.push(await backend[workload](fibers, MILLIS))
        }
      }
      const o = median(results.get("ours")!)
      const t = median(results.get("NodeRedis")!)
      console.log(
        `${workload === "consume" ? "RateLimiter.consume" : "PersistedCache.get"} N=${fibers}: ours ${
          Math.round(o)
        } ops/s, NodeRedis ${Math.round(t)} ops/s, ours/NodeRedis ${(o / t).toFixed(2)}x`
      )
    }
  }
  console.log(`load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
