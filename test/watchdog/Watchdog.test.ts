/**
 * The hang guard (`test/support/watchdog.ts`) proved on a planted hang: a child
 * `vitest run` with the suite's own settings over `fixtures/`, where one test
 * spins with the event loop blocked, must fail, name that test, and still
 * pass the file beside it. The child gets a short grace so that it finishes
 * quickly; the bound on it is a hang guard, not a timing assertion.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const BOUND = 90_000

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
  readonly killedByBound: boolean
}

const runFixtures = (): Promise<Run> =>
  new Promise((resolve, reject) => {
    // The child is a vitest of its own, not a worker of this one.
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith("VITEST") && key !== "NODE_OPTIONS") env[key] = value
    }
    const child = spawn(
      process.execPath,
      [
        path.join(root, "node_modules/vitest/vitest.mjs"),
        "run",
        "--config",
        "test/watchdog/fixtures/vitest.config.ts",
        "--reporter",
        "verbose"
      ],
      // A process group of its own, so that the bound kills its test workers too (one of them spins).
      { cwd: root, detached: true, env: { ...env, WATCHDOG_GRACE_MS: "1000", NO_COLOR: "1", FORCE_COLOR: "0", CI: "1" } }
    )
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    let killedByBound = false
    const timer = setTimeout(() => {
      killedByBound = true
      process.kill(-child.pid!, "SIGKILL")
    }, BOUND)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output, killedByBound })
    })
  })

it("a test that blocks its event loop fails its file in bounded time, named, and the run goes on", async () => {
  const run = await runFixtures()
  expect(run.killedByBound, run.output).toBe(false)
  expect(run.code, run.output).toBe(1)
  expect(run.output).toContain(
    `[watchdog] test "test/watchdog/fixtures/busy.test.ts > spins with the event loop blocked" overran its budget`
  )
  expect(run.output).toMatch(/Worker exited unexpectedly with signal SIGKILL .*busy\.test\.ts/)
  expect(run.output).toMatch(/✓ test\/watchdog\/fixtures\/healthy\.test\.ts > a file beside the hang still passes/)
}, BOUND + 30_000)
