import { assert, describe, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as EffectRedis from "effect/persistence/Redis"
import * as Stream from "effect/Stream"
import { ConnectionError } from "../src/Errors.ts"
import { Sentinels } from "../src/internal/sentinelDiscovery.ts"
import * as Persistence from "../src/Persistence.ts"
import * as PubSub from "../src/PubSub.ts"
import * as RedisPool from "../src/RedisPool.ts"
import * as Sentinel from "../src/Sentinel.ts"
import { eventually, pause } from "./support/effects.ts"
import { freePort } from "./support/ports.ts"
import * as RedisSentinel from "./support/RedisSentinel.ts"
import { request } from "./support/request.ts"

/** A program written against the service alone. */
const program = (key: string) =>
  Effect.gen(function*() {
    const redis = yield* RedisPool.RedisPool
    yield* redis.set(key, "v1")
    const visits = yield* redis.incr(`${key}:visits`)
    return { value: yield* redis.get(key), visits }
  })

const options = (group: RedisSentinel.RedisSentinel, extra: Partial<Sentinel.Options> = {}): Sentinel.Options => ({
  sentinel: { masterName: group.masterName, sentinels: group.sentinelAddresses },
  ...extra
})

const deadAddress = Effect.map(Effect.promise(() => freePort()), (port) => `127.0.0.1:${port}`)

/** Calls of `command` (lower case) on `node` since its last CONFIG RESETSTAT, from INFO commandstats. */
const calls = (group: RedisSentinel.RedisSentinel, node: RedisSentinel.NodeRef, command: string) =>
  Effect.map(group.send(node, "INFO", "commandstats"), (reply) => {
    const info = typeof reply === "string" ? reply : reply instanceof Uint8Array ? new TextDecoder().decode(reply) : ""
    const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
    return match === null ? 0 : Number(match[1])
  })

const resetStats = (group: RedisSentinel.RedisSentinel, ...nodes: ReadonlyArray<RedisSentinel.NodeRef>) =>
  Effect.forEach(nodes, (node) => group.send(node, "CONFIG", "RESETSTAT"), { discard: true })

/** `n` GETs of `key` through the service: each must answer `value`. */
const reads = (redis: Sentinel.Service, key: string, value: string, n: number) =>
  Effect.forEach(Array.from({ length: n }), () =>
    Effect.map(redis.get(key), (got) => assert.strictEqual(got, value)), { discard: true })

layer(RedisSentinel.layer())("Sentinel", (it) => {
  it.effect("commands, pipelines, transactions and pub/sub run on the master the sentinels name", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const redis = yield* Sentinel.make(options(group))
      assert.strictEqual(yield* redis.send("SET", "s:a", "1"), "OK")
      assert.strictEqual(yield* redis.get("s:a"), "1")
      assert.deepStrictEqual(yield* redis.pipeline([["INCR", "s:n"], ["INCR", "s:n"]] as const), [1, 2])
      assert.deepStrictEqual(yield* redis.multi([["SET", "s:b", "2"], ["GET", "s:b"]] as const), ["OK", "2"])
      const port = yield* redis.send("CONFIG", "GET", "port")
      const portOf = port instanceof Map ? port.get("port") : (port as ReadonlyArray<unknown>)[1]
      assert.strictEqual(portOf, String(master.port))
      yield* redis.withConnection((conn) => Effect.sync(() => assert.strictEqual(conn.conn.address, master.address)))
      const message = yield* Effect.forkChild(redis.subscribe("s:news").pipe(PubSub.messages, Stream.take(1), Stream.runCollect))
      // Published until the subscription is in place (a message before it reaches nobody).
      assert.isTrue(yield* eventually(Effect.map(redis.send("PUBLISH", "s:news", "hello"), (receivers) => receivers === 1)))
      const [received] = yield* Fiber.join(message)
      assert.strictEqual(received?.message, "hello")
    })))

  it.effect("a program written against RedisPool runs unchanged on one node and through the sentinels", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const direct = yield* program("s:direct").pipe(Effect.provide(RedisPool.layer({ port: master.port })))
      const managed = yield* program("s:managed").pipe(Effect.provide(Sentinel.layer(options(group))))
      assert.deepStrictEqual(direct, { value: "v1", visits: 1 })
      assert.deepStrictEqual(managed, { value: "v1", visits: 1 })
      // And effect/persistence/Redis (RateLimiter, PersistedCache, ... stores) on it.
      const persisted = yield* Effect.gen(function*() {
        const redis = yield* EffectRedis.Redis
        yield* redis.send("SET", "s:persisted", "p")
        return yield* redis.send<string>("GET", "s:persisted")
      }).pipe(Effect.provide(Persistence.layer.pipe(Layer.provide(Sentinel.layer(options(group))))))
      assert.strictEqual(persisted, "p")
    }))

  it.effect("a sentinel that cannot be reached is passed over, the one that answered is asked first next time, and the sentinels it knows join the list", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const dead = yield* deadAddress
      const managed = yield* program("s:passed").pipe(
        Effect.provide(Sentinel.layer(options(group, {
          sentinel: { masterName: group.masterName, sentinels: [dead, ...group.sentinelAddresses] }
        })))
      )
      assert.deepStrictEqual(managed, { value: "v1", visits: 1 })
      const [deadPort] = [Number(dead.split(":")[1])]
      const live = group.sentinels[1]!
      const sentinels = new Sentinels(group.masterName, [{ host: "127.0.0.1", port: deadPort! }, live, group.sentinels[0]!], {
        dialTimeout: 500,
        readTimeout: 500,
        libName: ""
      })
      assert.deepStrictEqual(yield* sentinels.resolveMaster, { host: "127.0.0.1", port: master.port })
      // The sentinel that answered first, then the others in their order, then the one it told of (SENTINEL SENTINELS).
      assert.deepStrictEqual(sentinels.list.map((s) => s.port), [live.port, deadPort, group.sentinels[0]!.port, group.sentinels[2]!.port])
    }))

  it.effect("no sentinel reachable: SentinelUnreachableError with each sentinel's cause", () =>
    Effect.gen(function*() {
      const sentinels = [yield* deadAddress, yield* deadAddress]
      const error = yield* Effect.flip(Effect.scoped(Sentinel.make({ sentinel: { masterName: "mymaster", sentinels } })))
      assert.strictEqual(error._tag, "SentinelUnreachableError")
      if (error._tag !== "SentinelUnreachableError") return
      assert.deepStrictEqual(error.sentinels, sentinels)
      assert.strictEqual(error.causes.length, 2)
      for (const cause of error.causes) {
        assert.instanceOf(cause, ConnectionError)
        assert.strictEqual((cause as ConnectionError).reason, "refused")
      }
    }))

  it.effect("a name no sentinel knows: SentinelMasterUnknownError", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const error = yield* Effect.flip(Effect.scoped(Sentinel.make({
        sentinel: { masterName: "nosuchmaster", sentinels: group.sentinelAddresses }
      })))
      assert.strictEqual(error._tag, "SentinelMasterUnknownError")
      if (error._tag !== "SentinelMasterUnknownError") return
      assert.strictEqual(error.masterName, "nosuchmaster")
      assert.include(error.message, "nosuchmaster")
    }))

  it.effect("a named node that is not a master: SentinelRoleError, at startup and, as a ConnectionError's cause, at a later dial", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const replica = group.data.find((node) => node.port !== master.port && node.running)!
      const sentinel = group.sentinels[0]!
      // One sentinel monitors the replica under another name (it cannot fail it over alone: quorum 2).
      yield* Effect.acquireRelease(
        group.cli(sentinel, "SENTINEL", "MONITOR", "notamaster", "127.0.0.1", String(replica.port), "2"),
        () => Effect.ignore(group.cli(sentinel, "SENTINEL", "REMOVE", "notamaster"))
      )
      const named = { sentinel: { masterName: "notamaster", sentinels: [sentinel.address] } }
      const error = yield* Effect.flip(Effect.scoped(Sentinel.make(named)))
      assert.strictEqual(error._tag, "SentinelRoleError")
      if (error._tag !== "SentinelRoleError") return
      assert.strictEqual(error.address, replica.address)
      assert.strictEqual(error.role, "slave")
      const later = yield* Effect.scoped(Effect.gen(function*() {
        const redis = yield* Sentinel.make({ ...named, lazyConnect: true, maxRetries: 0 })
        return yield* Effect.flip(redis.send("PING"))
      }))
      assert.strictEqual(later._tag, "ConnectionError")
      if (later._tag !== "ConnectionError") return
      assert.strictEqual(later.reason, "sentinel")
      assert.strictEqual((later.cause as { _tag: string })._tag, "SentinelRoleError")
    }).pipe(Effect.scoped))

  it.effect("layerConfig reads REDIS_SENTINELS, REDIS_MASTER_NAME and the service's options from the environment", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const env = {
        REDIS_SENTINELS: ` ${group.sentinelAddresses.join(" , ")} `,
        REDIS_MASTER_NAME: group.masterName,
        REDIS_SENTINEL_TIMEOUT: "800 millis",
        REDIS_POOL_SIZE: "3",
        REDIS_READ_FROM: "replica",
        REDIS_URL: "redis://ignored:1"
      }
      const options = yield* Sentinel.config().parse(ConfigProvider.fromEnv({ env }))
      assert.deepStrictEqual(options.sentinel, {
        masterName: group.masterName,
        sentinels: group.sentinelAddresses,
        timeout: "800 millis"
      })
      assert.strictEqual(options.poolSize, 3)
      assert.strictEqual(options.readFrom, "replica")
      const bad = yield* Effect.flip(Sentinel.config().parse(ConfigProvider.fromEnv({ env: { ...env, REDIS_READ_FROM: "nearest" } })))
      assert.strictEqual(bad._tag, "ConfigError")
      const live = Sentinel.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))
      assert.deepStrictEqual(yield* program("s:config").pipe(Effect.provide(live)), { value: "v1", visits: 1 })
      const missing = yield* Effect.flip(
        Layer.build(Sentinel.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))).pipe(Effect.scoped)
      )
      assert.strictEqual(missing._tag, "ConfigError")
    }))

  it.effect("a layer from a Sentinel URL (go-redis's form: the first sentinel as host, the others as addr) runs a program", () =>
    Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const [first, ...others] = group.sentinelAddresses
      const url = `redis://${first}/0?master_name=${group.masterName}${others.map((a) => `&addr=${a}`).join("")}&pool_size=3`
      const managed = yield* program("s:url").pipe(Effect.provide(Sentinel.layer({ url: Redacted.make(url) })))
      assert.deepStrictEqual(managed, { value: "v1", visits: 1 })
      assert.strictEqual(yield* group.cli(master, "GET", "s:url"), "v1")
      const replica = group.data.find((node) => node.port !== master.port)!
      const reading = yield* Effect.scoped(Effect.flatMap(Sentinel.make({ url: `${url}&read_from=replica` }), (redis) => redis.replicas))
      assert.deepStrictEqual(reading, [replica.address])
      // An explicit option wins over the URL's.
      const error = yield* Effect.flip(Effect.scoped(Sentinel.make({ url, poolSize: 0 })))
      assert.strictEqual(error._tag, "InvalidArgumentError")
      if (error._tag === "InvalidArgumentError") assert.strictEqual(error.option, "poolSize")
    }))

  it.effect("readFrom replica: reads land on the replica, writes, transactions and scripts on the master", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.RedisSentinel
      const master = yield* group.master
      const replica = group.data.find((node) => node.port !== master.port)!
      const redis = yield* Sentinel.make(options(group, { readFrom: "replica" }))
      assert.deepStrictEqual(yield* redis.replicas, [replica.address])
      assert.isTrue(yield* redis.set("rr:k", "v"))
      yield* redis.send("HSET", "rr:h", "f", "1")
      // Replication is asynchronous: read until the replica has the writes.
      assert.isTrue(yield* eventually(Effect.map(redis.hget("rr:h", "f"), (v) => v === "1")))
      yield* resetStats(group, master, replica)
      yield* reads(redis, "rr:k", "v", 20)
      assert.deepStrictEqual(yield* redis.mget("rr:k", "rr:none"), ["v", null])
      assert.strictEqual(yield* redis.send("EXISTS", "rr:k"), 1)
      assert.deepStrictEqual(yield* redis.pipeline([["GET", "rr:k"], ["HGET", "rr:h", "f"]] as const), ["v", "1"])
      assert.include(Array.from(yield* Stream.runCollect(redis.scanStream({ match: "rr:*" }))), "rr:k")
      assert.strictEqual(yield* redis.evalScript("return redis.call('GET', KEYS[1])", ["rr:k"]), "v")
      assert.strictEqual(yield* redis.incr("rr:n"), 1)
      assert.deepStrictEqual(yield* redis.multi([["GET", "rr:k"]] as const), ["v"])
      assert.strictEqual(yield* calls(group, replica, "get"), 20 + 1)
      assert.strictEqual(yield* calls(group, replica, "mget"), 1)
      assert.strictEqual(yield* calls(group, replica, "exists"), 1)
      assert.strictEqual(yield* calls(group, replica, "hget"), 1)
      // The master ran the writes, the script's GET and the transaction's, and none of the plain reads.
      assert.isAtLeast(yield* calls(group, replica, "scan"), 1)
      assert.strictEqual(yield* calls(group, master, "scan"), 0)
      assert.strictEqual(yield* calls(group, master, "mget"), 0)
      assert.strictEqual(yield* calls(group, master, "exists"), 0)
      assert.strictEqual(yield* calls(group, master, "hget"), 0)
      assert.strictEqual(yield* calls(group, master, "get"), 2) // the script's and the transaction's
      assert.strictEqual(yield* calls(group, master, "incr"), 1)
      assert.isAtLeast((yield* calls(group, master, "evalsha")) + (yield* calls(group, master, "eval")), 1)
      assert.strictEqual(yield* calls(group, replica, "incr"), 1) // replicated from the master
      assert.strictEqual(yield* calls(group, replica, "evalsha"), 0)
      // Default: everything on the master.
      const plain = yield* Sentinel.make(options(group))
      yield* resetStats(group, master, replica)
      yield* reads(plain, "rr:k", "v", 5)
      assert.strictEqual(yield* calls(group, master, "get"), 5)
      assert.strictEqual(yield* calls(group, replica, "get"), 0)
      assert.deepStrictEqual(yield* plain.replicas, [])
    })))

  it.effect("bad options fail with InvalidArgumentError naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[unknown, string]> = [
        [{}, "sentinel"],
        [{ sentinel: { sentinels: ["127.0.0.1:26379"] } }, "sentinel.masterName"],
        [{ sentinel: { masterName: "m", sentinels: [] } }, "sentinel.sentinels"],
        [{ sentinel: { masterName: "m", sentinels: ["nohost"] } }, "sentinel.sentinels[0]"],
        [{ sentinel: { masterName: "m", sentinels: [{ host: "h", port: 70000 }] } }, "sentinel.sentinels[0]"],
        [{ sentinel: { masterName: "m", sentinels: ["h:1"], timeout: -1 } }, "sentinel.timeout"],
        [{ sentinel: { masterName: "m", sentinels: ["h:1"] }, port: 6379 }, "port"],
        [{ sentinel: { masterName: "m", sentinels: ["h:1"] }, poolSize: 0 }, "poolSize"]
      ]
      for (const [input, option] of cases) {
        const error = yield* Effect.flip(Effect.scoped(Sentinel.make(input as Sentinel.Options)))
        assert.strictEqual(error._tag, "InvalidArgumentError", option)
        if (error._tag === "InvalidArgumentError") assert.strictEqual(error.option, option)
      }
    }))
})

