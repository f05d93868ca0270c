import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { clusterScenarios, clusterSummary, clusterViolations, runClusterScenario } from "./cluster.ts"

// Short versions of the cluster chaos scenarios (issue 15, item 8); `npm run chaos -- --cluster` runs the full ones.
// Bound: the cluster's start (seconds), the run (6 s), the joins (30 s each when something hangs), the recovery wait
// (30 s), rest and close (25 s), the final health wait (30 s).
const TIMEOUT = 180_000

const check = async (id: number) => {
  const scenario = clusterScenarios.find((s) => s.id === id)!
  const result = await Effect.runPromise(runClusterScenario(scenario, { mode: "short" }))
  expect(clusterViolations(result), clusterSummary(result)).toEqual([])
  return result
}

describe("chaos: cluster faults (short)", () => {
  it("a master killed mid-workload: only writes on its shard acknowledged before the kill may be lost (Redis's async replication), none WAIT saw on a replica; nothing doubled or misdelivered", () =>
    check(11).then(() => undefined), TIMEOUT)
  it("a graceful CLUSTER FAILOVER under load: nothing lost, doubled or misdelivered", () =>
    check(12).then((result) => expect(result.lostToReplication).toBe(0)), TIMEOUT)
  it("slots migrated under load: redirects followed, nothing lost, doubled or misdelivered", () =>
    check(13).then((result) => expect(result.redirects.moved + result.redirects.ask).toBeGreaterThan(0)), TIMEOUT)
  it("one master partitioned from the client for 2 s: nothing lost or misdelivered, the shard recovers", () =>
    check(14).then(() => undefined), TIMEOUT)
})
