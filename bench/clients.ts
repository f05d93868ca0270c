/**
 * `npm run bench clients`: this library's `RedisPool` (default options) side by side with
 * ioredis (default, and `enableAutoPipelining`), node-redis `createClient` and
 * `@effect/platform-node`'s `NodeRedis`, each used as ONE client object by c concurrent
 * fibers / async workers, each awaiting one command at a time.
 *
 * Cells, in one process run against one own redis-server on a free loopback port:
 * - throughput: the ops of `OPS` (by default GET and SET of 16-byte values over 10 000 keys)
 *   at each level of `CONCURRENCY`; a warm-up per contender, then `ROUNDS` interleaved
 *   repetitions (the order rotates every round) of `MILLIS` each; medians of ops/s, p50 and p99;
 *   `redis-benchmark` (with and without `-P 16`) against the same server as reference;
 * - blocking: 50 fibers doing `BLPOP` on empty lists (timeout 0.1 s) and one doing GETs,
 *   for `BLOCK_MILLIS`, on the same client;
 * - memory: heap and RSS with 1 000 idle connections, each contender in a fresh process;
 * - loaders (only when named in `CELLS`): ours alone, loaded from the compiled `dist/`, through
 *   Node's type stripping and through tsx, each sample in a fresh process (see `loaders`).
 *
 * Besides the ratio of the medians, each row has the median of the per-round ratios (ours,
 * or that contender, to the best peer of the same round): runs close in time share the
 * machine's load, which moves a lot on a shared machine.
 *
 * Environment: `ROUNDS` (7), `MILLIS` (500), `CONCURRENCY` ("1,50,500"), `OPS`
 * ("GET,SET"; also `GET1K` and `SET1K`, GET and SET of 1024-byte values over 1 000 other keys,
 * and `PIPE10`, one pipeline of 10 GETs of consecutive 16-byte keys, counted as one op;
 * NodeRedis has no pipeline, so its PIPE10 is 10 concurrent sends), `ONLY` (contender names,
 * comma-separated), `OURS` ("src", or "dist" for the compiled package), `CELLS` ("throughput,reference,blocking,memory"), `BLOCK_MILLIS` (2000), `WARMUP_MILLIS` (1500),
 * `CONNS` (1000).
 * For a profile of ours alone: `ONLY=ours CELLS=throughput CONCURRENCY=50
 * node --cpu-prof bench/clients.ts`.
 */
import { spawn, spawnSync } from "node:child_process"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as EffectRedis from "effect/persistence/Redis"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createClient } from "redis"
import * as Conn from "../src/Conn.ts"
import type * as RedisPoolModule from "../src/RedisPool.ts"
import { freePort, waitForPort } from "./support/server.ts"

/**
 * `OURS=dist`: ours in the throughput and blocking cells from the compiled package (`dist/`, built first), as
 * users of the published package load it; by default from the sources (Node's type stripping).
 */
