import { assert, describe, it, layer } from "@effect/vitest"
import { expectTypeOf } from "vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Command from "../src/Command.ts"
import * as Commands from "../src/Commands.ts"
import * as Tracer from "effect/Tracer"
import { ConnectionError, type RedisError, RedisReplyError, ReplyTypeError } from "../src/Errors.ts"
import { isIdempotent } from "../src/internal/commandTraits.ts"
import { backoffSchedule, isRetryable, retryAfter } from "../src/internal/redisPoolRetry.ts"
import * as RedisPool from "../src/RedisPool.ts"
import type * as Resp from "../src/Resp.ts"
import * as FaultProxy from "./support/FaultProxy.ts"
import * as RawServer from "./support/RawServer.ts"
import { freePort } from "./support/ports.ts"
import { eventually, failure, pause, tagOf } from "./support/effects.ts"
import * as RedisServer from "./support/RedisServer.ts"



/** A typed command built by hand (the Commands module builds these for real). */
const getString = (key: string): RedisPool.Command<string | null> => ({
  args: ["GET", key],
  decode: (reply) => {
    if (reply === null || typeof reply === "string") return reply
    throw new ReplyTypeError({ command: "GET", expected: "string", received: typeof reply, message: "GET: not a string" })
  }
})
const incr = (key: string): RedisPool.Command<number> => ({
  args: ["INCR", key],
  decode: (reply) => {
    if (typeof reply === "number") return reply
    throw new ReplyTypeError({ command: "INCR", expected: "integer", received: typeof reply, message: "INCR: not an integer" })
  }
})

const infoField = (info: string, field: string): number => {
  const match = new RegExp(`${field}:(\\d+)`).exec(info)
  return match === null ? 0 : Number(match[1])
}

const execCalls = Effect.gen(function*() {
  const server = yield* RedisServer.RedisServer
  const stats = yield* server.cli("INFO", "commandstats")
  const match = /cmdstat_exec:calls=(\d+)/.exec(stats)
  return match === null ? 0 : Number(match[1])
})

const blockedClients = Effect.gen(function*() {
  const server = yield* RedisServer.RedisServer
  return infoField(yield* server.cli("INFO", "clients"), "blocked_clients")
})

describe("retry classification", () => {
  it("retries only what is safe", () => {
    const unwritten = new ConnectionError({ reason: "closed", message: "x", written: false })
    const written = new ConnectionError({ reason: "closed", message: "x", written: true })
    assert.isTrue(isRetryable(unwritten, "INCR", ["INCR", "k"], false, true))
    assert.isTrue(isRetryable(unwritten, "BLPOP", ["BLPOP", "k", 0], true, true))
    assert.isFalse(isRetryable(written, "INCR", ["INCR", "k"], false, true))
    assert.isFalse(isRetryable(written, "RPUSH", ["RPUSH", "k", "v"], false, true))
    assert.isFalse(isRetryable(written, "LPOP", ["LPOP", "k"], false, true))
    assert.isFalse(isRetryable(written, "EXEC", ["EXEC"], false, true))
    assert.isFalse(isRetryable(written, "BLPOP", ["BLPOP", "k", 0], true, true))
    assert.isTrue(isRetryable(written, "GET", ["GET", "k"], false, true))
    assert.isTrue(isRetryable(written, "SET", ["SET", "k", "v", "EX", 10], false, true))
    assert.isFalse(isRetryable(written, "SET", ["SET", "k", "v", "NX"], false, true))
    assert.isFalse(isRetryable(written, "SET", ["SET", "k", "v", "get"], false, true))
    assert.isTrue(isRetryable(RedisReplyError.fromText("LOADING Redis is loading"), "INCR", ["INCR", "k"], false, true))
    assert.isTrue(isRetryable(RedisReplyError.fromText("READONLY replica"), "SET", ["SET", "k", "v"], false, true))
    assert.isTrue(
      isRetryable(RedisReplyError.fromText("ERR max number of clients reached"), "INCR", ["INCR", "k"], false, true)
    )
    assert.isFalse(isRetryable(RedisReplyError.fromText("ERR syntax error"), "GET", ["GET", "k"], false, true))
    assert.isFalse(isRetryable(RedisReplyError.fromText("WRONGTYPE x"), "GET", ["GET", "k"], false, true))
    assert.isTrue(isIdempotent("XREAD", ["XREAD", "STREAMS", "s", "0"]))
    assert.isFalse(isIdempotent("XREADGROUP", ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]))
    assert.isTrue(isIdempotent("CLIENT", ["CLIENT", "ID"]))
    assert.isFalse(isIdempotent("CLIENT", ["CLIENT", "KILL", "ID", 1]))
  })

  it.live("the default schedule makes maxRetries retries and then gives the last error", () =>
    Effect.gen(function*() {
      let attempts = 0
      const attempt = Effect.suspend(() => {
        attempts++
        return Effect.fail(new ConnectionError({ reason: "refused", message: `attempt ${attempts}`, written: false }))
      })
      const exit = yield* Effect.exit(
        Effect.catch(attempt, (first) => retryAfter(attempt, first, backoffSchedule(3, 1, 4), () => true))
      )
      assert.strictEqual(attempts, 4)
      assert.strictEqual((failure(exit) as ConnectionError).message, "attempt 4")
      attempts = 0
      const stops = yield* Effect.exit(
        Effect.catch(attempt, (first) => retryAfter(attempt, first, backoffSchedule(3, 1, 4), () => attempts < 2))
      )
      assert.strictEqual(attempts, 2)
      assert.strictEqual(tagOf(stops), "ConnectionError")
    }))
})

