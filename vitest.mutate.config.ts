/**
 * The tests `npm run mutate` (Stryker) runs against each mutant: the suite's
 * own settings, without the chaos scenarios (minutes each, and randomised
 * faults), the watchdog's self-test (it starts a vitest of its own) and the
 * test-support self-tests, which exercise no module under mutation. The
 * property test gets a fixed seed, so that a mutant is killed or not the same
 * way on every run.
 */
import { defineConfig } from "vitest/config"
import base from "./vitest.config.ts"

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      "test/Pool.test.ts",
      "test/Pool.shared.test.ts",
      "test/Pool.property.test.ts",
      "test/Pool.redis.test.ts",
      "test/Conn.test.ts",
      "test/Resp.test.ts",
      "test/RedisPool.test.ts",
      "test/Persistence.test.ts",
      "test/Commands.test.ts",
      "test/PubSub.test.ts"
    ],
    env: { POOL_PROPERTY_SEED: "20240612", POOL_PROPERTY_RUNS: "200" }
  }
})