const OURS_FROM = process.env["OURS"] === "dist" ? "dist" : "src"
if (OURS_FROM === "dist") {
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" })
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`)
}
const RedisPool: typeof RedisPoolModule = OURS_FROM === "dist"
  ? await import(new URL("../dist/RedisPool.js", import.meta.url).href)
  : await import("../src/RedisPool.ts")

const ROUNDS = Number(process.env["ROUNDS"] ?? 7)
const MILLIS = Number(process.env["MILLIS"] ?? 500)
const LEVELS = (process.env["CONCURRENCY"] ?? "1,50,500").split(",").map(Number)
const OPS = (process.env["OPS"] ?? "GET,SET").split(",") as Array<Op>
const ONLY = process.env["ONLY"]?.split(",")
const CELLS = (process.env["CELLS"] ?? "throughput,reference,blocking,memory").split(",")
const BLOCK_MILLIS = Number(process.env["BLOCK_MILLIS"] ?? 2000)
/**
 * The warm-up of each contender and op before a level's rounds. 300 ms left the JIT still at work in the first
 * rounds (ours rose from 128 k to 260 k GET/s over three rounds at c = 500 on 2026-11-30); every contender gets
 * the same.
 */
const WARMUP_MILLIS = Number(process.env["WARMUP_MILLIS"] ?? 1500)
const CONNS = Number(process.env["CONNS"] ?? 1000)
const HOST = "127.0.0.1"
const root = fileURLToPath(new URL("..", import.meta.url))
const NKEYS = 10_000
const VALUE = "0123456789abcdef"
const KEYS = Array.from({ length: NKEYS }, (_, i) => `key:${String(i).padStart(12, "0")}`)
/** The keys of GET1K and SET1K (the same in `bench/support/loaded.ts`), each holding `VALUE1K`. */
const N1K = 1000
const VALUE1K = VALUE.repeat(64)
const KEYS1K = Array.from({ length: N1K }, (_, i) => `k1k:${i}`)
/** PIPE10: the i-th pipeline GETs `KEYS[10 i]` to `KEYS[10 i + 9]`; built once, indexed by i. */
const PIPE = 10
const GROUPS = Array.from({ length: NKEYS / PIPE }, (_, g) => KEYS.slice(g * PIPE, (g + 1) * PIPE))
const GROUP_IDS = GROUPS.map((_, g) => g)
const GET_GROUPS = GROUPS.map((keys) => keys.map((k) => ["GET", k] as const))
const BLPOP_FIBERS = 50
const BLPOP_TIMEOUT = "0.1"

const ALL_OPS = ["GET", "SET", "GET1K", "SET1K", "PIPE10"] as const
type Op = typeof ALL_OPS[number]

const PIPE10_NOTE = `PIPE10: ops/s counts pipelines of ${PIPE} GETs (commands/s = ${PIPE} x ops/s)`
const PIPE10_NODEREDIS_NOTE =
  "; NodeRedis (effect/persistence/Redis) has no pipeline API: its PIPE10 is 10 concurrent sends (Effect.all, unbounded)"

// -----------------------------------------------------------------------------
// measurement

/** Latencies (ms) of one run, in a buffer reused by every run. */
class Recorder {
  readonly samples = new Float64Array(1 << 22)
  count = 0
  reset() {
    this.count = 0
  }
  add(ms: number) {
    if (this.count < this.samples.length) this.samples[this.count] = ms
    this.count++
  }
  percentiles(): { p50: number; p99: number; max: number } {
    const n = Math.min(this.count, this.samples.length)
    if (n === 0) return { p50: NaN, p99: NaN, max: NaN }
    const s = this.samples.subarray(0, n).sort()
    return { p50: s[Math.floor(n * 0.5)]!, p99: s[Math.min(n - 1, Math.floor(n * 0.99))]!, max: s[n - 1]! }
  }
}

interface Sample {
  readonly opsPerSec: number
  readonly p50: number
  readonly p99: number
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ")

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

// -----------------------------------------------------------------------------
// contenders

interface Contender {
  readonly name: string
  /** `workers` concurrent loops of `op` until `millis` passed; latencies into `rec`. */
  readonly run: (op: Op, workers: number, millis: number, rec: Recorder) => Promise<void>
  /** BLPOP loops beside one GET loop; GET latencies into `rec`; returns the BLPOPs done. */
  readonly blocking: (millis: number, rec: Recorder) => Promise<number>
  readonly close: () => Promise<void>
}

/** What one iteration of `op` calls, and over which keys (or pipeline groups) the loops walk. */
const opCall = <R>(
  op: Op,
  get: (key: string) => R,
  set: (key: string, value: string) => R,
  pipe10: (group: number) => R
): readonly [(key: any) => R, ReadonlyArray<string | number>] => {
  switch (op) {
    case "GET":
      return [get, KEYS]
    case "SET":
      return [(key: string) => set(key, VALUE), KEYS]
    case "GET1K":
      return [get, KEYS1K]
    case "SET1K":
      return [(key: string) => set(key, VALUE1K), KEYS1K]
    case "PIPE10":
      return [pipe10, GROUP_IDS]
  }
}

const promiseContender = (
  name: string,
  get: (key: string) => Promise<unknown>,
  set: (key: string, value: string) => Promise<unknown>,
  /** The pipeline of `GROUPS[group]`. */
  pipe10: (group: number) => Promise<unknown>,
  blpop: (key: string) => Promise<unknown>,
  close: () => Promise<void>
): Contender => {
  const loop = async <K>(
    call: (key: K) => Promise<unknown>,
    keys: ReadonlyArray<K>,
    start: number,
    end: number,
    rec: Recorder
  ) => {
    const n = keys.length
    let i = start % n
    let t0 = performance.now()
    for (;;) {
      await call(keys[i]!)
      const t1 = performance.now()
      rec.add(t1 - t0)
      if (t1 >= end) return
      t0 = t1
      i = i + 1 === n ? 0 : i + 1
    }
  }
  const loops = async <K>(
    call: (key: K) => Promise<unknown>,
    keys: ReadonlyArray<K>,
    workers: number,
    end: number,
    rec: Recorder
  ) => {
    const all: Array<Promise<void>> = []
    for (let w = 0; w < workers; w++) all.push(loop(call, keys, w * 7919, end, rec))
    await Promise.all(all)
  }
  return {
    name,
    run: (op, workers, millis, rec) => {
      const end = performance.now() + millis
      const [call, keys] = opCall(op, get, set, pipe10)
      return loops(call, keys, workers, end, rec)
    },
    blocking: async (millis, rec) => {
      const end = performance.now() + millis
      let pops = 0
      const popper = async (w: number) => {
        while (performance.now() < end) {
          await blpop(`bench:empty:${w}`)
          pops++
        }
      }
      const all: Array<Promise<void>> = [loop(get, KEYS, 0, end, rec)]
      for (let w = 0; w < BLPOP_FIBERS; w++) all.push(popper(w))
      await Promise.all(all)
      return pops
    },
    close
  }
}

const effectContender = (
  name: string,
  get: (key: string) => Effect.Effect<unknown, unknown>,
  set: (key: string, value: string) => Effect.Effect<unknown, unknown>,
  /** The pipeline of `GROUPS[group]`. */
  pipe10: (group: number) => Effect.Effect<unknown, unknown>,
  blpop: (key: string) => Effect.Effect<unknown, unknown>,
  close: () => Promise<void>
): Contender => {
  const loop = <K>(
    call: (key: K) => Effect.Effect<unknown, unknown>,
    keys: ReadonlyArray<K>,
    start: number,
    end: number,
    rec: Recorder
  ) =>
    Effect.gen(function*() {
      const n = keys.length
      let i = start % n
      let t0 = performance.now()
      for (;;) {
        yield* call(keys[i]!)
        const t1 = performance.now()
        rec.add(t1 - t0)
        if (t1 >= end) return
        t0 = t1
        i = i + 1 === n ? 0 : i + 1
      }
    })
  const loops = <K>(
    call: (key: K) => Effect.Effect<unknown, unknown>,
    keys: ReadonlyArray<K>,
    workers: number,
    end: number,
    rec: Recorder
  ) => {
    const all: Array<Effect.Effect<void, unknown>> = []
    for (let w = 0; w < workers; w++) all.push(loop(call, keys, w * 7919, end, rec))
    return Effect.runPromise(Effect.all(all, { concurrency: "unbounded", discard: true }))
  }
  return {
    name,
    run: (op, workers, millis, rec) => {
      const end = performance.now() + millis
      const [call, keys] = opCall(op, get, set, pipe10)
      return loops(call, keys, workers, end, rec)
    },
    blocking: (millis, rec) => {
      const end = performance.now() + millis
      let pops = 0
      const popper = (w: number) =>
        Effect.gen(function*() {
          while (performance.now() < end) {
            yield* blpop(`bench:empty:${w}`)
            pops++
          }
        })
      const all: Array<Effect.Effect<void, unknown>> = [loop(get, KEYS, 0, end, rec)]
      for (let w = 0; w < BLPOP_FIBERS; w++) all.push(popper(w))
      return Effect.runPromise(Effect.all(all, { concurrency: "unbounded", discard: true })).then(() => pops)
    },
    close
  }
}

const makeOurs = async (
  port: number,
  options: RedisPoolModule.Options = {},
  name = "ours"
): Promise<Contender & { redis: RedisPoolModule.Standalone }> => {
  const scope = await Effect.runPromise(Scope.make())
  const redis = await Effect.runPromise(RedisPool.make({ host: HOST, port, ...options }).pipe(Scope.provide(scope)))
  return {
    redis,
    ...effectContender(
      name,
      (key) => redis.get(key),
      (key, value) => redis.set(key, value),
      (group) => redis.pipeline(GET_GROUPS[group]!),
      (key) => redis.send("BLPOP", key, BLPOP_TIMEOUT),
      () => Effect.runPromise(Scope.close(scope, Exit.void))
    )
  }
}

const makeIoredis = async (port: number, auto: boolean): Promise<Contender> => {
  const io = new IORedis({ port, host: HOST, enableAutoPipelining: auto, lazyConnect: true })
  await io.connect()
  const groups = GROUPS.map((keys) => keys.map((k) => ["get", k]))
  return promiseContender(
    auto ? "ioredis-auto" : "ioredis",
    (key) => io.get(key),
    (key, value) => io.set(key, value),
    (group) => io.pipeline(groups[group]!).exec(),
    (key) => io.blpop(key, BLPOP_TIMEOUT),
    async () => void io.disconnect()
  )
}

const makeNodeRedis = async (port: number): Promise<Contender> => {
  const nr = createClient({ socket: { port, host: HOST } })
  nr.on("error", () => {})
  await nr.connect()
  return promiseContender(
    "node-redis",
    (key) => nr.get(key),
    (key, value) => nr.set(key, value),
    (group) => {
      // untyped: each `get` adds to the same batch (and returns it), typed chains change type.
      const multi = nr.multi<"untyped">()
      for (const key of GROUPS[group]!) multi.get(key)
      return multi.execAsPipeline()
    },
    (key) => nr.sendCommand(["BLPOP", key, BLPOP_TIMEOUT]),
    async () => void nr.destroy()
  )
}

const makeEffectNodeRedis = async (port: number): Promise<Contender> => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(NodeRedis.layer({ socket: { port, host: HOST } }), scope)
  )
  const redis = Context.get(context, EffectRedis.Redis)
  return effectContender(
    "NodeRedis",
    (key) => redis.send("GET", key),
    (key, value) => redis.send("SET", key, value),
    // `effect/persistence/Redis` has no pipeline: the 10 GETs as concurrent sends on the
    // shared client, which node-redis writes together (see PIPE10_NODEREDIS_NOTE).
    (group) => Effect.all(GROUPS[group]!.map((key) => redis.send("GET", key)), { concurrency: "unbounded" }),
    (key) => redis.send("BLPOP", key, BLPOP_TIMEOUT),
    () => Effect.runPromise(Scope.close(scope, Exit.void))
  )
}

/**
 * Layers of ours, each alone, to see what each costs (only when named in `ONLY`):
 * `layer:conn` one `Conn`, `layer:shared` the pool's shared checkout around `Conn.send`,
 * `layer:send` the service's untyped `send`, `layer:bare` the same without metrics, tracing
 * and retries; `ours` adds the typed reply of `get`/`set`.
 */
const makeLayers = async (port: number): Promise<Array<Contender>> => {
  const ours = await makeOurs(port, {}, "layer:send")
  const scope = await Effect.runPromise(Scope.make())
  const conn = await Effect.runPromise(Conn.make({ host: HOST, port }).pipe(Scope.provide(scope)))
  const pool = ours.redis.pool
  const blpop = (key: string) => conn.send(["BLPOP", key, BLPOP_TIMEOUT])
  const bare = await makeOurs(port, { metrics: false, tracing: false, maxRetries: 0 }, "layer:bare")
  return [
    {
      ...bare,
      ...effectContender(
        "layer:bare",
        (key) => bare.redis.send("GET", key),
        (key, value) => bare.redis.send("SET", key, value),
        (group) => bare.redis.pipeline(GET_GROUPS[group]!),
        blpop,
        bare.close
      )
    },
    effectContender(
      "layer:conn",
      (key) => conn.send(["GET", key]),
      (key, value) => conn.send(["SET", key, value]),
      (group) => conn.sendBatch(GET_GROUPS[group]!),
      blpop,
      () => Effect.runPromise(Scope.close(scope, Exit.void))
    ),
    effectContender(
      "layer:shared",
      (key) => pool.withShared((c) => c.send(["GET", key])),
      (key, value) => pool.withShared((c) => c.send(["SET", key, value])),
      (group) => pool.withShared((c) => c.sendBatch(GET_GROUPS[group]!)),
      blpop,
      async () => {}
    ),
    {
      ...ours,
      ...effectContender(
        "layer:send",
        (key) => ours.redis.send("GET", key),
        (key, value) => ours.redis.send("SET", key, value),
        (group) => ours.redis.pipeline(GET_GROUPS[group]!),
        blpop,
        ours.close
      )
    }
  ]
}

const CONTENDERS: ReadonlyArray<[string, (port: number) => Promise<Contender>]> = [
  ["ours", (port) => makeOurs(port)],
  ["ioredis", (port) => makeIoredis(port, false)],
  ["ioredis-auto", (port) => makeIoredis(port, true)],
  ["node-redis", makeNodeRedis],
  ["NodeRedis", makeEffectNodeRedis]
]

// -----------------------------------------------------------------------------
// cells

const fmtOps = (x: number) => Math.round(x).toLocaleString("en-US").replace(/,/g, " ")
const fmtMs = (x: number) => Number.isNaN(x) ? "–" : x < 1 ? x.toFixed(3) : x.toFixed(2)

const throughput = async (contenders: ReadonlyArray<Contender>, port: number) => {
  const rec = new Recorder()
  const runOnce = async (c: Contender, op: Op, workers: number, millis: number): Promise<Sample> => {
    gc()
    rec.reset()
    const started = performance.now()
    await c.run(op, workers, millis, rec)
    const elapsed = performance.now() - started
    const { p50, p99 } = rec.percentiles()
    return { opsPerSec: rec.count / (elapsed / 1000), p50, p99 }
  }
  for (const workers of LEVELS) {
    for (const c of contenders) for (const op of OPS) await runOnce(c, op, workers, WARMUP_MILLIS)
    const loads: Array<string> = [load()]
    const results = new Map<string, Array<Sample>>()
    for (let round = 0; round < ROUNDS; round++) {
      for (const op of OPS) {
        for (let k = 0; k < contenders.length; k++) {
          const c = contenders[(round + k) % contenders.length]!
          const key = `${op} ${c.name}`
          if (!results.has(key)) results.set(key, [])
          results.get(key)!.push(await runOnce(c, op, workers, MILLIS))
        }
      }
    }
    loads.push(load())
    console.log(`\nc=${workers}: ${ROUNDS} rounds x ${MILLIS} ms, load ${loads.join(" -> ")}`)
    if (OPS.includes("PIPE10")) {
      console.log(`${PIPE10_NOTE}${contenders.some((c) => c.name === "NodeRedis") ? PIPE10_NODEREDIS_NOTE : ""}`)
    }
    console.log(
      "| op | contender | ops/s | p50 ms | p99 ms | ops/s vs best peer | per-round ops/s vs best peer | p50 vs best peer |"
    )
    console.log("|---|---|---:|---:|---:|---:|---:|---:|")
    for (const op of OPS) {
      const m = contenders.map((c) => {
        const xs = results.get(`${op} ${c.name}`)!
        return {
          name: c.name,
          ops: median(xs.map((x) => x.opsPerSec)),
          p50: median(xs.map((x) => x.p50)),
          p99: median(xs.map((x) => x.p99)),
          all: xs.map((x) => Math.round(x.opsPerSec))
        }
      })
      const isPeer = (name: string) => !name.startsWith("ours") && !name.startsWith("layer:")
      const peers = m.filter((x) => isPeer(x.name))
      const bestOps = peers.length > 0 ? Math.max(...peers.map((x) => x.ops)) : NaN
      const bestP50 = peers.length > 0 ? Math.min(...peers.map((x) => x.p50)) : NaN
      const perRound = (name: string) =>
        median(Array.from({ length: ROUNDS }, (_, r) => {
          const best = Math.max(
            ...contenders.filter((c) => isPeer(c.name)).map((c) => results.get(`${op} ${c.name}`)![r]!.opsPerSec)
          )
          return results.get(`${op} ${name}`)![r]!.opsPerSec / best
        }))
      for (const x of m) {
        console.log(
          `| ${op} | ${x.name} | ${fmtOps(x.ops)} | ${fmtMs(x.p50)} | ${fmtMs(x.p99)} | ${(x.ops / bestOps).toFixed(2)}× | ${
            perRound(x.name).toFixed(2)
          }× | ${(x.p50 / bestP50).toFixed(2)}× |`
        )
      }
      for (const x of m) console.log(`    ${op} ${x.name} runs: ${x.all.join(" ")}`)
    }
    if (CELLS.includes("reference")) reference(port, workers)
  }
}

/**
 * The `loaders` cell: ours alone, loaded three ways, each sample in a fresh process
 * (`bench/support/loaded.ts`): `dist` (the compiled package, as users of the published
 * build load it), `strip` (the sources through Node's type stripping, as this repo runs
 * them) and `tsx` (the sources through tsx, as many apps and test runners load TypeScript).
 * The build is made first so that `dist` matches the sources. Rounds interleave the three,
 * rotating the order; "vs dist" is the median of the per-round ratios.
 */
const loaders = (port: number) => {
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" })
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`)
  const child = fileURLToPath(new URL("./support/loaded.ts", import.meta.url))
  const ways = [
    { name: "dist", args: ["--expose-gc", child, "dist"] },
    { name: "strip", args: ["--expose-gc", child, "src"] },
    { name: "tsx", args: ["--expose-gc", "--import", "tsx", child, "src"] }
  ] as const
  const sample = (args: ReadonlyArray<string>, op: Op, workers: number): number => {
    const out = spawnSync(process.execPath, [...args, String(port), op, String(workers), String(MILLIS)], {
      cwd: root,
      encoding: "utf8"
    })
    if (out.status !== 0) throw new Error(`bench/support/loaded.ts ${args.join(" ")} failed:\n${out.stderr}`)
    return (JSON.parse(out.stdout.trim().split("\n").pop()!) as { opsPerSec: number }).opsPerSec
  }
  for (const workers of LEVELS) {
    const before = load()
    console.log(`\nloaders, c=${workers}: ${ROUNDS} rounds x ${MILLIS} ms per process, load ${before}`)
    if (OPS.includes("PIPE10")) console.log(PIPE10_NOTE)
    console.log("| op | loaded from | ops/s | vs dist (per-round median) | runs |")
    console.log("|---|---|---:|---:|---|")
    for (const op of OPS) {
      const runs = new Map<string, Array<number>>(ways.map((w) => [w.name, []]))
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < ways.length; k++) {
          const way = ways[(round + k) % ways.length]!
          runs.get(way.name)!.push(sample(way.args, op, workers))
        }
      }
      const dist = runs.get("dist")!
      for (const way of ways) {
        const xs = runs.get(way.name)!
        const ratio = median(xs.map((x, r) => x / dist[r]!))
        console.log(`| ${op} | ${way.name} | ${fmtOps(median(xs))} | ${ratio.toFixed(2)}× | ${xs.map(Math.round).join(" ")} |`)
      }
    }
    console.log(`load ${before} -> ${load()}`)
  }
}

