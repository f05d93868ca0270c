/**
 * `npm run bench pool`: the pool alone, no I/O. The dial returns a ready fake
 * connection, so what is measured is checkout + return.
 *
 * Peers in the same process run, interleaved (the order rotates every round),
 * medians of cycles/s:
 * - this pool: `withConn(f)` and `Effect.scoped(get)`;
 * - `effect/Pool`: `Pool.use(f)` and `Effect.scoped(Pool.get)`;
 * - `generic-pool`: `acquire()` + `release()` in an async loop;
 * - a sketch of the Semaphore-based design (Effect `Semaphore` turns + an idle
 *   array), to show what an effect per take and release costs (see `docs/design/pool.md`).
 *
 * Two loads: one fiber doing sequential cycles, and 100 fibers contending for
 * 10 connections (each holds its connection across one yield, so they queue).
 * Options: `ROUNDS` (default 5), `CYCLES` (default 200000).
 */
import * as os from "node:os"
import * as Effect from "effect/Effect"
import * as EffectPool from "effect/Pool"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as GenericPool from "generic-pool"
import * as Pool from "../src/Pool.ts"

const ROUNDS = Number(process.env["ROUNDS"] ?? 5)
const CYCLES = Number(process.env["CYCLES"] ?? 200_000)
const FIBERS = 100
const SIZE = 10

class Fake {
  readonly isHealthy = true
  readonly createdAt = Date.now()
  readonly usedAt = Date.now()
  readonly pending = 0
  readonly awaitIdle = Effect.void
}

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const repeat = (n: number, body: Effect.Effect<unknown, unknown>) => {
  let i = 0
  return Effect.whileLoop({ while: () => i++ < n, body: () => body, step: () => {} })
}

type Case = {
  readonly name: string
  readonly sequential: () => Promise<number>
  readonly contended: () => Promise<number>
}

const timeEffect = async (cycles: number, effect: Effect.Effect<unknown, unknown>) => {
  const start = performance.now()
  await Effect.runPromise(effect)
  return cycles / ((performance.now() - start) / 1000)
}

const timeAsync = async (cycles: number, run: () => Promise<unknown>) => {
  const start = performance.now()
  await run()
  return cycles / ((performance.now() - start) / 1000)
}

const contend = (cycle: Effect.Effect<unknown, unknown>) =>
  Effect.all(Array.from({ length: FIBERS }, () => repeat(CYCLES / FIBERS, cycle)), {
    concurrency: "unbounded",
    discard: true
  })

