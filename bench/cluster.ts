/**
 * `npm run bench cluster`: this library's `Cluster` against ioredis `Cluster`
 * (default and `enableAutoPipelining`) and node-redis `createCluster`, in the
 * same process, on the same local 6-node cluster (3 masters, 1 replica each,
 * `cluster-node-timeout 1000`, from `test/support/RedisCluster.ts`).
 *
 * - throughput: GET and SET of 16-byte values over 10 000 keys (spread over
 *   the three masters) at each level of `CONCURRENCY`; a warm-up per
 *   contender, then `ROUNDS` interleaved repetitions (the order rotates each
 *   round); medians, and the median of the per-round ratios against the best
 *   peer of that round, as `bench/clients.ts` does.
 * - failover: on a fresh cluster per round, each client writes SET of its own
 *   key of one shard in a loop (10 ms pause after a failure); that shard's
 *   master is killed with SIGKILL; reported per client: milliseconds from the
 *   kill to its first successful write, beside the cluster's own time to be
 *   healthy again (every slot on a reachable master, as the harness sees it),
 *   as `bench/sentinel.ts` does for Sentinel.
 *
 * Environment: `ROUNDS` (7), `MILLIS` (500), `CONCURRENCY` ("50,500"),
 * `CELLS` ("throughput,failover"), `FAILOVER_ROUNDS` (3), `BOUND` ms per
 * failover round (20 000).
 */
import * as os from "node:os"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { Cluster as IOCluster } from "ioredis"
import { createCluster } from "redis"
import * as Cluster from "../src/Cluster.ts"
import { keySlot } from "../src/internal/clusterSlot.ts"
import * as RedisCluster from "../test/support/RedisCluster.ts"

const ROUNDS = Number(process.env["ROUNDS"] ?? 7)
const MILLIS = Number(process.env["MILLIS"] ?? 500)
const LEVELS = (process.env["CONCURRENCY"] ?? "50,500").split(",").map(Number)
const CELLS = (process.env["CELLS"] ?? "throughput,failover").split(",")
const FAILOVER_ROUNDS = Number(process.env["FAILOVER_ROUNDS"] ?? 3)
const BOUND = Number(process.env["BOUND"] ?? 20_000)
const NKEYS = 10_000
const VALUE = "0123456789abcdef"
const KEYS = Array.from({ length: NKEYS }, (_, i) => `key:${String(i).padStart(12, "0")}`)
type Op = "GET" | "SET"
const OPS: ReadonlyArray<Op> = ["GET", "SET"]

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ")
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

interface Client {
  readonly name: string
  readonly get: (key: string) => Promise<unknown>
  readonly set: (key: string, value: string) => Promise<unknown>
  readonly close: () => Promise<void>
}

