/**
 * A blocking command whose caller left, on a connection with `unblock`
 * (src/internal/connBlocked.ts): the server is asked to release it until it
 * answers, and a server that keeps saying "nothing blocked" while no reply
 * comes gets the connection closed after ten tries.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Conn from "../../src/Conn.ts"
import { ConnectionError } from "../../src/Errors.ts"
import { eventually, pause } from "../support/effects.ts"
import * as RedisServer from "../support/RedisServer.ts"

const blockedClients = (conn: Conn.Conn) =>
  Effect.map(conn.send(["INFO", "clients"]), (info) => Number(/blocked_clients:(\d+)/.exec(String(info))?.[1] ?? -1))

describe("connBlocked", () => {
  it.live("an orphaned BLPOP is released by CLIENT UNBLOCK from another connection; the asking stops once it answered", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const other = yield* Conn.make({ port: server.port })
      const asked: Array<number> = []
      const conn = yield* Conn.make({
        port: server.port,
        unblock: (clientId) => {
          asked.push(clientId)
          return Effect.map(other.send(["CLIENT", "UNBLOCK", clientId]), (released) => released === 1)
        }
      })
      const pop = yield* Effect.forkChild(conn.send(["BLPOP", "unblock-list", "0"]))
      assert.isTrue(yield* eventually(Effect.map(blockedClients(other), (n) => n === 1)))
      yield* Fiber.interrupt(pop)
      // Released: nobody blocks on the list any more, and what is pushed now stays there.
      assert.isTrue(yield* eventually(Effect.map(blockedClients(other), (n) => n === 0)))
      assert.isTrue(asked.length >= 1)
      assert.isTrue(asked.every((id) => id === conn.clientId))
      assert.isTrue(yield* eventually(() => conn.pending === 0))
      const after = asked.length
      yield* pause(350)
      assert.strictEqual(asked.length, after)
      yield* other.send(["RPUSH", "unblock-list", "kept"])
      assert.strictEqual(yield* other.send(["LLEN", "unblock-list"]), 1)
      // A connection whose caller left a blocking command is not reused: an UNBLOCK still on its way must not
      // release someone else's command.
      assert.isFalse(conn.isHealthy)
    }))

  it.live("ten answers of \"nothing blocked\" in a row while no reply comes close the connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      let asked = 0
      // An unblock that never releases anything: the server keeps the BLPOP blocked.
      const conn = yield* Conn.make({ port: server.port, unblock: () => Effect.sync(() => ++asked > 0 && false) })
      const pop = yield* Effect.forkChild(conn.send(["BLPOP", "never-list", "0"]))
      const other = yield* Conn.make({ port: server.port })
      assert.isTrue(yield* eventually(Effect.map(blockedClients(other), (n) => n === 1)))
      yield* Fiber.interrupt(pop)
      const error = yield* conn.awaitClose
      assert.instanceOf(error, ConnectionError)
      assert.include(error.message, "the server holds no blocked command for this connection")
      assert.strictEqual(asked, 10)
    }))

  it.live("a failed UNBLOCK starts the count of \"nothing blocked\" answers again", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      let asked = 0
      // Nine "nothing blocked", one failure, then "nothing blocked" for good: closed at the tenth in a row, call 20.
      const conn = yield* Conn.make({
        port: server.port,
        unblock: () => Effect.suspend(() => ++asked === 10 ? Effect.fail("unreachable") : Effect.succeed(false))
      })
      const pop = yield* Effect.forkChild(conn.send(["BLPOP", "never-list-2", "0"]))
      const other = yield* Conn.make({ port: server.port })
      assert.isTrue(yield* eventually(Effect.map(blockedClients(other), (n) => n === 1)))
      yield* Fiber.interrupt(pop)
      yield* conn.awaitClose
      assert.strictEqual(asked, 20)
    }))
})
