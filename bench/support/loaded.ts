/**
 * One measurement of ours, loaded one way, in a process of its own (the `loaders` cell of
 * `bench/clients.ts` runs it): `node [--import tsx] bench/support/loaded.ts FROM PORT OP WORKERS MILLIS`.
 *
 * FROM is `dist` (the compiled package, as a user of the published build loads it) or `src`
 * (the TypeScript sources: through Node's type stripping, or through tsx when the process runs
 * with `--import tsx`). WORKERS fibers each await one op at a time on one `RedisPool` service
 * with default options; a warm-up of 300 ms, then MILLIS of measurement. OP is one of the ops
 * of `bench/clients.ts`, on the keys it seeded: `GET`/`SET` (typed `get`/`set`, 16-byte values),
 * `GET1K`/`SET1K` (1024-byte values) or `PIPE10` (one `pipeline` of 10 GETs, counted as one).
 * Prints one JSON line: `{ "opsPerSec": n, "commands": n }` (`commands` counts ops).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as RedisPoolModule from "../../src/RedisPool.ts"

const [from, portText, op, workersText, millisText] = process.argv.slice(2)
const port = Number(portText)
const workers = Number(workersText)
const millis = Number(millisText)
const NKEYS = 10_000
const VALUE = "0123456789abcdef"
const KEYS = Array.from({ length: NKEYS }, (_, i) => `key:${String(i).padStart(12, "0")}`)
// As in bench/clients.ts, which seeds them.
const N1K = 1000
const VALUE1K = VALUE.repeat(64)
const KEYS1K = Array.from({ length: N1K }, (_, i) => `k1k:${i}`)
const PIPE = 10
const GET_GROUPS = Array.from(
  { length: NKEYS / PIPE },
  (_, g) => KEYS.slice(g * PIPE, (g + 1) * PIPE).map((k) => ["GET", k] as const)
)
const GROUP_IDS = GET_GROUPS.map((_, g) => g)

const modulePath = from === "dist" ? "../../dist/RedisPool.js" : "../../src/RedisPool.ts"
const RedisPool = (await import(modulePath)) as typeof RedisPoolModule

const scope = await Effect.runPromise(Scope.make())
const redis = await Effect.runPromise(RedisPool.make({ host: "127.0.0.1", port }).pipe(Scope.provide(scope)))

/** `workers` fibers loop `call` over `keys` until `end`; returns the ops done. */
const measureWith = <K>(
  call: (key: K) => Effect.Effect<unknown, unknown>,
  keys: ReadonlyArray<K>,
  until: number
): Promise<number> => {
  let done = 0
  const n = keys.length
  const loop = (start: number) =>
    Effect.gen(function*() {
      let i = start
      while (performance.now() < until) {
        yield* call(keys[i]!)
        done++
        i = i + 1 === n ? 0 : i + 1
      }
    })
  const all = Array.from({ length: workers }, (_, w) => loop((w * 7919) % n))
  return Effect.runPromise(Effect.all(all, { concurrency: "unbounded", discard: true })).then(() => done)
}

const measure = (until: number): Promise<number> => {
  switch (op) {
    case "GET":
      return measureWith((key: string) => redis.get(key), KEYS, until)
    case "SET":
      return measureWith((key: string) => redis.set(key, VALUE), KEYS, until)
    case "GET1K":
      return measureWith((key: string) => redis.get(key), KEYS1K, until)
    case "SET1K":
      return measureWith((key: string) => redis.set(key, VALUE1K), KEYS1K, until)
    case "PIPE10":
      return measureWith((group: number) => redis.pipeline(GET_GROUPS[group]!), GROUP_IDS, until)
    default:
      throw new Error(`unknown op ${op}`)
  }
}

await measure(performance.now() + 300)
;(globalThis as { gc?: () => void }).gc?.()
const started = performance.now()
const done = await measure(started + millis)
const elapsed = performance.now() - started
await Effect.runPromise(Scope.close(scope, Exit.void))
console.log(JSON.stringify({ opsPerSec: done / (elapsed / 1000), commands: done }))
process.exit(0)
