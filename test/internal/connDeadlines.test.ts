/**
 * A connection's deadlines (read, write, drain, blocking) against a fake socket with fake
 * timers: who fails when, with which error, and what the connection does afterwards.
 */
import { afterEach, assert, beforeEach, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { vi } from "vitest"
import { CommandTimeoutError, ConnectionError } from "../../src/Errors.ts"
import { callOptions } from "../../src/internal/connSlot.ts"
import { ConnSocket } from "../../src/internal/connSocket.ts"
import { batch, call, type Call, setup, ticks } from "../support/FakeSocket.ts"


const errorOf = (c: Call): any => {
  assert.isDefined(c.exit, "expected an outcome")
  assert.isTrue(Exit.isFailure(c.exit!), "expected a failure")
  for (const r of (c.exit as any).cause.reasons ?? (c.exit as any).cause.failures ?? []) {
    if (r.error !== undefined) return r.error
  }
  return undefined
}
const valueOf = (c: Call): any => {
  assert.isDefined(c.exit)
  assert.isTrue(Exit.isSuccess(c.exit!), `expected a success, got ${String(c.exit)}`)
  return (c.exit as any).value
}

/** The error the connection closed with (undefined while open). */
const closeMessage = (conn: ConnSocket): string | undefined => (conn as any).closeError?.message

const advance = (ms: number) => vi.advanceTimersByTime(ms)

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 1_000_000 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe("read deadlines", () => {
  it("a command unanswered within readTimeout fails exactly then; drainTimeout 0 closes the connection", async () => {
    const { conn, sock } = setup({ readTimeout: 100 })
    const a = call(conn, ["GET", "a"])
    assert.strictEqual(a.slot.readTimeout, 100)
    assert.strictEqual(a.slot.deadline, 0)
    await ticks()
    assert.strictEqual(a.slot.deadline, 1_000_100)
    advance(99)
    assert.isUndefined(a.exit)
    advance(1)
    const e = errorOf(a) as CommandTimeoutError
    assert.instanceOf(e, CommandTimeoutError)
    assert.strictEqual(e.command, "GET")
    assert.strictEqual(e.phase, "read")
    assert.strictEqual(e.timeoutMillis, 100)
    assert.strictEqual(
      e.message,
      "GET: no reply from fake:1 within 100ms (the connection stays in sync; the late reply will be dropped)"
    )
    assert.isTrue(conn.isClosed)
    assert.strictEqual(closeMessage(conn), "closed: a reply was late and drainTimeout is 0")
    void sock
  })

  it("with a drainTimeout the late reply is dropped, later commands wait for it, then go", async () => {
    const { conn, sock } = setup({ readTimeout: 100, drainTimeout: 500 })
    const a = call(conn, ["GET", "a"])
    await ticks()
    advance(100)
    assert.strictEqual((errorOf(a) as CommandTimeoutError).phase, "read")
    assert.isFalse(conn.isClosed)
    assert.isTrue(conn.isHealthy)
    assert.strictEqual(conn.overdue, 1)
    assert.strictEqual(a.slot.overdue, true)
    assert.strictEqual(a.slot.deadline, 1_000_600)
    assert.strictEqual(conn.pending, 1)
    const b = call(conn, ["GET", "b"])
    await ticks()
    assert.strictEqual(sock.writes.length, 1)
    sock.reply("+late\r\n")
    assert.strictEqual(conn.overdue, 0)
    assert.strictEqual(a.slot.overdue, false)
    assert.strictEqual(a.slot.state, "done")
    assert.isUndefined(b.exit)
    await ticks()
    assert.strictEqual(sock.writes.length, 2)
    sock.reply("+B\r\n")
    assert.strictEqual(valueOf(b), "B")
    assert.strictEqual(conn.pending, 0)
    advance(1000)
    assert.isFalse(conn.isClosed)
  })

  it("a late reply that never comes closes the connection when drainTimeout runs out", async () => {
    const { conn } = setup({ readTimeout: 100, drainTimeout: 500 })
    const a = call(conn, ["GET", "a"])
    await ticks()
    advance(100)
    assert.isDefined(a.exit)
    advance(499)
    assert.isFalse(conn.isClosed)
    advance(1)
    assert.isTrue(conn.isClosed)
    assert.strictEqual(closeMessage(conn), "closed: a timed-out reply did not arrive within drainTimeout")
  })

  it("a caller leaving a written command orphans it: the drain deadline is armed from then", async () => {
    const { conn } = setup({ drainTimeout: 500 })
    const a = call(conn, ["GET", "a"])
    await ticks()
    advance(50)
    conn.leave(a.slot)
    assert.strictEqual(conn.overdue, 1)
    assert.isUndefined(a.exit)
    advance(499)
    assert.isFalse(conn.isClosed)
    advance(1)
    assert.isTrue(conn.isClosed)
    assert.strictEqual(closeMessage(conn), "closed: a timed-out reply did not arrive within drainTimeout")
  })

  it("a caller leaving a written command with drainTimeout 0 closes at once", async () => {
    const { conn } = setup()
    const a = call(conn, ["GET", "a"])
    await ticks()
    conn.leave(a.slot)
    assert.isTrue(conn.isClosed)
    assert.strictEqual(closeMessage(conn), "closed: a reply was late and drainTimeout is 0")
  })

  it("the timer is armed for the earliest read deadline of a flush", async () => {
    const { conn } = setup({ readTimeout: 100, drainTimeout: 5000 })
    const pop = call(conn, ["BLPOP", "k", 1])
    const get = call(conn, ["GET", "a"])
    await ticks()
    assert.strictEqual(pop.slot.readTimeout, 2000)
    advance(100)
    assert.strictEqual((errorOf(get) as CommandTimeoutError).timeoutMillis, 100)
    assert.isUndefined(pop.exit)
    advance(1899)
    assert.isUndefined(pop.exit)
    advance(1)
    assert.strictEqual((errorOf(pop) as CommandTimeoutError).timeoutMillis, 2000)
  })

  it("each timed read fails at its own deadline, several per timer and in any order", async () => {
    const { conn } = setup({ drainTimeout: 5000 })
    const plain = call(conn, ["GET", "p"])
    const a = call(conn, ["GET", "a"], { timeout: 200 })
    const b = call(conn, ["GET", "b"], { timeout: 100 })
    const c = call(conn, ["GET", "c"], { timeout: 150 })
    const d = call(conn, ["GET", "d"], { timeout: 100 })
    await ticks()
    advance(100)
    assert.isDefined(b.exit)
    assert.isDefined(d.exit)
    assert.isUndefined(c.exit)
    assert.isUndefined(a.exit)
    assert.isUndefined(plain.exit)
    advance(50)
    assert.strictEqual((errorOf(c) as CommandTimeoutError).timeoutMillis, 150)
    assert.isUndefined(a.exit)
    advance(50)
    assert.strictEqual((errorOf(a) as CommandTimeoutError).timeoutMillis, 200)
    assert.isUndefined(plain.exit)
    assert.isFalse(conn.isClosed)
    assert.strictEqual(conn.overdue, 4)
  })

  it("a batch that times out says so, with its size and first command", async () => {
    const { conn } = setup({ readTimeout: 100, drainTimeout: 500 })
    const b = batch(conn, [["GET", "a"], ["SET", "b", "1"]])
    await ticks()
    advance(100)
    const e = errorOf(b) as CommandTimeoutError
    assert.strictEqual(e.command, "GET")
    assert.strictEqual(
      e.message,
      "a batch of 2 commands starting with GET: no reply from fake:1 within 100ms (the connection stays in sync; the late reply will be dropped)"
    )
  })

  it("a pub/sub command that times out is named alone", async () => {
    const { conn } = setup({ drainTimeout: 500 })
    const c: Call = { exit: undefined, slot: undefined }
    c.slot = conn.enqueueSlot(["SUBSCRIBE", "ch"], undefined, { timeout: 50, blocking: false }, (exit) => {
      c.exit = exit
    }, "subscribe", ["ch"])
    assert.strictEqual(c.slot.blocking, false)
    assert.strictEqual(c.slot.kind, "subscribe")
    await ticks()
    advance(50)
    const e = errorOf(c) as CommandTimeoutError
    assert.strictEqual(
      e.message,
      "SUBSCRIBE: no reply from fake:1 within 50ms (the connection stays in sync; the late reply will be dropped)"
    )
  })
})

describe("write deadlines", () => {
  it("a command not written within writeTimeout fails unsent, naming maxPending; the counts follow", async () => {
    const { conn, sock } = setup({ writeTimeout: 50, maxPending: 1 })
    const a = call(conn, ["GET", "a"])
    const b = call(conn, ["GET", "b"])
    assert.strictEqual(b.slot.writeTimeout, 50)
    assert.strictEqual(b.slot.deadline, 1_000_050)
    await ticks()
    assert.strictEqual(conn.queued, 1)
    advance(49)
    assert.isUndefined(b.exit)
    advance(1)
    const e = errorOf(b) as CommandTimeoutError
    assert.strictEqual(e.phase, "write")
    assert.strictEqual(e.command, "GET")
    assert.strictEqual(e.timeoutMillis, 50)
    assert.strictEqual(e.message, "GET: not written to fake:1 within 50ms (1 commands in flight, maxPending 1); it was never sent")
    assert.strictEqual(b.slot.state, "cancelled")
    assert.strictEqual(conn.queued, 0)
    assert.strictEqual(conn.pending, 1)
    assert.isFalse(conn.isClosed)
    sock.reply("+A\r\n")
    assert.strictEqual(valueOf(a), "A")
    await ticks()
    assert.strictEqual(sock.writes.length, 1)
    assert.strictEqual(conn.pending, 0)
  })

  it("on a socket that is not draining the message says so", async () => {
    const { conn, sock } = setup({ writeTimeout: 50 })
    sock.full = true
    call(conn, ["GET", "a"])
    await ticks()
    const b = call(conn, ["GET", "b"])
    advance(50)
    assert.strictEqual(
      (errorOf(b) as CommandTimeoutError).message,
      "GET: not written to fake:1 within 50ms (the socket is not draining); it was never sent"
    )
  })

  it("the last queued command timing out wakes the idle waiters", async () => {
    const { conn, sock } = setup({ writeTimeout: 50 })
    sock.full = true
    const a = call(conn, ["GET", "a"])
    await ticks()
    sock.reply("+A\r\n")
    assert.strictEqual(valueOf(a), "A")
    const b = call(conn, ["GET", "b"])
    let idle = 0
    conn.idleWaiters.push(() => idle++)
    advance(50)
    assert.isDefined(b.exit)
    assert.strictEqual(idle, 1)
  })

  it("several queued commands with the same write deadline all fail; later ones at theirs; cancelled and untimed ones are skipped", async () => {
    const { conn, sock } = setup({ maxPending: 1, drainTimeout: 5000 })
    const first = call(conn, ["GET", "first"])
    const x = call(conn, ["GET", "x"], { timeout: 50 })
    const gone = call(conn, ["GET", "gone"], { timeout: 50 })
    const y = call(conn, ["GET", "y"], { timeout: 50 })
    const late = call(conn, ["GET", "late"], { timeout: 200 })
    const soon = call(conn, ["GET", "soon"], { timeout: 80 })
    const untimed = call(conn, ["GET", "untimed"])
    await ticks()
    conn.leave(gone.slot)
    assert.strictEqual(conn.queued, 5)
    advance(50)
    assert.strictEqual((errorOf(x) as CommandTimeoutError).phase, "write")
    assert.strictEqual((errorOf(y) as CommandTimeoutError).phase, "write")
    assert.isUndefined(gone.exit)
    assert.strictEqual(conn.queued, 3)
    assert.isUndefined(first.exit)
    advance(30)
    assert.strictEqual((errorOf(soon) as CommandTimeoutError).timeoutMillis, 80)
    assert.isUndefined(late.exit)
    assert.strictEqual(conn.queued, 2)
    advance(120)
    assert.strictEqual((errorOf(late) as CommandTimeoutError).timeoutMillis, 200)
    assert.isUndefined(untimed.exit)
    assert.isUndefined(first.exit)
    assert.strictEqual(conn.queued, 1)
    assert.strictEqual(conn.pending, 2)
    sock.reply("+F\r\n")
    await ticks()
    assert.strictEqual(sock.writes.length, 2)
    sock.reply("+U\r\n")
    assert.strictEqual(valueOf(untimed), "U")
  })

  it("writeTimeout 0 sets no write deadline", () => {
    const { conn } = setup()
    const a = call(conn, ["GET", "a"])
    assert.strictEqual(a.slot.deadline, 0)
    assert.strictEqual(a.slot.writeTimeout, 0)
  })
})

describe("blocking commands", () => {
  it("a blocking pop's read deadline is its block time plus readTimeout, at least 1 s more", async () => {
    const one = setup({ readTimeout: 1500, drainTimeout: 5000 })
    const pop = call(one.conn, ["BLPOP", "k", 1])
    assert.strictEqual(pop.slot.readTimeout, 2500)
    assert.isTrue(pop.slot.blocking)
    assert.deepStrictEqual(pop.slot.args, ["BLPOP", "k", 1])
    await ticks()
    advance(2499)
    assert.isUndefined(pop.exit)
    advance(1)
    assert.strictEqual((errorOf(pop) as CommandTimeoutError).timeoutMillis, 2500)
    const two = setup({ readTimeout: 100 })
    assert.strictEqual(call(two.conn, ["BLPOP", "k", 1]).slot.readTimeout, 2000)
  })

  it("a blocking pop without a block limit, or with readTimeout 0, has no read deadline", async () => {
    const { conn } = setup({ readTimeout: 1500 })
    const pop = call(conn, ["BLPOP", "k", 0])
    assert.strictEqual(pop.slot.readTimeout, 0)
    const other = setup({ readTimeout: 0 })
    assert.strictEqual(call(other.conn, ["BLPOP", "k", 3]).slot.readTimeout, 0)
    await ticks()
    advance(10_000)
    assert.isUndefined(pop.exit)
  })

  it("blocking: false makes a blocking command an ordinary one; blocking: true the reverse", () => {
    const { conn } = setup({ readTimeout: 100 })
    const pop = call(conn, ["BLPOP", "k", 1], { blocking: false })
    assert.strictEqual(pop.slot.readTimeout, 100)
    assert.isFalse(pop.slot.blocking)
    assert.isUndefined(pop.slot.args)
    const get = call(conn, ["GET", "a"])
    assert.isFalse(get.slot.blocking)
    assert.isUndefined(get.slot.args)
    assert.strictEqual(get.slot.readTimeout, 100)
    const forced = call(conn, ["FOO"], { blocking: true })
    assert.isTrue(forced.slot.blocking)
    assert.strictEqual(forced.slot.readTimeout, 0)
  })

  it("a batch's block times add up; blocking: false ignores them", () => {
    const { conn } = setup({ readTimeout: 100 })
    const b = batch(conn, [["BLPOP", "a", 1], ["GET", "x"], ["BLPOP", "b", 2]])
    assert.strictEqual(b.slot.readTimeout, 4000)
    assert.isTrue(b.slot.blocking)
    assert.isUndefined(b.slot.args)
    const plain = batch(conn, [["BLPOP", "a", 1], ["BLPOP", "b", 2]], { blocking: false })
    assert.strictEqual(plain.slot.readTimeout, 100)
    assert.isFalse(plain.slot.blocking)
    const gets = batch(conn, [["GET", "a"], ["GET", "b"]])
    assert.strictEqual(gets.slot.readTimeout, 100)
    assert.isFalse(gets.slot.blocking)
  })

  it("a timed-out blocking pop reads on, past drainTimeout 0, for at least 1 s more", async () => {
    const { conn } = setup({ readTimeout: 100 })
    const pop = call(conn, ["BLPOP", "k", 1])
    await ticks()
    advance(2000)
    assert.strictEqual((errorOf(pop) as CommandTimeoutError).phase, "read")
    assert.isFalse(conn.isClosed)
    assert.strictEqual(pop.slot.deadline, 1_003_000)
    advance(999)
    assert.isFalse(conn.isClosed)
    advance(1)
    assert.isTrue(conn.isClosed)
    assert.strictEqual(closeMessage(conn), "closed: a timed-out reply did not arrive within drainTimeout")
  })

  it("a caller leaving a blocking batch (no arguments to put back) closes the connection", async () => {
    const { conn } = setup({ readTimeout: 100, drainTimeout: 5000 })
    const b = batch(conn, [["BLPOP", "a", 1]])
    await ticks()
    conn.leave(b.slot)
    assert.isTrue(conn.isClosed)
    assert.strictEqual(
      closeMessage(conn),
      "closed: a caller left a blocking command without a deadline; the connection is closed"
    )
  })

  it("with unblock and a known client id, a timed-out pop retires the connection and asks for the release", async () => {
    const ids: Array<number> = []
    const { conn } = setup({
      readTimeout: 100,
      unblock: (id) => Effect.sync(() => void ids.push(id)).pipe(Effect.andThen(Effect.never))
    })
    conn.clientId = 7
    const pop = call(conn, ["BLPOP", "k", 1])
    await ticks()
    advance(2000)
    assert.isDefined(pop.exit)
    assert.isTrue(conn.retired)
    assert.isFalse(conn.isHealthy)
    assert.strictEqual(pop.slot.deadline, 0)
    assert.isFalse(conn.isClosed)
    await vi.advanceTimersByTimeAsync(10)
    assert.deepStrictEqual(ids, [7])
    advance(60_000)
    assert.isFalse(conn.isClosed)
  })

  it("with unblock but no client id, a timed-out pop is not retired", async () => {
    const ids: Array<number> = []
    const { conn } = setup({
      readTimeout: 100,
      unblock: (id) => Effect.sync(() => void ids.push(id)).pipe(Effect.andThen(Effect.never))
    })
    conn.clientId = 0
    const pop = call(conn, ["BLPOP", "k", 1])
    await ticks()
    advance(2000)
    assert.isDefined(pop.exit)
    assert.isFalse(conn.retired)
    assert.isTrue(conn.isHealthy)
    assert.deepStrictEqual(ids, [])
  })
})

describe("quit", () => {
  it("waits for QUIT's reply within readTimeout, 1 s when there is none, then closes", async () => {
    for (const [readTimeout, wait] of [[0, 1000], [300, 300]] as const) {
      const { conn, sock } = setup({ readTimeout, drainTimeout: 10_000 })
      const done = Effect.runPromise(conn.quit)
      await vi.advanceTimersByTimeAsync(0)
      assert.deepStrictEqual(sock.writes, ["*1\r\n$4\r\nQUIT\r\n"])
      await vi.advanceTimersByTimeAsync(wait - 1)
      assert.isFalse(conn.isClosed, `readTimeout ${readTimeout}`)
      await vi.advanceTimersByTimeAsync(1)
      await done
      assert.isTrue(conn.isClosed)
      assert.strictEqual(closeMessage(conn), "closed: closed by the client")
    }
  })

  it("quit on a closed connection does nothing", async () => {
    const { conn, sock } = setup()
    Effect.runSync(conn.close)
    await Effect.runPromise(conn.quit)
    assert.deepStrictEqual(sock.writes, [])
  })
})

describe("callOptions", () => {
  it("numbers pass through; durations become whole milliseconds, 0 for none", () => {
    const numeric = { timeout: 5 }
    assert.strictEqual(callOptions(numeric), numeric)
    const unset = { blocking: true }
    assert.strictEqual(callOptions(unset), unset)
    assert.isUndefined(callOptions(undefined))
    assert.deepStrictEqual(callOptions({ timeout: Duration.millis(1500) }), { timeout: 1500, blocking: undefined })
    assert.deepStrictEqual(callOptions({ timeout: "1500 micros", blocking: false }), { timeout: 2, blocking: false })
    assert.deepStrictEqual(callOptions({ timeout: Duration.zero }), { timeout: 0, blocking: undefined })
    assert.deepStrictEqual(callOptions({ timeout: Duration.infinity }), { timeout: 0, blocking: undefined })
  })
})

void ConnectionError

describe("deadlines after writing", () => {
  it("a written command without a read timeout drops its write deadline", async () => {
    const { conn } = setup({ writeTimeout: 50 })
    const a = call(conn, ["GET", "a"])
    assert.strictEqual(a.slot.deadline, 1_000_050)
    await ticks()
    assert.strictEqual(a.slot.deadline, 0)
    advance(1000)
    assert.isUndefined(a.exit)
    assert.isFalse(conn.isClosed)
  })

  it("leaving after the timeout does not move the drain deadline", async () => {
    const { conn } = setup({ readTimeout: 100, drainTimeout: 500 })
    const a = call(conn, ["GET", "a"])
    await ticks()
    advance(100)
    assert.isDefined(a.exit)
    advance(200)
    conn.leave(a.slot)
    assert.strictEqual(a.slot.deadline, 1_000_600)
    assert.strictEqual(conn.overdue, 1)
    advance(300)
    assert.isTrue(conn.isClosed)
  })

  it("sendPubSub's own timeout bounds it", async () => {
    const { conn } = setup({ drainTimeout: 500 })
    const exits: Array<Exit.Exit<unknown, unknown>> = []
    Effect.runFork(Effect.map(Effect.exit(conn.sendPubSub(["SUBSCRIBE", "a"], { timeout: 50 })), (e) => void exits.push(e)))
    await vi.advanceTimersByTimeAsync(0)
    assert.strictEqual(conn.readQueue[0]!.readTimeout, 50)
    await vi.advanceTimersByTimeAsync(50)
    assert.strictEqual(exits.length, 1)
    assert.isTrue(Exit.isFailure(exits[0]!))
  })
})
