/**
 * `npm run bench conn`: one connection, N concurrent workers each doing SET then GET
 * of a 16-byte value in a loop, against one ioredis connection with
 * `enableAutoPipelining` and one node-redis client, in the same process run,
 * interleaved (the order rotates every round), medians of ops/s.
 *
 * Starts its own redis-server on a free port. Options: `ROUNDS` (default 5),
 * `MILLIS` per run (default 1500), `CONCURRENCY` (default "50,500").
 */
import { spawn } from "node:child_process"
import * as os from "node:os"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createClient } from "redis"
import * as Conn from "../src/Conn.ts"
import { freePort, waitForPort } from "./support/server.ts"

const ROUNDS = Number(process.env["ROUNDS"] ?? 5)
const MILLIS = Number(process.env["MILLIS"] ?? 1500)
const LEVELS = (process.env["CONCURRENCY"] ?? "50,500").split(",").map(Number)
const VALUE = "0123456789abcdef"

type Runner = (workers: number, millis: number) => Promise<number>

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const main = async () => {
  const port = await freePort()
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })
  process.on("exit", () => server.kill("SIGKILL"))
  await waitForPort(port)

  // ours: one Conn, N fibers
  const connScope = await Effect.runPromise(Scope.make())
  const ours = await Effect.runPromise(Conn.make({ port }).pipe(Scope.provide(connScope)))
  const runOurs: Runner = (workers, millis) => {
    let ops = 0
    const end = Date.now() + millis
    const worker = (i: number) =>
      Effect.gen(function*() {
        const key = `bench:ours:${i}`
        while (Date.now() < end) {
          yield* ours.send(["SET", key, VALUE])
          yield* ours.send(["GET", key])
          ops += 2
        }
      })
    const started = performance.now()
    return Effect.runPromise(
      Effect.forEach(Array.from({ length: workers }, (_, i) => i), worker, { concurrency: "unbounded", discard: true })
    ).then(() => ops / ((performance.now() - started) / 1000))
  }

  const io = new IORedis({ port, host: "127.0.0.1", enableAutoPipelining: true, lazyConnect: true })
  await io.connect()
  const runIo: Runner = async (workers, millis) => {
    let ops = 0
    const end = Date.now() + millis
    const started = performance.now()
    await Promise.all(Array.from({ length: workers }, async (_, i) => {
      const key = `bench:io:${i}`
      while (Date.now() < end) {
        await io.set(key, VALUE)
        await io.get(key)
        ops += 2
      }
    }))
    return ops / ((performance.now() - started) / 1000)
  }

  const nr = createClient({ socket: { port, host: "127.0.0.1" } })
  await nr.connect()
  const runNr: Runner = async (workers, millis) => {
    let ops = 0
    const end = Date.now() + millis
    const started = performance.now()
    await Promise.all(Array.from({ length: workers }, async (_, i) => {
      const key = `bench:nr:${i}`
      while (Date.now() < end) {
        await nr.set(key, VALUE)
        await nr.get(key)
        ops += 2
      }
    }))
    return ops / ((performance.now() - started) / 1000)
  }

  const clients: Array<[string, Runner]> = [["ours", runOurs], ["ioredis", runIo], ["node-redis", runNr]]
  console.log(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }; ${ROUNDS} rounds x ${MILLIS} ms per client and level`
  )
  // warm-up
  for (const [, run] of clients) await run(50, 300)
  for (const workers of LEVELS) {
    const results = new Map<string, Array<number>>(clients.map(([name]) => [name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < clients.length; k++) {
        const [name, run] = clients[(round + k) % clients.length]!
        ;(globalThis as any).gc?.()
        results.get(name)!.push(await run(workers, MILLIS))
      }
    }
    const m = new Map([...results].map(([name, xs]) => [name, median(xs)]))
    const o = m.get("ours")!
    console.log(
      `N=${workers}: ours ${Math.round(o)} ops/s, ioredis ${Math.round(m.get("ioredis")!)}, node-redis ${
        Math.round(m.get("node-redis")!)
      } | ours/ioredis ${(o / m.get("ioredis")!).toFixed(2)}x, ours/node-redis ${(o / m.get("node-redis")!).toFixed(2)}x`
    )
    for (const [name, xs] of results) console.log(`  ${name}: ${xs.map((x) => Math.round(x)).join(" ")}`)
  }
  io.disconnect()
  await nr.quit()
  await Effect.runPromise(Scope.close(connScope, Exit.void))
  server.kill("SIGKILL")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