/** INCRs of one counter by one writer: how many were issued, and the replies of those acknowledged, with their rank. */
interface Counter {
  attempts: number
  readonly acked: Array<{ readonly reply: number; readonly attempt: number }>
}

/**
 * Writers until `stop`, each in turn: SET of a distinct key to its own name, INCR of its own counter (one per
 * writer and phase), GET of the key. Records the keys acknowledged (and whether issued after `mark()`), every
 * counter's attempts and acknowledged replies, and any reply that is not the one its command can answer (a SET
 * not OK, an INCR not an integer, a GET neither the key's name nor nil): a reply delivered to the wrong caller.
 */
const workload = (
  redis: Sentinel.Service,
  prefix: string,
  mark: Effect.Effect<boolean>,
  writers = 4
) =>
  Effect.gen(function*() {
    const acked: Array<{ readonly key: string; readonly after: boolean; readonly at: number }> = []
    const failures: Array<string> = []
    const misdelivered: Array<string> = []
    const counters = new Map<string, Counter>()
    let stop = false
    const writer = (w: number, exclusive: boolean) =>
      Effect.gen(function*() {
        for (let i = 0; !stop; i++) {
          const after = yield* mark
          const phase = after ? "after" : "before"
          const key = `${prefix}:${phase}:${exclusive ? "x" : "s"}${w}:${i}`
          const counterKey = `${prefix}:counter:${phase}:${exclusive ? "x" : "s"}${w}`
          let counter = counters.get(counterKey)
          if (counter === undefined) counters.set(counterKey, counter = { attempts: 0, acked: [] })
          const c = counter
          const steps = (send: (...args: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>) =>
            Effect.gen(function*() {
              const set = yield* send("SET", key, key)
              if (set !== "OK") misdelivered.push(`SET ${key} answered ${JSON.stringify(set)}`)
              else acked.push({ key, after, at: Date.now() })
              const attempt = ++c.attempts
              const n = yield* send("INCR", counterKey)
              if (typeof n !== "number" || !Number.isInteger(n)) misdelivered.push(`INCR ${counterKey} answered ${JSON.stringify(n)}`)
              else c.acked.push({ reply: n, attempt })
              const got = yield* send("GET", key)
              if (got !== key && got !== null) misdelivered.push(`GET ${key} answered ${JSON.stringify(got)}`)
            })
          const write = exclusive
            ? redis.withConnection((conn) => steps((...args) => conn.send(args[0]!, ...args.slice(1))))
            : steps((...args) => redis.send(args[0]!, ...args.slice(1)))
          const exit = yield* Effect.exit(write)
          if (exit._tag === "Failure") {
            failures.push(String(exit.cause))
            yield* pause(20)
          }
        }
      })
    const fibers = yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      (w) => Effect.forkChild(writer(w, w % 2 === 1))
    )
    return {
      acked,
      failures,
      misdelivered,
      counters,
      stop: Effect.andThen(Effect.sync(() => void (stop = true)), Effect.forEach(fibers, Fiber.join, { discard: true }))
    }
  })

