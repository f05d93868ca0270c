/**
 * One measurement of ours, loaded one way, in a process of its own (the `loaders` cell of
 * `bench/clients.ts` runs it): `node [--import tsx] bench/support/loaded.ts FROM PORT OP WORKERS MILLIS`.
 *
 * FROM is `dist` (the compiled package, as a user of the published build loads it) or `src`
 * (the TypeScript sources: through Node's type stripping, or through tsx when the process runs
 * with `--import tsx`). WORKERS fibers each await one typed `get`/`set` at a time on one
 * `RedisPool` service with default options; a warm-up of 300 ms, then MILLIS of measurement.
 * Prints one JSON line: `{ "opsPerSec": n, "commands": n }`.
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

const modulePath = from === "dist" ? "../../dist/RedisPool.js" : "../../src/RedisPool.ts"
const RedisPool = (await import(modulePath)) as typeof RedisPoolModule

const scope = await Effect.runPromise(Scope.make())
const redis = await Effect.runPromise(RedisPool.make({ host: "127.0.0.1", port }).pipe(Scope.provide(scope)))

const call = op === "GET" ? (key: string) => redis.get(key) : (key: string) => redis.set(key, VALUE)

/** `workers` fibers loop until `end`; returns the commands done. */
const measure = (until: number): Promise<number> => {
  let done = 0
  const loop = (start: number) =>
    Effect.gen(function*() {
      let i = start
      while (performance.now() < until) {
        yield* call(KEYS[i]!)
        done++
        i = i + 1 === NKEYS ? 0 : i + 1
      }
    })
  const all = Array.from({ length: workers }, (_, w) => loop((w * 7919) % NKEYS))
  return Effect.runPromise(Effect.all(all, { concurrency: "unbounded", discard: true })).then(() => done)
}

await measure(performance.now() + 300)
;(globalThis as { gc?: () => void }).gc?.()
const started = performance.now()
const done = await measure(started + millis)
const elapsed = performance.now() - started
await Effect.runPromise(Scope.close(scope, Exit.void))
console.log(JSON.stringify({ opsPerSec: done / (elapsed / 1000), commands: done }))
process.exit(0)
