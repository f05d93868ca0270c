import { assert, describe, it } from "@effect/vitest"
import { afterEach, beforeEach } from "vitest"
import * as Effect from "effect/Effect"
import { EventEmitter } from "node:events"
import * as Conn from "../../src/Conn.ts"
import { ConnectionError } from "../../src/Errors.ts"
import { connectors } from "../../src/internal/connDial.ts"
import * as RawServer from "../support/RawServer.ts"
import { failure } from "../support/effects.ts"

/** A socket that never touches the network: it records what the dial does to it and emits what a test scripts. */
class FakeSocket extends EventEmitter {
  readonly noDelay: Array<ReadonlyArray<unknown>> = []
  readonly keepAlive: Array<ReadonlyArray<unknown>> = []
  destroyed = 0
  setNoDelay(...args: Array<unknown>) {
    this.noDelay.push(args)
    return this
  }
  setKeepAlive(...args: Array<unknown>) {
    this.keepAlive.push(args)
    return this
  }
  destroy() {
    this.destroyed++
    return this
  }
}

type Kind = "net" | "tls"
const control = {
  calls: [] as Array<{ kind: "net" | "tls"; options: Record<string, unknown> }>,
  returned: [] as Array<unknown>,
  fake: undefined as undefined | ((kind: "net" | "tls", options: Record<string, unknown>) => unknown)
}

// The dial's socket makers, recorded, and replaced by fakes when a test scripts one (`connectors` is the dial's
// seam for this; no module mocking, so the file runs in a shared module graph too).
const actual = { net: connectors.net, tls: connectors.tls }
const through = (kind: Kind, make: (options: any) => unknown) => (options: any): any => {
  control.calls.push({ kind, options })
  const socket = control.fake !== undefined ? control.fake(kind, options) : make(options)
  control.returned.push(socket)
  return socket
}
beforeEach(() => {
  connectors.net = through("net", actual.net)
  connectors.tls = through("tls", actual.tls)
})
afterEach(() => {
  connectors.net = actual.net
  connectors.tls = actual.tls
  control.calls.length = 0
  control.returned.length = 0
  control.fake = undefined
})

const errno = (code: string | undefined, message = `boom ${code ?? "without code"}`) => {
  const error = new Error(message) as NodeJS.ErrnoException
  if (code !== undefined) error.code = code
  return error
}

/** Every dial gets a fake socket, handed to `script` (which schedules its events). */
const fakeDial = (script: (socket: FakeSocket, kind: Kind) => void) => {
  const sockets: Array<FakeSocket> = []
  control.fake = (kind) => {
    const socket = new FakeSocket()
    sockets.push(socket)
    script(socket, kind)
    return socket
  }
  return sockets
}

const dialError = (options: Conn.ConnOptions) =>
  Effect.gen(function*() {
    const error = failure(yield* Effect.exit(Effect.scoped(Conn.make({ dialTimeout: 2_000, ...options }))))
    assert.instanceOf(error, ConnectionError)
    return error as ConnectionError
  })

const later = (f: () => void) => setImmediate(f)

/** After the dial gave up on a socket: only its "ignore" error listener is left. */
const assertCleanedUp = (socket: FakeSocket) => {
  assert.strictEqual(socket.listenerCount("connect"), 0, "connect listeners")
  assert.strictEqual(socket.listenerCount("secureConnect"), 0, "secureConnect listeners")
  assert.strictEqual(socket.listenerCount("close"), 0, "close listeners")
  assert.strictEqual(socket.listenerCount("error"), 1, "error listeners (the ignore one)")
}

