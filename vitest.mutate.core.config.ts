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
      "test/internal/poolTurns.test.ts",
      "test/Conn.test.ts"
    ],
    // One worker process per runner, reused from run to run: a mutant's run then costs its tests, not a
    // process start and the imports per file (Stryker switches mutants at run time).
    isolate: false,
    // A mutant that makes a test hang fails it (killed) within 15 s, instead of holding the runner until
    // Stryker's own timeout and a restart of the worker; no test here takes near that on the loaded machine.
    testTimeout: 15_000,
    hookTimeout: 30_000,
    // Fewer random interleavings than the full run's 200 (each mutant it covers runs it), same seed.
    env: { ...mutate.test?.env, POOL_PROPERTY_RUNS: "60" }
  }
})
