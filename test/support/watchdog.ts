/**
 * A hang guard for every test file (a vitest setup file).
 *
 * vitest's `testTimeout` is a timer in the test worker: a test that keeps the
 * event loop busy (a synchronous loop, or fibers that reschedule each other
 * forever without letting timers run) never sees it fire, and the whole run
 * hangs instead of failing. So a `worker_threads` thread, whose event loop is
 * its own, watches a deadline that the test worker writes into shared memory
 * at every phase: the current test's timeout plus a grace, or a bound on the
 * hooks and collection between tests. When a deadline passes, the thread writes
 * which test or phase overran to stderr and SIGKILLs the test worker's
 * process; vitest then fails the file ("Worker exited unexpectedly") and goes
 * on with the others. It needs `pool: "forks"` (with threads the process is
 * vitest itself) and does nothing in a worker thread.
 *
 * The grace (`WATCHDOG_GRACE_MS`) keeps it out of the way of vitest's own
 * timeout, which fires first whenever it can; it only decides in bounded time
 * when nothing else will.
 *
 * @since 0.1.0
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest"
import { isMainThread, Worker } from "node:worker_threads"
import { HOOK_TIMEOUT, WATCHDOG_GRACE } from "./budgets.ts"

// Shared memory: [0] generation (bumped at every change; -1 stops the thread), [1] deadline in epoch
// ms (0 = disarmed), [2] length of the label in bytes; then the label itself, UTF-8.
const LABEL_OFFSET = 24
const LABEL_BYTES = 2_048

// Plain JavaScript, evaluated in the thread. It blocks on `Atomics.wait`, which a blocked test
// worker cannot disturb, and writes to fd 2 directly (a worker's `process.stderr` goes through
// the main thread, the very thread that is stuck).
const guardSource = `
const { workerData } = require("node:worker_threads")
const fs = require("node:fs")
const state = new BigInt64Array(workerData.buffer, 0, 3)
const label = new Uint8Array(workerData.buffer, ${LABEL_OFFSET}, ${LABEL_BYTES})
for (;;) {
  const generation = Atomics.load(state, 0)
  if (generation < 0n) break
  const deadline = Number(Atomics.load(state, 1))
  const now = Date.now()
  if (deadline > 0 && now >= deadline) {
    const text = Buffer.from(label.subarray(0, Number(Atomics.load(state, 2)))).toString("utf8")
    fs.writeSync(2, "\\n[watchdog] " + text + " overran its budget by " + (now - deadline) +
      " ms (past its timeout and a grace: the event loop is stuck); killing test worker " + process.pid + "\\n")
    process.kill(process.pid, "SIGKILL")
    break
  }
  Atomics.wait(state, 0, generation, deadline > 0 ? Math.min(deadline - now, 1000) : 1000)
}
`

const encoder = new TextEncoder()

interface Guard {
  readonly arm: (label: string, budgetMillis: number) => void
  readonly stop: () => void
}

const start = (): Guard | undefined => {
  // Only a forked test worker may be killed: in a thread the process is vitest itself.
  if (!isMainThread || typeof process.send !== "function") return undefined
  const buffer = new SharedArrayBuffer(LABEL_OFFSET + LABEL_BYTES)
  const state = new BigInt64Array(buffer, 0, 3)
  const label = new Uint8Array(buffer, LABEL_OFFSET, LABEL_BYTES)
  const worker = new Worker(guardSource, { eval: true, workerData: { buffer } })
  worker.unref()
  const bump = () => {
    Atomics.add(state, 0, 1n)
    Atomics.notify(state, 0)
  }
  return {
    arm: (text, budgetMillis) => {
      const bytes = encoder.encode(text).subarray(0, LABEL_BYTES)
      label.set(bytes)
      Atomics.store(state, 2, BigInt(bytes.length))
      Atomics.store(state, 1, BigInt(Date.now() + budgetMillis))
      bump()
    },
    stop: () => {
      Atomics.store(state, 1, 0n)
      Atomics.store(state, 0, -1n)
      Atomics.notify(state, 0)
    }
  }
}

const guard = start()

if (guard !== undefined) {
  // Between tests run at most an afterAll of one suite and a beforeAll of the next.
  const between = 2 * HOOK_TIMEOUT + WATCHDOG_GRACE
  guard.arm("collecting a test file", between)
  // vitest parses a hook's first parameter for fixtures: it must be a destructuring pattern.
  beforeAll(({}, file) => {
    guard.arm(`the first hooks of ${file.fullName}`, between)
  })
  beforeEach(({ task }) => {
    guard.arm(`test "${task.fullName}"`, task.timeout + WATCHDOG_GRACE)
  })
  afterEach(({ task }) => {
    guard.arm(`the hooks after test "${task.fullName}"`, between)
  })
  afterAll(() => guard.stop())
}