describe("dial: errors sorted into reasons", () => {
  it.live.each<[string | undefined, string]>([
    ["ECONNREFUSED", "refused"],
    ["ENOENT", "refused"],
    ["EACCES", "refused"],
    ["ENOTFOUND", "dns"],
    ["EAI_AGAIN", "dns"],
    ["EAI_FAIL", "dns"],
    ["EAI_NONAME", "dns"],
    ["ETIMEDOUT", "timeout"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", "tls"],
    ["CERT_HAS_EXPIRED", "tls"],
    ["ECONNRESET", "reset"],
    ["EPIPE", "reset"],
    ["EHOSTUNREACH", "unknown"],
    [undefined, "unknown"]
  ])("plain TCP: %s is %s", ([code, reason]) =>
    Effect.gen(function*() {
      const cause = errno(code)
      const sockets = fakeDial((socket) => later(() => socket.emit("error", cause)))
      const error = yield* dialError({ host: "10.1.2.3", port: 7000 })
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, `${reason}: dialing 10.1.2.3:7000 failed: ${cause.message}`)
      assert.strictEqual(error.address, "10.1.2.3:7000")
      assert.strictEqual(error.written, false)
      assert.strictEqual(error.cause, cause)
      assert.strictEqual(sockets.length, 1)
      const socket = sockets[0]!
      assert.isAtLeast(socket.destroyed, 1)
      assertCleanedUp(socket)
      assert.deepStrictEqual(socket.noDelay, [[true]])
      assert.deepStrictEqual(socket.keepAlive, [[true, 15_000]])
    }))

  it.live.each<[string | undefined, string]>([
    ["ECONNRESET", "tls"],
    ["EPIPE", "tls"],
    ["EHOSTUNREACH", "tls"],
    [undefined, "tls"],
    ["ECONNREFUSED", "refused"],
    ["ERR_SSL_WRONG_VERSION_NUMBER", "tls"]
  ])("TLS after the TCP connect: %s is %s", ([code, reason]) =>
    Effect.gen(function*() {
      const cause = errno(code)
      const sockets = fakeDial((socket) =>
        later(() => {
          socket.emit("connect")
          later(() => socket.emit("error", cause))
        })
      )
      const error = yield* dialError({ port: 7001, tls: true })
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, `${reason}: dialing 127.0.0.1:7001 failed: ${cause.message}`)
      assert.strictEqual(error.written, false)
      const socket = sockets[0]!
      assert.isAtLeast(socket.destroyed, 1)
      assertCleanedUp(socket)
      assert.deepStrictEqual(socket.noDelay, [[true]])
      assert.deepStrictEqual(socket.keepAlive, [[true, 15_000]])
    }))

  it.live.each<[string | undefined, string]>([
    ["ECONNRESET", "reset"],
    ["EPIPE", "reset"],
    ["EHOSTUNREACH", "unknown"],
    ["ECONNREFUSED", "refused"]
  ])("TLS before the TCP connect: %s is %s", ([code, reason]) =>
    Effect.gen(function*() {
      const cause = errno(code)
      const sockets = fakeDial((socket) => later(() => socket.emit("error", cause)))
      const error = yield* dialError({ port: 7002, tls: true })
      assert.strictEqual(error.reason, reason)
      assertCleanedUp(sockets[0]!)
    }))

  it.live.each<[string, string]>([
    ["ECONNREFUSED", "refused"],
    ["EHOSTUNREACH", "unknown"]
  ])("connect throwing %s at once: %s, nothing written", ([code, reason]) =>
    Effect.gen(function*() {
      const cause = errno(code)
      control.fake = () => {
        throw cause
      }
      const error = yield* dialError({ port: 7003 })
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, `${reason}: dialing 127.0.0.1:7003 failed: ${cause.message}`)
      assert.strictEqual(error.written, false)
      assert.strictEqual(error.cause, cause)
      const tlsError = yield* dialError({ port: 7003, tls: true })
      assert.strictEqual(tlsError.reason, reason)
    }))
})

describe("dial: closed while dialing", () => {
  it.live("plain TCP: reason closed", () =>
    Effect.gen(function*() {
      const sockets = fakeDial((socket) => later(() => socket.emit("close")))
      const error = yield* dialError({ port: 7004 })
      assert.strictEqual(error.reason, "closed")
      assert.strictEqual(error.message, "closed: 127.0.0.1:7004 closed the connection while dialing")
      assert.strictEqual(error.address, "127.0.0.1:7004")
      assert.strictEqual(error.written, false)
      assertCleanedUp(sockets[0]!)
    }))

  it.live("TLS before the TCP connect: closed; after it: tls", () =>
    Effect.gen(function*() {
      const before = fakeDial((socket) => later(() => socket.emit("close")))
      const early = yield* dialError({ port: 7005, tls: true })
      assert.strictEqual(early.reason, "closed")
      assertCleanedUp(before[0]!)
      const after = fakeDial((socket) =>
        later(() => {
          socket.emit("connect")
          later(() => socket.emit("close"))
        })
      )
      const late = yield* dialError({ port: 7005, tls: true })
      assert.strictEqual(late.reason, "tls")
      assert.strictEqual(late.message, "closed: 127.0.0.1:7005 closed the connection while dialing")
      assert.strictEqual(late.written, false)
      assertCleanedUp(after[0]!)
    }))
})

