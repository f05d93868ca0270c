import { defineConfig } from "vitest/config"
import { HOOK_TIMEOUT, TEST_TIMEOUT } from "./test/support/budgets.ts"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Planted failures for the watchdog's own test; they run only in the child run it starts.
    exclude: ["test/watchdog/fixtures/**", "**/node_modules/**"],
    // Tests talk to real redis-server processes; give slow shared machines room.
    testTimeout: TEST_TIMEOUT,
    hookTimeout: HOOK_TIMEOUT,
    // The watchdog kills a test worker whose event loop is stuck: each file needs a process of its own.
    pool: "forks",
    setupFiles: ["test/support/watchdog.ts"],
    // Test files start their own servers on free ports, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2
  }
})
