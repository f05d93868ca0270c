import { assert, describe, it, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Conn from "../src/Conn.ts"
import { ConnectionError, ProtocolError, type RedisError, RedisReplyError } from "../src/Errors.ts"
import { isRefusal } from "../src/internal/pubsub.ts"
import * as PubSub from "../src/PubSub.ts"
import * as FaultProxy from "./support/FaultProxy.ts"
import type * as Resp from "../src/Resp.ts"
import { freePort } from "./support/ports.ts"
import * as RedisServer from "./support/RedisServer.ts"
import { failure, pause } from "./support/effects.ts"


/** Bounds a wait so that a bug fails the test instead of hanging it (not a timing assertion). */
const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, millis = 15_000) =>
  Effect.timeoutOrElse(effect, { duration: millis, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })

/** Consumes a stream in a scoped fiber; `next` takes its events one at a time, `exit` awaits its end. */
const consume = <E>(stream: Stream.Stream<PubSub.PubSubEvent, E>) =>
  Effect.gen(function*() {
    const events = yield* Queue.unbounded<PubSub.PubSubEvent, Cause.Done>()
    const fiber = yield* stream.pipe(
      Stream.runForEach((event) => Queue.offer(events, event)),
      Effect.ensuring(Queue.end(events)),
      Effect.forkScoped
    )
    const next = (what: string) => bounded(Queue.take(events), what)
    const nextMessage = (what: string): Effect.Effect<PubSub.Message, Cause.Done> =>
      Effect.flatMap(next(what), (event) => event._tag === "Message" ? Effect.succeed(event) : nextMessage(what))
    return { fiber, next, nextMessage, exit: bounded(Fiber.await(fiber), "the stream to end") }
  })

const numsub = (conn: Conn.Conn, channel: string) =>
  Effect.map(conn.send(["PUBSUB", "NUMSUB", channel]), (reply) => (reply as ReadonlyArray<Resp.Reply>)[1])

/** Subscriber connections named `name` that the server knows of (`CLIENT LIST TYPE pubsub`). */
const subscriberConnections = (conn: Conn.Conn, name: string) =>
  Effect.map(conn.send(["CLIENT", "LIST", "TYPE", "pubsub"]), (reply) =>
    String(reply).split("\n").filter((line) => line.includes(` name=${name} `)).length)


const fastReconnect = Schedule.spaced("50 millis")

describe("which connection failures the subscriber stops retrying", () => {
  const handshake = (text: string) =>
    new ConnectionError({ reason: "handshake", message: `handshake: x failed: ${text}`, cause: RedisReplyError.fromText(text) })
  it("refusals stop it; network faults, replies of the wrong shape and \"not now\" replies do not", () => {
    assert.isTrue(isRefusal(new ConnectionError({ reason: "auth", message: "auth: WRONGPASS" })))
    assert.isTrue(isRefusal(handshake("ERR DB index is out of range")))
    assert.isTrue(isRefusal(handshake("NOPERM this user has no permissions to run the 'select' command")))
    for (const text of ["LOADING Redis is loading", "BUSY script", "MASTERDOWN link down", "TRYAGAIN", "CLUSTERDOWN", "ERR max number of clients reached"]) {
      assert.isFalse(isRefusal(handshake(text)), text)
    }
    for (const reason of ["refused", "timeout", "closed", "reset", "dns", "tls", "unknown"] as const) {
      assert.isFalse(isRefusal(new ConnectionError({ reason, message: reason })), reason)
    }
    const shape = new ConnectionError({
      reason: "handshake",
      message: "handshake: HELLO answered a string",
      cause: new ProtocolError({ reason: "unexpected", message: "handshake: HELLO answered a string" })
    })
    assert.isFalse(isRefusal(shape))
  })
})

