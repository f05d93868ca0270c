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
    // Fewer random interleavings than the full run's 200 (each mutant it covers runs it), same seed.
    env: { ...mutate.test?.env, POOL_PROPERTY_RUNS: "60" }
  }
})