const makeOurs = async (addresses: ReadonlyArray<string>): Promise<Client & { redis: Cluster.Cluster }> => {
  const scope = await Effect.runPromise(Scope.make())
  const redis = await Effect.runPromise(Cluster.make({ nodes: addresses }).pipe(Scope.provide(scope)))
  return {
    name: "ours",
    redis,
    get: (key) => Effect.runPromise(redis.get(key)),
    set: (key, value) => Effect.runPromise(redis.set(key, value)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const makeIoredis = async (addresses: ReadonlyArray<string>, auto: boolean): Promise<Client> => {
  const io = new IOCluster(addresses.map((a) => ({ host: "127.0.0.1", port: Number(a.split(":")[1]) })), {
    enableAutoPipelining: auto,
    lazyConnect: true
  })
  io.on("error", () => {})
  await io.connect()
  return {
    name: auto ? "ioredis Cluster auto" : "ioredis Cluster",
    get: (key) => io.get(key),
    set: (key, value) => io.set(key, value),
    close: async () => void io.disconnect()
  }
}

const makeNodeRedis = async (addresses: ReadonlyArray<string>): Promise<Client> => {
  const nr = createCluster({ rootNodes: addresses.map((a) => ({ url: `redis://${a}` })) })
  nr.on("error", () => {})
  await nr.connect()
  return {
    name: "node-redis createCluster",
    get: (key) => nr.get(key),
    set: (key, value) => nr.set(key, value),
    close: () => nr.close().then(() => undefined, () => undefined)
  }
}

/** Ours runs as fibers (as an Effect program would), the peers as promise loops. */
const runOps = async (client: Client & { redis?: Cluster.Cluster }, op: Op, workers: number, millis: number): Promise<number> => {
  const end = performance.now() + millis
  let count = 0
  const started = performance.now()
  const redis = client.redis
  if (redis !== undefined) {
    const call = op === "GET" ? (key: string) => redis.get(key) : (key: string) => redis.set(key, VALUE)
    const loop = (start: number) =>
      Effect.gen(function*() {
        let i = start
        while (performance.now() < end) {
          yield* call(KEYS[i]!)
          count++
          i = i + 1 === NKEYS ? 0 : i + 1
        }
      })
    await Effect.runPromise(Effect.all(Array.from({ length: workers }, (_, w) => loop((w * 7919) % NKEYS)), {
      concurrency: "unbounded",
      discard: true
    }))
  } else {
    const call = op === "GET" ? client.get : (key: string) => client.set(key, VALUE)
    const loop = async (start: number) => {
      let i = start
      while (performance.now() < end) {
        await call(KEYS[i]!)
        count++
        i = i + 1 === NKEYS ? 0 : i + 1
      }
    }
    await Promise.all(Array.from({ length: workers }, (_, w) => loop((w * 7919) % NKEYS)))
  }
  return count / ((performance.now() - started) / 1000)
}

const throughput = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const cluster = yield* Scope.provide(RedisCluster.make(), scope)
  const clients: Array<Client & { redis?: Cluster.Cluster }> = yield* Effect.promise(async () => [
    await makeOurs(cluster.addresses),
    await makeIoredis(cluster.addresses, false),
    await makeIoredis(cluster.addresses, true),
    await makeNodeRedis(cluster.addresses)
  ])
  yield* Effect.promise(async () => {
    for (let i = 0; i < NKEYS; i += 100) await Promise.all(KEYS.slice(i, i + 100).map((key) => clients[0]!.set(key, VALUE)))
  })
  for (const workers of LEVELS) {
    yield* Effect.promise(async () => {
      for (const c of clients) for (const op of OPS) await runOps(c, op, workers, 300)
      const loads = [load()]
      const results = new Map<string, Array<number>>()
      for (let round = 0; round < ROUNDS; round++) {
        for (const op of OPS) {
          for (let k = 0; k < clients.length; k++) {
            const c = clients[(round + k) % clients.length]!
            gc()
            const key = `${op} ${c.name}`
            if (!results.has(key)) results.set(key, [])
            results.get(key)!.push(await runOps(c, op, workers, MILLIS))
          }
        }
      }
      loads.push(load())
      console.log(`\nc=${workers}: ${ROUNDS} rounds x ${MILLIS} ms, load ${loads.join(" -> ")}`)
      console.log("| op | client | ops/s (median) | vs best peer | per-round vs best peer (median) | rounds |")
      console.log("|---|---|---:|---:|---:|---|")
      for (const op of OPS) {
        const peers = clients.filter((c) => c.name !== "ours")
        const bestPeer = Math.max(...peers.map((c) => median(results.get(`${op} ${c.name}`)!)))
        for (const c of clients) {
          const xs = results.get(`${op} ${c.name}`)!
          const perRound = median(xs.map((x, r) => x / Math.max(...peers.map((p) => results.get(`${op} ${p.name}`)![r]!))))
          console.log(
            `| ${op} | ${c.name} | ${Math.round(median(xs))} | ${(median(xs) / bestPeer).toFixed(2)} | ${
              c.name === "ours" ? perRound.toFixed(2) : ""
            } | ${xs.map(Math.round).join(" ")} |`
          )
        }
      }
    })
  }
  yield* Effect.promise(async () => {
    for (const c of clients) await c.close()
  })
  yield* Scope.close(scope, Exit.void)
})

interface Writer {
  readonly name: string
  firstAfter: number | undefined
  failures: number
}

const failoverRound = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const cluster = yield* Scope.provide(RedisCluster.make(), scope)
  const clients: Array<Client> = yield* Effect.promise(async () => [
    await makeOurs(cluster.addresses),
    await makeIoredis(cluster.addresses, false),
    await makeIoredis(cluster.addresses, true),
    await makeNodeRedis(cluster.addresses)
  ])
  const tag = "{failover}"
  const master = yield* cluster.masterOf(keySlot(tag))
  let killedAt: number | undefined
  const writers: Array<Writer> = clients.map((c) => ({ name: c.name, firstAfter: undefined, failures: 0 }))
  let stopped = false
  const loops = clients.map((c, k) =>
    (async () => {
      for (let i = 0; !stopped; i++) {
        const issued = Date.now()
        try {
          await c.set(`${tag}:${k}`, String(i))
          if (killedAt !== undefined && issued >= killedAt && writers[k]!.firstAfter === undefined) writers[k]!.firstAfter = Date.now()
        } catch {
          if (killedAt !== undefined) writers[k]!.failures++
          await sleep(10)
        }
      }
    })()
  )
  yield* Effect.promise(() => sleep(500))
  yield* cluster.kill(master)
  killedAt = Date.now()
  const health = yield* Effect.forkChild(Effect.map(cluster.waitHealthy({ timeoutMillis: BOUND }), () => Date.now()))
  const deadline = Date.now() + BOUND
  yield* Effect.promise(async () => {
    while (Date.now() < deadline && writers.some((w) => w.firstAfter === undefined)) await sleep(5)
  })
  const healthyAt = yield* Effect.orElseSucceed(Fiber.join(health), () => Number.NaN)
  stopped = true
  yield* Effect.promise(() => Promise.all(loops))
  yield* Effect.promise(async () => {
    for (const c of clients) await c.close()
  })
  yield* Scope.close(scope, Exit.void)
  return {
    healthy: healthyAt - killedAt,
    writers: writers.map((w) => ({ name: w.name, fromKill: w.firstAfter === undefined ? Number.NaN : w.firstAfter - killedAt!, failures: w.failures }))
  }
})

