import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as FaultProxy from "./FaultProxy.ts"
import { isListening } from "./ports.ts"
import * as RawSocket from "./RawSocket.ts"
import * as RedisServer from "./RedisServer.ts"
import { eventually } from "./effects.ts"

const command = (...args: ReadonlyArray<string>) =>
  `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`

const integers = (from: number, to: number) => {
  let out = ""
  for (let i = from; i <= to; i++) out += `:${i}\r\n`
  return out
}


/** Each test gets a fresh proxy (plain forwarding) in front of the suite's server. */
const withProxy = <A, E>(f: (proxy: FaultProxy.FaultProxy, server: RedisServer.RedisServer) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const server = yield* RedisServer.RedisServer
    const proxy = yield* FaultProxy.make({ port: server.port })
    return yield* f(proxy, server)
  })

layer(RedisServer.layer())("FaultProxy", (it) => {
  it.effect("forwards both ways and counts connections", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        const client = yield* RawSocket.connect(proxy.port)
        yield* client.write(command("SET", "forward", "yes") + command("GET", "forward"))
        yield* client.waitFor(RawSocket.contains("yes\r\n"))
        assert.strictEqual(client.received.toString(), "+OK\r\n$3\r\nyes\r\n")
        assert.strictEqual(yield* server.cli("GET", "forward"), "yes")
        const second = yield* RawSocket.connect(proxy.port)
        yield* second.write("PING\r\n")
        yield* second.waitFor(RawSocket.contains("+PONG"))
        const stats = yield* proxy.stats
        assert.strictEqual(stats.accepted, 2)
        assert.strictEqual(stats.open, 2)
        assert.strictEqual(stats.bytesToClient, client.received.length + second.received.length)
      })
    ))

  it.effect("delay holds every chunk but keeps the order, also when the delay changes mid-stream", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        yield* server.cli("DEL", "ordered")
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.setDelay(200)
        for (let i = 0; i < 50; i++) yield* client.write(command("INCR", "ordered"))
        yield* proxy.setDelay(0)
        for (let i = 0; i < 50; i++) yield* client.write(command("INCR", "ordered"))
        yield* client.waitFor(RawSocket.contains(":100\r\n"))
        assert.strictEqual(client.received.toString(), integers(1, 100))
      })
    ))

  it.effect("cutAll destroys every current connection; new ones still work", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        const a = yield* RawSocket.connect(proxy.port)
        const b = yield* RawSocket.connect(proxy.port)
        yield* a.write("PING\r\n")
        yield* a.waitFor(RawSocket.contains("+PONG"))
        yield* b.write("PING\r\n")
        yield* b.waitFor(RawSocket.contains("+PONG"))
        assert.strictEqual(yield* proxy.cutAll, 2)
        yield* a.waitClosed()
        yield* b.waitClosed()
        assert.strictEqual((yield* proxy.stats).open, 0)
        const c = yield* RawSocket.connect(proxy.port)
        yield* c.write("PING\r\n")
        yield* c.waitFor(RawSocket.contains("+PONG"))
      })
    ))

  it.effect("black hole swallows bytes both ways; switched off, new data flows again", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        yield* server.cli("DEL", "hole")
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.setBlackHole(true)
        const swallowed = command("INCR", "hole")
        yield* client.write(swallowed)
        const waited = yield* Effect.flip(client.waitFor((received) => received.length > 0, 300))
        assert.strictEqual(waited.reason, "timeout")
        assert.strictEqual(yield* server.cli("EXISTS", "hole"), "0")
        const late = yield* RawSocket.connect(proxy.port)
        yield* late.write("PING\r\n")
        assert.strictEqual((yield* Effect.flip(late.waitFor((received) => received.length > 0, 300))).reason, "timeout")
        assert.strictEqual((yield* proxy.stats).bytesDropped, swallowed.length + "PING\r\n".length)
        yield* proxy.setBlackHole(false)
        yield* client.write(command("INCR", "hole"))
        yield* client.waitFor(RawSocket.contains("\r\n"))
        assert.strictEqual(client.received.toString(), ":1\r\n")
        yield* late.write("PING\r\n")
        yield* late.waitFor(RawSocket.contains("+PONG"))
        assert.strictEqual(late.received.toString(), "+PONG\r\n")
      })
    ))

  it.effect("a hold keeps bytes both ways, a new connection's too, and delivers all of them in order once released", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        yield* server.cli("DEL", "held")
        const client = yield* RawSocket.connect(proxy.port)
        yield* client.write("PING\r\n")
        yield* client.waitFor(RawSocket.contains("+PONG"))
        // A request already at the server whose reply comes during the hold: the reply is held.
        yield* server.pause
        yield* client.write(command("INCR", "held"))
        assert.isTrue(yield* eventually(Effect.map(proxy.stats, (stats) => stats.bytesToServer === 6 + command("INCR", "held").length)))
        yield* proxy.setHold(true)
        yield* server.resume
        assert.strictEqual(yield* server.cli("GET", "held"), "1")
        // Requests written during the hold do not reach the server.
        yield* client.write(command("INCR", "held"))
        yield* client.write("PING\r\n")
        const late = yield* RawSocket.connect(proxy.port)
        yield* late.write("PING\r\n")
        assert.strictEqual((yield* Effect.flip(client.waitFor((received) => received.length > 6 + 4, 300))).reason, "timeout")
        assert.strictEqual((yield* Effect.flip(late.waitFor((received) => received.length > 0, 300))).reason, "timeout")
        assert.strictEqual(yield* server.cli("GET", "held"), "1")
        assert.strictEqual((yield* proxy.stats).bytesDropped, 0)
        // Released: every reply, in order, to the connection that asked.
        yield* proxy.setHold(false)
        yield* client.waitFor(RawSocket.contains("+PONG", 2))
        assert.strictEqual(client.received.toString(), "+PONG\r\n:1\r\n:2\r\n+PONG\r\n")
        yield* late.waitFor(RawSocket.contains("+PONG"))
        assert.strictEqual(late.received.toString(), "+PONG\r\n")
        assert.strictEqual(yield* server.cli("GET", "held"), "2")
      })
    ))

  it.effect("the black hole also swallows a reply to a command that went through before it", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        const client = yield* RawSocket.connect(proxy.port)
        yield* client.write("PING\r\n")
        yield* client.waitFor(RawSocket.contains("+PONG"))
        yield* server.pause
        const set = command("SET", "from-hole", "1")
        yield* client.write(set)
        assert.isTrue(yield* eventually(Effect.map(proxy.stats, (stats) => stats.bytesToServer === 6 + set.length)))
        yield* proxy.setBlackHole(true)
        yield* server.resume
        assert.strictEqual(yield* server.cli("GET", "from-hole"), "1")
        assert.isTrue(yield* eventually(Effect.map(proxy.stats, (stats) => stats.bytesDropped === "+OK\r\n".length)))
        yield* proxy.setBlackHole(false)
        yield* client.write("PING\r\n")
        yield* client.waitFor(RawSocket.contains("+PONG", 2))
        assert.strictEqual(client.received.toString(), "+PONG\r\n+PONG\r\n")
      })
    ))

  it.effect("chunking makes the client read a reply one small piece at a time", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        const value = "v".repeat(300)
        yield* server.cli("SET", "chunked", value)
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.setChunkSize(3)
        yield* client.write(command("GET", "chunked"))
        const reply = `$300\r\n${value}\r\n`
        yield* client.waitFor((received) => received.length >= reply.length)
        assert.strictEqual(client.received.toString(), reply)
        // Pieces are written one event-loop turn apart; a loaded kernel may still
        // merge a few, so ask for most of them to arrive as reads of their own.
        const pieces = Math.ceil(reply.length / 3)
        assert.isAtLeast(client.reads.length, pieces / 2)
        assert.isAtMost(Math.min(...client.reads.map((read) => read.length)), 3)
      })
    ))

  it.effect("chunking also splits what the client sends; the server still understands it", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.setChunkSize(1)
        yield* client.write(command("SET", "one-by-one", "abc") + command("GET", "one-by-one"))
        yield* client.waitFor(RawSocket.contains("abc\r\n"))
        assert.strictEqual(client.received.toString(), "+OK\r\n$3\r\nabc\r\n")
        assert.isAtLeast(client.reads.length, client.received.length / 2)
      })
    ))

  it.effect("inject adds bytes to the latest connection's reply stream, or to every one", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        const first = yield* RawSocket.connect(proxy.port)
        const latest = yield* RawSocket.connect(proxy.port)
        yield* latest.write("PING\r\n")
        yield* latest.waitFor(RawSocket.contains("+PONG"))
        assert.strictEqual(yield* proxy.inject("$7\r\ninjectd\r\n"), 1)
        yield* latest.waitFor(RawSocket.contains("injectd"))
        assert.strictEqual(latest.received.toString(), "+PONG\r\n$7\r\ninjectd\r\n")
        assert.strictEqual(first.received.length, 0)
        assert.strictEqual(yield* proxy.inject(new Uint8Array([0x21, 0x00, 0xff]), { to: "all" }), 2)
        yield* first.waitFor((received) => received.length === 3)
        assert.deepStrictEqual([...first.received], [0x21, 0x00, 0xff])
        yield* latest.waitFor((received) => received.length === 23)
      })
    ))

  it.effect("cutOnNextReply: the command runs, its reply is lost, the connection is destroyed", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        yield* server.cli("SET", "applied", "41")
        const bystander = yield* RawSocket.connect(proxy.port)
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.cutOnNextReply
        assert.strictEqual((yield* proxy.stats).armed, 1)
        yield* client.write(command("INCR", "applied"))
        yield* client.waitClosed()
        assert.strictEqual(client.received.length, 0)
        assert.strictEqual(yield* server.cli("GET", "applied"), "42")
        const stats = yield* proxy.stats
        assert.strictEqual(stats.armed, 0)
        assert.strictEqual(stats.cuts, 1)
        yield* bystander.write("PING\r\n")
        yield* bystander.waitFor(RawSocket.contains("+PONG"))
      })
    ))

  it.effect("cutMidReply(n): n bytes of the reply arrive, then the connection is destroyed", () =>
    withProxy((proxy, server) =>
      Effect.gen(function*() {
        yield* server.cli("SET", "half", "hello world")
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.cutMidReply(7)
        yield* client.write(command("GET", "half"))
        yield* client.waitClosed()
        assert.strictEqual(client.received.toString(), "$11\r\nhe")
        assert.strictEqual((yield* proxy.stats).cuts, 1)
      })
    ))

  it.effect("cutMidReply counts across chunks of one connection", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.cutMidReply(10)
        yield* client.write("PING\r\n")
        yield* client.waitFor(RawSocket.contains("+PONG"))
        yield* client.write("PING\r\n")
        yield* client.waitClosed()
        assert.strictEqual(client.received.toString(), "+PONG\r\n+PO")
      })
    ))

  it.effect("a server that closes the connection still delivers its last reply first", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        const client = yield* RawSocket.connect(proxy.port)
        yield* proxy.setDelay(100)
        yield* client.write(command("QUIT"))
        yield* client.waitClosed()
        assert.strictEqual(client.received.toString(), "+OK\r\n")
      })
    ))

  it.effect("a proxy whose target is down accepts, then closes the connection", () =>
    Effect.gen(function*() {
      const proxy = yield* FaultProxy.make({ port: 1 })
      const client = yield* RawSocket.connect(proxy.port)
      yield* client.waitClosed()
      assert.strictEqual(client.received.length, 0)
    }))

  it.effect("reset returns to plain forwarding", () =>
    withProxy((proxy) =>
      Effect.gen(function*() {
        yield* proxy.setChunkSize(1)
        yield* proxy.setBlackHole(true)
        yield* proxy.cutOnNextReply
        yield* proxy.reset
        const client = yield* RawSocket.connect(proxy.port)
        yield* client.write("PING\r\n")
        yield* client.waitFor(RawSocket.contains("+PONG"))
        assert.isFalse(client.closed)
        assert.strictEqual((yield* proxy.stats).armed, 0)
      })
    ))

  it.effect("closing the scope closes the listener and every connection", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const scope = yield* Scope.make()
      const proxy = yield* FaultProxy.make({ port: server.port }).pipe(Scope.provide(scope))
      const client = yield* RawSocket.connect(proxy.port)
      yield* client.write("PING\r\n")
      yield* client.waitFor(RawSocket.contains("+PONG"))
      yield* Scope.close(scope, Exit.void)
      yield* client.waitClosed()
      assert.isFalse(yield* Effect.promise(() => isListening(proxy.port)))
    }))
})

layer(FaultProxy.layerRedis().pipe(Layer.provideMerge(RedisServer.layer())))("FaultProxy.layerRedis", (it) => {
  it.effect("provides a proxy in front of the suite's server", () =>
    Effect.gen(function*() {
      const proxy = yield* FaultProxy.FaultProxy
      const server = yield* RedisServer.RedisServer
      assert.strictEqual(proxy.target.port, server.port)
      const client = yield* RawSocket.connect(proxy.port)
      yield* client.write("PING\r\n")
      yield* client.waitFor(RawSocket.contains("+PONG"))
    }))
})