describe("startup", () => {
  it.effect("building the layer connects: nothing listening fails it with the ConnectionError, not the first command", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const exit = yield* Effect.exit(Layer.build(RedisPool.layer({ port, maxRetries: 0 })))
      assert.strictEqual(tagOf(exit), "ConnectionError")
      assert.strictEqual((failure(exit) as ConnectionError).reason, "refused")
      // The same through configuration.
      const fromConfig = yield* Effect.exit(Layer.build(
        RedisPool.layerConfig().pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } })))
        )
      ))
      assert.strictEqual(tagOf(fromConfig), "ConnectionError")
      // With minIdleConns the start waits for the pool's own refill, and fails with its first failed dial.
      const warm = yield* Effect.exit(Layer.build(RedisPool.layer({ port, minIdleConns: 2 })))
      assert.strictEqual(tagOf(warm), "ConnectionError")
      assert.strictEqual((failure(warm) as ConnectionError).reason, "refused")
    }))

  it.effect("a wrong password fails the build with reason auth, and lazyConnect defers every failure to the first command", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass right-pw"] })
      const wrong = yield* Effect.exit(Layer.build(RedisPool.layer({ port: server.port, password: "wrong-pw" })))
      assert.strictEqual(tagOf(wrong), "ConnectionError")
      assert.strictEqual((failure(wrong) as ConnectionError).reason, "auth")
      const lazy = yield* RedisPool.make({ port: server.port, password: "wrong-pw", lazyConnect: true, maxRetries: 0 })
      assert.strictEqual((yield* lazy.stats).total, 0)
      assert.strictEqual(tagOf(yield* Effect.exit(lazy.send("PING"))), "ConnectionError")
      const lazyFromEnv = yield* RedisPool.config().parse(ConfigProvider.fromEnv({ env: { REDIS_LAZY_CONNECT: "true" } }))
      assert.isTrue(lazyFromEnv.lazyConnect)
    }))

  it.effect("the connections dialed at startup are minIdleConns of them, idle and ready", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const redis = yield* RedisPool.make({ port: server.port, minIdleConns: 3 })
      const stats = yield* redis.stats
      assert.strictEqual(stats.idle, 3)
      assert.strictEqual(stats.total, 3)
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      assert.strictEqual((yield* redis.stats).total, 3)
    }))
})

describe("options", () => {
  it.effect("a Redacted url carries its password to the handshake and keeps it out of every error", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["requirepass s3cret-pw"] })
      const redis = yield* RedisPool.make({ url: Redacted.make(`redis://:s3cret-pw@127.0.0.1:${server.port}/2`) })
      yield* redis.send("SET", "redacted-url", "yes")
      assert.strictEqual(yield* server.cli("-n", "2", "GET", "redacted-url"), "yes")
      const refused = yield* Effect.exit(
        RedisPool.make({ url: Redacted.make(`redis://:wrong-pw@127.0.0.1:${server.port}`), maxRetries: 0 })
      )
      assert.strictEqual(tagOf(refused), "ConnectionError")
      assert.notInclude(JSON.stringify(failure(refused)), "wrong-pw")
      assert.notInclude(String(failure(refused)), "wrong-pw")
      const malformed = yield* Effect.exit(Effect.scoped(RedisPool.make({ url: Redacted.make("redis://:leak-me@h:notaport") })))
      assert.strictEqual(tagOf(malformed), "InvalidArgumentError")
      assert.notInclude(JSON.stringify(failure(malformed)), "leak-me")
    }))

  it.effect("invalid options fail with InvalidArgumentError naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [RedisPool.Options, string]> = [
        [{ poolSize: 0 }, "poolSize"],
        [{ port: 70_000 }, "port"],
        [{ db: -1 }, "db"],
        [{ protocol: 4 as 3 }, "protocol"],
        [{ clientName: "has space" }, "clientName"],
        [{ readTimeout: -5 }, "readTimeout"],
        [{ minRetryBackoff: 100, maxRetryBackoff: 10 }, "maxRetryBackoff"],
        [{ maxRetries: 1.5 }, "maxRetries"],
        [{ url: "http://localhost" }, "url"],
        [{ url: "redis://localhost:6379/0?pool_sise=3" }, "pool_sise"],
        [{ url: "redis://localhost:99999" }, "port"],
        [{ url: "redis://localhost/0?pool_size=0" }, "poolSize"]
      ]
      for (const [options, option] of cases) {
        const exit = yield* Effect.exit(Effect.scoped(RedisPool.make(options)))
        assert.strictEqual(tagOf(exit), "InvalidArgumentError", JSON.stringify(options))
        assert.strictEqual((failure(exit) as { option?: string }).option, option, JSON.stringify(options))
      }
    }))
})

// Every constructor of Commands is a callable method of the service (a constructor whose type the lifting misses
// would be `never`); `evalScript` is the service's own (EVALSHA with EVAL as fallback).
type Missing = Exclude<keyof typeof Commands, keyof RedisPool.Service>
type Uncallable = {
  [K in keyof RedisPool.CommandMethods]: [RedisPool.CommandMethods[K]] extends [never] ? K : never
}[keyof RedisPool.CommandMethods]
// Checked by `npm run typecheck`; the test "every Commands constructor is a method ..." checks the values.
expectTypeOf<Missing | Uncallable>().toBeNever()

