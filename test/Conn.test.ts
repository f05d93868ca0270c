import { assert, describe, it, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Conn from "../src/Conn.ts"
import * as fs from "node:fs"
import * as net from "node:net"
import { ConnectionError, ProtocolError, RedisReplyError } from "../src/Errors.ts"
import { blockingMillis, isBlocking } from "../src/internal/commandTraits.ts"
import { ConnSocket } from "../src/internal/connSocket.ts"
import { restoreCommand } from "../src/internal/connRestore.ts"
import type * as Resp from "../src/Resp.ts"
import * as FaultProxy from "./support/FaultProxy.ts"
import { freePort } from "./support/ports.ts"
import * as RawServer from "./support/RawServer.ts"
import * as RedisServer from "./support/RedisServer.ts"
import { eventually, failure, pause, tagOf } from "./support/effects.ts"




/** Waits (bounded) until the server counts `n` blocked clients. */
const blockedClients = (conn: Conn.Conn, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000; i++) {
      const info = String(yield* conn.send(["INFO", "clients"]))
      if (Number(/blocked_clients:(\d+)/.exec(info)?.[1]) === n) return true
      yield* pause(10)
    }
    return false
  })

/** How many times the server ran `command` (lower case), from `INFO commandstats`. */
const commandCalls = (conn: Conn.Conn, command: string) =>
  Effect.map(
    conn.send(["INFO", "commandstats"]),
    (info) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(String(info))?.[1] ?? 0)
  )


describe("restoreCommand", () => {
  it("puts back what a blocking pop took: head, tail, or sorted set; nothing for nil or moves", () => {
    assert.deepStrictEqual(restoreCommand(["BLPOP", "a", "b", 1], ["b", "x"]), ["LPUSH", "b", "x"])
    assert.deepStrictEqual(restoreCommand(["brpop", "a", 1], ["a", "x"]), ["RPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, 2, "a", "b", "LEFT", "COUNT", 2], ["a", ["x", "y"]]), ["LPUSH", "a", "y", "x"])
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, 1, "a", "RIGHT", "COUNT", 2], ["a", ["z", "y"]]), ["RPUSH", "a", "y", "z"])
    assert.deepStrictEqual(restoreCommand(["BZPOPMIN", "z", 1], ["z", "m", 1.5]), ["ZADD", "z", 1.5, "m"])
    assert.deepStrictEqual(restoreCommand(["BZMPOP", 1, 1, "z", "MAX", "COUNT", 2], ["z", [["m", 3], ["n", 2]]]), ["ZADD", "z", 3, "m", 2, "n"])
    assert.deepStrictEqual(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", ["m", "1"]]), ["ZADD", "z", "1", "m"])
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], null))
    assert.isUndefined(restoreCommand(["BLMOVE", "a", "b", "LEFT", "RIGHT", 1], "x"))
    assert.isUndefined(restoreCommand(["BRPOPLPUSH", "a", "b", 1], "x"))
    assert.isUndefined(restoreCommand(["WAIT", 1, 100], 0))
  })
})

describe("isBlocking", () => {
  it("recognises blocking commands and their block time", () => {
    assert.strictEqual(blockingMillis(["BLPOP", "a", "b", "1.5"]), 1500)
    assert.strictEqual(blockingMillis(["blpop", "a", "0"]), 0)
    assert.strictEqual(blockingMillis(["BLMPOP", "2", "2", "a", "b", "LEFT"]), 2000)
    assert.strictEqual(blockingMillis(["XREAD", "COUNT", "1", "BLOCK", "250", "STREAMS", "s", "$"]), 250)
    assert.strictEqual(blockingMillis(["XREAD", "STREAMS", "BLOCK", "0"]), undefined)
    assert.strictEqual(blockingMillis(["WAIT", "1", "100"]), 100)
    assert.strictEqual(blockingMillis([new TextEncoder().encode("BRPOP"), "k", 2]), 2000)
    assert.isFalse(isBlocking(["GET", "BLPOP"]))
    assert.isFalse(isBlocking(["XADD", "s", "*", "f", "v"]))
    assert.isFalse(isBlocking([]))
  })
})

