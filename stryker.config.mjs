// @ts-check
/**
 * Mutation testing (`npm run mutate`): plants small bugs in the pool, the
 * connection, the codec and the service, one at a time, and checks that some
 * test fails. Slow (an hour or more on two cores), so not in CI: run it before
 * a large refactor. Each mutant runs only the tests that cover it
 * (`perTest`), and `incremental` reuses the results of mutants whose code and
 * tests did not change since the last run (reports/stryker-incremental.json).
 * Results: docs/mutation.md.
 *
 * @type {import("@stryker-mutator/api/core").PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutate.config.ts", related: false, pool: "forks" },
  mutate: [
    // the pool: one module per concept
    "src/Pool.ts",
    "src/internal/pool.ts",
    "src/internal/pool{Turns,Idle,Deadlines,Dial,Breaker,Shared,Reaper,Request,Options}.ts",
    // the connection
    "src/Conn.ts",
    "src/internal/conn{Socket,Slot,Deadlines,Blocked,PubSub,Handshake,Dial,Restore}.ts",
    // the codec
    "src/Resp.ts",
    "src/internal/resp{Decoder,Writer}.ts",
    // the service
    "src/RedisPool.ts",
    "src/internal/{shared,exclusive,batch,redisPoolRetry}.ts",
    "src/Persistence.ts"
  ],
  coverageAnalysis: "perTest",
  // Module-level code (metric definitions, lookup tables) would need the whole suite per mutant.
  ignoreStatic: true,
  concurrency: 2,
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  // Real redis-server tests: room for a slow shared machine before a mutant counts as a hang.
  timeoutMS: 20_000,
  timeoutFactor: 2,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  thresholds: { high: 90, low: 80, break: null }
}