/** `redis-benchmark` GET and SET at `workers` clients, with and without `-P 16`. */
const reference = (port: number, workers: number) => {
  const pipelines = workers === 1 ? [1] : [1, 16]
  for (const p of pipelines) {
    const n = p === 1 ? (workers === 1 ? 30_000 : 150_000) : 1_000_000
    const before = load()
    const out = spawnSync("redis-benchmark", [
      "-h", HOST, "-p", String(port), "-c", String(workers), "-n", String(n), "-d", "16", "-r", String(NKEYS),
      "-P", String(p), "-t", "get,set", "--csv"
    ], { encoding: "utf8" })
    if (out.status !== 0) {
      console.log(`redis-benchmark failed: ${out.stderr}`)
      continue
    }
    for (const line of out.stdout.trim().split("\n").slice(1)) {
      const f = line.split(",").map((s) => s.replace(/"/g, ""))
      console.log(
        `| ${f[0]} | redis-benchmark -c ${workers}${p > 1 ? ` -P ${p}` : ""} | ${fmtOps(Number(f[1]))} | ${f[4]} | ${
          f[6]
        } | load ${before} |`
      )
    }
  }
}

const blocking = async (contenders: ReadonlyArray<Contender>) => {
  const rec = new Recorder()
  console.log(
    `\nblocking: ${BLPOP_FIBERS} BLPOP ${BLPOP_TIMEOUT} s loops + 1 GET loop on one client, ${BLOCK_MILLIS} ms, load ${load()}`
  )
  console.log("| contender | GETs/s in the window | GET p50 ms | GET p99 ms | GET max ms | BLPOPs done | ended after ms |")
  console.log("|---|---:|---:|---:|---:|---:|---:|")
  for (const c of contenders) {
    gc()
    rec.reset()
    const started = performance.now()
    const pops = await c.blocking(BLOCK_MILLIS, rec)
    const elapsed = performance.now() - started
    const { max, p50, p99 } = rec.percentiles()
    console.log(
      `| ${c.name} | ${fmtOps(rec.count / (Math.max(elapsed, BLOCK_MILLIS) / 1000))} | ${fmtMs(p50)} | ${fmtMs(p99)} | ${
        fmtMs(max)
      } | ${pops} | ${Math.round(elapsed)} |`
    )
  }
}

// -----------------------------------------------------------------------------
// memory (each contender in a process of its own, so that heaps do not mix)

const memoryChild = async (name: string, port: number) => {
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      gc()
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await settle()
  const before = process.memoryUsage()
  let close: () => Promise<void>
  if (name === "ours") {
    const ours = await makeOurs(port, { poolSize: CONNS, minIdleConns: CONNS, maxConcurrentDials: 32 })
    const deadline = Date.now() + 60_000
    while (ours.redis.pool.statsUnsafe().idle < CONNS) {
      if (Date.now() > deadline) throw new Error(`only ${ours.redis.pool.statsUnsafe().idle} idle connections`)
      await new Promise((r) => setTimeout(r, 50))
    }
    close = ours.close
  } else if (name === "ioredis") {
    const clients = Array.from({ length: CONNS }, () => new IORedis({ port, host: HOST, lazyConnect: true }))
    for (let i = 0; i < CONNS; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()))
    close = async () => clients.forEach((c) => c.disconnect())
  } else {
    const clients = Array.from({ length: CONNS }, () => createClient({ socket: { port, host: HOST } }))
    for (let i = 0; i < CONNS; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()))
    close = async () => clients.forEach((c) => c.destroy())
  }
  await settle()
  const after = process.memoryUsage()
  console.log(JSON.stringify({ name, before, after }))
  await close()
}