const suite = (protocol: 2 | 3) =>
  layer(RedisServer.layer(), { excludeTestServices: true })(`RedisPool (RESP${protocol})`, (it) => {
    const redisLayer = Layer.unwrap(
      Effect.map(RedisServer.RedisServer, (server: RedisServer.RedisServer) =>
        RedisPool.layer({ port: server.port, protocol }))
    )
    const withRedis = <A, E>(effect: Effect.Effect<A, E, RedisPool.RedisPool | RedisServer.RedisServer>) =>
      Effect.provide(effect, redisLayer)

    it.effect("send, run and typed decoding through the layer", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        assert.strictEqual(yield* redis.send("SET", `p${protocol}:k`, "v"), "OK")
        assert.strictEqual(yield* redis.send("GET", `p${protocol}:k`), "v")
        assert.strictEqual(yield* redis.run(getString(`p${protocol}:k`)), "v")
        assert.strictEqual(yield* redis.run(getString(`p${protocol}:missing`)), null)
        yield* redis.send("HSET", `p${protocol}:h`, "f", "1")
        const wrong = yield* Effect.exit(redis.run(getString(`p${protocol}:h`)))
        assert.strictEqual(tagOf(wrong), "RedisReplyError")
        assert.strictEqual((failure(wrong) as RedisReplyError).code, "WRONGTYPE")
        const hello = yield* redis.send("HGETALL", `p${protocol}:h`)
        const decodeFails = yield* Effect.exit(redis.run({ args: ["HGETALL", `p${protocol}:h`], decode: (r) => {
          if (typeof r === "string") return r
          throw new ReplyTypeError({ command: "HGETALL", expected: "string", received: "map", message: "no" })
        } }))
        assert.strictEqual(tagOf(decodeFails), "ReplyTypeError")
        if (protocol === 3) assert.instanceOf(hello, Map)
        else assert.deepStrictEqual(hello, ["f", "1"])
        const stats = yield* redis.stats
        assert.isAtLeast(stats.shared, 1)
      })))

    it.effect("every Commands constructor is a method of the service and of an own connection", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `methods${protocol}`
        assert.isTrue(yield* redis.set(key, "v1", { expire: "10 seconds" }))
        const previous: string | null = yield* redis.set(key, "v2", { get: true })
        assert.strictEqual(previous, "v1")
        const value: string | null = yield* redis.get(key)
        assert.strictEqual(value, "v2")
        // @ts-expect-error the methods keep the constructors' types: GET is not a number
        const notNumber: number = yield* redis.get(key)
        assert.strictEqual(notNumber as unknown, "v2")
        assert.strictEqual(yield* redis.hset(`${key}:h`, { a: "1", b: "2" }), 2)
        assert.deepStrictEqual(yield* redis.hgetall(`${key}:h`), { a: "1", b: "2" })
        yield* redis.rpush(`${key}:l`, "x", "y", "z")
        const one: string | null = yield* redis.lpop(`${key}:l`)
        const two: ReadonlyArray<string> | null = yield* redis.lpop(`${key}:l`, 2)
        assert.strictEqual(one, "x")
        assert.deepStrictEqual(two, ["y", "z"])
        yield* redis.mset(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`${key}:scan:${i}`, String(i)])))
        const keys = yield* Stream.runCollect(redis.scanStream({ match: `${key}:scan:*`, count: 7 }))
        assert.strictEqual(new Set(keys).size, 30)
        assert.strictEqual(yield* redis.exists(...keys.slice(0, 3)), 3)
        assert.deepStrictEqual(yield* redis.mget(`${key}:scan:1`, `${key}:none`), ["1", null])
        assert.strictEqual(yield* redis.del(...keys), 30)
        const fromMethods = yield* redis.withConnection((c) => c.get(key))
        assert.strictEqual(fromMethods, "v2")
        // At run time too: every constructor of Commands is a function on the service and on an own connection.
        const notCommands = new Set(["decodeReply", "executeWith", "parseInfo", "script", "evalScript"])
        const constructors = Object.keys(Commands).filter((name) => !notCommands.has(name))
        assert.isAbove(constructors.length, 50)
        const own = yield* redis.withConnection((c) => Effect.succeed(c as unknown as Record<string, unknown>))
        for (const name of constructors) {
          assert.isFunction((redis as unknown as Record<string, unknown>)[name], `RedisPool.${name}`)
          assert.isFunction(own[name], `Connection.${name}`)
        }
        const invalid = yield* Effect.exit(redis.expire(key, Number.NaN))
        assert.strictEqual(tagOf(invalid), "InvalidArgumentError")
        const [piped] = yield* redis.pipeline([Commands.get(key)])
        assert.strictEqual(piped, "v2")
        assert.strictEqual(yield* redis.evalScript(Command.script("return ARGV[1]"), [], ["echo"]), "echo")
      })))

    it.effect("a pub/sub round trip through the service's subscriber", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const channel = `news${protocol}`
        const events = yield* redis.subscribe(channel).pipe(
          Stream.tap((event) =>
            event._tag === "Subscribed" ? Effect.asVoid(redis.send("PUBLISH", channel, "hello")) : Effect.void
          ),
          Stream.take(2),
          Stream.runCollect
        )
        assert.deepStrictEqual(events.map((e) => e._tag), ["Subscribed", "Message"])
        assert.strictEqual((events[1] as { message: string }).message, "hello")
        assert.strictEqual((yield* redis.subscriber.stats).channels, 0)
      })))

    it.effect("commands that change connection state are refused on the shared path", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        for (const args of [["SELECT", 1], ["MULTI"], ["WATCH", "k"], ["SUBSCRIBE", "c"], ["CLIENT", "REPLY", "OFF"]]) {
          const exit = yield* Effect.exit(redis.send(...(args as [string, ...Array<Resp.Arg>])))
          assert.strictEqual(tagOf(exit), "InvalidArgumentError", String(args))
        }
        const piped = yield* Effect.exit(redis.pipeline([["GET", "k"], ["SELECT", 2]]))
        assert.strictEqual(tagOf(piped), "InvalidArgumentError")
        assert.strictEqual(yield* redis.send("CLIENT", "GETNAME"), null)
      })))

    it.effect("a pipeline mixes good commands, error replies and decode failures as values", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `pipe${protocol}`
        const [set, bad, got, wrong, count, raw] = yield* redis.pipeline([
          ["SET", key, "1"],
          ["INCRBY", key, "not-a-number"],
          getString(key),
          { args: ["GET", key], decode: (): number => { throw new Error("nope") } },
          incr(key),
          ["LPUSH", key, "x"]
        ])
        assert.strictEqual(set, "OK")
        assert.instanceOf(bad, RedisReplyError)
        assert.strictEqual(got, "1")
        assert.instanceOf(wrong, ReplyTypeError)
        assert.strictEqual(count, 2)
        assert.instanceOf(raw, RedisReplyError)
        assert.strictEqual((raw as RedisReplyError).code, "WRONGTYPE")
      })))

    it.effect("multi runs the commands atomically and returns typed results", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `multi${protocol}`
        const [a, b, c] = yield* redis.multi([incr(key), incr(key), ["LPUSH", key, "x"]])
        assert.strictEqual(a, 1)
        assert.strictEqual(b, 2)
        assert.instanceOf(c, RedisReplyError)
        const aborted = yield* Effect.exit(redis.multi([["SET", key, "1"], ["NOSUCHCOMMAND"]]))
        assert.strictEqual(tagOf(aborted), "RedisReplyError")
        assert.strictEqual((failure(aborted) as RedisReplyError).code, "EXECABORT")
        assert.strictEqual(yield* redis.send("GET", key), "2")
      })))

    it.effect("a WATCH conflict made by another client aborts the transaction; EXEC is not retried", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const server = yield* RedisServer.RedisServer
        const key = `watched${protocol}`
        yield* redis.send("SET", key, "10")
        const before = yield* execCalls
        const exit = yield* Effect.exit(redis.watch([key], (tx) =>
          Effect.gen(function*() {
            const value = Number(yield* tx.run(getString(key)))
            yield* server.cli("SET", key, "99") // another client changes the watched key
            return [["SET", key, String(value + 1)]] as const
          })))
        assert.strictEqual(tagOf(exit), "TransactionAbortedError")
        assert.strictEqual((yield* execCalls) - before, 1)
        assert.strictEqual(yield* redis.send("GET", key), "99")
        // Without a conflict the same transaction commits, and no WATCH is left behind.
        const [ok] = yield* redis.watch([key], (tx) =>
          Effect.map(tx.run(getString(key)), (value) => [["SET", key, String(Number(value) + 1)]] as const))
        assert.strictEqual(ok, "OK")
        assert.strictEqual(yield* redis.send("GET", key), "100")
      })))

    it.effect("a failing watch body unwatches, and withConnection closes a connection left with state", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `state${protocol}`
        const failed = yield* Effect.exit(redis.watch([key], () => Effect.fail("changed my mind" as const)))
        assert.strictEqual(failure(failed), "changed my mind")
        const removedBefore = (yield* redis.stats).removals
        yield* redis.withConnection((c) =>
          Effect.gen(function*() {
            yield* c.send("SELECT", 1)
            yield* c.send("SET", key, "in-db-1")
          }))
        assert.isAbove(sumRemoved((yield* redis.stats).removals), sumRemoved(removedBefore))
        assert.strictEqual(yield* redis.send("GET", key), null)
        const fromDb1 = yield* redis.withConnection((c) =>
          Effect.andThen(c.send("SELECT", 1), c.send("GET", key)))
        assert.strictEqual(fromDb1, "in-db-1")
      })))

    it.effect("reserve: a connection for the scope, returned clean, UNWATCHed, or closed when it carries state or is discarded", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `reserve${protocol}`
        const removed = () => Effect.map(redis.stats, (s) => sumRemoved(s.removals))
        const before = yield* removed()
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(redis.reserve, (c) => c.send("PING"))), "PONG")
        assert.strictEqual(yield* removed(), before)
        // A WATCH left behind is undone (UNWATCH) and the connection kept.
        const watched = yield* Effect.scoped(Effect.flatMap(redis.reserve, (c) =>
          Effect.as(c.send("WATCH", key), c.conn)))
        assert.strictEqual(yield* removed(), before)
        assert.isTrue(watched.isHealthy)
        // SELECT, or discard, closes it.
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (c) => c.send("SELECT", 1)))
        assert.strictEqual(yield* removed(), before + 1)
        yield* Effect.scoped(Effect.flatMap(redis.reserve, (c) => Effect.andThen(c.send("PING"), c.discard)))
        assert.strictEqual(yield* removed(), before + 2)
      })))

    it.effect("an interrupted watch or withConnection closes its connection instead of returning it", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `interrupted${protocol}`
        const watching = yield* Effect.forkChild(redis.watch([key], () => Effect.never))
        assert.isTrue(yield* eventually(Effect.map(redis.stats, (s) => s.inUse === 1)))
        const before = sumRemoved((yield* redis.stats).removals)
        yield* Fiber.interrupt(watching)
        const after = yield* redis.stats
        assert.strictEqual(after.inUse, 0)
        assert.strictEqual(sumRemoved(after.removals), before + 1)
        const multi = yield* Effect.forkChild(
          redis.withConnection((c) => Effect.andThen(c.send("MULTI"), Effect.never))
        )
        assert.isTrue(yield* eventually(Effect.map(redis.stats, (s) => s.inUse === 1)))
        yield* Fiber.interrupt(multi)
        assert.strictEqual(sumRemoved((yield* redis.stats).removals), before + 2)
        // An uninterrupted block that leaves a WATCH behind gets UNWATCH and its connection back.
        yield* redis.withConnection((c) => c.send("WATCH", key))
        assert.strictEqual(sumRemoved((yield* redis.stats).removals), before + 2)
        yield* redis.set(key, "x")
        const [ok] = yield* redis.multi([["GET", key]])
        assert.strictEqual(ok, "x")
      })))

    it.effect("a withConnection block that leaves a WATCH gets UNWATCH: the same connection comes back clean", () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.RedisServer
        // One connection, so that the next block gets the one the first gave back.
        const redis = yield* RedisPool.make({ port: server.port, protocol, poolSize: 1 })
        const key = `left-watching${protocol}`
        const first = yield* redis.withConnection((c) => Effect.as(c.send("WATCH", key), c.conn.id))
        // Another client changes the key: a WATCH still on that connection would make its next EXEC abort.
        yield* server.cli("SET", key, "changed")
        const second = yield* redis.withConnection((c) =>
          Effect.gen(function*() {
            yield* c.send("MULTI")
            yield* c.send("GET", key)
            return { id: c.conn.id, exec: yield* c.send("EXEC") }
          })
        )
        assert.strictEqual(second.id, first, "the connection was closed instead of cleaned and returned")
        assert.deepStrictEqual(second.exec, ["changed"], "the connection came back still watching the key")
        assert.strictEqual(sumRemoved((yield* redis.stats).removals), 0)
      }))

    it.effect("evalScript loads the script on NOSCRIPT and then runs it by digest", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        yield* redis.send("SCRIPT", "FLUSH")
        const script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
        assert.strictEqual(yield* redis.evalScript(script, [`script${protocol}`], [5]), 5)
        assert.strictEqual(yield* redis.evalScript(script, [`script${protocol}`], [5]), 10)
        assert.deepStrictEqual(yield* redis.send("SCRIPT", "EXISTS", "dummy"), [0])
      })))

    it.effect("an interrupted BLPOP loses no element", () =>
      withRedis(Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        const key = `blpop${protocol}`
        const fiber = yield* Effect.forkChild(redis.send("BLPOP", key, 0))
        assert.isTrue(yield* eventually(Effect.map(blockedClients, (n) => n >= 1)))
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* eventually(Effect.map(blockedClients, (n) => n === 0)))
        yield* redis.send("LPUSH", key, "precious")
        assert.strictEqual(yield* redis.send("LLEN", key), 1)
        assert.strictEqual(yield* redis.send("LPOP", key), "precious")
      })))
  })