layer(RedisServer.layer(), { excludeTestServices: true })("Conn against one server", (it) => {
  it.effect("options: durations unset take their defaults, zero, negative or infinite ones disable, fractions round up", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const settingsOf = (options: Omit<Conn.ConnOptions, "port">) =>
        Effect.map(Conn.make({ port: server.port, ...options }), (conn) => (conn as unknown as ConnSocket).settings)
      let settings = yield* settingsOf({})
      assert.strictEqual(settings.readTimeout, 3_000)
      assert.strictEqual(settings.writeTimeout, 3_000)
      assert.strictEqual(settings.drainTimeout, 3_000)
      assert.strictEqual(settings.maxPending, 1_000)
      settings = yield* settingsOf({ readTimeout: 1_234.2, maxPending: 7.9 })
      assert.strictEqual(settings.readTimeout, 1_235)
      assert.strictEqual(settings.writeTimeout, 1_235)
      assert.strictEqual(settings.drainTimeout, 1_235)
      assert.strictEqual(settings.maxPending, 7)
      settings = yield* settingsOf({ readTimeout: Duration.infinity, writeTimeout: -5, drainTimeout: 0, maxPending: 0 })
      assert.strictEqual(settings.readTimeout, 0)
      assert.strictEqual(settings.writeTimeout, 0)
      assert.strictEqual(settings.drainTimeout, 0)
      assert.strictEqual(settings.maxPending, 1_000)
      settings = yield* settingsOf({ readTimeout: 500, writeTimeout: "2 seconds", drainTimeout: 40 })
      assert.strictEqual(settings.writeTimeout, 2_000)
      assert.strictEqual(settings.drainTimeout, 40)
      assert.strictEqual(settings.address, `127.0.0.1:${server.port}`)
      // dialTimeout 0: no bound on the dial, not a bound of zero.
      assert.isTrue((yield* Conn.make({ port: server.port, dialTimeout: 0 })).isHealthy)
    }))

  it.effect("10 000 concurrent GETs of distinct keys on one connection each get their own key's value", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      const n = 10_000
      yield* conn.sendBatch(Array.from({ length: n }, (_, i) => ["SET", `get:${i}`, `value-${i}`]))
      const replies = yield* Effect.forEach(
        Array.from({ length: n }, (_, i) => i),
        (i) => conn.send(["GET", `get:${i}`]),
        { concurrency: "unbounded" }
      )
      for (let i = 0; i < n; i++) assert.strictEqual(replies[i], `value-${i}`)
      assert.strictEqual(conn.pending, 0)
      assert.isTrue(conn.isHealthy)
    }))

  it.effect("a timed-out command leaves the connection usable and no new connection is made", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, readTimeout: 100, drainTimeout: 10_000 })
      const id = yield* conn.send(["CLIENT", "ID"])
      assert.strictEqual(id, conn.clientId)
      const slow = yield* Effect.exit(conn.send(["DEBUG", "SLEEP", "0.5"]))
      assert.strictEqual(tagOf(slow), "CommandTimeoutError")
      // The late +OK is dropped when it lands; the next caller gets its own reply.
      const echo = yield* conn.send(["ECHO", "mine"], { timeout: 5_000 })
      assert.strictEqual(echo, "mine")
      assert.strictEqual(yield* conn.send(["CLIENT", "ID"]), id)
      assert.isTrue(conn.isHealthy)
      assert.strictEqual(conn.pending, 0)
    }))

  it.effect("1 000 in-flight commands, a random half interrupted: every other caller gets its own reply", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      // maxPending 300: some interrupted commands are still queued (never written), others in flight.
      const conn = yield* Conn.make({ port: server.port, maxPending: 300, readTimeout: 60_000 })
      const n = 1000
      yield* conn.sendBatch(Array.from({ length: n }, (_, i) => ["SET", `half:${i}`, `v${i}`]))
      // A stopped server: nothing written below can be answered before the interruptions.
      yield* server.pause
      yield* Effect.addFinalizer(() => Effect.ignore(server.resume))
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < n; i++) {
        fibers.push(yield* Effect.forkChild(conn.send(["GET", `half:${i}`]), { startImmediately: true }))
      }
      // The first maxPending are written, the rest queued.
      assert.isTrue(yield* eventually(() => conn.inFlight === 300 && conn.pending === n))
      const interrupted = new Set<number>([0, 299, 300, n - 1])
      for (let i = 0; i < n; i++) if (Math.random() < 0.5) interrupted.add(i)
      yield* Fiber.interruptAll([...interrupted].map((i) => fibers[i]!))
      // Written commands cannot be taken back: they stay counted until their replies land and are dropped;
      // queued ones are gone.
      const queuedLeft = [...interrupted].filter((i) => i >= 300).length
      assert.strictEqual(conn.inFlight, 300)
      assert.strictEqual(conn.pending, n - queuedLeft)
      yield* server.resume
      for (let i = 0; i < n; i++) {
        if (interrupted.has(i)) continue
        assert.strictEqual(yield* Fiber.join(fibers[i]!), `v${i}`)
      }
      yield* conn.awaitIdle
      assert.strictEqual(conn.pending, 0)
      assert.isTrue(conn.isHealthy)
      assert.strictEqual(yield* conn.send(["GET", "half:7"]), "v7")
    }))

  it.effect("CLIENT KILL of an idle connection: it reports unhealthy without sending anything", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      assert.isTrue(conn.isHealthy)
      const writes = conn.writeCount
      yield* server.cli("CLIENT", "KILL", "ID", String(conn.clientId))
      assert.isTrue(yield* eventually(() => !conn.isHealthy))
      assert.strictEqual(conn.writeCount, writes)
      const after = yield* Effect.exit(conn.send(["PING"]))
      const error = failure(after)
      assert.instanceOf(error, ConnectionError)
      assert.strictEqual((error as ConnectionError).written, false)
    }))

  it.effect("SELECT 3: keys land in db 3", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, db: 3 })
      yield* conn.send(["SET", "in-db-3", "yes"])
      assert.strictEqual(yield* server.cli("-n", "3", "GET", "in-db-3"), "yes")
      assert.strictEqual(yield* server.cli("-n", "0", "EXISTS", "in-db-3"), "0")
    }))

  it.effect("onConnect runs ordinary commands on the new connection before it is handed over", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({
        port: server.port,
        onConnect: (c) => Effect.asVoid(c.send(["CLIENT", "SETNAME", "hooked"]))
      })
      assert.strictEqual(yield* conn.send(["CLIENT", "GETNAME"]), "hooked")
      const failed = yield* Effect.exit(Conn.make({
        port: server.port,
        onConnect: (c) => Effect.asVoid(c.send(["NO-SUCH-COMMAND"]))
      }))
      const error = failure(failed)
      assert.instanceOf(error, ConnectionError)
      assert.strictEqual((error as ConnectionError).reason, "handshake")
      // The error names the address and the hook's own error, says the connection was written to, and
      // the half-made connection is closed.
      const address = `127.0.0.1:${server.port}`
      let seen: Conn.Conn | undefined
      const refused = failure(yield* Effect.exit(Conn.make({
        port: server.port,
        onConnect: (c) => {
          seen = c
          return Effect.asVoid(c.send(["NO-SUCH-COMMAND"]))
        }
      }))) as ConnectionError
      assert.instanceOf(refused.cause, RedisReplyError)
      assert.strictEqual(refused.address, address)
      assert.isTrue(refused.written)
      assert.include(refused.message, `onConnect on ${address} failed: ERR unknown command`)
      assert.isDefined(seen)
      assert.isFalse(seen!.isHealthy)
      const plain = failure(yield* Effect.exit(Conn.make({
        port: server.port,
        onConnect: () => Effect.fail({ message: "not an Error, but with a message" })
      }))) as ConnectionError
      assert.include(plain.message, "failed: not an Error, but with a message")
      const text = failure(yield* Effect.exit(Conn.make({ port: server.port, onConnect: () => Effect.fail("just text") })))
      assert.include((text as ConnectionError).message, "failed: just text")
      const nothing = failure(yield* Effect.exit(Conn.make({ port: server.port, onConnect: () => Effect.fail(null) })))
      assert.include((nothing as ConnectionError).message, "failed: null")
      // A ConnectionError from the hook is passed on as it is.
      const own = new ConnectionError({ reason: "reset", message: "the hook's own" })
      assert.strictEqual(failure(yield* Effect.exit(Conn.make({ port: server.port, onConnect: () => Effect.fail(own) }))), own)
    }))

  it.effect("the handshake speaks RESP3 and sets the client name", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, clientName: "via-hello" })
      assert.strictEqual(conn.protocol, 3)
      assert.isAbove(conn.clientId, 0)
      assert.strictEqual(yield* conn.send(["CLIENT", "GETNAME"]), "via-hello")
      const info = yield* conn.send(["CLIENT", "INFO"])
      assert.include(String(info), `id=${conn.clientId} `)
    }))

  it.effect("error replies fail send, and are values in sendBatch", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      yield* conn.send(["SET", "batch:s", "x"])
      const exit = yield* Effect.exit(conn.send(["LPUSH", "batch:s", "y"]))
      const error = failure(exit)
      assert.instanceOf(error, RedisReplyError)
      assert.strictEqual((error as RedisReplyError).code, "WRONGTYPE")
      const replies = yield* conn.sendBatch([["GET", "batch:s"], ["LPUSH", "batch:s", "y"], ["PING"]])
      assert.strictEqual(replies[0], "x")
      assert.instanceOf(replies[1], RedisReplyError)
      assert.strictEqual(replies[2], "PONG")
      assert.isTrue(conn.isHealthy)
    }))

  it.effect("RESP3 push frames go to the push handler, never to a caller", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const pushes: Array<ReadonlyArray<Resp.Reply>> = []
      const conn = yield* Conn.make({ port: server.port, onPush: (push) => pushes.push(push) })
      assert.strictEqual(yield* conn.send(["CLIENT", "TRACKING", "on"]), "OK")
      yield* conn.send(["SET", "tracked", "1"])
      yield* conn.send(["GET", "tracked"])
      yield* server.cli("SET", "tracked", "2")
      assert.isTrue(yield* eventually(() => pushes.length > 0))
      assert.strictEqual(pushes[0]![0], "invalidate")
      assert.strictEqual(yield* conn.send(["ECHO", "after"]), "after")
      assert.isTrue(conn.isHealthy)
    }))

  for (const protocol of [2, 3] as const) {
    it.effect(`RESP${protocol}: sendPubSub returns one confirmation per name; messages go to the push handler; PING still answers`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const pushes: Array<ReadonlyArray<Resp.Reply>> = []
        const conn = yield* Conn.make({ port: server.port, protocol })
        assert.strictEqual(conn.protocol, protocol)
        conn.setPushHandler((push) => pushes.push(push))
        const publisher = yield* Conn.make({ port: server.port })
        const confirmations = yield* conn.sendPubSub(["SUBSCRIBE", "ps:a", "ps:b"])
        assert.deepStrictEqual(confirmations, [["subscribe", "ps:a", 1], ["subscribe", "ps:b", 2]])
        assert.deepStrictEqual(yield* conn.sendPubSub(["psubscribe", "ps:*"]), [["psubscribe", "ps:*", 3]])
        assert.strictEqual(yield* publisher.send(["PUBLISH", "ps:a", "hello"]), 2)
        assert.isTrue(yield* eventually(() => pushes.length === 2))
        assert.deepStrictEqual(pushes, [["message", "ps:a", "hello"], ["pmessage", "ps:*", "ps:a", "hello"]])
        // RESP2 answers PING on a subscribed connection with ["pong", ""]; either way it reaches its caller.
        assert.deepStrictEqual(yield* conn.send(["PING"]), protocol === 2 ? ["pong", ""] : "PONG")
        if (protocol === 3) {
          // RESP3 allows any command while subscribed; a reply that looks like a message is still a reply.
          yield* publisher.send(["DEL", "ps:list"])
          yield* publisher.send(["RPUSH", "ps:list", "message", "ps:a", "not a push"])
          assert.deepStrictEqual(yield* conn.send(["LRANGE", "ps:list", 0, -1]), ["message", "ps:a", "not a push"])
          assert.strictEqual(pushes.length, 2)
        }
        assert.deepStrictEqual(yield* conn.sendPubSub(["UNSUBSCRIBE", "ps:a", "ps:b"]), [
          ["unsubscribe", "ps:a", 2],
          ["unsubscribe", "ps:b", 1]
        ])
        assert.deepStrictEqual(yield* publisher.send(["PUBSUB", "NUMSUB", "ps:a"]), ["ps:a", 0])
        assert.strictEqual(conn.pending, 0)
        assert.isTrue(conn.isHealthy)
      }))
  }

  it.effect("sendPubSub: an error reply fails only that call; other commands are refused before anything is sent", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, protocol: 2 })
      assert.strictEqual(tagOf(yield* Effect.exit(conn.sendPubSub(["GET", "x"]))), "InvalidArgumentError")
      assert.strictEqual(tagOf(yield* Effect.exit(conn.sendPubSub(["SUBSCRIBE"]))), "InvalidArgumentError")
      yield* server.cli("ACL", "SETUSER", "default", "resetchannels", "&allowed:*")
      const refused = yield* Effect.exit(conn.sendPubSub(["SUBSCRIBE", "secret"]))
      yield* server.cli("ACL", "SETUSER", "default", "allchannels")
      assert.strictEqual(tagOf(refused), "RedisReplyError")
      assert.deepStrictEqual(yield* conn.sendPubSub(["SUBSCRIBE", "allowed:1"]), [["subscribe", "allowed:1", 1]])
      assert.isTrue(conn.isHealthy)
    }))

  it.effect("awaitClose completes with the error that closed the connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      const waiting = yield* Effect.forkChild(conn.awaitClose, { startImmediately: true })
      yield* server.cli("CLIENT", "KILL", "ID", String(conn.clientId))
      const error = yield* Fiber.join(waiting)
      assert.strictEqual(error._tag, "ConnectionError")
      assert.strictEqual(error.reason, "closed")
      assert.isFalse(conn.isHealthy)
      assert.strictEqual((yield* conn.awaitClose).reason, "closed")
    }))

  it.effect("commands issued in one tick are coalesced into one socket write", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      const before = conn.writeCount
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < 100; i++) {
        fibers.push(yield* Effect.forkChild(conn.send(["ECHO", `e${i}`]), { startImmediately: true }))
      }
      const replies = yield* Fiber.joinAll(fibers)
      assert.strictEqual(conn.writeCount - before, 1)
      for (let i = 0; i < 100; i++) assert.strictEqual(replies[i], `e${i}`)
    }))

  it.effect("pending commands per connection are bounded by maxPending; the rest wait to be written", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, maxPending: 10, readTimeout: 30_000 })
      yield* server.pause
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < 100; i++) {
        fibers.push(yield* Effect.forkChild(conn.send(["ECHO", `m${i}`]), { startImmediately: true }))
      }
      yield* pause(50)
      const inFlight = conn.inFlight
      const pending = conn.pending
      yield* server.resume
      const replies = yield* Fiber.joinAll(fibers)
      assert.strictEqual(inFlight, 10)
      assert.strictEqual(pending, 100)
      for (let i = 0; i < 100; i++) assert.strictEqual(replies[i], `m${i}`)
    }))

  it.effect("large writes wait for the socket to drain and every reply still reaches its caller", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, readTimeout: 30_000, bytes: true })
      const values = Array.from({ length: 16 }, (_, i) => new Uint8Array(2 * 1024 * 1024).fill(i + 1))
      // one command per tick, so later ones queue up behind a socket that has not drained yet
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < values.length; i++) {
        fibers.push(yield* Effect.forkChild(conn.send(["SET", `large:${i}`, values[i]!]), { startImmediately: true }))
        yield* Effect.yieldNow
      }
      const sets = yield* Fiber.joinAll(fibers)
      assert.isBelow(conn.writeCount, 16 + 2)
      assert.deepStrictEqual(sets.map((reply) => new TextDecoder().decode(reply as Uint8Array)), values.map(() => "OK"))
      const gets = yield* Effect.forEach(values, (_, i) => conn.send(["GET", `large:${i}`]), { concurrency: "unbounded" })
      for (let i = 0; i < values.length; i++) {
        const got = gets[i] as Uint8Array
        assert.strictEqual(got.length, values[i]!.length)
        assert.strictEqual(got[0], i + 1)
        assert.strictEqual(got[got.length - 1], i + 1)
      }
      assert.isTrue(conn.isHealthy)
    }))

  it.effect("a command that cannot be written within writeTimeout fails and is never sent", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, maxPending: 1, readTimeout: 30_000, writeTimeout: 100 })
      yield* server.pause
      const first = yield* Effect.forkChild(conn.send(["ECHO", "first"]), { startImmediately: true })
      const second = yield* Effect.exit(conn.send(["SET", "never-written", "x"]))
      yield* server.resume
      assert.strictEqual(yield* Fiber.join(first), "first")
      const error = failure(second)
      assert.strictEqual(tagOf(second), "CommandTimeoutError")
      assert.strictEqual((error as { phase: string }).phase, "write")
      assert.strictEqual(yield* conn.send(["EXISTS", "never-written"]), 0)
      assert.isTrue(conn.isHealthy)
    }))

  it.effect("a blocking command gets its block time plus a margin as read deadline", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, readTimeout: 100 })
      assert.strictEqual(yield* conn.send(["BLPOP", "empty-list", "0.3"]), null)
      assert.isTrue(conn.isHealthy)
      const timedOut = yield* Effect.exit(conn.send(["BLPOP", "empty-list", "0.5"], { timeout: 100 }))
      assert.strictEqual(tagOf(timedOut), "CommandTimeoutError")
      // the connection waits for the server's own answer (nil here) and stays usable
      assert.isTrue(conn.isHealthy)
      assert.strictEqual(conn.pending, 1)
      yield* conn.awaitIdle
      assert.isTrue(conn.isHealthy)
      assert.strictEqual(yield* conn.send(["ECHO", "after"]), "after")
    }))

  it.effect("closing the scope fails pending and queued commands with ConnectionError (closed)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const scope = yield* Scope.make()
      const conn = yield* Conn.make({ port: server.port, maxPending: 2 }).pipe(Scope.provide(scope))
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < 5; i++) {
        fibers.push(yield* Effect.forkChild(conn.send(["BLPOP", `never:${i}`, "0"]), { startImmediately: true }))
      }
      yield* pause(20)
      assert.strictEqual(conn.pending, 5)
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      for (const exit of exits) {
        const error = failure(exit)
        assert.instanceOf(error, ConnectionError)
        assert.strictEqual((error as ConnectionError).reason, "closed")
      }
      assert.isFalse(conn.isHealthy)
      assert.strictEqual(conn.pending, 0)
    }))

  it.effect("a BLPOP interrupted after 50 ms closes the connection; an element pushed afterwards stays in the list", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      const blpop = yield* Effect.forkChild(conn.send(["BLPOP", "blocked-list", "0"]))
      yield* pause(50)
      yield* Fiber.interrupt(blpop)
      assert.isFalse(conn.isHealthy)
      // Once the server has noticed the close, nobody is waiting on the list.
      const other = yield* Conn.make({ port: server.port })
      let blocked = "?"
      for (let i = 0; i < 500 && blocked !== "0"; i++) {
        const info = String(yield* other.send(["INFO", "clients"]))
        blocked = /blocked_clients:(\d+)/.exec(info)?.[1] ?? "?"
        if (blocked !== "0") yield* pause(10)
      }
      assert.strictEqual(blocked, "0")
      yield* other.send(["RPUSH", "blocked-list", "x"])
      assert.strictEqual(yield* other.send(["LLEN", "blocked-list"]), 1)
    }))

  it.effect("an argument that cannot be encoded fails only its own caller with InvalidArgumentError, and sends nothing", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      const writes = conn.writeCount
      const exit = yield* Effect.exit(conn.send(["SET", "nan", Number.NaN]))
      assert.strictEqual(tagOf(exit), "InvalidArgumentError")
      const batch = yield* Effect.exit(conn.sendBatch([["PING"], ["SET", "nan", undefined as unknown as string]]))
      assert.strictEqual(tagOf(batch), "InvalidArgumentError")
      assert.strictEqual(conn.writeCount, writes)
      assert.strictEqual(conn.pending, 0)
      assert.strictEqual(yield* conn.send(["ECHO", "still in sync"]), "still in sync")
    }))

  it.effect("a reply over maxBulkLength is a ProtocolError and closes the connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port, maxBulkLength: 100 })
      yield* conn.send(["SET", "too-big", "x".repeat(1000)])
      const exit = yield* Effect.exit(conn.send(["GET", "too-big"]))
      assert.strictEqual(tagOf(exit), "ProtocolError")
      assert.isFalse(conn.isHealthy)
    }))

  it.effect("maxAggregateLength and maxDepth reach the decoder: a reply beyond either is a ProtocolError", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      // Room for the handshake's reply (HELLO's map has 7 entries), not for 21 elements.
      const wide = yield* Conn.make({ port: server.port, maxAggregateLength: 20 })
      const items = Array.from({ length: 20 }, (_, i) => `item-${i}`)
      yield* wide.send(["DEL", "wide"])
      yield* wide.send(["RPUSH", "wide", ...items])
      assert.deepStrictEqual(yield* wide.send(["LRANGE", "wide", "0", "-1"]), items)
      yield* wide.send(["RPUSH", "wide", "one-more"])
      assert.strictEqual(tagOf(yield* Effect.exit(wide.send(["LRANGE", "wide", "0", "-1"]))), "ProtocolError")
      assert.isFalse(wide.isHealthy)
      // The handshake's reply nests two deep (HELLO's map holds the modules array).
      const shallow = yield* Conn.make({ port: server.port, maxDepth: 2 })
      assert.deepStrictEqual(yield* shallow.send(["EVAL", "return {{1}}", "0"]), [[1]])
      assert.strictEqual(tagOf(yield* Effect.exit(shallow.send(["EVAL", "return {{{1}}}", "0"]))), "ProtocolError")
      assert.isFalse(shallow.isHealthy)
    }))

  it.effect("quit sends QUIT, waits for its reply, then closes", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const conn = yield* Conn.make({ port: server.port })
      yield* conn.quit
      assert.isFalse(conn.isHealthy)
      assert.strictEqual(tagOf(yield* Effect.exit(conn.send(["PING"]))), "ConnectionError")
    }))

  it.effect("dial failures say why: refused, dns", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const refused = failure(yield* Effect.exit(Conn.make({ port })))
      assert.instanceOf(refused, ConnectionError)
      assert.strictEqual((refused as ConnectionError).reason, "refused")
      const dns = failure(yield* Effect.exit(Conn.make({ host: "no-such-host.invalid", port: 6379 })))
      assert.instanceOf(dns, ConnectionError)
      assert.strictEqual((dns as ConnectionError).reason, "dns")
    }))
})

