/**
 * ConnSocket's machinery against a fake socket: no server, every write recorded, every
 * reply fed by hand, timers faked. Pins the write queue, flushing, maxPending, drain,
 * errors, deadlines and counters exactly.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { vi } from "vitest"
import { ConnectionError, InvalidArgumentError, ProtocolError, RedisReplyError } from "../../src/Errors.ts"
import { batch, call, type Call, setup, ticks } from "../support/FakeSocket.ts"


const errorOf = (c: Call): any => {
  assert.isDefined(c.exit)
  assert.isTrue(Exit.isFailure(c.exit!), "expected a failure")
  const f = (c.exit as any).cause
  return Exit.isFailure(c.exit!) ? (c.exit as any).cause.failures?.[0]?.error ?? findError(f) : undefined
}
const findError = (cause: any): any => {
  // Effect 4 cause: reasons with .error
  const reasons = cause?.reasons ?? cause?.failures ?? []
  for (const r of reasons) if (r.error !== undefined) return r.error
  return undefined
}
const valueOf = (c: Call): any => {
  assert.isDefined(c.exit)
  assert.isTrue(Exit.isSuccess(c.exit!), `expected a success, got ${String(c.exit)}`)
  return (c.exit as any).value
}

const GET = (k: string) => `*2\r\n$3\r\nGET\r\n$${k.length}\r\n${k}\r\n`

afterEach(() => {
  vi.useRealTimers()
})

describe("ConnSocket writes", () => {
  it("commands issued in one tick go out in one write, in order, each caller gets its own reply", async () => {
    const { conn, sock } = setup()
    assert.strictEqual(conn.writeCount, 0)
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    assert.strictEqual(conn.pending, 2)
    assert.strictEqual(conn.queued, 2)
    assert.strictEqual(conn.inFlight, 0)
    assert.deepStrictEqual(sock.writes, [])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a") + GET("b")])
    assert.strictEqual(conn.writeCount, 1)
    assert.strictEqual(conn.queued, 0)
    assert.strictEqual(conn.inFlight, 2)
    sock.reply("$1\r\nA\r\n")
    assert.strictEqual(valueOf(a), "A")
    assert.isUndefined(b.exit)
    assert.strictEqual(conn.pending, 1)
    sock.reply("-ERR nope\r\n")
    const e = errorOf(b)
    assert.instanceOf(e, RedisReplyError)
    assert.strictEqual(conn.pending, 0)
    assert.strictEqual(conn.writeHead, 0)
    assert.strictEqual(conn.writeQueue.length, 0)
    assert.strictEqual(conn.readHead, 0)
    assert.strictEqual(conn.readQueue.length, 0)
  })

  it("a command issued after a flush goes in a second write", async () => {
    const { conn, sock } = setup()
    call(conn, ["GET", "a"])
    await ticks()
    call(conn, ["GET", "b"])
    call(conn, ["GET", "c"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a"), GET("b") + GET("c")])
    assert.strictEqual(conn.writeCount, 2)
  })

  it("maxPending: nothing more is written while the in-flight count would pass it; a reply lets the next go", async () => {
    const { conn, sock } = setup({ maxPending: 2 })
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    const c = call(conn, ["GET", "c"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a") + GET("b")])
    assert.strictEqual(conn.inFlight, 2)
    assert.strictEqual(conn.queued, 1)
    assert.strictEqual(conn.writeHead, 2)
    assert.strictEqual(conn.writeQueue.length, 3)
    sock.reply("+1\r\n")
    assert.strictEqual(valueOf(a), "1")
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a") + GET("b"), GET("c")])
    assert.strictEqual(conn.writeHead, 0)
    assert.strictEqual(conn.writeQueue.length, 0)
    sock.reply("+2\r\n+3\r\n")
    assert.strictEqual(valueOf(b), "2")
    assert.strictEqual(valueOf(c), "3")
    assert.strictEqual(conn.pending, 0)
  })

  it("maxPending counts a batch's commands; an over-large batch still goes alone", async () => {
    const { conn, sock } = setup({ maxPending: 2 })
    const big = batch(conn, [["GET", "a"], ["GET", "b"], ["GET", "c"]])
    const d = call(conn, ["GET", "d"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a") + GET("b") + GET("c")])
    assert.strictEqual(conn.inFlight, 3)
    assert.strictEqual(conn.pending, 4)
    sock.reply("+1\r\n-ERR x\r\n")
    assert.isUndefined(big.exit)
    sock.reply("+3\r\n")
    const replies = valueOf(big)
    assert.strictEqual(replies[0], "1")
    assert.instanceOf(replies[1], RedisReplyError)
    assert.strictEqual(replies[2], "3")
    await ticks()
    assert.deepStrictEqual(sock.writes.length, 2)
    assert.strictEqual(sock.writes[1], GET("d"))
    sock.reply("+4\r\n")
    assert.strictEqual(valueOf(d), "4")
  })

  it("a socket that is not draining holds further writes until 'drain'", async () => {
    const { conn, sock } = setup()
    sock.full = true
    const a = call(conn, ["GET", "a"])
    await ticks()
    assert.isTrue(conn.waitingDrain)
    const b = call(conn, ["GET", "b"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a")])
    sock.reply("+1\r\n")
    assert.strictEqual(valueOf(a), "1")
    await ticks()
    // a reply does not write past a full socket
    assert.deepStrictEqual(sock.writes, [GET("a")])
    assert.strictEqual(conn.queued, 1)
    sock.full = false
    sock.emit("drain")
    assert.isFalse(conn.waitingDrain)
    assert.deepStrictEqual(sock.writes, [GET("a"), GET("b")])
    assert.strictEqual(conn.writeCount, 2)
    sock.reply("+2\r\n")
    assert.strictEqual(valueOf(b), "2")
    // after the drain, the next command is flushed by the microtask again
    const c = call(conn, ["GET", "c"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a"), GET("b"), GET("c")])
    sock.reply("+3\r\n")
    assert.strictEqual(valueOf(c), "3")
  })

  it("a caller leaving before its command is written cancels it: never written, counts drop, idle waiters run", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    let idle = false
    Effect.runFork(Effect.map(conn.awaitIdle, () => {
      idle = true
    }))
    await ticks()
    conn.leave(a.slot) // already written: orphaned (drainTimeout 0 closes)
    assert.isTrue(conn.isClosed)
    const c2 = setup()
    const x = call(c2.conn, ["GET", "x"])
    const y = call(c2.conn, ["GET", "y"])
    let idle2 = false
    Effect.runFork(Effect.map(c2.conn.awaitIdle, () => {
      idle2 = true
    }))
    assert.isFalse(idle2)
    c2.conn.leave(x.slot)
    assert.strictEqual(x.slot.state, "cancelled")
    assert.strictEqual(c2.conn.pending, 1)
    assert.isFalse(idle2)
    c2.conn.leave(y.slot)
    assert.strictEqual(c2.conn.pending, 0)
    await ticks()
    assert.isTrue(idle2)
    await ticks()
    assert.deepStrictEqual(c2.sock.writes, [])
    assert.strictEqual(c2.conn.writeCount, 0)
    // leaving twice is a no-op
    c2.conn.leave(y.slot)
    assert.strictEqual(c2.conn.pending, 0)
    assert.strictEqual(c2.conn.queued, 0)
    void b
    void idle
    void sock
  })

  it("the write queue is compacted when more than 1024 slots were taken and they are over half of it", async () => {
    const { conn, sock } = setup({ maxPending: 1500 })
    const calls: Array<Call> = []
    for (let i = 0; i < 2000; i++) calls.push(call(conn, ["GET", "k"]))
    await ticks()
    assert.strictEqual(conn.inFlight, 1500)
    assert.strictEqual(conn.writeHead, 0)
    assert.strictEqual(conn.writeQueue.length, 500)
    void sock
  })

  it("the write queue is not compacted at 1024 slots taken or fewer, nor when they are not over half of it", async () => {
    const a = setup({ maxPending: 1024 })
    for (let i = 0; i < 1500; i++) call(a.conn, ["GET", "k"])
    await ticks()
    assert.strictEqual(a.conn.writeHead, 1024)
    assert.strictEqual(a.conn.writeQueue.length, 1500)
    const b = setup({ maxPending: 1100 })
    for (let i = 0; i < 2200; i++) call(b.conn, ["GET", "k"])
    await ticks()
    assert.strictEqual(b.conn.writeHead, 1100)
    assert.strictEqual(b.conn.writeQueue.length, 2200)
    const c = setup({ maxPending: 1025 })
    for (let i = 0; i < 2049; i++) call(c.conn, ["GET", "k"])
    await ticks()
    assert.strictEqual(c.conn.writeHead, 0)
    assert.strictEqual(c.conn.writeQueue.length, 1024)
  })

  it("the read queue is compacted past 1024 answered slots when they are over half of it", async () => {
    const { conn, sock } = setup({ maxPending: 5000 })
    const calls: Array<Call> = []
    for (let i = 0; i < 2000; i++) calls.push(call(conn, ["GET", "k"]))
    await ticks()
    assert.strictEqual(conn.readQueue.length, 2000)
    sock.reply("+x\r\n".repeat(1024))
    assert.strictEqual(conn.readHead, 1024)
    assert.strictEqual(conn.readQueue.length, 2000)
    sock.reply("+x\r\n")
    // 1025 > 1024 and 2050 > 2000
    assert.strictEqual(conn.readHead, 0)
    assert.strictEqual(conn.readQueue.length, 975)
    sock.reply("+x\r\n".repeat(475))
    assert.strictEqual(conn.readHead, 475)
    assert.strictEqual(conn.readQueue.length, 975)
    assert.strictEqual(conn.inFlight, 500)
    assert.strictEqual(valueOf(calls[1999 - 500]!), "x")
    assert.isUndefined(calls[1500]!.exit)
  })

  it("the read queue is not compacted while answered slots are not over half of it", async () => {
    const { conn, sock } = setup({ maxPending: 5000 })
    for (let i = 0; i < 2100; i++) call(conn, ["GET", "k"])
    await ticks()
    sock.reply("+x\r\n".repeat(1040))
    assert.strictEqual(conn.readHead, 1040)
    assert.strictEqual(conn.readQueue.length, 2100)
    // the answered slots are released
    assert.isUndefined(conn.readQueue[0])
    assert.isDefined(conn.readQueue[1040])
    // exactly half answered is not over half
    sock.reply("+x\r\n".repeat(10))
    assert.strictEqual(conn.readHead, 1050)
    assert.strictEqual(conn.readQueue.length, 2100)
    sock.reply("+x\r\n")
    assert.strictEqual(conn.readHead, 0)
    assert.strictEqual(conn.readQueue.length, 1049)
  })
})

describe("ConnSocket socket events", () => {
  const cases: Array<[string | undefined, string]> = [
    ["ECONNRESET", "reset"],
    ["EPIPE", "reset"],
    ["ETIMEDOUT", "closed"],
    [undefined, "closed"]
  ]
  for (const [code, reason] of cases) {
    it(`an 'error' event with code ${code} closes with reason ${reason}`, async () => {
      const { conn, sock } = setup()
      const queued = call(conn, ["GET", "q"])
      const sent = call(conn, ["GET", "a"])
      await ticks()
      const error = Object.assign(new Error("boom"), code === undefined ? {} : { code })
      let closeErr: ConnectionError | undefined
      Effect.runFork(Effect.map(conn.awaitClose, (e) => {
        closeErr = e
      }))
      const late = call(conn, ["GET", "b"])
      sock.emit("error", error)
      assert.isTrue(conn.isClosed)
      assert.isFalse(conn.isHealthy)
      assert.strictEqual(sock.destroyed, 1)
      const e = errorOf(sent) as ConnectionError
      assert.instanceOf(e, ConnectionError)
      assert.strictEqual(e.reason, reason)
      assert.strictEqual(e.message, `${reason}: boom`)
      assert.strictEqual(e.address, "fake:1")
      assert.strictEqual(e.written, true)
      assert.strictEqual(e.cause, error)
      const l = errorOf(late) as ConnectionError
      assert.strictEqual(l.reason, reason)
      assert.strictEqual(l.message, `${reason}: boom`)
      assert.strictEqual(l.written, false)
      assert.strictEqual(l.address, "fake:1")
      assert.strictEqual((errorOf(queued) as ConnectionError).written, true)
      await ticks()
      assert.isDefined(closeErr)
      assert.strictEqual(closeErr!.reason, reason)
      assert.strictEqual(closeErr!.written, false)
      assert.strictEqual(closeErr!.message, `${reason}: boom`)
      // a later 'close' does not change anything
      sock.emit("close")
      assert.strictEqual(sock.destroyed, 1)
      // a command after the close fails at once with the close error
      const after = call(conn, ["GET", "c"])
      assert.isUndefined(after.slot)
      const ae = errorOf(after) as ConnectionError
      assert.strictEqual(ae.message, `${reason}: boom`)
      assert.strictEqual(ae.written, false)
    })
  }

  it("'close' fails in-flight commands written, queued ones unwritten, with 'closed: the connection closed'", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    await ticks()
    const b = call(conn, ["GET", "b"])
    sock.emit("close")
    const ea = errorOf(a) as ConnectionError
    assert.strictEqual(ea.reason, "closed")
    assert.strictEqual(ea.message, "closed: the connection closed")
    assert.strictEqual(ea.written, true)
    assert.strictEqual(ea.address, "fake:1")
    const eb = errorOf(b) as ConnectionError
    assert.strictEqual(eb.message, "closed: the connection closed")
    assert.strictEqual(eb.written, false)
    assert.strictEqual(conn.pending, 0)
    assert.strictEqual(b.slot.state, "cancelled")
    assert.strictEqual(a.slot.state, "done")
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("a")])
  })

  it("'end' says the server closed, and what it answered when it answered an error", async () => {
    const plain = setup()
    const a = call(plain.conn, ["GET", "a"])
    await ticks()
    plain.sock.emit("end")
    assert.strictEqual((errorOf(a) as ConnectionError).message, "closed: the server closed the connection")
    const said = setup()
    const b = batch(said.conn, [["GET", "a"], ["GET", "b"]])
    await ticks()
    said.sock.reply("-ERR max number of clients reached\r\n")
    said.sock.emit("end")
    assert.strictEqual(
      (errorOf(b) as ConnectionError).message,
      "closed: the server closed the connection after answering: ERR max number of clients reached"
    )
  })

  it("a command on a closed connection fails unwritten with 'closed: the connection is closed' when no error was recorded", () => {
    const { conn } = setup()
    conn.closed = true
    const a = call(conn, ["GET", "a"])
    const e = errorOf(a) as ConnectionError
    assert.strictEqual(e.message, "closed: the connection is closed")
    assert.strictEqual(e.written, false)
    assert.strictEqual(e.reason, "close" + "d")
  })

  it("close: closed by the client; idempotent", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    await ticks()
    Effect.runSync(conn.close)
    assert.strictEqual((errorOf(a) as ConnectionError).message, "closed: closed by the client")
    Effect.runSync(conn.close)
    assert.strictEqual(sock.destroyed, 1)
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(conn.awaitClose, (e) => {
      got = e
    }))
    await ticks()
    assert.strictEqual(got?.message, "closed: closed by the client")
  })
})

describe("ConnSocket reading", () => {
  it("bytes before any command close the connection with a ProtocolError, queued commands too", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    sock.reply("+hello\r\n")
    assert.isTrue(conn.isClosed)
    const e = errorOf(a)
    assert.instanceOf(e, ProtocolError)
    assert.strictEqual(e.reason, "unexpected")
    assert.strictEqual(e.message, "the server sent 8 bytes before any command was written")
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(conn.awaitClose, (x) => {
      got = x
    }))
    await ticks()
    assert.strictEqual(got?.message, "closed: the server sent 8 bytes before any command was written")
  })

  it("data after the close is ignored", async () => {
    const { conn, sock } = setup()
    call(conn, ["GET", "a"])
    await ticks()
    sock.emit("close")
    sock.reply("-ERR late\r\n")
    assert.isTrue(conn.isClosed)
  })

  it("a reply nobody asked for closes the connection, an error one quoted", async () => {
    const one = setup()
    const a = call(one.conn, ["GET", "a"])
    await ticks()
    one.sock.reply("+1\r\n+2\r\n")
    assert.strictEqual(valueOf(a), "1")
    assert.isTrue(one.conn.isClosed)
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(one.conn.awaitClose, (x) => {
      got = x
    }))
    await ticks()
    assert.strictEqual(got?.message, "closed: the server sent a reply nobody asked for")
    const two = setup()
    const b = call(two.conn, ["GET", "a"])
    const c = call(two.conn, ["GET", "b"])
    await ticks()
    two.sock.reply("+1\r\n+2\r\n-ERR who\r\n")
    assert.strictEqual(valueOf(b), "1")
    assert.strictEqual(valueOf(c), "2")
    let got2: ConnectionError | undefined
    Effect.runFork(Effect.map(two.conn.awaitClose, (x) => {
      got2 = x
    }))
    await ticks()
    assert.strictEqual(got2?.message, "closed: the server sent an error nobody asked for: ERR who")
  })

  it("a malformed reply closes with a protocol error given to the in-flight callers", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    await ticks()
    sock.reply("?what\r\n")
    assert.isTrue(conn.isClosed)
    const e = errorOf(a)
    assert.instanceOf(e, ProtocolError)
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(conn.awaitClose, (x) => {
      got = x
    }))
    await ticks()
    assert.strictEqual(got?.message, `closed: protocol error: ${e.message}`)
  })
})

describe("ConnSocket idle", () => {
  it("awaitIdle completes at once when nothing is pending, waits otherwise, and completes on close", async () => {
    const { conn, sock } = setup()
    let n = 0
    await Effect.runPromise(conn.awaitIdle)
    const a = call(conn, ["GET", "a"])
    Effect.runFork(Effect.map(conn.awaitIdle, () => n++))
    await ticks()
    assert.strictEqual(n, 0)
    sock.reply("+1\r\n")
    await ticks()
    assert.strictEqual(n, 1)
    assert.strictEqual(valueOf(a), "1")
    call(conn, ["GET", "b"])
    Effect.runFork(Effect.map(conn.awaitIdle, () => n++))
    await ticks()
    assert.strictEqual(n, 1)
    sock.emit("close")
    await ticks()
    assert.strictEqual(n, 2)
    await Effect.runPromise(conn.awaitIdle)
  })

  it("an interrupted awaitIdle / awaitClose waiter is removed", async () => {
    const { conn, sock } = setup()
    call(conn, ["GET", "a"])
    let n = 0
    const f1 = Effect.runFork(Effect.map(conn.awaitIdle, () => n++))
    const f2 = Effect.runFork(Effect.map(conn.awaitIdle, () => n++))
    const c1 = Effect.runFork(conn.awaitClose)
    const c2 = Effect.runFork(conn.awaitClose)
    await ticks()
    assert.strictEqual(conn.idleWaiters.length, 2)
    assert.strictEqual(conn.closeWaiters.length, 2)
    const w2 = conn.idleWaiters[1]
    await Effect.runPromise(Fiber.interrupt(f1))
    assert.strictEqual(conn.idleWaiters.length, 1)
    assert.strictEqual(conn.idleWaiters[0], w2)
    await Effect.runPromise(Fiber.interrupt(f1))
    assert.strictEqual(conn.idleWaiters.length, 1)
    const cw2 = conn.closeWaiters[1]
    await Effect.runPromise(Fiber.interrupt(c1))
    assert.strictEqual(conn.closeWaiters.length, 1)
    assert.strictEqual(conn.closeWaiters[0], cw2)
    sock.emit("close")
    await ticks()
    assert.strictEqual(n, 1)
    assert.strictEqual(conn.closeWaiters.length, 0)
    assert.strictEqual(conn.idleWaiters.length, 0)
    void f2
    void c2
  })
})

describe("ConnSocket sendPubSub arguments", () => {
  it("a non-pub/sub command or no names fails with an InvalidArgumentError naming both", async () => {
    const { conn, sock } = setup()
    const e1 = await Effect.runPromise(Effect.flip(conn.sendPubSub(["GET", "a"])))
    assert.instanceOf(e1, InvalidArgumentError)
    assert.strictEqual(e1.message, "sendPubSub takes (P|S)(UN)SUBSCRIBE and at least one name, not GET with 1")
    const e2 = await Effect.runPromise(Effect.flip(conn.sendPubSub(["subscribe"])))
    assert.strictEqual(e2.message, "sendPubSub takes (P|S)(UN)SUBSCRIBE and at least one name, not subscribe with 0")
    assert.isFalse(conn.subscriber)
    await ticks()
    assert.deepStrictEqual(sock.writes, [])
  })

  it("an empty batch answers [] without writing", async () => {
    const { conn, sock } = setup()
    assert.deepStrictEqual(await Effect.runPromise(conn.sendBatch([])), [])
    await ticks()
    assert.deepStrictEqual(sock.writes, [])
    assert.strictEqual(conn.writeCount, 0)
  })
})

const frame = (...parts: Array<string | number>) =>
  `*${parts.length}\r\n` + parts.map((p) => typeof p === "number" ? `:${p}\r\n` : `$${p.length}\r\n${p}\r\n`).join("")

describe("ConnSocket RESP2 pub/sub", () => {
  it("confirmations complete the command name by name; messages and other confirmations go to the push handler", async () => {
    const pushes: Array<ReadonlyArray<unknown>> = []
    const { conn, sock } = setup({ onPush: (p) => void pushes.push(p) })
    assert.strictEqual(conn.protocol, 2)
    let got: Array<unknown> | undefined
    Effect.runFork(Effect.map(conn.sendPubSub(["SUBSCRIBE", "a", "b"]), (r) => {
      got = r
    }))
    assert.isTrue(conn.subscriber)
    await ticks()
    assert.deepStrictEqual(sock.writes, [frame("SUBSCRIBE", "a", "b")])
    const slot = conn.readQueue[0]!
    assert.strictEqual(slot.kind, "subscribe")
    assert.isFalse(slot.blocking)
    assert.strictEqual(slot.count, 2)
    sock.reply(frame("subscribe", "a", 1))
    // a message on the channel confirmed next is not its confirmation
    sock.reply(frame("message", "b", "hi"))
    // a confirmation of another name is not either
    sock.reply(frame("subscribe", "x", 9))
    assert.isUndefined(got)
    assert.strictEqual(slot.remaining, 1)
    sock.reply(frame("subscribe", "b", 2))
    await ticks()
    assert.deepStrictEqual(got, [["subscribe", "a", 1], ["subscribe", "b", 2]])
    assert.deepStrictEqual(pushes, [["message", "b", "hi"], ["subscribe", "x", 9]])
    assert.strictEqual(conn.pending, 0)
  })

  it("on a subscriber, replies that are not pub/sub frames still go to their callers", async () => {
    const pushes: Array<ReadonlyArray<unknown>> = []
    const { conn, sock } = setup({ onPush: (p) => void pushes.push(p) })
    conn.subscriber = true
    const ping = call(conn, ["PING"])
    const range = call(conn, ["LRANGE", "l", 0, -1])
    const nums = call(conn, ["X"])
    await ticks()
    sock.reply(frame("pong", ""))
    sock.reply(frame("message", "ch", "m"))
    sock.reply(frame("a", "b"))
    sock.reply("*1\r\n:1\r\n")
    assert.deepStrictEqual(valueOf(ping), ["pong", ""])
    assert.deepStrictEqual(valueOf(range), ["a", "b"])
    assert.deepStrictEqual(valueOf(nums), [1])
    assert.deepStrictEqual(pushes, [["message", "ch", "m"]])
  })

  it("an error reply fails a pub/sub command; what waits behind it is written then", async () => {
    const { conn, sock } = setup({ maxPending: 1 })
    const exits: Array<Exit.Exit<unknown, unknown>> = []
    Effect.runFork(Effect.map(Effect.exit(conn.sendPubSub(["SUBSCRIBE", "a", "b"])), (e) => void exits.push(e)))
    await ticks()
    const get = call(conn, ["GET", "k"])
    await ticks()
    assert.strictEqual(sock.writes.length, 1)
    sock.reply("-ERR no\r\n")
    await ticks()
    assert.strictEqual(exits.length, 1)
    assert.isTrue(Exit.isFailure(exits[0]!))
    assert.strictEqual(sock.writes.length, 2)
    sock.reply("+v\r\n")
    assert.strictEqual(valueOf(get), "v")
  })

  it("a completed pub/sub command lets queued ones go and wakes idle waiters", async () => {
    const { conn, sock } = setup({ maxPending: 2 })
    let got: Array<unknown> | undefined
    Effect.runFork(Effect.map(conn.sendPubSub(["SUBSCRIBE", "a", "b"]), (r) => {
      got = r
    }))
    await ticks()
    const get = call(conn, ["GET", "k"])
    await ticks()
    assert.strictEqual(sock.writes.length, 1)
    sock.reply(frame("subscribe", "a", 1) + frame("subscribe", "b", 2))
    await ticks()
    assert.isDefined(got)
    assert.strictEqual(sock.writes.length, 2)
    sock.reply("+v\r\n")
    assert.strictEqual(valueOf(get), "v")
    const idle = setup()
    let n = 0
    Effect.runFork(Effect.map(idle.conn.sendPubSub(["SUBSCRIBE", "a"]), () => n++))
    await ticks()
    idle.conn.idleWaiters.push(() => n += 10)
    idle.sock.reply(frame("subscribe", "a", 1))
    await ticks()
    assert.strictEqual(n, 11)
  })

  it("a pub/sub command takes readTimeout as its read deadline (it is not a blocking one)", async () => {
    const { conn } = setup({ readTimeout: 100 })
    Effect.runFork(conn.sendPubSub(["SUBSCRIBE", "a"]))
    await ticks()
    assert.strictEqual(conn.readQueue[0]!.readTimeout, 100)
    assert.strictEqual(conn.readQueue[0]!.blocking, false)
    Effect.runSync(conn.close)
  })

  it("a first argument that is not text is not a pub/sub command", async () => {
    const { conn } = setup()
    const e = await Effect.runPromise(Effect.flip(conn.sendPubSub([1, "a"])))
    assert.instanceOf(e, InvalidArgumentError)
    assert.strictEqual(e.message, "sendPubSub takes (P|S)(UN)SUBSCRIBE and at least one name, not undefined with 1")
  })
})

describe("ConnSocket more", () => {
  it("new connections: increasing ids, no client id, not unblocking, nothing written", () => {
    const a = setup().conn
    const b = setup().conn
    assert.strictEqual(b.id, a.id + 1)
    assert.strictEqual(a.clientId, -1)
    assert.isFalse(a.unblocking)
    assert.isFalse(a.retired)
    assert.isTrue(a.isHealthy)
    assert.isFalse(a.isClosed)
  })

  it("a flush already scheduled when the socket filled (a spurious 'drain') writes nothing more", async () => {
    const { conn, sock } = setup()
    sock.full = true
    call(conn, ["GET", "x"])
    sock.emit("drain")
    assert.deepStrictEqual(sock.writes, [GET("x")])
    assert.isTrue(conn.waitingDrain)
    call(conn, ["GET", "y"])
    await ticks()
    assert.deepStrictEqual(sock.writes, [GET("x")])
    assert.strictEqual(conn.queued, 1)
  })

  it("a malformed reply gives in-flight callers the ProtocolError, queued ones a ConnectionError unwritten", async () => {
    const { conn, sock } = setup()
    const a = call(conn, ["GET", "a"])
    await ticks()
    const b = call(conn, ["GET", "b"])
    sock.reply("?what\r\n")
    assert.instanceOf(errorOf(a), ProtocolError)
    const e = errorOf(b) as ConnectionError
    assert.instanceOf(e, ConnectionError)
    assert.strictEqual(e.written, false)
    assert.strictEqual(e.reason, "closed")
  })

  it("closing with a cancelled command still queued fails the others and throws nothing", async () => {
    const { conn } = setup()
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    conn.leave(a.slot)
    Effect.runSync(conn.close)
    assert.isUndefined(a.exit)
    assert.strictEqual((errorOf(b) as ConnectionError).message, "closed: closed by the client")
  })

  it("idle means nothing queued and nothing in flight: one of each is not idle", async () => {
    const { conn, sock } = setup({ maxPending: 1 })
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    const c = call(conn, ["GET", "c"])
    await ticks()
    let idle = 0
    Effect.runFork(Effect.map(conn.awaitIdle, () => idle++))
    await ticks()
    assert.strictEqual(idle, 0)
    conn.leave(b.slot)
    assert.strictEqual(conn.queued, 1)
    assert.strictEqual(conn.inFlight, 1)
    await ticks()
    assert.strictEqual(idle, 0)
    sock.reply("+A\r\n")
    await ticks()
    assert.strictEqual(idle, 0)
    sock.reply("+C\r\n")
    await ticks()
    assert.strictEqual(idle, 1)
    assert.strictEqual(valueOf(a), "A")
    assert.strictEqual(valueOf(c), "C")
  })
})

describe("ConnSocket awaitIdle counts", () => {
  it("one command queued and one in flight is not idle", async () => {
    const { conn, sock } = setup({ maxPending: 1 })
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    await ticks()
    assert.strictEqual(conn.queued, 1)
    assert.strictEqual(conn.inFlight, 1)
    let idle = 0
    Effect.runFork(Effect.map(conn.awaitIdle, () => idle++))
    await ticks()
    assert.strictEqual(idle, 0)
    sock.reply("+A\r\n")
    await ticks()
    sock.reply("+B\r\n")
    await ticks()
    assert.strictEqual(idle, 1)
    assert.strictEqual(valueOf(a), "A")
    assert.strictEqual(valueOf(b), "B")
  })
})

describe("ConnSocket orphans and lingering", () => {
  it("a connection closed while an orphaned pop is out lingers: new commands fail, the pop's reply closes it", async () => {
    const { conn, sock } = setup({ readTimeout: 100, drainTimeout: 500 })
    const pop = call(conn, ["BLPOP", "k", 1])
    await ticks()
    conn.leave(pop.slot)
    assert.isFalse(conn.isClosed)
    Effect.runSync(conn.close)
    assert.isTrue(conn.lingering)
    assert.isFalse(conn.isClosed)
    assert.isFalse(conn.isHealthy)
    const late = call(conn, ["GET", "a"])
    assert.isUndefined(late.slot)
    const e = errorOf(late) as ConnectionError
    assert.strictEqual(e.message, "closed: the connection is closed")
    assert.strictEqual(e.written, false)
    sock.reply("*2\r\n$1\r\nk\r\n$1\r\nv\r\n")
    // what the pop took for nobody is put back first, then the connection closes
    assert.strictEqual(conn.restored, 1)
    assert.isFalse(conn.isClosed)
    await ticks()
    assert.strictEqual(sock.writes[1], "*3\r\n$5\r\nLPUSH\r\n$1\r\nk\r\n$1\r\nv\r\n")
    sock.reply(":1\r\n")
    assert.isTrue(conn.isClosed)
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(conn.awaitClose, (x) => {
      got = x
    }))
    await ticks()
    assert.strictEqual(got?.message, "closed: closed by the client")
  })

  it("an orphaned pub/sub command's confirmations are dropped without closing", async () => {
    const { conn, sock } = setup({ drainTimeout: 500 })
    let called = 0
    const slot = conn.enqueueSlot(["SUBSCRIBE", "a"], undefined, { blocking: false }, () => called++, "subscribe", ["a"])
    conn.subscriber = true
    await ticks()
    conn.leave(slot!)
    assert.strictEqual(conn.overdue, 1)
    sock.reply(frame("subscribe", "a", 1))
    assert.isFalse(conn.isClosed)
    assert.strictEqual(conn.overdue, 0)
    assert.strictEqual(conn.pending, 0)
    assert.strictEqual(called, 0)
  })

  it("an orphaned ordinary command's late reply is dropped, nothing put back", async () => {
    const { conn, sock } = setup({ drainTimeout: 500 })
    const a = call(conn, ["LRANGE", "k", 0, 1])
    await ticks()
    conn.leave(a.slot)
    sock.reply("*2\r\n$1\r\nk\r\n$1\r\nv\r\n")
    assert.isFalse(conn.isClosed)
    assert.strictEqual(conn.restored, 0)
    assert.strictEqual(conn.pending, 0)
    await ticks()
    assert.strictEqual(sock.writes.length, 1)
  })

  it("a throw while a reply is handled closes the connection with a malformed-reply ProtocolError", async () => {
    const { conn, sock } = setup()
    const c = conn.enqueueSlot(["GET", "a"], undefined, undefined, () => {
      throw new Error("boom")
    })
    const b = call(conn, ["GET", "b"])
    await ticks()
    void c
    sock.reply("+1\r\n")
    assert.isTrue(conn.isClosed)
    const e = errorOf(b) as ProtocolError
    assert.instanceOf(e, ProtocolError)
    assert.strictEqual(e.reason, "malformed")
    assert.strictEqual(e.message, "the reply could not be decoded: Error: boom")
    let got: ConnectionError | undefined
    Effect.runFork(Effect.map(conn.awaitClose, (x) => {
      got = x
    }))
    await ticks()
    assert.strictEqual(got?.message, "closed: protocol error: the reply could not be decoded: Error: boom")
  })
})