it.live("a command interrupted while it waits to be retried gives its shared connection back once", () =>
  Effect.scoped(Effect.gen(function*() {
    let loading = 0
    // A server that is loading its dataset: GET is refused with LOADING (a failure that leaves the connection usable).
    const fake = yield* RawServer.make({
      respond: (args) => {
        const command = args[0]!.toUpperCase()
        if (command === "HELLO") return "-ERR unknown command 'HELLO'\r\n"
        if (command === "CLIENT" && args[1]?.toUpperCase() === "ID") return ":7\r\n"
        if (command === "PING") return "+PONG\r\n"
        if (command === "GET") {
          loading++
          return "-LOADING Redis is loading the dataset in memory\r\n"
        }
        return "+OK\r\n"
      }
    })
    const redis = yield* RedisPool.make({
      port: fake.port,
      retrySchedule: Schedule.spaced("1 minute").pipe(Schedule.setInputType<RedisError>())
    })
    assert.strictEqual(yield* redis.send("PING"), "PONG")
    const fibers = yield* Effect.forEach(Array.from({ length: 20 }), () => Effect.forkChild(redis.send("GET", "k")))
    // Each was refused once and waits a minute for its retry; its connection was given back with the refusal.
    assert.isTrue(yield* eventually(() => loading === 20))
    assert.isTrue(yield* eventually(Effect.map(redis.stats, (stats) => stats.sharedInFlight === 0)))
    yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
    const stats = yield* redis.stats
    assert.strictEqual(stats.sharedInFlight, 0)
    assert.strictEqual(stats.inUse, 0)
    assert.strictEqual(yield* redis.send("PING"), "PONG")
    assert.strictEqual((yield* redis.stats).sharedInFlight, 0)
  })))

