import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as RedisPool from "../../src/RedisPool.ts"
import * as HugeBulkServer from "./HugeBulkServer.ts"

// Found by chaos scenario 9: connections that pass their handshake and die on their first reply.
describe("chaos: reconnect storm", () => {
  it("a server whose every connection dies on its first reply: the pool stops redialing after a few", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      // Nothing listens upstream: in huge mode the fake answers every connection itself.
      const huge = yield* HugeBulkServer.make({ port: 1 })
      yield* huge.setMode("huge")
      const poolSize = 4
      const redis = yield* RedisPool.make({ port: huge.port, poolSize })
      const tags: Record<string, number> = {}
      for (let i = 0; i < 200; i++) {
        const exit = yield* Effect.exit(redis.get("k"))
        const tag = exit._tag === "Success" ? "Success" : String((exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag)
        tags[tag] = (tags[tag] ?? 0) + 1
      }
      const { accepted } = yield* huge.stats
      expect(tags["Success"] ?? 0).toBe(0)
      expect(tags["ProtocolError"] ?? 0).toBeGreaterThan(0)
      // The breaker's threshold (poolSize) of connections, a probe or two: nowhere near one per command.
      expect(accepted, JSON.stringify(tags)).toBeLessThanOrEqual(3 * poolSize)
    }))), 60_000)
})
