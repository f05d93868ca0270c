import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { describe, expect, it } from "vitest"
import * as Conn from "../../src/Conn.ts"
import * as RedisPool from "../../src/RedisPool.ts"
import { eventually } from "../support/effects.ts"
import * as RedisServer from "../support/RedisServer.ts"
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

  // Chaos scenario 9 under load: consumers that left their BLPOPs had the pool send CLIENT UNBLOCK on a new
  // connection; the fake answered it, and that answer counted as the connection serving a caller, so the breaker's
  // count of early deaths started over (or a half-open breaker closed) and the pool dialed for every caller again.
  it("a CLIENT UNBLOCK the pool sends for a caller who left proves nothing to the breaker", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const huge = yield* HugeBulkServer.make({ port: server.port })
      const admin = yield* Conn.make({ port: server.port })
      // Two turns: the left BLPOP's connection keeps one while its reply is awaited, so the UNBLOCK's connection and
      // the next caller share the other, and that caller's command runs on the connection the UNBLOCK was answered on.
      // One early death opens the breaker.
      const redis = yield* RedisPool.make({ port: huge.port, poolSize: 2, breakerThreshold: 1 })
      const left = yield* Effect.forkChild(redis.blpop("q", 0))
      expect(yield* eventually(Effect.map(admin.send(["INFO", "clients"]), (info) => /blocked_clients:1\b/.test(String(info))))).toBe(true)
      yield* huge.setMode("huge")
      yield* Fiber.interrupt(left)
      expect(yield* eventually(Effect.map(huge.stats, (stats) => stats.unblocks > 0))).toBe(true)
      expect((yield* redis.stats).breaker.state).toBe("closed")
      // The UNBLOCK was answered on a new connection; the first command a caller sends on it dies.
      const exit = yield* Effect.exit(redis.blpop("k", 1))
      expect(exit._tag === "Failure" && String(exit.cause)).toContain("ProtocolError")
      // That connection had served nobody: one early death, and the breaker (threshold 1) is open.
      expect((yield* redis.stats).breaker.state).toBe("open")
      expect((yield* huge.stats).fakes).toBe(1)
    }))), 60_000)
})