const sumRemoved = (removed: unknown): number =>
  typeof removed === "number"
    ? removed
    : Object.values(removed as Record<string, number>).reduce((a, b) => a + b, 0)

suite(3)
suite(2)

layer(RedisServer.layer(), { excludeTestServices: true })("RedisPool against one server", (it) => {
  it.effect("50 BLPOPs in flight while GETs from other fibers complete", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const redis = yield* RedisPool.make({ port: server.port, poolSize: 60 })
      yield* redis.pipeline(Array.from({ length: 100 }, (_, i) => ["SET", `g:${i}`, `v${i}`] as const))
      const blpops = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 50 }, (_, i) => i), () => redis.send("BLPOP", "queue50", 0), {
          concurrency: "unbounded"
        })
      )
      assert.isTrue(yield* eventually(Effect.map(blockedClients, (n) => n === 50)))
      const gets = yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => i % 100),
        (i) => redis.send("GET", `g:${i}`),
        { concurrency: "unbounded" }
      )
      for (let i = 0; i < 1000; i++) assert.strictEqual(gets[i], `v${i % 100}`)
      assert.strictEqual(yield* blockedClients, 50)
      yield* redis.send("RPUSH", "queue50", ...Array.from({ length: 50 }, (_, i) => `e${i}`))
      const popped = yield* Fiber.join(blpops)
      const values = popped.map((reply) => (reply as ReadonlyArray<string>)[1]).sort()
      assert.deepStrictEqual(values, Array.from({ length: 50 }, (_, i) => `e${i}`).sort())
      assert.strictEqual(yield* redis.send("LLEN", "queue50"), 0)
    }))

  it.effect("layerConfig reads REDIS_URL and REDIS_* keys through Config", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const provider = ConfigProvider.fromEnv({
        env: {
          REDIS_URL: `${server.url}/2?client_name=from-url`,
          REDIS_POOL_SIZE: "3",
          REDIS_CLIENT_NAME: "from-env",
          REDIS_READ_TIMEOUT: "2 seconds",
          REDIS_PROTOCOL: "2",
          REDIS_POOL_FIFO: "true"
        }
      })
      const program = Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        yield* redis.send("SET", "cfg", "db2")
        const stats = yield* redis.stats
        return { name: yield* redis.send("CLIENT", "GETNAME"), max: stats, hello: yield* redis.send("CLIENT", "INFO") }
      })
      const result = yield* program.pipe(
        Effect.provide(RedisPool.layerConfig().pipe(Layer.provide(ConfigProvider.layer(provider))))
      )
      assert.strictEqual(result.name, "from-env")
      assert.include(String(result.hello), "resp=2")
      assert.include(String(result.hello), "db=2")
      assert.strictEqual(yield* server.cli("-n", "2", "GET", "cfg"), "db2")
      const badProvider = ConfigProvider.fromEnv({ env: { REDIS_POOL_SIZE: "many" } })
      const bad = yield* Effect.exit(
        Effect.provide(RedisPool.RedisPool, RedisPool.layerConfig().pipe(Layer.provide(ConfigProvider.layer(badProvider))))
      )
      // A ConfigError that names the key and why, not any failure (a pool that failed to build would do too).
      assert.strictEqual(tagOf(bad), "ConfigError")
      assert.match(String((failure(bad) as { message: string }).message), /finite number[\s\S]*\["REDIS"\]\["POOL_SIZE"\]/)
      const wrapped = yield* Effect.gen(function*() {
        const redis = yield* RedisPool.RedisPool
        return yield* redis.send("CLIENT", "GETNAME")
      }).pipe(
        Effect.provide(
          RedisPool.layerConfig({ url: Config.String("CACHE_URL"), clientName: Config.String("CACHE_NAME") }).pipe(
            Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { CACHE_URL: server.url, CACHE_NAME: "cache" } })))
          )
        )
      )
      assert.strictEqual(wrapped, "cache")
      const password = yield* RedisPool.config().parse(
        ConfigProvider.fromEnv({ env: { REDIS_PASSWORD: "s3cret" } })
      )
      assert.isTrue(Redacted.isRedacted(password.password))
      assert.notInclude(String(password.password), "s3cret")
    }))

  it.effect("dialTimeout: 0 disables the dial deadline, as documented (it was refused as invalid)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const redis = yield* RedisPool.make({ port: server.port, dialTimeout: 0, poolSize: 1 })
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      const fromUrl = yield* RedisPool.make({ url: `redis://127.0.0.1:${server.port}?dial_timeout=0`, poolSize: 1 })
      assert.strictEqual(yield* fromUrl.send("PING"), "PONG")
    }))

  it.effect("URL options are applied and explicit options override them", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const redis = yield* RedisPool.make({
        url: `redis://127.0.0.1:${server.port}/3?client_name=url-name&protocol=2&pool_size=2&dial_timeout=2s`,
        clientName: "explicit"
      })
      const info = String(yield* redis.send("CLIENT", "INFO"))
      assert.include(info, "name=explicit")
      assert.include(info, "db=3")
      assert.include(info, "resp=2")
    }))

  it.effect("spans carry the semantic attributes (no argument values) and metrics count commands", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const redis = yield* RedisPool.make({ port: server.port, name: "traced" })
      yield* redis.send("SET", "secret-key", "secret-value").pipe(Effect.withTracer(tracer))
      yield* redis.send("GET", "secret-key")
      const set = spans.find((span) => span.name === "SET")
      assert.isDefined(set)
      assert.strictEqual(spans.length, 1)
      assert.strictEqual(set!.kind, "client")
      assert.strictEqual(set!.attributes.get("db.system.name"), "redis")
      assert.strictEqual(set!.attributes.get("db.operation.name"), "SET")
      assert.strictEqual(set!.attributes.get("server.address"), "127.0.0.1")
      assert.strictEqual(set!.attributes.get("server.port"), server.port)
      for (const value of set!.attributes.values()) assert.notInclude(String(value), "secret")
      const snapshot = yield* Metric.snapshot
      const durations = snapshot.filter((m) =>
        m.id === "db.client.operation.duration" && m.attributes?.["db.client.connection.pool.name"] === "traced"
      )
      assert.includeMembers(durations.map((m) => m.attributes?.["db.operation.name"]), ["SET", "GET"])
      const traced = yield* RedisPool.make({ port: server.port, traceArguments: true })
      yield* traced.send("GET", "visible").pipe(Effect.withTracer(tracer))
      assert.strictEqual(spans.at(-1)!.attributes.get("db.query.text"), "GET visible")
    }))

  it.effect("the same program works with poolSize 1: blocking, shared and transactions in turn", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const redis = yield* RedisPool.make({ port: server.port, poolSize: 1 })
      for (let round = 0; round < 3; round++) {
        assert.strictEqual(yield* redis.send("BLPOP", "one:list", "0.05"), null)
        yield* redis.send("SET", "one:k", String(round))
        const [value] = yield* redis.multi([getString("one:k")])
        assert.strictEqual(value, String(round))
        yield* redis.send("RPUSH", "one:list", "x")
        assert.deepStrictEqual(yield* redis.send("BLPOP", "one:list", 0), ["one:list", "x"])
        const [committed] = yield* redis.watch(["one:k"], () => Effect.succeed([["INCR", "one:k"]] as const))
        assert.strictEqual(committed, round + 1)
        const gets = yield* Effect.forEach([1, 2, 3], () => redis.send("GET", "one:k"), { concurrency: "unbounded" })
        assert.deepStrictEqual(gets, [String(round + 1), String(round + 1), String(round + 1)])
      }
      assert.strictEqual((yield* redis.stats).total, 1)
    }))
})