const memory = async (port: number) => {
  console.log(`\nmemory: ${CONNS} idle connections, each contender in a fresh process, load ${load()}`)
  console.log(
    "| contender | heap used MB | heap per connection KB | RSS MB | RSS per connection KB | external MB | external per connection KB |"
  )
  console.log("|---|---:|---:|---:|---:|---:|---:|")
  const self = fileURLToPath(import.meta.url)
  for (const name of ["ours", "ioredis", "node-redis"]) {
    if (ONLY !== undefined && !ONLY.includes(name)) continue
    const child = spawnSync(process.execPath, ["--expose-gc", self, "--memory", name, String(port)], {
      encoding: "utf8",
      env: process.env
    })
    const line = child.stdout.trim().split("\n").pop() ?? ""
    if (child.status !== 0 || !line.startsWith("{")) {
      console.log(`| ${name} | failed: ${child.stderr.trim().split("\n").slice(-3).join(" ")} |`)
      continue
    }
    const { after, before } = JSON.parse(line) as Record<"before" | "after", NodeJS.MemoryUsage>
    const mb = (x: number) => (x / 1048576).toFixed(1)
    const kb = (x: number) => (x / 1024 / CONNS).toFixed(1)
    console.log(
      `| ${name} | ${mb(before.heapUsed)} → ${mb(after.heapUsed)} | ${kb(after.heapUsed - before.heapUsed)} | ${
        mb(before.rss)
      } → ${mb(after.rss)} | ${kb(after.rss - before.rss)} | ${mb(before.external)} → ${mb(after.external)} | ${kb(after.external - before.external)} |`
    )
  }
}

