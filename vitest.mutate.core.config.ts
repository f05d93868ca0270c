/**
 * The tests `npx stryker run stryker.core.config.mjs` runs against each mutant
 * of the pool and the connection: the ones that exercise those modules
 * directly. The property test keeps its fixed seed, so that a mutant is killed
 * or not the same way on every run, with fewer runs.
 */
import { defineConfig } from "vitest/config"
import mutate from "./vitest.mutate.config.ts"

export default defineConfig({
  ...mutate,
  test: {
    ...mutate.test,
    include: [
      "test/Pool.test.ts",
      "test/Pool.shared.test.ts",
      "test/Pool.property.test.ts",
      "test/Pool.redis.test.ts",
      "test/internal/pool*.test.ts",
      "test/Conn.test.ts",
      "test/internal/conn*.test.ts"
    ],
    // One worker process per runner, reused from run to run: a mutant's run then costs its tests, not a
    // process start and the imports per file (Stryker switches mutants at run time).
    isolate: false,
    // A mutant that makes a test hang fails it (killed) within 5 s, before Stryker's own timeout (10 s +
    // twice the covering tests' time) would restart the worker: with 15 s here, hung mutants cost more than
    // half the run's time (a restart each); at 5 s the run went about 3x faster. The slowest test here takes
    // 1.1 s on this machine with both runners busy.
    testTimeout: 5_000,
    hookTimeout: 30_000,
    // Fewer random interleavings than the full run's 200 (each mutant it covers runs it), same seed.
    env: { ...mutate.test?.env, POOL_PROPERTY_RUNS: "60" }
  }
})