layer(
  FaultProxy.layerRedis().pipe(Layer.provideMerge(RedisServer.layer())),
  { excludeTestServices: true }
)("RedisPool retries through a faulty proxy", (it) => {
  it.effect("a cut after INCR was written fails it without applying it twice; a cut GET is retried", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const proxy = yield* FaultProxy.FaultProxy
      const redis = yield* RedisPool.make({ port: proxy.port, minRetryBackoff: 1, maxRetryBackoff: 5 })
      yield* server.cli("SET", "retry:k", "v")
      assert.strictEqual(yield* redis.send("PING"), "PONG") // the connection is up, the handshake done
      yield* proxy.cutOnNextReply
      const incrExit = yield* Effect.exit(redis.send("INCR", "retry:counter"))
      assert.strictEqual(tagOf(incrExit), "ConnectionError")
      assert.notStrictEqual((failure(incrExit) as ConnectionError).written, false)
      assert.strictEqual(yield* server.cli("GET", "retry:counter"), "1")

      assert.strictEqual(yield* redis.send("PING"), "PONG")
      const cutsBefore = (yield* proxy.stats).cuts
      yield* proxy.cutOnNextReply
      assert.strictEqual(yield* redis.send("GET", "retry:k"), "v")
      assert.strictEqual((yield* proxy.stats).cuts, cutsBefore + 1)

      // A custom schedule applies to the same safe failures only.
      const noRetry = yield* RedisPool.make({ port: proxy.port, retrySchedule: Schedule.recurs(0) })
      assert.strictEqual(yield* noRetry.send("PING"), "PONG")
      yield* proxy.cutOnNextReply
      const getExit = yield* Effect.exit(noRetry.send("GET", "retry:k"))
      assert.strictEqual(tagOf(getExit), "ConnectionError")
    }))

  it.effect("GETs interrupted while their replies are delayed: each other caller gets its own reply, every connection is given back once", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const proxy = yield* FaultProxy.FaultProxy
      const redis = yield* RedisPool.make({ port: proxy.port, readTimeout: 30_000 })
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => server.cli("SET", `intr:${i}`, String(i)), { concurrency: 20, discard: true })
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      yield* proxy.setDelay(150)
      const fibers = yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => Effect.forkChild(redis.send("GET", `intr:${i}`)))
      // Every GET has a connection and is on its way (written, or queued behind the delayed ones).
      assert.isTrue(yield* eventually(Effect.map(redis.stats, (stats) => stats.sharedInFlight === 200)))
      yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 0), Fiber.interrupt, { discard: true })
      const replies = yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 1), Fiber.join)
      assert.deepStrictEqual(replies, Array.from({ length: 100 }, (_, k) => String(2 * k + 1)))
      yield* proxy.setDelay(0)
      assert.isTrue(yield* eventually(Effect.map(redis.stats, (stats) => stats.sharedInFlight === 0 && stats.inUse === 0)))
      assert.strictEqual(yield* redis.send("GET", "intr:7"), "7")
      const stats = yield* redis.stats
      assert.strictEqual(stats.sharedInFlight, 0)
      assert.isAtMost(stats.total, 10)
    }))

  it.effect("a transaction cut after it was written is not sent again", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const proxy = yield* FaultProxy.FaultProxy
      const redis = yield* RedisPool.make({ port: proxy.port, minRetryBackoff: 1, maxRetryBackoff: 5 })
      const before = yield* execCalls
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      const multiExit = yield* Effect.exit(redis.multi([incr("retry:tx")]))
      assert.isTrue(Exit.isSuccess(multiExit))
      // Every connection is exclusive now or idle; cut the next reply, whichever connection it is on.
      yield* proxy.cutOnNextReply
      const cut = yield* Effect.exit(redis.multi([incr("retry:tx")]))
      assert.strictEqual(tagOf(cut), "ConnectionError")
      assert.strictEqual((yield* execCalls) - before, 2)
      assert.strictEqual(yield* server.cli("GET", "retry:tx"), "2")
    }))

  it.effect("a command that was never written is retried, even a non-idempotent one", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const proxy = yield* FaultProxy.FaultProxy
      const errors: Array<RedisError> = []
      const redis = yield* RedisPool.make({
        port: proxy.port,
        // The first dial is the command's own, so the pool starts without connecting.
        lazyConnect: true,
        retrySchedule: Schedule.recurs(5).pipe(
          Schedule.setInputType<RedisError>(),
          Schedule.tap((meta) => Effect.sync(() => void errors.push(meta.input)))
        )
      })
      // First dial: the proxy accepts and cuts the handshake reply, so the dial fails and nothing of INCR is sent.
      yield* proxy.cutOnNextReply
      assert.strictEqual(yield* redis.send("INCR", "retry:unwritten"), 1)
      assert.isAtLeast(errors.length, 1)
      assert.strictEqual(errors[0]!._tag, "ConnectionError")
      assert.strictEqual(yield* server.cli("GET", "retry:unwritten"), "1")
    }))

  it.effect("the CLIENT UNBLOCK for a pop whose caller left never shares a pipeline with requests a middlebox swallowed", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const proxy = yield* FaultProxy.FaultProxy
      // Two connections: the pop's, and one for everything else, so nothing can be dialed beside them.
      const redis = yield* RedisPool.make({ port: proxy.port, poolSize: 2, readTimeout: 1_000, drainTimeout: 500 })
      yield* server.cli("SET", "unblock:counter", "100")
      const consumer = yield* Effect.forkChild(redis.blpop(["unblock:queue"], 0))
      assert.isTrue(yield* eventually(Effect.map(server.cli("INFO", "clients"), (i) => i.includes("blocked_clients:1"))))
      assert.strictEqual(yield* redis.send("PING"), "PONG")
      // An INCR whose request the black hole swallows, on the pipelined connection.
      const dropped = (yield* proxy.stats).bytesDropped
      yield* proxy.setBlackHole(true)
      const incr = yield* Effect.forkChild(Effect.exit(redis.send("INCR", "unblock:counter")))
      assert.isTrue(yield* eventually(Effect.map(proxy.stats, (stats) => stats.bytesDropped > dropped)))
      yield* proxy.setBlackHole(false)
      // The consumer leaves: the pool asks the server to release its pop. Sent on the INCR's connection, the
      // UNBLOCK's reply (1) would be taken for the INCR's.
      yield* Fiber.interrupt(consumer)
      const exit = yield* Fiber.join(incr)
      assert.strictEqual(tagOf(exit), "CommandTimeoutError", `the INCR got ${JSON.stringify(exit)}`)
      assert.strictEqual(yield* server.cli("GET", "unblock:counter"), "100")
      // The pop was released all the same, on a connection of its own.
      assert.isTrue(yield* eventually(Effect.map(server.cli("INFO", "clients"), (i) => i.includes("blocked_clients:0"))))
      assert.strictEqual(yield* redis.send("INCR", "unblock:counter"), 101)
    }))
})