const main = async () => {
  // Long-lived pools in a scope that stays open until the process exits.
  const [pool, effectPool] = await Effect.runPromise(
    Effect.gen(function*() {
      const ours = yield* Pool.make({ dial: Effect.sync(() => new Fake()), poolSize: SIZE, poolTimeout: 60_000 })
      const theirs = yield* EffectPool.make({ acquire: Effect.sync(() => new Fake()), size: SIZE })
      return [ours, theirs] as const
    }).pipe(Scope.provide(Scope.makeUnsafe()))
  )

  const generic = GenericPool.createPool(
    { create: async () => new Fake(), destroy: async () => {} },
    { max: SIZE, min: SIZE }
  )
  await generic.ready()

  const sem = Semaphore.makeUnsafe(SIZE)
  const idle: Array<Fake> = Array.from({ length: SIZE }, () => new Fake())
  const semaphoreUse = <A, E, R>(f: (conn: Fake) => Effect.Effect<A, E, R>) =>
    sem.withPermit(Effect.suspend(() => {
      const conn = idle.pop()!
      return Effect.ensuring(f(conn), Effect.sync(() => idle.push(conn)))
    }))

  const body = Effect.void
  const held = Effect.yieldNow
  const cases: Array<Case> = [
    {
      name: "this pool withConn",
      sequential: () => timeEffect(CYCLES, repeat(CYCLES, pool.withConn(() => body))),
      contended: () => timeEffect(CYCLES, contend(pool.withConn(() => held)))
    },
    {
      name: "this pool scoped get",
      sequential: () => timeEffect(CYCLES, repeat(CYCLES, Effect.scoped(pool.get))),
      contended: () => timeEffect(CYCLES, contend(Effect.scoped(Effect.andThen(pool.get, held))))
    },
    {
      name: "effect/Pool use",
      sequential: () => timeEffect(CYCLES, repeat(CYCLES, EffectPool.use(effectPool, () => body))),
      contended: () => timeEffect(CYCLES, contend(EffectPool.use(effectPool, () => held)))
    },
    {
      name: "effect/Pool scoped get",
      sequential: () => timeEffect(CYCLES, repeat(CYCLES, Effect.scoped(EffectPool.get(effectPool)))),
      contended: () => timeEffect(CYCLES, contend(Effect.scoped(Effect.andThen(EffectPool.get(effectPool), held))))
    },
    {
      name: "generic-pool acquire+release",
      sequential: () =>
        timeAsync(CYCLES, async () => {
          for (let i = 0; i < CYCLES; i++) {
            const conn = await generic.acquire()
            await generic.release(conn)
          }
        }),
      contended: () =>
        timeAsync(CYCLES, () =>
          Promise.all(Array.from({ length: FIBERS }, async () => {
            for (let i = 0; i < CYCLES / FIBERS; i++) {
              const conn = await generic.acquire()
              await null
              await generic.release(conn)
            }
          })))
    },
    {
      name: "Semaphore-turn sketch",
      sequential: () => timeEffect(CYCLES, repeat(CYCLES, semaphoreUse(() => body))),
      contended: () => timeEffect(CYCLES, contend(semaphoreUse(() => held)))
    }
  ]

  const results = new Map<string, { sequential: Array<number>; contended: Array<number> }>()
  for (const c of cases) results.set(c.name, { sequential: [], contended: [] })
  // Warm-up.
  for (const c of cases) {
    await c.sequential()
    await c.contended()
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = cases.map((_, i) => cases[(i + round) % cases.length]!)
    for (const c of order) {
      ;(globalThis as { gc?: () => void }).gc?.()
      results.get(c.name)!.sequential.push(await c.sequential())
      ;(globalThis as { gc?: () => void }).gc?.()
      results.get(c.name)!.contended.push(await c.contended())
    }
  }
  const stats = pool.statsUnsafe()
  if (stats.total > SIZE || stats.turnsInUse !== 0) throw new Error(`pool invariant broken: ${JSON.stringify(stats)}`)

  // Ratios are medians of per-round ratios (both runs of a round are close in
  // time, so a load swing on the shared machine hits both), throughputs are
  // medians over rounds.
  const ratio = (name: string, base: string, load: "sequential" | "contended") => {
    const a = results.get(name)![load]
    const b = results.get(base)![load]
    return median(a.map((x, i) => x / b[i]!))
  }
  const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M/s`
  const base = "effect/Pool use"
  console.log(`machine: ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`)
  console.log(`cycles per run ${CYCLES}, rounds ${ROUNDS}; throughput medians, ratio = median of per-round ratios vs ${base}`)
  console.log(`${"case".padEnd(30)} ${"sequential".padStart(12)} ${"ratio".padStart(6)} ${"100 fibers/10".padStart(14)} ${"ratio".padStart(6)}`)
  for (const c of cases) {
    const r = results.get(c.name)!
    console.log(
      `${c.name.padEnd(30)} ${fmt(median(r.sequential)).padStart(12)} ${ratio(c.name, base, "sequential").toFixed(2).padStart(6)} ` +
        `${fmt(median(r.contended)).padStart(14)} ${ratio(c.name, base, "contended").toFixed(2).padStart(6)}`
    )
  }
  console.log(
    `scoped get vs effect/Pool scoped get: ${ratio("this pool scoped get", "effect/Pool scoped get", "sequential").toFixed(2)}× ` +
      `sequential, ${ratio("this pool scoped get", "effect/Pool scoped get", "contended").toFixed(2)}× contended`
  )
  await generic.drain()
  await generic.clear()
  process.exit(0)
}

void main()