/**
 * Nothing misdelivered, nothing applied twice, on the counters of the phase after the mark (all on `port`, the
 * new master): each counter's acknowledged replies rise strictly (no reply given to two callers, none out of
 * order), none exceeds the number of INCRs issued up to it (no INCR applied twice), and the counter on `port`
 * is at least the last acknowledged reply (none lost) and at most the INCRs issued (none applied twice, the
 * failed ones applied at most once). No timing is asserted.
 */
const checkExactlyOnce = (load: Effect.Success<ReturnType<typeof workload>>, port: number) =>
  Effect.gen(function*() {
    assert.deepStrictEqual(load.misdelivered, [])
    const after = [...load.counters].filter(([key]) => key.includes(":counter:after:"))
    assert.isAtLeast(after.length, 1)
    const finals = yield* Effect.promise(() => request(port, after.map(([key]) => ["GET", key])))
    after.forEach(([key, counter], i) => {
      const replies = counter.acked.map((a) => a.reply)
      for (let j = 1; j < replies.length; j++) assert.isAbove(replies[j]!, replies[j - 1]!, `${key}: replies ${replies.join(",")}`)
      for (const { attempt, reply } of counter.acked) assert.isAtMost(reply, attempt, `${key}: reply ${reply} to INCR number ${attempt}`)
      const final = Number(finals[i])
      assert.isAtLeast(final, replies[replies.length - 1] ?? 0, `${key}: ${final} on the master`)
      assert.isAtMost(final, counter.attempts, `${key}: ${final} on the master after ${counter.attempts} INCRs`)
    })
  })