describe("a blocking pop whose caller left, and a server that stalls", () => {
  for (const stall of [500, 2_500, 10_000]) {
    it.live(`a stall of ${stall} ms after the push: every element is served, still listed or pushed back`, () =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const redis = yield* RedisPool.make({ port: server.port, readTimeout: 500 })
        const producer = yield* RedisPool.make({ port: server.port, readTimeout: 60_000, maxRetries: 0 })
        // Two consumers: one blocks without limit, one with a block time shorter than the stall.
        const keys = ["stall:forever", "stall:short"] as const
        const consumers = yield* Effect.forEach(keys, (key, i) =>
          Effect.forkChild(redis.blpop([key], i === 0 ? 0 : "1 second")))
        const blocked = Effect.map(server.cli("INFO", "clients"), (info) => info.includes("blocked_clients:2"))
        assert.isTrue(yield* eventually(blocked))
        yield* server.pause
        // The pushes reach the server while it is stopped; it serves the pops when it runs again.
        const pushes = yield* Effect.forEach(keys, (key) => Effect.forkChild(producer.send("RPUSH", key, "element")))
        yield* pause(100)
        // The consumers leave at once.
        yield* Effect.forEach(consumers, Fiber.interrupt, { discard: true })
        yield* pause(stall)
        yield* server.resume
        // Both pushes are acknowledged: each element was accepted by the server.
        assert.deepStrictEqual(yield* Effect.forEach(pushes, Fiber.join), [1, 1])
        // Nobody got them, so each is in its list: never popped (released first) or popped and pushed back.
        for (const key of keys) {
          assert.isTrue(yield* eventually(Effect.map(server.cli("LLEN", key), (n) => n === "1"), 20_000), key)
        }
        assert.strictEqual(yield* server.cli("LRANGE", keys[0], "0", "-1"), "element")
      }), { timeout: 60_000 })
  }
})

