/**
 * Where the command path allocates: V8's sampling heap profiler, keeping samples of objects the
 * young-generation collector already freed (what a command allocates and drops), over N typed
 * GETs by c fibers on one service. `node bench/support/allocprof.ts PORT [N] [C]` prints the
 * functions that allocated most, in bytes per command.
 */
import { Session } from "node:inspector/promises"
import * as Effect from "effect/Effect"
import * as RedisPool from "../../src/RedisPool.ts"

const port = Number(process.argv[2])
const n = Number(process.argv[3] ?? 100_000)
const c = Number(process.argv[4] ?? 50)
const KEYS = Array.from({ length: 10_000 }, (_, i) => `key:${String(i).padStart(12, "0")}`)

interface Node {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<Node>
}

const program = Effect.scoped(Effect.gen(function*() {
  const redis = yield* RedisPool.make({ port })
  const run = (count: number) => {
    let left = count
    const loop = (start: number) =>
      Effect.gen(function*() {
        let i = start
        while (left-- > 0) {
          yield* redis.get(KEYS[i]!)
          i = (i + 1) % KEYS.length
        }
      })
    return Effect.all(Array.from({ length: c }, (_, w) => loop(w * 97)), { concurrency: "unbounded", discard: true })
  }
  yield* run(20_000)
  const session = new Session()
  session.connect()
  yield* Effect.promise(() =>
    session.post("HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true
    })
  )
  yield* run(n)
  const { profile } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
  const bySite = new Map<string, number>()
  const walk = (node: Node) => {
    const frame = node.callFrame
    const file = frame.url.replace(/^.*\/(node_modules\/)?/, "")
    const site = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
    for (const child of node.children) walk(child)
  }
  walk(profile.head as Node)
  const total = [...bySite.values()].reduce((a, b) => a + b, 0)
  console.log(`${Math.round(total / n)} bytes per command sampled in all`)
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${String(Math.round(bytes / n)).padStart(6)}  ${site}`)
  }
}))

Effect.runPromise(program).then(() => process.exit(0))
