/**
 * `npm run bench allocations`: heap bytes allocated per command, ours beside the peers.
 *
 * Each contender runs in a process of its own with a young generation large enough
 * (`--min/max-semi-space-size=256`, 512 MiB) that no collection runs while it is measured:
 * `process.memoryUsage().heapUsed` after N commands minus before, divided by N, is then
 * what the command path allocated (a PerformanceObserver counts collections; a sample
 * with one is reported as such, not as a figure). c fibers / async workers, each awaiting
 * one GET (or SET) of a 16-byte value at a time, on one client object; a warm-up first so
 * that the JIT has settled. Ours is loaded from the compiled `dist/` (built first) and,
 * for comparison, from the sources.
 *
 * Environment: `COMMANDS` (50 000), `CONCURRENCY` ("1,50"), `OPS` ("GET,SET").
 */
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Redis as IORedis } from "ioredis"
import { freePort, waitForPort } from "./support/server.ts"

const COMMANDS = Number(process.env["COMMANDS"] ?? 50_000)
const LEVELS = (process.env["CONCURRENCY"] ?? "1,50").split(",").map(Number)
const OPS = (process.env["OPS"] ?? "GET,SET").split(",")
const CONTENDERS = ["ours", "ours (src)", "ioredis", "ioredis-auto", "node-redis"] as const
const NKEYS = 10_000
const VALUE = "0123456789abcdef"
const root = fileURLToPath(new URL("..", import.meta.url))
const child = fileURLToPath(new URL("./support/allocated.ts", import.meta.url))

const main = async () => {
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" })
  if (build.status !== 0) throw new Error(`the build failed:\n${build.stdout}${build.stderr}`)
  const port = await freePort()
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })
  process.on("exit", () => server.kill("SIGKILL"))
  await waitForPort(port)
  const seed = new IORedis({ port, host: "127.0.0.1" })
  const keys = Array.from({ length: NKEYS }, (_, i) => `key:${String(i).padStart(12, "0")}`)
  for (let i = 0; i < NKEYS; i += 1000) await seed.mset(...keys.slice(i, i + 1000).flatMap((k) => [k, VALUE]))
  seed.disconnect()

  console.log(`node ${process.version}; ${COMMANDS} commands per sample, no collection during a sample`)
  console.log("| op | c | contender | bytes per command | collections during the sample |")
  console.log("|---|---:|---|---:|---:|")
  for (const op of OPS) {
    for (const workers of LEVELS) {
      for (const name of CONTENDERS) {
        const out = spawnSync(process.execPath, [
          "--expose-gc",
          "--min-semi-space-size=256",
          "--max-semi-space-size=256",
          child,
          name,
          String(port),
          op,
          String(workers),
          String(COMMANDS)
        ], { cwd: root, encoding: "utf8" })
        if (out.status !== 0) throw new Error(`${name} failed:\n${out.stderr}`)
        const r = JSON.parse(out.stdout.trim().split("\n").pop()!) as { bytesPerCommand: number; collections: number }
        const figure = r.collections === 0 ? Math.round(r.bytesPerCommand).toLocaleString("en-US") : "n/a"
        console.log(`| ${op} | ${workers} | ${name} | ${figure} | ${r.collections} |`)
      }
    }
  }
  server.kill("SIGKILL")
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
