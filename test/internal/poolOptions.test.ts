import { assert, describe, it } from "@effect/vitest"
import { availableParallelism } from "node:os"
import { InvalidArgumentError } from "../../src/Errors.ts"
import { resolveUnsafe } from "../../src/internal/poolOptions.ts"

const invalid = (options: Parameters<typeof resolveUnsafe>[0]): InvalidArgumentError => {
  try {
    resolveUnsafe(options)
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error
    throw error
  }
  throw new Error("resolveUnsafe accepted the options")
}

describe("the pool's options resolved", () => {
  it("defaults: poolSize 10 per CPU, dialTimeout 5 s, maxConcurrentDials min(poolSize, 4), name \"default\"", () => {
    const resolved = resolveUnsafe({})
    assert.strictEqual(resolved.poolSize, 10 * availableParallelism())
    assert.strictEqual(resolved.dialTimeout, 5_000)
    assert.strictEqual(resolved.maxConcurrentDials, 4)
    assert.strictEqual(resolved.name, "default")
    assert.strictEqual(resolveUnsafe({ poolSize: 2 }).maxConcurrentDials, 2)
    assert.strictEqual(resolveUnsafe({ poolSize: 2, maxConcurrentDials: 7 }).maxConcurrentDials, 7)
    // Zero disables the dial's own bound.
    assert.strictEqual(resolveUnsafe({ dialTimeout: 0 }).dialTimeout, Infinity)
    assert.strictEqual(resolveUnsafe({ dialTimeout: 250 }).dialTimeout, 250)
  })

  it("the rules between options say which values clash", () => {
    const tooMany = invalid({ poolSize: 2, minIdleConns: 3 })
    assert.strictEqual(tooMany.option, "minIdleConns")
    assert.include(tooMany.message, "3 exceeds poolSize 2")
    const backwards = invalid({ probeBackoffMin: 1_000, probeBackoffMax: 10 })
    assert.strictEqual(backwards.option, "probeBackoffMax")
    assert.include(backwards.message, "10 ms is below probeBackoffMin 1000 ms")
  })
})