const failover = Effect.gen(function*() {
  const rounds: Array<{ healthy: number; writers: Array<{ name: string; fromKill: number; failures: number }> }> = []
  for (let r = 0; r < FAILOVER_ROUNDS; r++) {
    const result = yield* failoverRound
    rounds.push(result)
    console.log(`round ${r + 1}: cluster healthy ${result.healthy} ms after the kill; ` +
      result.writers.map((w) => `${w.name} ${w.fromKill} ms`).join(", "))
  }
  console.log(`\nfirst successful write after a master kill, medians of ${FAILOVER_ROUNDS} rounds (load ${load()}):`)
  console.log(`  cluster's own failover (healthy again)   ${median(rounds.map((r) => r.healthy))} ms`)
  for (const name of rounds[0]!.writers.map((w) => w.name)) {
    const mine = rounds.map((r) => r.writers.find((w) => w.name === name)!)
    console.log(`  ${name.padEnd(28)} ${String(median(mine.map((w) => w.fromKill))).padStart(6)} ms   failed writes in the window: ${
      median(mine.map((w) => w.failures))
    }`)
  }
})

const main = Effect.gen(function*() {
  console.log(`cluster bench: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${load()}`)
  if (CELLS.includes("throughput")) yield* throughput
  if (CELLS.includes("failover")) yield* failover
})

Effect.runPromise(main).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
