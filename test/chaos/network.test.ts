import { describe, expect, it } from "vitest"
import { CHAOS_TIMEOUT, checkShort } from "./chaos.support.ts"
import { breakerBound, connectionBound, nonZero, type Result, zeroCounts } from "./harness.ts"

let nine: Promise<Result> | undefined
const runNine = () => (nine ??= checkShort(9, { connectionBound: false }))

describe("chaos: the invariant check", () => {
  it("names every count that must be zero and is not, with its value, and nothing else", () => {
    const counts = Object.fromEntries(zeroCounts.map((name) => [name, 0])) as Record<(typeof zeroCounts)[number], number>
    expect(nonZero(counts, zeroCounts)).toEqual([])
    expect(nonZero({ ...counts, misdelivered: 2, hung: 1 }, zeroCounts)).toEqual(["misdelivered = 2", "hung = 1"])
  })
})

// Short versions of the network-side chaos scenarios (issue 8); `npm run chaos` runs the full ones.
describe("chaos: network faults (short)", () => {
  it("a 2 s black hole (held bytes arrive after it, in order): nothing lost or misdelivered, and the pool comes back to rest", () => checkShort(3).then(() => undefined), CHAOS_TIMEOUT)
  it("connections cut in the middle of replies: every caller told, nothing lost or misdelivered", () => checkShort(4).then(() => undefined), CHAOS_TIMEOUT)
  it("one byte per chunk: replies still reach their own callers", () => checkShort(5).then(() => undefined), CHAOS_TIMEOUT)
  it("non-RESP bytes injected into one connection's replies: a protocol error, never a wrong reply", () => checkShort(6).then(() => undefined), CHAOS_TIMEOUT)
  it("a declared 4 GiB bulk length: a bounded error, memory stays flat, the pool recovers", async () => {
    const result = await runNine()
    expect(result.failures["ProtocolError"]).toBeGreaterThan(0)
    expect(result.heapAfterMb - result.heapBeforeMb).toBeLessThan(64)
  }, CHAOS_TIMEOUT)
  it("no reconnect storm: the breaker bounds the connections made during the fault, and the rest are its victims and one refill", async () => {
    const result = await runNine()
    expect(result.bornToDie).toBeGreaterThan(0)
    expect(result.bornToDie).toBeLessThanOrEqual(breakerBound(result))
    expect(result.opened).toBeLessThanOrEqual(connectionBound(result))
  }, CHAOS_TIMEOUT)
})
