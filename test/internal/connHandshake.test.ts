import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as Conn from "../../src/Conn.ts"
import { CommandTimeoutError, ConnectionError, ProtocolError, RedisReplyError } from "../../src/Errors.ts"
import { version } from "../../src/internal/connVersion.ts"
import * as RawServer from "../support/RawServer.ts"
import { failure } from "../support/effects.ts"

// A scripted server that records every command it gets and answers the handshake well,
// except where `override` replaces an answer.
const scripted = (override: (command: string, args: ReadonlyArray<string>) => string | undefined = () => undefined) =>
  Effect.gen(function*() {
    const received: Array<ReadonlyArray<string>> = []
    const replies = RawServer.handshakeReplies(override)
    const server = yield* RawServer.make({
      respond: (args) => {
        received.push(args)
        return replies(args)
      }
    })
    return { port: server.port, address: `127.0.0.1:${server.port}`, received }
  })
const { unknownHello } = RawServer

const dialError = (options: Conn.ConnOptions) =>
  Effect.gen(function*() {
    const error = failure(yield* Effect.exit(Effect.scoped(Conn.make(options))))
    assert.instanceOf(error, ConnectionError)
    return error as ConnectionError
  })

const setinfo = (name = "effect-redis-pool", ver = version) => [
  ["CLIENT", "SETINFO", "LIB-NAME", name],
  ["CLIENT", "SETINFO", "LIB-VER", ver]
]

describe("handshake: the commands sent", () => {
  it.live("RESP3 by default: HELLO 3 and CLIENT SETINFO, no CLIENT ID; the id and protocol come from HELLO", () =>
    Effect.gen(function*() {
      const fake = yield* scripted()
      const conn = yield* Conn.make({ port: fake.port })
      assert.deepStrictEqual(fake.received, [["HELLO", "3"], ...setinfo()])
      assert.strictEqual(conn.protocol, 3)
      assert.strictEqual(conn.clientId, 7)
    }))

  it.live("libName and libVer are sent as given; libName \"\" sends no CLIENT SETINFO", () =>
    Effect.gen(function*() {
      const fake = yield* scripted()
      yield* Conn.make({ port: fake.port, libName: "mylib", libVer: "9.9.9" })
      assert.deepStrictEqual(fake.received, [["HELLO", "3"], ...setinfo("mylib", "9.9.9")])
      const bare = yield* scripted()
      yield* Conn.make({ port: bare.port, libName: "" })
      assert.deepStrictEqual(bare.received, [["HELLO", "3"]])
    }))

  it.live("HELLO carries AUTH (default user unless one is given), SETNAME, then SELECT", () =>
    Effect.gen(function*() {
      const fake = yield* scripted()
      yield* Conn.make({ port: fake.port, password: Redacted.make("pw"), clientName: "n", db: 3, libName: "" })
      assert.deepStrictEqual(fake.received, [["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n"], ["SELECT", "3"]])
      const user = yield* scripted()
      yield* Conn.make({ port: user.port, password: Redacted.make("pw"), username: "u", protocol: 2, libName: "" })
      assert.deepStrictEqual(user.received, [["HELLO", "2", "AUTH", "u", "pw"]])
    }))

  it.live("HELLO without an id: the client id is -1", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "%1\r\n+proto\r\n:3\r\n" : undefined)
      const conn = yield* Conn.make({ port: fake.port })
      assert.strictEqual(conn.clientId, -1)
      assert.strictEqual(conn.protocol, 3)
    }))

  it.live("RESP2 fallback: AUTH (password alone without a username), CLIENT SETNAME, SELECT, CLIENT SETINFO, CLIENT ID", () =>
    Effect.gen(function*() {
      const fake = yield* scripted(unknownHello)
      const conn = yield* Conn.make({ port: fake.port, password: Redacted.make("pw"), clientName: "n", db: 2 })
      assert.deepStrictEqual(fake.received, [
        ["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n"],
        ["SELECT", "2"],
        ...setinfo(),
        ["AUTH", "pw"],
        ["CLIENT", "SETNAME", "n"],
        ["SELECT", "2"],
        ...setinfo(),
        ["CLIENT", "ID"]
      ])
      assert.strictEqual(conn.protocol, 2)
      assert.strictEqual(conn.clientId, 7)
    }))

  it.live("RESP2 fallback with a username: AUTH username password", () =>
    Effect.gen(function*() {
      const fake = yield* scripted(unknownHello)
      yield* Conn.make({ port: fake.port, password: Redacted.make("pw"), username: "u", libName: "" })
      assert.deepStrictEqual(fake.received, [["HELLO", "3", "AUTH", "u", "pw"], ["AUTH", "u", "pw"], ["CLIENT", "ID"]])
    }))

  it.live("a NOPROTO reply to HELLO takes the RESP2 fallback too", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "-NOPROTO unsupported protocol version\r\n" : undefined)
      const conn = yield* Conn.make({ port: fake.port, libName: "" })
      assert.deepStrictEqual(fake.received, [["HELLO", "3"], ["CLIENT", "ID"]])
      assert.strictEqual(conn.protocol, 2)
    }))

  it.live("RESP2 fallback: CLIENT ID refused leaves the id unknown (-1)", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) =>
        unknownHello(c) ?? (c === "CLIENT ID" ? "-ERR unknown subcommand 'ID'. Try CLIENT HELP.\r\n" : undefined)
      )
      const conn = yield* Conn.make({ port: fake.port, libName: "" })
      assert.strictEqual(conn.clientId, -1)
      assert.strictEqual(conn.protocol, 2)
    }))
})