// -----------------------------------------------------------------------------

const main = async () => {
  const unknownOps = OPS.filter((op) => !ALL_OPS.includes(op))
  if (unknownOps.length > 0) throw new Error(`unknown OPS ${unknownOps.join(",")}; known: ${ALL_OPS.join(",")}`)
  const port = await freePort()
  const server = spawn(
    "redis-server",
    ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--maxclients", String(CONNS + 1000)],
    { stdio: "ignore" }
  )
  process.on("exit", () => server.kill("SIGKILL"))
  await waitForPort(port)
  const version = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.match(/v=(\S+)/)?.[1]
  console.log(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, redis-server ${version}, ours from ${OURS_FROM}, load ${load()}`
  )

  const seed = new IORedis({ port, host: HOST })
  for (let i = 0; i < NKEYS; i += 1000) await seed.mset(...KEYS.slice(i, i + 1000).flatMap((k) => [k, VALUE]))
  for (let i = 0; i < N1K; i += 100) await seed.mset(...KEYS1K.slice(i, i + 100).flatMap((k) => [k, VALUE1K]))
  seed.disconnect()

  const contenders: Array<Contender> = []
  for (const [name, make] of CONTENDERS) if (ONLY === undefined || ONLY.includes(name)) contenders.push(await make(port))
  if (ONLY?.some((name) => name.startsWith("layer:"))) {
    contenders.push(...(await makeLayers(port)).filter((c) => ONLY.includes(c.name)))
  }
  if (CELLS.includes("throughput")) await throughput(contenders, port)
  if (CELLS.includes("loaders")) loaders(port)
  if (CELLS.includes("blocking")) {
    // The default poolSize (10 x CPUs) is below the 51 connections this cell asks for; a pool
    // with room for them shows what the routing does when turns are not the limit.
    const roomy = ONLY === undefined || ONLY.includes("ours")
      ? [await makeOurs(port, { poolSize: 64 }, "ours (poolSize 64)")]
      : []
    await blocking([...contenders, ...roomy])
    for (const c of roomy) await c.close()
  }
  for (const c of contenders) await c.close()
  if (CELLS.includes("memory")) await memory(port)
  server.kill("SIGKILL")
}

const memoryFlag = process.argv.indexOf("--memory")
const done = memoryFlag >= 0
  ? memoryChild(process.argv[memoryFlag + 1]!, Number(process.argv[memoryFlag + 2]))
  : main()
done.then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