layer(RedisServer.layer(), { excludeTestServices: true })("PubSub against one server", (it) => {
  for (const protocol of [2, 3] as const) {
    it.effect(`RESP${protocol}: Subscribed first, then every message in order`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const publisher = yield* Conn.make({ port: server.port })
        const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port, protocol }) })
        const stream = yield* consume(subscriber.subscribe(`rt${protocol}`))
        assert.deepStrictEqual(yield* stream.next("Subscribed"), { _tag: "Subscribed" })
        for (let i = 0; i < 100; i++) yield* publisher.send(["PUBLISH", `rt${protocol}`, `m${i}`])
        for (let i = 0; i < 100; i++) {
          assert.deepStrictEqual(yield* stream.next(`message ${i}`), {
            _tag: "Message",
            channel: `rt${protocol}`,
            message: `m${i}`
          })
        }
        const stats = yield* subscriber.stats
        assert.strictEqual(stats.channels, 1)
        assert.isTrue(stats.connected)
        assert.strictEqual(stats.connections, 1)
      }))

    it.effect(`RESP${protocol}: patterns and shard channels`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        const publisher = yield* Conn.make({ port: server.port })
        const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port, protocol }) })
        const patterns = yield* consume(subscriber.psubscribe(`news${protocol}.*`, `sport${protocol}.*`))
        const shards = yield* consume(subscriber.ssubscribe(`shard${protocol}`))
        assert.strictEqual((yield* patterns.next("Subscribed"))._tag, "Subscribed")
        assert.strictEqual((yield* shards.next("Subscribed"))._tag, "Subscribed")
        assert.strictEqual(yield* publisher.send(["PUBLISH", `news${protocol}.eu`, "a"]), 1)
        assert.strictEqual(yield* publisher.send(["PUBLISH", `sport${protocol}.ski`, "b"]), 1)
        assert.strictEqual(yield* publisher.send(["PUBLISH", `other${protocol}`, "c"]), 0)
        assert.strictEqual(yield* publisher.send(["SPUBLISH", `shard${protocol}`, "d"]), 1)
        assert.deepStrictEqual(yield* patterns.next("news"), {
          _tag: "Message",
          channel: `news${protocol}.eu`,
          message: "a",
          pattern: `news${protocol}.*`
        })
        assert.deepStrictEqual(yield* patterns.next("sport"), {
          _tag: "Message",
          channel: `sport${protocol}.ski`,
          message: "b",
          pattern: `sport${protocol}.*`
        })
        assert.deepStrictEqual(yield* shards.next("shard"), { _tag: "Message", channel: `shard${protocol}`, message: "d" })
      }))
  }

  it.effect("two streams on one channel each get every message; the channel is unsubscribed when the last ends", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port }) })
      const first = yield* consume(subscriber.subscribe("shared"))
      const second = yield* consume(subscriber.subscribe("shared"))
      assert.strictEqual((yield* first.next("Subscribed"))._tag, "Subscribed")
      assert.strictEqual((yield* second.next("Subscribed"))._tag, "Subscribed")
      assert.strictEqual(yield* numsub(publisher, "shared"), 1)
      yield* publisher.send(["PUBLISH", "shared", "one"])
      yield* publisher.send(["PUBLISH", "shared", "two"])
      for (const stream of [first, second]) {
        assert.strictEqual((yield* stream.nextMessage("one")).message, "one")
        assert.strictEqual((yield* stream.nextMessage("two")).message, "two")
      }
      yield* Fiber.interrupt(first.fiber)
      // The first stream has ended; the second still holds the subscription.
      assert.strictEqual(yield* numsub(publisher, "shared"), 1)
      yield* publisher.send(["PUBLISH", "shared", "three"])
      assert.strictEqual((yield* second.nextMessage("three")).message, "three")
      yield* Fiber.interrupt(second.fiber)
      assert.strictEqual(yield* numsub(publisher, "shared"), 0)
      assert.strictEqual((yield* subscriber.stats).channels, 0)
    }))

  it.effect("a stream that ends unsubscribes (PUBSUB NUMSUB shows 0)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port }) })
      const done = yield* subscriber.subscribe("ends").pipe(Stream.take(1), Stream.runCollect)
      assert.deepStrictEqual(done, [{ _tag: "Subscribed" }])
      assert.strictEqual(yield* numsub(publisher, "ends"), 0)
      assert.strictEqual(yield* publisher.send(["PUBLISH", "ends", "nobody"]), 0)
    }))

  it.effect("one connection serves many channels, patterns and shard channels", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port, clientName: "many" }) })
      const streams = []
      for (let i = 0; i < 20; i++) streams.push(yield* consume(subscriber.subscribe(`many:${i}`, `many:x${i}`)))
      streams.push(yield* consume(subscriber.psubscribe("many:*")))
      streams.push(yield* consume(subscriber.ssubscribe("many:shard")))
      for (const stream of streams) assert.strictEqual((yield* stream.next("Subscribed"))._tag, "Subscribed")
      assert.strictEqual(yield* subscriberConnections(publisher, "many"), 1)
      const stats = yield* subscriber.stats
      assert.deepStrictEqual([stats.channels, stats.patterns, stats.shardChannels, stats.connections], [40, 1, 1, 1])
      yield* publisher.send(["PUBLISH", "many:7", "seven"])
      assert.strictEqual((yield* streams[7]!.nextMessage("many:7")).message, "seven")
      assert.strictEqual((yield* streams[20]!.nextMessage("many:* for many:7")).channel, "many:7")
    }))

  it.effect("a consumer that falls behind: the oldest events are dropped and counted, memory stays bounded", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port }), bufferSize: 4 })
      const slow = yield* Stream.toPull(subscriber.subscribe("slow"))
      assert.deepStrictEqual(yield* bounded(slow, "Subscribed"), [{ _tag: "Subscribed" }])
      const sentinel = yield* consume(subscriber.subscribe("sentinel"))
      assert.strictEqual((yield* sentinel.next("Subscribed"))._tag, "Subscribed")
      for (let i = 0; i < 20; i++) yield* publisher.send(["PUBLISH", "slow", `m${i}`])
      // Messages arrive in publish order on the one connection: once the sentinel is in, so are all 20.
      yield* publisher.send(["PUBLISH", "sentinel", "done"])
      assert.strictEqual((yield* sentinel.nextMessage("sentinel")).message, "done")
      const chunk = yield* bounded(slow, "the buffered events")
      assert.deepStrictEqual(chunk, [
        { _tag: "Dropped", count: 16 },
        { _tag: "Message", channel: "slow", message: "m16" },
        { _tag: "Message", channel: "slow", message: "m17" },
        { _tag: "Message", channel: "slow", message: "m18" },
        { _tag: "Message", channel: "slow", message: "m19" }
      ])
      yield* publisher.send(["PUBLISH", "slow", "after"])
      assert.deepStrictEqual(yield* bounded(slow, "the next message"), [{ _tag: "Message", channel: "slow", message: "after" }])
    }))

  it.effect("overflow \"fail\": a consumer that falls behind gets what was buffered, then SubscriberOverflowError, and the channel is released", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: server.port }),
        bufferSize: 4,
        overflow: "fail"
      })
      const scope = yield* Scope.make()
      const slow = yield* Scope.provide(scope)(Stream.toPull(subscriber.subscribe("strict")))
      assert.deepStrictEqual(yield* bounded(slow, "Subscribed"), [{ _tag: "Subscribed" }])
      const sentinel = yield* consume(subscriber.subscribe("strict-sentinel"))
      assert.strictEqual((yield* sentinel.next("Subscribed"))._tag, "Subscribed")
      for (let i = 0; i < 10; i++) yield* publisher.send(["PUBLISH", "strict", `m${i}`])
      yield* publisher.send(["PUBLISH", "strict-sentinel", "done"])
      assert.strictEqual((yield* sentinel.nextMessage("sentinel")).message, "done")
      const buffered: ReadonlyArray<PubSub.PubSubEvent> = yield* bounded(slow, "the buffered events")
      assert.deepStrictEqual(buffered, [0, 1, 2, 3].map((i) => ({ _tag: "Message", channel: "strict", message: `m${i}` })))
      const failed = yield* bounded(Effect.exit(slow), "the failure")
      const error = failure(failed) as RedisError | undefined
      assert.strictEqual(error?._tag, "SubscriberOverflowError")
      assert.strictEqual(error?._tag === "SubscriberOverflowError" ? error.bufferSize : undefined, 4)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* numsub(publisher, "strict"), 0)
      // The other stream is unaffected.
      yield* publisher.send(["PUBLISH", "strict-sentinel", "still"])
      assert.strictEqual((yield* sentinel.nextMessage("still")).message, "still")
    }))

  it.effect("interrupted streams (some mid-subscribe) leave no subscription behind; closing the subscriber closes its connection and fails its streams", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const scope = yield* Scope.make()
      const subscriber = yield* Scope.provide(scope)(
        PubSub.make({ connect: Conn.make({ port: server.port, clientName: "int" }) })
      )
      const fibers = []
      for (let i = 0; i < 50; i++) {
        fibers.push(yield* Effect.forkChild(Stream.runDrain(subscriber.subscribe(`int:${i % 10}`, `int:${i}`)), { startImmediately: true }))
        if (i % 7 === 0) yield* pause(1)
      }
      yield* Fiber.interruptAll(fibers)
      const stats = yield* subscriber.stats
      assert.deepStrictEqual([stats.channels, stats.patterns, stats.shardChannels], [0, 0, 0])
      for (let i = 0; i < 50; i++) assert.strictEqual(yield* numsub(publisher, `int:${i}`), 0)
      assert.isAtMost(stats.connections, 1)
      const survivor = yield* consume(subscriber.subscribe("int:survivor"))
      assert.strictEqual((yield* survivor.next("Subscribed"))._tag, "Subscribed")
      assert.strictEqual(yield* subscriberConnections(publisher, "int"), 1)
      yield* Scope.close(scope, Exit.void)
      const exit = yield* survivor.exit
      const error = failure(exit) as RedisError | undefined
      assert.strictEqual(error?._tag, "ConnectionError")
      // The server notices the closed socket on its own time: poll (bounded).
      let left = -1
      for (let i = 0; i < 500 && left !== 0; i++) {
        left = yield* subscriberConnections(publisher, "int")
        if (left !== 0) yield* pause(10)
      }
      assert.strictEqual(left, 0)
      const late = yield* Effect.exit(Stream.runDrain(subscriber.subscribe("int:late")))
      assert.strictEqual((failure(late) as RedisError | undefined)?._tag, "ConnectionError")
    }))

  it.effect("subscribeQueue: a queue of { channel, message } that holds its subscription for the scope", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port }) })
      const scope = yield* Scope.make()
      const queue = yield* Scope.provide(scope)(subscriber.subscribeQueue("q"))
      // It returns once the subscription is confirmed.
      assert.strictEqual(yield* publisher.send(["PUBLISH", "q", "hello"]), 1)
      assert.deepStrictEqual(yield* bounded(Queue.take(queue), "the message"), { channel: "q", message: "hello" })
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* numsub(publisher, "q"), 0)
    }))

  it.effect("a refused subscription fails its stream with the server's error; others are unaffected", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const publisher = yield* Conn.make({ port: server.port })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port }) })
      const fine = yield* consume(subscriber.subscribe("allowed:x"))
      assert.strictEqual((yield* fine.next("Subscribed"))._tag, "Subscribed")
      yield* server.cli("ACL", "SETUSER", "default", "resetchannels", "&allowed:*")
      const refused = yield* Effect.exit(Stream.runDrain(subscriber.subscribe("secret")))
      yield* server.cli("ACL", "SETUSER", "default", "allchannels")
      assert.strictEqual((failure(refused) as RedisError | undefined)?._tag, "RedisReplyError")
      assert.strictEqual((yield* subscriber.stats).channels, 1)
      yield* publisher.send(["PUBLISH", "allowed:x", "still here"])
      assert.strictEqual((yield* fine.nextMessage("allowed:x")).message, "still here")
    }))
})