describe("Conn handshake", () => {
  it.live("a wrong password fails with reason auth and the server's text, never the password", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass s3cret"] })
      const exit = yield* Effect.exit(Conn.make({ port: server.port, password: Redacted.make("not-the-password") }))
      const error = failure(exit)
      assert.instanceOf(error, ConnectionError)
      assert.strictEqual((error as ConnectionError).reason, "auth")
      assert.include((error as ConnectionError).message, "WRONGPASS")
      assert.notInclude((error as ConnectionError).message, "not-the-password")
      assert.notInclude(JSON.stringify(error), "not-the-password")
      const noPassword = failure(yield* Effect.exit(Conn.make({ port: server.port })))
      assert.strictEqual((noPassword as ConnectionError).reason, "auth")
      const conn = yield* Conn.make({ port: server.port, password: Redacted.make("s3cret") })
      assert.strictEqual(yield* conn.send(["PING"]), "PONG")
    }))

  it.live("a SELECT the server refuses fails the handshake, over HELLO and over the RESP2 fallback, and closes the socket", () =>
    Effect.gen(function*() {
      // A connection to the wrong database must never be handed over (every db test elsewhere uses a valid db).
      for (const config of [[], ['rename-command HELLO ""']]) {
        const server = yield* RedisServer.make({ config: ["databases 4", ...config] })
        for (const protocol of [3, 2] as const) {
          const error = failure(yield* Effect.exit(Conn.make({ port: server.port, db: 4, protocol })))
          const context = `${config.length === 0 ? "HELLO" : "no HELLO"}, RESP${protocol}`
          assert.instanceOf(error, ConnectionError, `a connection to db 4 of 4 was handed over (${context})`)
          assert.strictEqual((error as ConnectionError).reason, "handshake", context)
          assert.include((error as ConnectionError).message, "SELECT 4", context)
          assert.include((error as ConnectionError).message, "out of range", context)
        }
        // Nothing of the refused connections is left on the server: the only client is the one that asks.
        let clients = -1
        for (let i = 0; i < 500 && clients !== 1; i++) {
          clients = (yield* server.cli("CLIENT", "LIST")).split("\n").filter((line) => line.startsWith("id=")).length
          if (clients !== 1) yield* pause(10)
        }
        assert.strictEqual(clients, 1)
        // The last database is still reachable.
        const conn = yield* Conn.make({ port: server.port, db: 3 })
        yield* conn.send(["SET", "in-db-3", "yes"])
        assert.strictEqual(yield* server.cli("-n", "3", "GET", "in-db-3"), "yes")
      }
    }))

  it.live("an ACL user with permission runs commands; one without gets NOPERM on the command", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({
        config: ["user alice on >alicepw ~* +@all", "user bob on >bobpw ~* -@all +get +ping"]
      })
      const alice = yield* Conn.make({ port: server.port, username: "alice", password: Redacted.make("alicepw") })
      assert.strictEqual(yield* alice.send(["SET", "acl:k", "v"]), "OK")
      assert.strictEqual(yield* alice.send(["ACL", "WHOAMI"]), "alice")
      const bob = yield* Conn.make({ port: server.port, username: "bob", password: Redacted.make("bobpw") })
      assert.strictEqual(yield* bob.send(["GET", "acl:k"]), "v")
      const denied = failure(yield* Effect.exit(bob.send(["SET", "acl:k", "w"])))
      assert.instanceOf(denied, RedisReplyError)
      assert.strictEqual((denied as RedisReplyError).code, "NOPERM")
      assert.isTrue(bob.isHealthy)
      const wrong = failure(yield* Effect.exit(Conn.make({ port: server.port, username: "bob", password: Redacted.make("alicepw") })))
      assert.strictEqual((wrong as ConnectionError).reason, "auth")
    }))

  it.live("falls back to RESP2 (AUTH, CLIENT SETNAME, SELECT) when the server does not know HELLO", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass s3cret", "rename-command HELLO \"\""] })
      const conn = yield* Conn.make({ port: server.port, password: Redacted.make("s3cret"), clientName: "resp2", db: 2 })
      assert.strictEqual(conn.protocol, 2)
      assert.isAbove(conn.clientId, 0)
      assert.strictEqual(yield* conn.send(["CLIENT", "ID"]), conn.clientId)
      assert.strictEqual(yield* conn.send(["CLIENT", "GETNAME"]), "resp2")
      yield* conn.send(["SET", "in-db-2", "yes"])
      assert.strictEqual(yield* server.cli("-n", "2", "GET", "in-db-2"), "yes")
      const wrong = failure(yield* Effect.exit(Conn.make({ port: server.port, password: Redacted.make("nope") })))
      assert.strictEqual((wrong as ConnectionError).reason, "auth")
    }))

  it.live("TLS with a CA made by openssl; without the CA the dial fails with reason tls", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ tls: true })
      const tls = server.tls!
      const conn = yield* Conn.make({ port: tls.port, tls: { ca: tls.ca, servername: "localhost" } })
      assert.strictEqual(yield* conn.send(["ECHO", "secure"]), "secure")
      const untrusted = failure(yield* Effect.exit(Conn.make({ port: tls.port, tls: true })))
      assert.instanceOf(untrusted, ConnectionError)
      assert.strictEqual((untrusted as ConnectionError).reason, "tls")
    }))

  for (const libName of [undefined, ""]) {
    const variant = libName === undefined ? "default libName" : "libName: \"\""
    it.live(`a server that greets before any command (${variant}): the dial fails with a ProtocolError naming HELLO; no GET gets another command's reply`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        for (let i = 1; i <= 3; i++) yield* server.cli("SET", `greeted:${i}`, `v${i}`)
        const greeter = yield* RawServer.make({ greeting: "+hello\r\n", target: server.port })
        const wrong: Array<string> = []
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const conn = yield* Conn.make({ port: greeter.port, readTimeout: 5_000, ...(libName === undefined ? {} : { libName }) })
          for (let i = 1; i <= 3; i++) {
            const got = yield* Effect.exit(conn.send(["GET", `greeted:${i}`]))
            if (Exit.isSuccess(got) && got.value !== `v${i}`) {
              const value = got.value
              wrong.push(`GET greeted:${i} got ${value instanceof Map ? `a map of ${[...value.keys()].join(", ")}` : JSON.stringify(value)}`)
            }
          }
        })))
        assert.deepStrictEqual(wrong, [], "a GET got another command's reply")
        const error = failure(exit)
        assert.instanceOf(error, ConnectionError)
        assert.strictEqual((error as ConnectionError).reason, "handshake")
        assert.instanceOf((error as ConnectionError).cause, ProtocolError)
        assert.include((error as ConnectionError).message, "HELLO")
      }))
  }

  // A scripted server: well-formed answers to the handshake, except the one a case replaces.
  const { helloMap, unknownHello } = RawServer
  const scripted = (override: (command: string) => string | undefined) => RawServer.handshakeReplies(override)
  it.live.each<[string, Partial<Conn.ConnOptions>, (command: string) => string | undefined]>([
    ["HELLO answered a string", {}, (c) => c === "HELLO" ? "$5\r\nhello\r\n" : undefined],
    ["HELLO answered an integer", {}, (c) => c === "HELLO" ? ":3\r\n" : undefined],
    ["HELLO answered a map without proto", {}, (c) => c === "HELLO" ? "%1\r\n+server\r\n+redis\r\n" : undefined],
    ["HELLO answered an array without proto", { protocol: 2 }, (c) => c === "HELLO" ? "*2\r\n+server\r\n+redis\r\n" : undefined],
    ["SELECT 2 answered an integer", { db: 2 }, (c) => c === "SELECT" ? ":1\r\n" : undefined],
    ["SELECT 2 answered a string other than OK", { db: 2 }, (c) => c === "SELECT" ? "+QUEUED\r\n" : undefined],
    ["CLIENT SETINFO LIB-NAME answered nil", {}, (c) => c === "CLIENT SETINFO" ? "$-1\r\n" : undefined],
    ["AUTH answered a map", { password: Redacted.make("pw") }, (c) => unknownHello(c) ?? (c === "AUTH" ? helloMap : undefined)],
    ["CLIENT SETNAME answered an integer", { clientName: "n" }, (c) => unknownHello(c) ?? (c === "CLIENT SETNAME" ? ":1\r\n" : undefined)],
    ["CLIENT ID answered a string", {}, (c) => unknownHello(c) ?? (c === "CLIENT ID" ? "+seven\r\n" : undefined)]
  ])("every handshake reply is checked: %s fails the dial with a ProtocolError naming the step", ([what, options, override]) =>
    Effect.gen(function*() {
      const fake = yield* RawServer.make({ respond: scripted(override) })
      const error = failure(yield* Effect.exit(Effect.scoped(Conn.make({ port: fake.port, ...options }))))
      assert.instanceOf(error, ConnectionError, what)
      assert.strictEqual((error as ConnectionError).reason, "handshake")
      const cause = (error as ConnectionError).cause
      assert.instanceOf(cause, ProtocolError)
      assert.strictEqual((cause as ProtocolError).message, `handshake: ${what}`)
      assert.include((error as ConnectionError).message, `handshake: ${what}`)
    }))

  it.live("the scripted server's well-formed answers pass the same checks, in RESP3 and in the RESP2 fallback", () =>
    Effect.gen(function*() {
      const fake = yield* RawServer.make({ respond: scripted(() => undefined) })
      const conn = yield* Conn.make({ port: fake.port, db: 2, clientName: "n" })
      assert.strictEqual(conn.protocol, 3)
      assert.strictEqual(conn.clientId, 7)
      const old = yield* RawServer.make({ respond: scripted(unknownHello) })
      const fallback = yield* Conn.make({ port: old.port, db: 2, clientName: "n", password: Redacted.make("pw") })
      assert.strictEqual(fallback.protocol, 2)
      assert.strictEqual(fallback.clientId, 7)
    }))

  it.live("bytes: true: the handshake reads OK, proto and the client id from byte strings (SELECT, SETNAME, RESP2 fallback)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass s3cret"] })
      const conn = yield* Conn.make({ port: server.port, bytes: true, db: 2, clientName: "bytes3", password: Redacted.make("s3cret") })
      assert.strictEqual(conn.protocol, 3)
      assert.isAbove(conn.clientId, 0)
      const resp2 = yield* Conn.make({ port: server.port, bytes: true, db: 2, protocol: 2, password: Redacted.make("s3cret") })
      assert.strictEqual(resp2.protocol, 2)
      const old = yield* RedisServer.make({ config: ["rename-command HELLO \"\""] })
      const fallback = yield* Conn.make({ port: old.port, bytes: true, db: 2, clientName: "bytes2" })
      assert.strictEqual(fallback.protocol, 2)
      assert.isAbove(fallback.clientId, 0)
    }))

  it.live("TLS to an IP address sends no server name (SNI carries host names only; Node warns, DEP0123)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ tls: true })
      const material = server.tls!
      const front = yield* RawServer.make({
        tls: { cert: fs.readFileSync(material.certFile, "utf8"), key: fs.readFileSync(material.keyFile, "utf8") },
        target: server.port
      })
      for (const tlsOptions of [{ ca: material.ca, servername: "127.0.0.1" }, { ca: material.ca }]) {
        const conn = yield* Effect.scoped(Effect.flatMap(
          Conn.make({ host: "127.0.0.1", port: front.port, tls: tlsOptions }),
          (conn) => Effect.as(conn.send(["PING"]), conn)
        ))
        assert.isFalse(conn.isHealthy)
      }
      const named = yield* Effect.scoped(Conn.make({ host: "localhost", port: front.port, tls: { ca: material.ca } }))
      assert.isFalse(named.isHealthy)
      assert.deepStrictEqual(front.servernames, [false, false, "localhost"])
    }))

  it.live("a Unix socket server", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ unixSocket: true })
      const conn = yield* Conn.make({ path: server.unixSocket! })
      assert.strictEqual(conn.address, server.unixSocket)
      assert.strictEqual(yield* conn.send(["ECHO", "unix"]), "unix")
    }))
})