describe("handshake: HELLO's proto and id in other shapes", () => {
  it.live("proto and id as big numbers", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "%2\r\n+proto\r\n(3\r\n+id\r\n(42\r\n" : undefined)
      const conn = yield* Conn.make({ port: fake.port, libName: "" })
      assert.strictEqual(conn.protocol, 3)
      assert.strictEqual(conn.clientId, 42)
    }))

  it.live("proto and id as strings (a RESP2 array of pairs)", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "*4\r\n$5\r\nproto\r\n$1\r\n2\r\n$2\r\nid\r\n$2\r\n11\r\n" : undefined)
      const conn = yield* Conn.make({ port: fake.port, protocol: 2, libName: "" })
      assert.strictEqual(conn.protocol, 2)
      assert.strictEqual(conn.clientId, 11)
    }))

  it.live("an id that is not a number leaves it unknown", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "%2\r\n+proto\r\n:3\r\n+id\r\n+abc\r\n" : undefined)
      const conn = yield* Conn.make({ port: fake.port, libName: "" })
      assert.strictEqual(conn.clientId, -1)
    }))

  it.live.each<[string, string]>([
    ["a map with a proto other than 2 or 3", "%1\r\n+proto\r\n:4\r\n"],
    ["a map with a proto other than 2 or 3", "%1\r\n+proto\r\n+abc\r\n"],
    ["a map without proto", "%1\r\n+id\r\n:3\r\n"]
  ])("HELLO answered %s", ([shape, reply]) =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? reply : undefined)
      const error = yield* dialError({ port: fake.port, libName: "" })
      assert.strictEqual(error.reason, "handshake")
      assert.strictEqual(error.written, true)
      assert.strictEqual(error.address, fake.address)
      assert.instanceOf(error.cause, ProtocolError)
      assert.strictEqual((error.cause as ProtocolError).reason, "unexpected")
      assert.strictEqual((error.cause as ProtocolError).message, `handshake: HELLO answered ${shape}`)
      assert.strictEqual(error.message, `handshake: HELLO on ${fake.address} failed: handshake: HELLO answered ${shape}`)
    }))
})

describe("handshake: CLIENT ID's reply checked (RESP2 fallback)", () => {
  it.live.each<[string, string, boolean?]>([
    ["a double", ",1.5\r\n"],
    ["a big number", "(12345678901234567890\r\n"],
    ["a boolean", "#t\r\n"],
    ["a set", "~1\r\n:1\r\n"],
    ["nil", "_\r\n"],
    ["an array", "*1\r\n:1\r\n"],
    ["a map", "%1\r\n:1\r\n:1\r\n"],
    ["a string", "$3\r\nabc\r\n", true]
  ])("CLIENT ID answered %s", ([shape, reply, bytes]) =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => unknownHello(c) ?? (c === "CLIENT ID" ? reply : undefined))
      const error = yield* dialError({ port: fake.port, libName: "", ...(bytes === true ? { bytes: true } : {}) })
      assert.strictEqual(error.reason, "handshake")
      assert.strictEqual(error.written, true)
      assert.instanceOf(error.cause, ProtocolError)
      assert.strictEqual((error.cause as ProtocolError).reason, "unexpected")
      assert.strictEqual((error.cause as ProtocolError).message, `handshake: CLIENT ID answered ${shape}`)
    }))
})

