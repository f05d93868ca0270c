import { assert, describe, it } from "@effect/vitest"
import { refreshGap } from "../../src/internal/clusterState.ts"

describe("clusterState.refreshGap", () => {
  it("the cooldown after a success; after failures it doubles up to the bound, jittered to half to all of it", () => {
    assert.strictEqual(refreshGap(0, 100, 2_000, 0.9), 100)
    assert.strictEqual(refreshGap(1, 100, 2_000, 0), 100)
    assert.strictEqual(refreshGap(1, 100, 2_000, 1), 200)
    assert.strictEqual(refreshGap(3, 100, 2_000, 0.5), 600)
    assert.strictEqual(refreshGap(5, 100, 2_000, 0), 1_000)
    assert.strictEqual(refreshGap(5, 100, 2_000, 1), 2_000)
    assert.strictEqual(refreshGap(60, 100, 2_000, 1), 2_000)
    // A bound below the cooldown never makes refreshes more frequent than the cooldown allows.
    assert.strictEqual(refreshGap(4, 100, 50, 1), 100)
  })
})
