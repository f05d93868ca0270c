import { assert, describe, it } from "@effect/vitest"
import { nearest } from "../../src/internal/clusterLatency.ts"

const node = (port: number) => ({ host: "10.0.0.1", port })
const [master, r1, r2] = [node(7000), node(7001), node(7002)]

describe("clusterLatency.nearest", () => {
  it("picks the fastest node, master or replica", () => {
    const times = new Map([[7000, 9], [7001, 0.4], [7002, 5]])
    for (let i = 0; i < 50; i++) assert.deepStrictEqual(nearest([master, r1, r2], (a) => times.get(a.port), 1), r1)
    times.set(7000, 0.1)
    for (let i = 0; i < 50; i++) assert.deepStrictEqual(nearest([master, r1, r2], (a) => times.get(a.port), 0.2), master)
  })

  it("spreads over every node within the tolerance of the fastest, and only those", () => {
    const times = new Map([[7000, 0.3], [7001, 0.9], [7002, 1.5]])
    const seen = new Set<number>()
    for (let i = 0; i < 200; i++) seen.add(nearest([master, r1, r2], (a) => times.get(a.port), 1)!.port)
    assert.deepStrictEqual([...seen].sort(), [7000, 7001])
  })

  it("skips nodes not measured or not answering; the master when none was measured or none answers", () => {
    const times = new Map<number, number>([[7001, Infinity], [7002, 3]])
    for (let i = 0; i < 50; i++) assert.deepStrictEqual(nearest([master, r1, r2], (a) => times.get(a.port), 1), r2)
    assert.deepStrictEqual(nearest([master, r1, r2], () => undefined, 1), master)
    assert.deepStrictEqual(nearest([master, r1, r2], () => Infinity, 1), master)
    assert.strictEqual(nearest([], () => 1, 1), undefined)
  })
})