describe("PubSub across server faults", () => {
  it.live("a server restart: the subscription is renewed, Resubscribed is seen, later messages arrive", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      for (const protocol of [2, 3] as const) {
        const subscriber = yield* PubSub.make({
          connect: Conn.make({ port: server.port, protocol }),
          reconnect: fastReconnect
        })
        const stream = yield* consume(subscriber.subscribe(`restart${protocol}`))
        const patterns = yield* consume(subscriber.psubscribe(`restart${protocol}.*`))
        assert.strictEqual((yield* stream.next("Subscribed"))._tag, "Subscribed")
        assert.strictEqual((yield* patterns.next("Subscribed"))._tag, "Subscribed")
        const before = yield* Conn.make({ port: server.port })
        yield* before.send(["PUBLISH", `restart${protocol}`, "before"])
        assert.strictEqual((yield* stream.nextMessage("before")).message, "before")
        yield* server.restart
        const resubscribed = yield* stream.next("Resubscribed")
        assert.strictEqual(resubscribed._tag, "Resubscribed")
        assert.strictEqual((yield* patterns.next("Resubscribed"))._tag, "Resubscribed")
        const after = yield* Conn.make({ port: server.port })
        assert.strictEqual(yield* after.send(["PUBLISH", `restart${protocol}`, "after"]), 1)
        assert.strictEqual(yield* after.send(["PUBLISH", `restart${protocol}.x`, "after-p"]), 1)
        assert.deepStrictEqual(yield* stream.next("after"), { _tag: "Message", channel: `restart${protocol}`, message: "after" })
        assert.strictEqual((yield* patterns.next("after-p"))._tag, "Message")
        assert.strictEqual((yield* subscriber.stats).connections, 2)
      }
    }), 60_000)

  it.live("a silent network (black hole): the PING notices, the subscriber reconnects and renews", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: proxy.port, readTimeout: 300, dialTimeout: 300 }),
        reconnect: fastReconnect,
        pingInterval: 100
      })
      const stream = yield* consume(subscriber.subscribe("hole"))
      assert.strictEqual((yield* stream.next("Subscribed"))._tag, "Subscribed")
      yield* proxy.setBlackHole(true)
      const noticed = yield* bounded(
        Effect.gen(function*() {
          while ((yield* subscriber.stats).connected) yield* pause(20)
        }),
        "the subscriber to notice the silent connection"
      )
      assert.isUndefined(noticed)
      yield* proxy.setBlackHole(false)
      assert.strictEqual((yield* stream.next("Resubscribed"))._tag, "Resubscribed")
      const publisher = yield* Conn.make({ port: server.port })
      assert.strictEqual(yield* publisher.send(["PUBLISH", "hole", "through"]), 1)
      assert.deepStrictEqual(yield* stream.next("the message"), { _tag: "Message", channel: "hole", message: "through" })
    }), 60_000)

  it.live("a subscription made while the server is down starts when it is back: Subscribed there, Resubscribed for the older one", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: server.port }),
        reconnect: fastReconnect,
        reconnectTimeout: 30_000
      })
      const older = yield* consume(subscriber.subscribe("down:a"))
      assert.strictEqual((yield* older.next("Subscribed"))._tag, "Subscribed")
      yield* server.stop
      yield* bounded(
        Effect.gen(function*() {
          while ((yield* subscriber.stats).connected) yield* pause(10)
        }),
        "the subscriber to notice the stop"
      )
      const newer = yield* consume(subscriber.subscribe("down:b", "down:a"))
      yield* server.start
      assert.strictEqual((yield* older.next("Resubscribed"))._tag, "Resubscribed")
      assert.deepStrictEqual(yield* newer.next("Subscribed"), { _tag: "Subscribed" })
      const publisher = yield* Conn.make({ port: server.port })
      assert.strictEqual(yield* publisher.send(["PUBLISH", "down:a", "x"]), 1)
      assert.strictEqual(yield* publisher.send(["PUBLISH", "down:b", "y"]), 1)
      assert.deepStrictEqual(yield* older.next("x"), { _tag: "Message", channel: "down:a", message: "x" })
      assert.deepStrictEqual(
        [(yield* newer.nextMessage("x")).message, (yield* newer.nextMessage("y")).message],
        ["x", "y"]
      )
    }), 60_000)

  it.live("churn: streams come and go on overlapping channels while the connection is cut; the server ends with what the table holds", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* FaultProxy.make({ port: server.port })
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: proxy.port }),
        reconnect: fastReconnect
      })
      let seed = 42
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      }
      const publisher = yield* Conn.make({ port: server.port })
      const keeper = yield* consume(subscriber.subscribe("churn:0"))
      assert.strictEqual((yield* keeper.next("Subscribed"))._tag, "Subscribed")
      const fibers = []
      for (let i = 0; i < 120; i++) {
        const names = Array.from({ length: 1 + random(3) }, () => `churn:${random(8)}`)
        const stream = random(4) === 0 ? subscriber.psubscribe(`churn:${random(8)}*`) : subscriber.subscribe(...names)
        const hold = random(20)
        fibers.push(
          yield* Effect.forkChild(
            Stream.runDrain(stream.pipe(Stream.take(1))).pipe(Effect.andThen(pause(hold)), Effect.exit),
            { startImmediately: true }
          )
        )
        if (i % 30 === 17) yield* proxy.cutAll
        if (random(5) === 0) yield* pause(random(5))
      }
      for (const fiber of fibers) {
        const exit = yield* bounded(Fiber.join(fiber), "a churning stream")
        assert.isTrue(Exit.isSuccess(exit), String(exit))
      }
      // Only the keeper is left, and the server agrees once the subscriber is connected again.
      const stats = yield* subscriber.stats
      assert.deepStrictEqual([stats.channels, stats.patterns], [1, 0])
      assert.isAbove(stats.connections, 1)
      yield* bounded(
        Effect.gen(function*() {
          while (!(yield* subscriber.stats).connected) yield* pause(10)
        }),
        "the subscriber to reconnect"
      )
      assert.deepStrictEqual(yield* publisher.send(["PUBSUB", "CHANNELS", "churn:*"]), ["churn:0"])
      assert.strictEqual(yield* publisher.send(["PUBSUB", "NUMPAT"]), 0)
      assert.strictEqual(yield* publisher.send(["PUBLISH", "churn:0", "last"]), 1)
      assert.strictEqual((yield* keeper.nextMessage("last")).message, "last")
    }), 60_000)

  it.live("the server gone for good: every stream and queue fails with a ConnectionError, none hangs", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: server.port, dialTimeout: 500 }),
        reconnect: fastReconnect,
        reconnectTimeout: 1_000
      })
      const stream = yield* consume(subscriber.subscribe("gone"))
      const queue = yield* subscriber.subscribeQueue("gone-q")
      assert.strictEqual((yield* stream.next("Subscribed"))._tag, "Subscribed")
      yield* server.stop
      const error = failure(yield* stream.exit) as RedisError | undefined
      assert.strictEqual(error?._tag, "ConnectionError")
      const queued = yield* bounded(Effect.exit(Queue.take(queue)), "the queue to fail")
      assert.strictEqual((failure(queued) as RedisError | undefined)?._tag, "ConnectionError")
      assert.strictEqual((yield* subscriber.stats).channels, 0)
      // Once the server is back, a new subscription works again.
      yield* server.start
      const again = yield* consume(subscriber.subscribe("gone"))
      assert.strictEqual((yield* again.next("Subscribed"))._tag, "Subscribed")
    }), 60_000)

  it.live("a wrong password fails the subscription at once with the server's reason, not after reconnectTimeout", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass s3cret"] })
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: server.port, password: Redacted.make("not-the-password") }),
        // Ten minutes: only a failure that does not wait for it ends this test before its one-minute timeout.
        reconnectTimeout: "10 minutes"
      })
      const exit = yield* bounded(Effect.exit(Stream.runDrain(subscriber.subscribe("locked"))), "the stream to fail", 45_000)
      const error = failure(exit) as RedisError | undefined
      assert.strictEqual(error?._tag, "ConnectionError")
      assert.strictEqual(error?._tag === "ConnectionError" ? error.reason : undefined, "auth")
      assert.include(error?.message, "WRONGPASS")
      assert.notInclude(JSON.stringify(error), "not-the-password")
      // A queue too, and the next subscription tries again (and is refused again): nothing is stuck.
      const queue = yield* subscriber.subscribeQueue("locked-q")
      const queued = yield* bounded(Effect.exit(Queue.take(queue)), "the queue to fail", 45_000)
      assert.strictEqual((failure(queued) as RedisError | undefined)?._tag, "ConnectionError")
    }), 60_000)

  it.live("a refused SELECT (no such database) fails the subscription at once with the server's reason", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["databases 2"] })
      const subscriber = yield* PubSub.make({ connect: Conn.make({ port: server.port, db: 5 }), reconnectTimeout: "10 minutes" })
      const exit = yield* bounded(Effect.exit(Stream.runDrain(subscriber.subscribe("db5"))), "the stream to fail", 45_000)
      const error = failure(exit) as RedisError | undefined
      assert.strictEqual(error?._tag, "ConnectionError")
      assert.strictEqual(error?._tag === "ConnectionError" ? error.reason : undefined, "handshake")
      assert.include(error?.message, "SELECT 5")
      assert.include(error?.message, "DB index is out of range")
    }), 60_000)

  it.live("an ACL user without the channel's permission: refused at once; a network fault still retries and renews", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["user reader on >pw ~* &allowed:* +@all"] })
      const proxy = yield* FaultProxy.make({ port: server.port })
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port: proxy.port, username: "reader", password: Redacted.make("pw") }),
        reconnect: fastReconnect,
        reconnectTimeout: "10 minutes"
      })
      const denied = yield* bounded(Effect.exit(Stream.runDrain(subscriber.subscribe("secret"))), "the stream to fail", 45_000)
      assert.strictEqual((failure(denied) as RedisError | undefined)?._tag, "RedisReplyError")
      const allowed = yield* consume(subscriber.subscribe("allowed:1"))
      assert.strictEqual((yield* allowed.next("Subscribed"))._tag, "Subscribed")
      yield* proxy.cutAll
      assert.strictEqual((yield* allowed.next("Resubscribed"))._tag, "Resubscribed")
    }), 60_000)

  it.live("nothing listening: the first subscription fails within reconnectTimeout", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const subscriber = yield* PubSub.make({
        connect: Conn.make({ port }),
        reconnect: fastReconnect,
        reconnectTimeout: 500
      })
      const exit = yield* bounded(Effect.exit(Stream.runDrain(subscriber.subscribe("nowhere"))), "the stream to fail")
      const error = failure(exit) as RedisError | undefined
      assert.strictEqual(error?._tag, "ConnectionError")
      assert.strictEqual(error?._tag === "ConnectionError" ? error.reason : undefined, "refused")
    }), 30_000)
})