layer(RedisServer.layer(), { excludeTestServices: true })("RedisPool under a burst", (it) => {
  it.effect("100 000 commands at once on a cold pool: beyond maxWaiters they fail at once, the rest are served", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      // A generous poolTimeout: on a loaded machine the waiting callers must not time out before they are served.
      const redis = yield* RedisPool.make({ port: server.port, lazyConnect: true, poolSize: 4, poolTimeout: 60_000 })
      const exits = yield* Effect.forEach(
        Array.from({ length: 100_000 }, (_, i) => i),
        (i) => Effect.exit(redis.send("ECHO", String(i))),
        { concurrency: "unbounded" }
      )
      let served = 0
      let refused = 0
      for (let i = 0; i < exits.length; i++) {
        const exit = exits[i]!
        if (Exit.isSuccess(exit)) {
          assert.strictEqual(exit.value, String(i))
          served++
        } else {
          assert.strictEqual(tagOf(exit), "PoolQueueFullError")
          refused++
        }
      }
      // The callers that waited were served: the pool's dial was not starved by the crowd.
      assert.isAtLeast(served, 10_000)
      assert.isAbove(refused, 0)
      assert.strictEqual(served + refused, 100_000)
      const stats = yield* redis.stats
      assert.strictEqual(stats.pendingWaiters, 0)
    }), { timeout: 120_000 })
})

layer(RedisServer.layer(), { excludeTestServices: true })("RedisPool retries server refusals", (it) => {
  it.effect("a READONLY refusal is retried under the schedule, even for INCR, then reported", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const retried: Array<RedisError> = []
      const redis = yield* RedisPool.make({
        port: server.port,
        retrySchedule: Schedule.recurs(2).pipe(
          Schedule.setInputType<RedisError>(),
          Schedule.tap((meta) => Effect.sync(() => void retried.push(meta.input)))
        )
      })
      assert.strictEqual(yield* redis.send("SET", "ro:k", "1"), "OK")
      // A replica of a master that does not exist refuses writes with READONLY.
      yield* server.cli("REPLICAOF", "127.0.0.1", "1")
      const exit = yield* Effect.exit(redis.send("INCR", "ro:k"))
      yield* server.cli("REPLICAOF", "NO", "ONE")
      assert.strictEqual(tagOf(exit), "RedisReplyError")
      assert.strictEqual((failure(exit) as RedisReplyError).code, "READONLY")
      // recurs(2): two retries after the first refusal, each seen by the schedule.
      assert.deepStrictEqual(retried.map((e) => (e as RedisReplyError).code), ["READONLY", "READONLY"])
      assert.strictEqual(yield* redis.send("GET", "ro:k"), "1")
      // A plain error reply is not retried.
      retried.length = 0
      const syntax = yield* Effect.exit(redis.send("INCRBY", "ro:k", "x"))
      assert.strictEqual(tagOf(syntax), "RedisReplyError")
      assert.strictEqual(retried.length, 0)
    }))
})
