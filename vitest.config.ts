import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests talk to real redis-server processes; give slow shared machines room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files start their own servers on free ports, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2
  }
})