/** The keys of `keys` that `port` does not have. */
const missing = (port: number, keys: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const out: Array<string> = []
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500)
      const replies = await request(port, chunk.map((key) => ["EXISTS", key]))
      replies.forEach((reply, j) => {
        if (reply !== 1) out.push(chunk[j]!)
      })
    }
    return out
  })

describe("Sentinel failover", () => {
  it.live("master killed mid-workload: writes resume on the promoted replica, and none acknowledged after the kill is lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const master = yield* group.master
      const redis = yield* Sentinel.make(options(group))
      let killed = false
      const load = yield* workload(redis, "kill", Effect.sync(() => killed))
      assert.isTrue(yield* eventually(() => load.acked.length >= 50, 30_000))
      yield* group.kill(master)
      const killedAt = Date.now()
      killed = true
      let switchSeenAt = 0
      yield* Effect.forkChild(Effect.gen(function*() {
        while ((yield* redis.switches) === 0) yield* pause(5)
        switchSeenAt = Date.now()
      }))
      const promoted = yield* group.waitForNewMaster(master)
      const resumed = yield* eventually(() => load.acked.filter((a) => a.after).length >= 100, 30_000)
      const firstAfter = load.acked.find((a) => a.after)
      yield* load.stop
      assert.isTrue(resumed, `writes did not resume: ${load.failures.slice(-3).join(" | ")}`)
      const tags = new Map<string, number>()
      for (const failure of load.failures) {
        const tag = /(\w+Error)/.exec(failure)?.[1] ?? "other"
        tags.set(tag, (tags.get(tag) ?? 0) + 1)
      }
      console.log(
        `Sentinel: master killed; switch seen ${switchSeenAt - killedAt} ms after the kill, first write acknowledged by ` +
          `the promoted ${promoted.address} ${firstAfter!.at - killedAt} ms after it; failed writes: ${JSON.stringify(Object.fromEntries(tags))}`
      )
      const after = load.acked.filter((a) => a.after).map((a) => a.key)
      assert.deepStrictEqual(yield* missing(promoted.port, after), [])
      yield* checkExactlyOnce(load, promoted.port)
      assert.strictEqual(yield* redis.master, promoted.address)
      assert.isAtLeast(yield* redis.switches, 1)
    })))

  for (const readFrom of ["master", "replica"] as const) {
    it.live(`SENTINEL FAILOVER with a workload on existing connections (readFrom ${readFrom}): once the switch is seen, no write lands on the old master`, () =>
      Effect.scoped(Effect.gen(function*() {
        const group = yield* RedisSentinel.make()
        const old = yield* group.master
        const redis = yield* Sentinel.make(options(group, { readFrom }))
        const messages: Array<string> = []
        yield* Effect.forkChild(redis.subscribe("fo:news").pipe(
          PubSub.messages,
          Stream.runForEach((m) => Effect.sync(() => messages.push(m.message)))
        ))
        assert.isTrue(yield* eventually(Effect.map(redis.send("PUBLISH", "fo:news", "before"), (n) => n === 1)))
        const load = yield* workload(redis, "fo", Effect.map(redis.switches, (n) => n > 0), 6)
        assert.isTrue(yield* eventually(() => load.acked.length >= 100, 30_000))
        const before = (yield* redis.stats).total
        assert.isAtLeast(before, 1)
        const promoted = yield* group.failover()
        assert.isTrue(yield* eventually(Effect.map(redis.switches, (n) => n > 0), 30_000), "the switch was not seen")
        assert.isTrue(yield* eventually(() => load.acked.filter((a) => a.after).length >= 200, 30_000))
        // The old master still claims master for ~10 s after a SENTINEL FAILOVER (see RedisSentinel): read its
        // role and the keys written after the switch in one transaction, so they describe the same moment.
        const replies = yield* Effect.promise(() => request(old.port, [["MULTI"], ["ROLE"], ["KEYS", "fo:*after:*"], ["EXEC"]]))
        yield* load.stop
        const [role, keys] = replies[3] as [ReadonlyArray<unknown>, ReadonlyArray<string>]
        assert.strictEqual(role[0], "master", "the old master was demoted before the check: inconclusive")
        assert.deepStrictEqual(keys, [])
        const after = load.acked.filter((a) => a.after).map((a) => a.key)
        assert.deepStrictEqual(yield* missing(promoted.port, after), [])
        yield* checkExactlyOnce(load, promoted.port)
        assert.strictEqual(yield* redis.master, promoted.address)
        assert.isAtLeast((yield* redis.stats).removals.retired, 1)
        // The subscriber left the old master too, and renewed its subscription on the new one.
        assert.isTrue(yield* eventually(Effect.map(redis.send("PUBLISH", "fo:news", "after"), (n) => n === 1)))
        assert.isTrue(yield* eventually(() => messages.includes("after")))
      })))
  }

  it.live("sentinels learnt from the one configured keep the service going when that one dies, and announce the switch", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const master = yield* group.master
      const [first] = group.sentinels
      const redis = yield* Sentinel.make({ sentinel: { masterName: group.masterName, sentinels: [first!.address] } })
      assert.sameMembers([...(yield* redis.sentinels)], [...group.sentinelAddresses])
      assert.strictEqual((yield* redis.sentinels)[0], first!.address)
      yield* group.kill(first!)
      yield* group.kill(master)
      const promoted = yield* group.waitForNewMaster(master)
      assert.isTrue(yield* eventually(Effect.map(redis.switches, (n) => n > 0), 30_000), "no switch announced")
      assert.isTrue(
        yield* eventually(Effect.map(Effect.exit(redis.send("SET", "learnt", "1")), (exit) => exit._tag === "Success"), 30_000)
      )
      assert.strictEqual(yield* group.cli(promoted, "GET", "learnt"), "1")
    })))

  it.live("a killed master restarted with its old config claims master, but gets no write: every dial asks the sentinels", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const old = yield* group.master
      const redis = yield* Sentinel.make(options(group))
      let restarted = false
      const load = yield* workload(redis, "rs", Effect.sync(() => restarted))
      assert.isTrue(yield* eventually(() => load.acked.length >= 50, 30_000))
      yield* group.kill(old)
      const promoted = yield* group.waitForNewMaster(old)
      yield* group.restart(old)
      restarted = true
      assert.isTrue(yield* eventually(() => load.acked.filter((a) => a.after).length >= 200, 30_000))
      // It claims master for 10-15 s after its restart (see RedisSentinel): role and keys at one moment.
      const replies = yield* Effect.promise(() => request(old.port, [["MULTI"], ["ROLE"], ["KEYS", "rs:*after:*"], ["EXEC"]]))
      yield* load.stop
      const [role, keys] = replies[3] as [ReadonlyArray<unknown>, ReadonlyArray<string>]
      assert.strictEqual(role[0], "master", "the restarted master was converted before the check: inconclusive")
      assert.deepStrictEqual(keys, [])
      assert.deepStrictEqual(yield* missing(promoted.port, load.acked.filter((a) => a.after).map((a) => a.key)), [])
      yield* checkExactlyOnce(load, promoted.port)
    })))

  it.live("readFrom replica: a killed replica sends reads to the master; after a failover reads follow the new replica set", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const old = yield* group.master
      const replica = group.data.find((node) => node.port !== old.port)!
      const redis = yield* Sentinel.make(options(group, { readFrom: "replica" }))
      yield* redis.set("fr:k", "v")
      assert.isTrue(yield* eventually(Effect.map(redis.get("fr:k"), (v) => v === "v")))
      yield* resetStats(group, old, replica)
      yield* reads(redis, "fr:k", "v", 10)
      assert.strictEqual(yield* calls(group, replica, "get"), 10)
      assert.strictEqual(yield* calls(group, old, "get"), 0)

      // Killed: every read still answers, from the master.
      yield* group.kill(replica)
      yield* resetStats(group, old)
      yield* reads(redis, "fr:k", "v", 20)
      assert.isAtLeast(yield* calls(group, old, "get"), 19)
      assert.deepStrictEqual(yield* redis.replicas, [])

      // Back: reads return to it once the sentinels list it as up and its link is up.
      yield* group.restart(replica)
      yield* group.waitHealthy()
      assert.isTrue(
        yield* eventually(Effect.andThen(reads(redis, "fr:k", "v", 1), Effect.map(redis.replicas, (r) => r.includes(replica.address))), 30_000),
        "the restarted replica was not taken back"
      )

      // A failover: the replica is the master, the old master (once Sentinel converts it) the replica.
      const promoted = yield* group.failover()
      assert.strictEqual(promoted.port, replica.port)
      yield* redis.set("fr:after", "w")
      assert.isTrue(
        yield* eventually(
          Effect.andThen(reads(redis, "fr:k", "v", 1), Effect.map(redis.replicas, (r) => r.length === 1 && r[0] === old.address)),
          40_000
        ),
        "reads did not move to the converted old master"
      )
      assert.isTrue(yield* eventually(Effect.map(redis.get("fr:after"), (v) => v === "w")))
      yield* resetStats(group, old, promoted)
      yield* reads(redis, "fr:after", "w", 10)
      assert.strictEqual(yield* calls(group, old, "get"), 10)
      assert.strictEqual(yield* calls(group, promoted, "get"), 0)
    })))

  it.live("readFrom replica with two replicas: reads take them in turn, a scan's steps stay on one", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make({ replicas: 2 })
      const master = yield* group.master
      const replicas = group.data.filter((node) => node.port !== master.port)
      assert.strictEqual(replicas.length, 2)
      const redis = yield* Sentinel.make(options(group, { readFrom: "replica" }))
      assert.sameMembers([...(yield* redis.replicas)], replicas.map((node) => node.address))
      yield* redis.pipeline(Array.from({ length: 50 }, (_, i) => ["SET", `two:${i}`, `two:${i}`]))
      yield* Effect.forEach(replicas, (node) =>
        Effect.map(eventually(Effect.map(group.send(node, "DBSIZE"), (n) => typeof n === "number" && n >= 50)), (ok) =>
          assert.isTrue(ok)))
      yield* resetStats(group, master, ...replicas)
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
        Effect.map(redis.get(`two:${i}`), (got) => assert.strictEqual(got, `two:${i}`)), { discard: true })
      assert.deepStrictEqual(yield* Effect.forEach(replicas, (node) => calls(group, node, "get")), [10, 10])
      assert.strictEqual(yield* calls(group, master, "get"), 0)
      const keys = Array.from(yield* Stream.runCollect(redis.scanStream({ match: "two:*", count: 5 })))
      assert.strictEqual(new Set(keys).size, 50)
      const scans = yield* Effect.forEach(replicas, (node) => calls(group, node, "scan"))
      assert.isAbove(Math.max(...scans), 1)
      assert.strictEqual(Math.min(...scans), 0, `SCAN steps on both replicas: ${scans.join(", ")}`)
    })))

  it.live("readFrom replica: a listed replica that answers ROLE master is refused, and reads run on the master", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const master = yield* group.master
      const replica = group.data.find((node) => node.port !== master.port)!
      yield* group.cli(master, "SET", "role:k", "v")
      assert.isTrue(yield* eventually(Effect.map(group.cli(replica, "GET", "role:k"), (v) => v === "v")))
      // Promoted behind the sentinels' back: they still list it as a replica until their next look (every 10 s).
      yield* group.cli(replica, "REPLICAOF", "NO", "ONE")
      const redis = yield* Sentinel.make(options(group, { readFrom: "replica" }))
      assert.deepStrictEqual(yield* redis.replicas, [replica.address], "the sentinels no longer list it: inconclusive")
      yield* resetStats(group, master, replica)
      yield* reads(redis, "role:k", "v", 10)
      assert.strictEqual(yield* calls(group, replica, "get"), 0)
      assert.strictEqual(yield* calls(group, master, "get"), 10)
      assert.notInclude(yield* redis.replicas, replica.address)
    })))

  it.live("a READONLY reply (a connection kept to a master demoted behind the client's back) retires the pool's connections; the write succeeds on the new master", () =>
    Effect.scoped(Effect.gen(function*() {
      const group = yield* RedisSentinel.make()
      const old = yield* group.master
      const redis = yield* Sentinel.make({
        sentinel: { masterName: group.masterName, sentinels: group.sentinelAddresses, followSwitches: false }
      })
      assert.strictEqual(yield* redis.send("SET", "ro:1", "a"), "OK")
      const promoted = yield* group.failover()
      // What Sentinel does ~10 s later, without closing the old master's client connections.
      yield* group.cli(old, "REPLICAOF", "127.0.0.1", String(promoted.port))
      assert.strictEqual(yield* redis.switches, 0)
      assert.strictEqual(yield* redis.send("SET", "ro:2", "b"), "OK")
      assert.isAtLeast((yield* redis.stats).removals.retired, 1)
      assert.strictEqual(yield* group.cli(promoted, "GET", "ro:2"), "b")
      assert.strictEqual(yield* redis.master, promoted.address)
    })))
})
