/**
 * N typed GETs through the service by C fibers against the server on PORT, for counting
 * the client's instructions per command: `valgrind --tool=callgrind node
 * bench/support/commandCycles.ts N PORT C` at two values of N (see `poolCycles.ts`).
 */
import * as Effect from "effect/Effect"
import * as RedisPool from "../../src/RedisPool.ts"
const N = Number(process.argv[2] ?? 100000)
const port = Number(process.argv[3])
const C = Number(process.argv[4] ?? 50)
const program = Effect.scoped(Effect.gen(function*() {
  const redis = yield* RedisPool.make({ port })
  yield* redis.set("k", "0123456789abcdef")
  yield* Effect.forEach(Array.from({ length: C }), () => Effect.gen(function*() {
    for (let i = 0; i < N / C; i++) yield* redis.get("k")
  }), { concurrency: "unbounded", discard: true })
}))
const t = performance.now()
Effect.runPromise(program).then(() => { console.log(N, (performance.now() - t).toFixed(0), "ms"); process.exit(0) })