describe("Conn faults", () => {
  it.live("requests a middlebox dropped: nothing new is written until their replies land, so no reply goes to another caller", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const conn = yield* Conn.make({ port: proxy.port, readTimeout: 5_000, drainTimeout: 1_000 })
      yield* conn.send(["SET", "dropped:a", "A"])
      yield* conn.send(["SET", "dropped:c", "C"])
      yield* proxy.setBlackHole(true)
      // Two GETs the black hole swallows: the first times out early, the second is still waited for.
      const first = yield* Effect.forkChild(Effect.exit(conn.send(["GET", "dropped:a"], { timeout: 100 })))
      const second = yield* Effect.forkChild(Effect.exit(conn.send(["GET", "dropped:a"], { timeout: 3_000 })))
      assert.strictEqual(tagOf(yield* Fiber.join(first)), "CommandTimeoutError")
      yield* proxy.setBlackHole(false)
      // Two commands after the hole: were they written, the first reply would be taken for the first GET's
      // (dropped) and the second, "C", would reach the second GET's caller.
      const later = yield* Effect.forkChild(Effect.exit(conn.send(["GET", "dropped:b"])))
      const other = yield* Effect.forkChild(Effect.exit(conn.send(["GET", "dropped:c"])))
      const secondExit = yield* Fiber.join(second)
      assert.isTrue(Exit.isFailure(secondExit), `the second GET got ${JSON.stringify(secondExit)}`)
      for (const exit of [yield* Fiber.join(later), yield* Fiber.join(other)]) {
        assert.isTrue(Exit.isFailure(exit))
        // Never written, so safe to send again elsewhere.
        assert.isFalse((failure(exit) as ConnectionError).written)
      }
      assert.isFalse(conn.isHealthy)
    }))

  it.live("closed while its BLPOP caller is gone and the server stopped: the socket reads on and the element is put back", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const scope = yield* Scope.make()
      const conn = yield* Conn.make({ port: server.port }).pipe(Scope.provide(scope))
      const producer = yield* Conn.make({ port: server.port })
      // A block time the server cannot reach while the test runs: it answers the pop with the element, not nil.
      const blpop = yield* Effect.forkChild(conn.send(["BLPOP", "stalled", "30"]), { startImmediately: true })
      assert.isTrue(yield* blockedClients(producer, 1))
      yield* server.pause
      const push = yield* Effect.forkChild(producer.send(["RPUSH", "stalled", "precious"]), { startImmediately: true })
      // The push reaches the stopped server before the caller leaves.
      assert.isTrue(yield* eventually(() => producer.inFlight === 1))
      yield* Fiber.interrupt(blpop)
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(conn.isHealthy)
      assert.strictEqual(tagOf(yield* Effect.exit(conn.send(["PING"]))), "ConnectionError")
      yield* server.resume
      assert.strictEqual(yield* Fiber.join(push), 1)
      const closed = yield* conn.awaitClose
      assert.strictEqual(closed.reason, "closed")
      assert.deepStrictEqual(yield* producer.send(["LRANGE", "stalled", 0, -1]), ["precious"])
      // Put back, not just never popped: the server served the pop, then the closed connection's LPUSH.
      assert.strictEqual(yield* commandCalls(producer, "lpush"), 1)
    }))

  it.live("a BLPOP whose caller left while the server was stopped puts back the element the server popped for it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const conn = yield* Conn.make({ port: server.port })
      const producer = yield* Conn.make({ port: server.port })
      // A block time the server cannot reach while the test runs: it answers the pop with the element, not nil.
      const blpop = yield* Effect.forkChild(conn.send(["BLPOP", "stalled", "30"]), { startImmediately: true })
      assert.isTrue(yield* blockedClients(producer, 1))
      yield* server.pause
      // The push reaches the stopped server before the caller leaves: once resumed, it serves the pop first.
      const push = yield* Effect.forkChild(producer.send(["RPUSH", "stalled", "precious"]), { startImmediately: true })
      assert.isTrue(yield* eventually(() => producer.inFlight === 1))
      yield* Fiber.interrupt(blpop)
      // The caller is gone; the connection still waits for the pop's reply.
      assert.strictEqual(conn.inFlight, 1)
      assert.isTrue(conn.isHealthy)
      yield* server.resume
      assert.strictEqual(yield* Fiber.join(push), 1)
      let list: Resp.Reply = []
      for (let i = 0; i < 500; i++) {
        list = yield* producer.send(["LRANGE", "stalled", 0, -1])
        if (Array.isArray(list) && list.length > 0) break
        yield* pause(10)
      }
      assert.deepStrictEqual(list, ["precious"])
      // Put back by the connection whose caller left (an LPUSH), not merely never popped.
      assert.strictEqual(yield* commandCalls(producer, "lpush"), 1)
      assert.strictEqual(conn.inFlight, 0)
    }))

  it.live("SIGSTOP: timeouts; after the drain bound the connection closes; after SIGCONT a fresh connection works", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const conn = yield* Conn.make({ port: server.port, readTimeout: 100, drainTimeout: 300 })
      yield* server.pause
      const exit = yield* Effect.exit(conn.send(["PING"]))
      assert.strictEqual(tagOf(exit), "CommandTimeoutError")
      assert.isTrue(conn.isHealthy)
      assert.isTrue(yield* eventually(() => !conn.isHealthy))
      yield* server.resume
      const fresh = yield* Conn.make({ port: server.port })
      assert.strictEqual(yield* fresh.send(["PING"]), "PONG")
    }))

  it.live("the server killed while commands are in flight: each caller gets a ConnectionError that says it was written", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const conn = yield* Conn.make({ port: server.port, readTimeout: 30_000 })
      yield* server.pause
      const fibers: Array<Fiber.Fiber<Resp.Reply, unknown>> = []
      for (let i = 0; i < 10; i++) fibers.push(yield* Effect.forkChild(conn.send(["INCR", "killed"]), { startImmediately: true }))
      yield* pause(20)
      yield* server.kill
      for (const fiber of fibers) {
        const error = failure(yield* Fiber.await(fiber))
        assert.instanceOf(error, ConnectionError)
        assert.strictEqual((error as ConnectionError).written, true)
      }
      assert.isFalse(conn.isHealthy)
      assert.strictEqual(conn.pending, 0)
    }))

  it.live("a dial whose handshake gets no answer fails with reason timeout", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      yield* proxy.setBlackHole(true)
      const error = failure(yield* Effect.exit(Conn.make({ port: proxy.port, dialTimeout: 200 })))
      assert.instanceOf(error, ConnectionError)
      assert.strictEqual((error as ConnectionError).reason, "timeout")
      // Nothing of the handshake was answered: the error says where, and that a retry is safe.
      assert.strictEqual((error as ConnectionError).address, `127.0.0.1:${proxy.port}`)
      assert.isFalse((error as ConnectionError).written)
      assert.include((error as ConnectionError).message, `127.0.0.1:${proxy.port} took longer than 200ms`)
    }))

  it.live("a connection closed while an orphaned BLPOP's reply is on its way lingers until it lands and pushes the element back", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const other = yield* Conn.make({ port: server.port })
      const blocked = Effect.map(other.send(["INFO", "clients"]), (info) => Number(/blocked_clients:(\d+)/.exec(String(info))?.[1] ?? -1))
      const scope = yield* Scope.make()
      const conn = yield* Conn.make({
        port: proxy.port,
        unblock: (clientId) => Effect.map(other.send(["CLIENT", "UNBLOCK", clientId]), (released) => released === 1)
      }).pipe(Scope.provide(scope))
      const pop = yield* Effect.forkChild(conn.send(["BLPOP", "linger-list", "0"]))
      assert.isTrue(yield* eventually(Effect.map(blocked, (n) => n === 1)))
      // The server pops for it now; the reply is held on the way back, and its caller leaves before it lands.
      yield* proxy.setDelay(300)
      assert.strictEqual(yield* other.send(["RPUSH", "linger-list", "precious"]), 1)
      assert.isTrue(yield* eventually(Effect.map(other.send(["LLEN", "linger-list"]), (n) => n === 0)))
      yield* Fiber.interrupt(pop)
      yield* Scope.close(scope, Exit.void)
      // The element popped for nobody is pushed back once the reply lands, then the connection closes.
      assert.isTrue(yield* eventually(Effect.map(other.send(["LLEN", "linger-list"]), (n) => n === 1)))
      assert.strictEqual(yield* other.send(["LPOP", "linger-list"]), "precious")
      assert.isTrue(yield* eventually(() => !conn.isHealthy))
      assert.isTrue(yield* eventually(Effect.map(proxy.stats, (stats) => stats.open === 0)))
    }))

  it.live("interrupting make during the handshake closes the socket at once, not when the handshake times out", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      yield* proxy.setBlackHole(true)
      // Neither timeout can end the handshake within the test: only the interruption can.
      const making = yield* Effect.forkChild(Effect.scoped(Conn.make({ port: proxy.port, dialTimeout: 600_000, readTimeout: 600_000 })))
      let accepted = 0
      for (let i = 0; i < 500 && accepted === 0; i++) {
        accepted = (yield* proxy.stats).accepted
        if (accepted === 0) yield* pause(10)
      }
      assert.strictEqual(accepted, 1)
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(making))
      let open = 1
      for (let i = 0; i < 500 && open !== 0; i++) {
        open = (yield* proxy.stats).open
        if (open !== 0) yield* pause(10)
      }
      assert.strictEqual(open, 0)
      yield* Fiber.join(interrupting)
    }))

  it.live("awaitIdle completes once every pending reply has arrived", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const conn = yield* Conn.make({ port: server.port, readTimeout: 30_000 })
      yield* conn.awaitIdle
      yield* server.pause
      const sends = yield* Effect.forkChild(
        Effect.forEach(["a", "b", "c"], (x) => conn.send(["ECHO", x]), { concurrency: "unbounded" }),
        { startImmediately: true }
      )
      const idle = yield* Effect.forkChild(conn.awaitIdle, { startImmediately: true })
      yield* pause(20)
      assert.strictEqual(conn.pending, 3)
      assert.isUndefined(idle.pollUnsafe())
      yield* server.resume
      yield* Fiber.join(idle)
      assert.strictEqual(conn.pending, 0)
      assert.deepStrictEqual(yield* Fiber.join(sends), ["a", "b", "c"])
    }))

  it.live("bytes split into 1-byte chunks: replies are still correct", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      yield* proxy.setChunkSize(1)
      const conn = yield* Conn.make({ port: proxy.port, readTimeout: 20_000 })
      yield* conn.send(["RPUSH", "chunks", "a", "bb", "ccc"])
      const replies = yield* Effect.forEach(
        [["ECHO", "héllo"], ["LRANGE", "chunks", "0", "-1"], ["INCRBY", "n", "42"], ["GET", "missing"]],
        (args) => conn.send(args),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(replies, ["héllo", ["a", "bb", "ccc"], 42, null])
      assert.isTrue(conn.isHealthy)
    }))

  it.live("the connection cut mid-reply: a typed error, and the connection is unhealthy", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const conn = yield* Conn.make({ port: proxy.port })
      yield* conn.send(["SET", "big", "x".repeat(1000)])
      yield* proxy.cutMidReply(10)
      const error = failure(yield* Effect.exit(conn.send(["GET", "big"])))
      assert.instanceOf(error, ConnectionError)
      assert.strictEqual((error as ConnectionError).written, true)
      assert.isFalse(conn.isHealthy)
    }))

  it.live("garbage injected: the caller gets a ProtocolError and the connection is closed", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const conn = yield* Conn.make({ port: proxy.port, readTimeout: 30_000 })
      // the server is stopped, so the garbage surely arrives while the command waits for its reply
      yield* server.pause
      const waiting = yield* Effect.forkChild(conn.send(["PING"]), { startImmediately: true })
      yield* proxy.inject("?garbage\r\n")
      const exit = yield* Fiber.await(waiting)
      yield* server.resume
      assert.strictEqual(tagOf(exit), "ProtocolError")
      assert.isFalse(conn.isHealthy)
    }))

  it.live("bytes that arrive before any command was written make the connection unhealthy, even a partial line", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      // "+hel" without CRLF: nothing a decoder can call a reply, but it would prefix the first real one.
      const greeter = yield* RawServer.make({ greeting: "+hel", target: server.port })
      const raw = yield* Effect.acquireRelease(
        Effect.callback<net.Socket>((resume) => {
          const socket = net.connect({ host: "127.0.0.1", port: greeter.port }, () => resume(Effect.succeed(socket)))
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      // The greeting is in the socket's buffer before the connection reads anything: its first read is the greeting.
      assert.isTrue(yield* eventually(() => raw.readableLength > 0))
      const socket = new ConnSocket(raw, {
        address: `127.0.0.1:${greeter.port}`,
        readTimeout: 5_000,
        writeTimeout: 5_000,
        drainTimeout: 5_000,
        maxPending: 10,
        unblock: undefined,
        onPush: undefined,
        decoder: {}
      })
      assert.isTrue(yield* eventually(() => !socket.isHealthy), "still healthy after bytes nobody asked for")
      const ping = yield* Effect.exit(socket.send(["PING"]))
      assert.notStrictEqual(Exit.isSuccess(ping) ? ping.value : undefined, "hel+PONG")
      assert.strictEqual(tagOf(ping), "ConnectionError")
      assert.include((yield* socket.awaitClose).message, "4 bytes before any command was written")
    }))

  it.live("bytes arriving while nothing is pending poison the connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const conn = yield* Conn.make({ port: proxy.port })
      assert.strictEqual(yield* conn.send(["PING"]), "PONG")
      yield* proxy.inject("+OK\r\n")
      assert.isTrue(yield* eventually(() => !conn.isHealthy))
    }))
})
