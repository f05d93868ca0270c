// @ts-check
/**
 * Mutation testing of the pool and the connection only
 * (`npx stryker run stryker.core.config.mjs`): the modules where a planted bug
 * costs most, against the tests that exercise them directly (the fake-connection
 * pool tests, the property test, the turn queue, the connection against a real
 * redis-server, and the pool on real connections). The full run
 * (`npm run mutate`) was projected at 7 hours for these modules alone on the
 * shared two-core machine; this one at 3 to 4 hours there (run it in pieces with
 * `--mutate file:lines`, or stop it: the incremental file keeps what was tested).
 * Leaving out the service's tests can only let more mutants survive, so its
 * score is a lower bound of the full run's. Results: docs/mutation.md.
 *
 * @type {import("@stryker-mutator/api/core").PartialStrykerOptions}
 */
import base from "./stryker.config.mjs"

export default {
  ...base,
  vitest: { ...base.vitest, configFile: "vitest.mutate.core.config.ts" },
  mutate: [
    // the pool
    "src/Pool.ts",
    "src/internal/pool*.ts",
    // the connection
    "src/Conn.ts",
    "src/internal/conn*.ts"
  ],
  // Kept in the repository: the run takes hours on the shared machine, and goes on from here.
  incrementalFile: "mutation/stryker-core-incremental.json",
  htmlReporter: { fileName: "reports/mutation-core/mutation.html" },
  jsonReporter: { fileName: "reports/mutation-core/mutation.json" }
}