describe("dial: interrupted", () => {
  it.live("a dial that never connects is given up at the dial timeout: the socket is destroyed and its listeners removed", () =>
    Effect.gen(function*() {
      const sockets = fakeDial(() => {})
      const error = yield* dialError({ port: 7006, dialTimeout: 50 })
      assert.strictEqual(error.reason, "timeout")
      const socket = sockets[0]!
      assert.strictEqual(socket.destroyed, 1)
      assertCleanedUp(socket)
    }))

  it.live("TLS: the same", () =>
    Effect.gen(function*() {
      const sockets = fakeDial(() => {})
      const error = yield* dialError({ port: 7006, dialTimeout: 50, tls: true })
      assert.strictEqual(error.reason, "timeout")
      assert.strictEqual(sockets[0]!.destroyed, 1)
      assertCleanedUp(sockets[0]!)
    }))
})

describe("dial: what is passed to net.connect and tls.connect", () => {
  const refuse = () => fakeDial((socket) => later(() => socket.emit("error", errno("ECONNREFUSED"))))

  it.live("plain TCP: host and port, 127.0.0.1 by default; a path alone", () =>
    Effect.gen(function*() {
      refuse()
      yield* dialError({ port: 7010 })
      yield* dialError({ host: "redis.example", port: 7011 })
      const unix = yield* dialError({ path: "/tmp/redis-test.sock" })
      assert.strictEqual(unix.address, "/tmp/redis-test.sock")
      yield* dialError({ port: 7012, tls: false })
      assert.deepStrictEqual(control.calls, [
        { kind: "net", options: { host: "127.0.0.1", port: 7010 } },
        { kind: "net", options: { host: "redis.example", port: 7011 } },
        { kind: "net", options: { path: "/tmp/redis-test.sock" } },
        { kind: "net", options: { host: "127.0.0.1", port: 7012 } }
      ])
    }))

  it.live("TLS: host (127.0.0.1 by default) and port; a host name is the server name, an IP address is not", () =>
    Effect.gen(function*() {
      refuse()
      yield* dialError({ port: 7020, tls: true })
      yield* dialError({ host: "redis.example", port: 7021, tls: true })
      yield* dialError({ host: "::1", port: 7022, tls: {} })
      assert.deepStrictEqual(control.calls, [
        { kind: "tls", options: { host: "127.0.0.1", port: 7020 } },
        { kind: "tls", options: { host: "redis.example", port: 7021, servername: "redis.example" } },
        { kind: "tls", options: { host: "::1", port: 7022 } }
      ])
    }))

  it.live("TLS: a server name given is kept, unless it is an IP address; the given options are passed on", () =>
    Effect.gen(function*() {
      refuse()
      yield* dialError({ port: 7030, tls: { servername: "cache.example", rejectUnauthorized: false } })
      yield* dialError({ host: "redis.example", port: 7031, tls: { servername: "10.0.0.1" } })
      yield* dialError({ port: 7032, tls: { servername: "::1" } })
      yield* dialError({ host: "redis.example", port: 7033, tls: { servername: "cache.example" } })
      assert.deepStrictEqual(control.calls, [
        { kind: "tls", options: { servername: "cache.example", rejectUnauthorized: false, host: "127.0.0.1", port: 7030 } },
        { kind: "tls", options: { host: "redis.example", port: 7031, servername: "redis.example" } },
        { kind: "tls", options: { host: "127.0.0.1", port: 7032 } },
        { kind: "tls", options: { servername: "cache.example", host: "redis.example", port: 7033 } }
      ])
    }))

  it.live("TLS over a Unix socket: the path and the TLS options, no host", () =>
    Effect.gen(function*() {
      refuse()
      yield* dialError({ path: "/tmp/redis-tls.sock", tls: { rejectUnauthorized: false, servername: "cache.example" } })
      yield* dialError({ path: "/tmp/redis-tls.sock", tls: true })
      assert.deepStrictEqual(control.calls, [
        { kind: "tls", options: { rejectUnauthorized: false, servername: "cache.example", path: "/tmp/redis-tls.sock" } },
        { kind: "tls", options: { path: "/tmp/redis-tls.sock" } }
      ])
    }))
})

describe("dial: a real connection", () => {
  it.live("once connected, the dial's own listeners are gone; only its error guard stays", () =>
    Effect.gen(function*() {
      const fake = yield* RawServer.make({
        respond: (args) => args[0] === "HELLO" ? "%2\r\n+proto\r\n:3\r\n+id\r\n:7\r\n" : "+OK\r\n"
      })
      const conn = yield* Conn.make({ port: fake.port, libName: "" })
      assert.strictEqual(conn.clientId, 7)
      assert.strictEqual(control.returned.length, 1)
      const socket = control.returned[0] as EventEmitter
      assert.strictEqual(socket.listenerCount("connect"), 0)
      assert.strictEqual(socket.listeners("error").filter((l) => l.name === "ignore").length, 1)
    }))
})
