/**
 * The pool over real connections to a real redis-server (started by test
 * support on a free port). Live clocks: the connections' timers are Node's.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Conn from "../src/Conn.ts"
import * as Pool from "../src/Pool.ts"
import * as RedisServer from "./support/RedisServer.ts"
import { eventually, failure } from "./support/effects.ts"




const ping = (conn: Conn.Conn) => conn.send(["PING"])

describe("Pool against a real redis-server", () => {
  layer(RedisServer.layer(), { excludeTestServices: true })("one server", (it) => {
    it.effect("CLIENT KILL TYPE normal on every idle connection: the next gets discard them, no error reaches callers", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const pool = yield* Pool.makeConnPool({ poolSize: 5, conn: { port: server.port } })
        // Five connections, all back in the idle list.
        const scope = yield* Scope.make()
        const conns = yield* Effect.forEach(Array.from({ length: 5 }), () => Scope.provide(pool.get, scope))
        yield* Effect.forEach(conns, ping)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(pool.statsUnsafe().idle, 5)
        yield* server.cli("CLIENT", "KILL", "TYPE", "normal")
        // Health comes from the sockets' own events.
        assert.isTrue(yield* eventually(Effect.sync(() => conns.every((c) => !c.isHealthy))))
        for (let i = 0; i < 5; i++) {
          assert.strictEqual(yield* pool.withConn(ping), "PONG")
        }
        const stats = pool.statsUnsafe()
        assert.strictEqual(stats.removals.unhealthy, 5)
        assert.strictEqual(stats.total, 1)
        assert.strictEqual(stats.misses, 6)
      }))

    it.effect("a connection killed while checked out is closed on return, not put back on the idle list", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const pool = yield* Pool.makeConnPool({ poolSize: 2, conn: { port: server.port } })
        const scope = yield* Scope.make()
        const conn = yield* Scope.provide(pool.get, scope)
        assert.strictEqual(yield* ping(conn), "PONG")
        yield* server.cli("CLIENT", "KILL", "ID", String(conn.clientId))
        assert.isTrue(yield* eventually(Effect.sync(() => !conn.isHealthy)))
        yield* Scope.close(scope, Exit.void)
        const stats = pool.statsUnsafe()
        assert.strictEqual(stats.idle, 0, "the killed connection went back to the idle list")
        assert.strictEqual(stats.total, 0)
        assert.strictEqual(stats.removals.unhealthy, 1)
        assert.strictEqual(stats.turnsInUse, 0)
        // The next caller gets a new connection, by a dial.
        assert.strictEqual(yield* pool.withConn(ping), "PONG")
        assert.strictEqual(pool.statsUnsafe().misses, 2)
      }))

    it.effect("a db the server refuses: every checkout fails with the handshake's error, no connection enters the pool", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        // The server has databases 0 to 15.
        const pool = yield* Pool.makeConnPool({ poolSize: 2, breakerThreshold: 100, conn: { port: server.port, db: 16 } })
        for (let i = 0; i < 3; i++) {
          const error = failure(yield* Effect.exit(pool.withConn(ping))) as { _tag?: string; reason?: string; message?: string }
          assert.strictEqual(error?._tag, "ConnectionError", "a connection to a database that does not exist was used")
          assert.strictEqual(error.reason, "handshake")
          assert.include(error.message, "SELECT 16")
        }
        const stats = pool.statsUnsafe()
        assert.strictEqual(stats.total, 0)
        assert.strictEqual(stats.idle, 0)
        assert.strictEqual(stats.turnsInUse, 0)
        assert.strictEqual(stats.misses, 3)
      }))

    it.effect("maxclients 5 with poolSize 20: the sixth connection fails with a typed error, the five keep working", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        yield* server.cli("CONFIG", "SET", "maxclients", "5")
        yield* Effect.addFinalizer(() => Effect.ignore(server.cli("CONFIG", "SET", "maxclients", "10000")))
        const pool = yield* Pool.makeConnPool({ poolSize: 20, breakerThreshold: 100, conn: { port: server.port } })
        const scope = yield* Scope.make()
        const five = yield* Effect.forEach(Array.from({ length: 5 }), () => Scope.provide(pool.get, scope))
        const sixth = yield* Effect.exit(pool.withConn(ping))
        const error = failure(sixth) as { _tag: string; message: string } | undefined
        assert.strictEqual(error?._tag, "ConnectionError")
        for (const conn of five) assert.strictEqual(yield* ping(conn), "PONG")
        const stats = pool.statsUnsafe()
        assert.strictEqual(stats.total, 5)
        assert.strictEqual(stats.inUse, 5)
        assert.strictEqual(stats.turnsInUse, 5)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(pool.statsUnsafe().idle, 5)
      }))

    // The server writes "-ERR max number of clients reached" and closes at once; the
    // pool passes the dial's error through unchanged, so the caller reads why.
    it.effect("maxclients: the refused dial carries the server's text", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        yield* server.cli("CONFIG", "SET", "maxclients", "1")
        yield* Effect.addFinalizer(() => Effect.ignore(server.cli("CONFIG", "SET", "maxclients", "10000")))
        const pool = yield* Pool.makeConnPool({ poolSize: 2, conn: { port: server.port } })
        const scope = yield* Scope.make()
        yield* Scope.provide(pool.get, scope)
        const error = failure(yield* Effect.exit(pool.withConn(ping))) as { message: string } | undefined
        yield* Scope.close(scope, Exit.void)
        assert.include(error?.message, "max number of clients reached")
      }))
  })

  layer(RedisServer.layer(), { excludeTestServices: true })("a server that dies and comes back", (it) => {
    it.effect("killed: the breaker opens with the refusal as cause; restarted: the probe closes it and the pool serves again", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const pool = yield* Pool.makeConnPool({
          poolSize: 5,
          breakerThreshold: 3,
          probeBackoffMin: 50,
          probeBackoffMax: 200,
          conn: { port: server.port, dialTimeout: 2_000 }
        })
        assert.strictEqual(yield* pool.withConn(ping), "PONG")
        yield* server.kill
        // Callers see the refusals, then the open breaker, which fails fast without dialing.
        const exits = yield* Effect.forEach(Array.from({ length: 6 }), () => Effect.exit(pool.withConn(ping)))
        const tags = exits.map((exit) => (failure(exit) as { _tag?: string } | undefined)?._tag)
        assert.isTrue(tags.every((tag) => tag === "ConnectionError" || tag === "CircuitOpenError"), String(tags))
        const open = failure(exits[exits.length - 1]!) as {
          _tag: string
          lastError: { reason: string }
          failures: number
        }
        assert.strictEqual(open._tag, "CircuitOpenError")
        assert.strictEqual(open.lastError.reason, "refused")
        assert.isAtLeast(open.failures, 3)
        assert.strictEqual(pool.statsUnsafe().breaker.state, "open")
        yield* server.start
        assert.isTrue(yield* eventually(Effect.sync(() => pool.statsUnsafe().breaker.state === "closed")))
        assert.strictEqual(yield* pool.withConn(ping), "PONG")
        assert.strictEqual(pool.statsUnsafe().turnsInUse, 0)
      }))
  })
})
