/**
 * N checkouts of the pool with a fake dial, for counting instructions per cycle:
 * `valgrind --tool=callgrind node bench/support/poolCycles.ts N MODE` at two values of N,
 * the difference divided by the extra cycles (start-up cancels out). MODE: `withConn`,
 * `get` (`Effect.scoped(pool.get)`), `contended` (100 fibers on 10 connections).
 */
import * as Effect from "effect/Effect"
import * as Pool from "../../src/Pool.ts"
class Fake { readonly isHealthy = true; readonly createdAt = Date.now(); readonly usedAt = Date.now(); readonly pending = 0; readonly awaitIdle = Effect.void }
const N = Number(process.argv[2] ?? 100000)
const mode = process.argv[3] ?? "withConn"
const program = Effect.scoped(Effect.gen(function*() {
  const pool = yield* Pool.make<Fake>({ dial: Effect.sync(() => new Fake()) as any, poolSize: 10 })
  yield* pool.withConn(() => Effect.void)
  const body = () => Effect.void
  if (mode === "withConn") {
    for (let i = 0; i < N; i++) yield* pool.withConn(body)
  } else if (mode === "get") {
    for (let i = 0; i < N; i++) yield* Effect.scoped(pool.get)
  } else {
    yield* Effect.forEach(Array.from({ length: 100 }), () => Effect.gen(function*() {
      for (let i = 0; i < N / 100; i++) yield* pool.withConn(() => Effect.yieldNow)
    }), { concurrency: "unbounded", discard: true })
  }
}))
const t = performance.now()
Effect.runPromise(program).then(() => console.log(mode, N, ((performance.now() - t)).toFixed(0), "ms"))