describe("handshake: refusals", () => {
  it.live.each<[string, string]>([
    ["WRONGPASS invalid username-password pair or user is disabled.", "auth"],
    ["NOAUTH HELLO must be called with the client already authenticated", "auth"],
    ["NOPERM this user has no permissions", "auth"],
    ["ERR something else", "handshake"]
  ])("HELLO answered -%s", ([text, reason]) =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? `-${text}\r\n` : undefined)
      const error = yield* dialError({ port: fake.port, libName: "" })
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.written, true)
      assert.strictEqual(error.address, fake.address)
      assert.strictEqual(error.message, `${reason}: HELLO on ${fake.address} failed: ${text}`)
      assert.instanceOf(error.cause, RedisReplyError)
      assert.strictEqual((error.cause as RedisReplyError).message, text)
    }))

  it.live("RESP2 fallback: AUTH refused names the AUTH step, reason auth", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => unknownHello(c) ?? (c === "AUTH" ? "-WRONGPASS bad\r\n" : undefined))
      const error = yield* dialError({ port: fake.port, password: Redacted.make("pw"), libName: "" })
      assert.strictEqual(error.reason, "auth")
      assert.strictEqual(error.message, `auth: AUTH on ${fake.address} failed: WRONGPASS bad`)
    }))

  it.live.each<[string, string]>([
    ["an unknown command", "-ERR unknown command 'CLIENT|SETINFO', with args beginning with: \r\n"],
    ["an unknown subcommand", "-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n"],
    ["NOPERM", "-NOPERM User u has no permissions to run the 'client|setinfo' command\r\n"]
  ])("CLIENT SETINFO refused as %s is tolerated", ([_, reply]) =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "CLIENT SETINFO" ? reply : undefined)
      const conn = yield* Conn.make({ port: fake.port })
      assert.strictEqual(conn.clientId, 7)
      const old = yield* scripted((c) => unknownHello(c) ?? (c === "CLIENT SETINFO" ? reply : undefined))
      const fallback = yield* Conn.make({ port: old.port })
      assert.strictEqual(fallback.clientId, 7)
    }))

  it.live("CLIENT SETINFO refused otherwise fails the dial, naming the step", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c, args) => c === "CLIENT SETINFO" && args[2] === "LIB-VER" ? "-ERR nope\r\n" : undefined)
      const error = yield* dialError({ port: fake.port })
      assert.strictEqual(error.reason, "handshake")
      assert.strictEqual(error.message, `handshake: CLIENT SETINFO LIB-VER on ${fake.address} failed: ERR nope`)
      const name = yield* scripted((c) => c === "CLIENT SETINFO" ? "-ERR nope\r\n" : undefined)
      const named = yield* dialError({ port: name.port })
      assert.strictEqual(named.message, `handshake: CLIENT SETINFO LIB-NAME on ${name.address} failed: ERR nope`)
    }))

  it.live("SELECT refused fails the dial (no tolerance)", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "SELECT" ? "-ERR unknown command 'SELECT'\r\n" : undefined)
      const error = yield* dialError({ port: fake.port, db: 1, libName: "" })
      assert.strictEqual(error.reason, "handshake")
      assert.strictEqual(error.message, `handshake: SELECT 1 on ${fake.address} failed: ERR unknown command 'SELECT'`)
    }))
})

describe("handshake: the batch itself fails", () => {
  it.live("HELLO unanswered: the read timeout becomes a handshake ConnectionError naming HELLO", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => c === "HELLO" ? "" : undefined)
      const error = yield* dialError({ port: fake.port, readTimeout: 100, libName: "" })
      assert.strictEqual(error.reason, "handshake")
      assert.strictEqual(error.written, true)
      assert.strictEqual(error.address, fake.address)
      assert.instanceOf(error.cause, CommandTimeoutError)
      assert.strictEqual(error.message, `handshake: HELLO on ${fake.address} failed: ${(error.cause as CommandTimeoutError).message}`)
    }))

  it.live("RESP2 fallback unanswered: the error names the batch's first step", () =>
    Effect.gen(function*() {
      const fake = yield* scripted((c) => unknownHello(c) ?? (c === "AUTH" ? "" : undefined))
      const error = yield* dialError({ port: fake.port, readTimeout: 100, password: Redacted.make("pw"), libName: "" })
      assert.strictEqual(error.reason, "handshake")
      assert.instanceOf(error.cause, CommandTimeoutError)
      assert.strictEqual(error.message, `handshake: AUTH on ${fake.address} failed: ${(error.cause as CommandTimeoutError).message}`)
    }))

  it.live("the server closing during HELLO: the ConnectionError is passed on as it is", () =>
    Effect.gen(function*() {
      const server = net.createServer((socket) => socket.once("data", () => socket.destroy()))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => server.close())
      )
      const port = (server.address() as net.AddressInfo).port
      const error = yield* dialError({ port, libName: "" })
      assert.notStrictEqual(error.reason, "handshake")
      assert.notInstanceOf(error.cause, ConnectionError)
    }))
})
