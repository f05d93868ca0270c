/**
 * The assertions shared by the short chaos scenarios inside `npm test`:
 * every invariant of issue 8, and no timing.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { expect } from "vitest"
import { connectionBound, type Result, runScenario, summary } from "./harness.ts"
import { scenarios } from "./scenarios.ts"

/**
 * The bound on one short scenario: the run (at most 7 s), the join of its
 * fibers (30 s when some hang), the wait for recovery (48 s with the default
 * options), coming back to rest (10 s), closing (15 s) and the leftover check.
 *
 * @since 0.1.0
 */
export const CHAOS_TIMEOUT = 150_000

/**
 * Runs the short version of scenario `id` and asserts: work was done and
 * acknowledged, zero lost acknowledged writes, zero writes applied twice or
 * applied though reported unsent, zero replies to the wrong caller, zero
 * silently lost popped elements, a success after every fault (awaited by
 * condition within a bound from the pool's options, see `Workload.recoveryBound`), no hung fiber
 * and no defect, pool stats back at rest, the pool closed and its connections
 * gone, and (unless `connectionBound: false`) connections opened within the bound.
 *
 * @since 0.1.0
 */
export const checkShort = async (
  id: number,
  options: { readonly connectionBound?: boolean } = {}
): Promise<Result> => {
  const scenario = scenarios.find((s) => s.id === id)
  if (scenario === undefined) throw new Error(`no scenario ${id}`)
  const result = await Effect.runPromise(runScenario(scenario, { mode: "short" }))
  const context = summary(result)
  expect(result.acked, context).toBeGreaterThan(0)
  expect(result.faultEvents, context).toBeGreaterThan(0)
  expect(result.lostAcked, context).toBe(0)
  expect(result.appliedTwice, context).toBe(0)
  expect(result.appliedUnsent, context).toBe(0)
  expect(result.misdelivered, context).toBe(0)
  expect(result.foreign, context).toBe(0)
  expect(result.silentPopLoss, context).toBe(0)
  // No scenario destroys bytes in transit, so a popped element whose caller timed out is always pushed back.
  expect(result.popLostWithTimeout, context).toBe(0)
  expect(result.unrecovered, context).toBe(0)
  expect(result.recoveryMillis, context).toBeDefined()
  expect(result.hung, context).toBe(0)
  expect(result.defects, context).toBe(0)
  expect(result.finalStats, context).toEqual({ inUse: 0, turnsInUse: 0, sharedInFlight: 0, pendingWaiters: 0, dialing: 0 })
  expect(result.closed, context).toBe(true)
  expect(result.leftoverClients, context).toBe(0)
  if (options.connectionBound !== false) expect(result.opened, context).toBeLessThanOrEqual(connectionBound(result))
  return result
}
