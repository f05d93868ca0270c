import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { isReplicaRead } from "../../src/internal/commandTraits.ts"
import { parseAddressReply, Sentinels } from "../../src/internal/sentinelDiscovery.ts"
import { parseReplicas } from "../../src/internal/sentinelReplicas.ts"
import { SwitchState } from "../../src/internal/sentinelState.ts"
import { parseSentinelUrl } from "../../src/internal/sentinelUrl.ts"
import { parseSwitch } from "../../src/internal/sentinelWatch.ts"

describe("Sentinel replies", () => {
  it("+switch-master payloads: name, old and new address; anything else is ignored", () => {
    assert.deepStrictEqual(parseSwitch("mymaster 127.0.0.1 7001 127.0.0.1 7002"), {
      name: "mymaster",
      from: "127.0.0.1:7001",
      to: "127.0.0.1:7002"
    })
    assert.isUndefined(parseSwitch("mymaster 127.0.0.1 7001 127.0.0.1"))
    assert.isUndefined(parseSwitch("mymaster 127.0.0.1 x 127.0.0.1 7002"))
    assert.isUndefined(parseSwitch(""))
  })

  it("GET-MASTER-ADDR-BY-NAME replies: [host, port] with a port in range, else none", () => {
    assert.deepStrictEqual(parseAddressReply(["10.0.0.1", "6379"]), { host: "10.0.0.1", port: 6379 })
    assert.isUndefined(parseAddressReply(null))
    assert.isUndefined(parseAddressReply(["10.0.0.1"]))
    assert.isUndefined(parseAddressReply(["", "6379"]))
    assert.isUndefined(parseAddressReply(["h", "0"]))
    assert.isUndefined(parseAddressReply(["h", "70000"]))
    assert.isUndefined(parseAddressReply(["h", "63a"]))
  })

  it("SENTINEL SENTINELS (RESP2 pairs or RESP3 maps): unknown, live sentinels join the end of the list once", () => {
    const sentinels = new Sentinels("m", [{ host: "127.0.0.1", port: 1 }], {})
    const learnt: Array<number> = []
    sentinels.onLearnt = (s) => learnt.push(s.port)
    sentinels.learn([
      ["ip", "127.0.0.1", "port", "2", "flags", "sentinel"],
      new Map([["ip", "127.0.0.1"], ["port", "3"], ["flags", "sentinel"]]),
      ["ip", "127.0.0.1", "port", "4", "flags", "s_down,sentinel"],
      ["ip", "127.0.0.1", "port", "1", "flags", "sentinel"],
      ["ip", "127.0.0.1", "port", "not a port"],
      "garbage"
    ])
    sentinels.learn([["ip", "127.0.0.1", "port", "2", "flags", "sentinel"]])
    sentinels.learn(null)
    assert.deepStrictEqual(sentinels.list.map((s) => s.port), [1, 2, 3])
    assert.deepStrictEqual(learnt, [2, 3])
  })

  it("a switch counts once however many sentinels announce it, and refuses the old address", () => {
    const state = new SwitchState()
    for (let i = 0; i < 3; i++) Effect.runSync(state.switched("h:1", "h:2"))
    assert.strictEqual(state.switches, 1)
    assert.strictEqual(state.master, "h:2")
    assert.isFalse(state.accept("h:1"))
    assert.isTrue(state.accept("h:2"))
    // A switch back lifts the refusal at once.
    Effect.runSync(state.switched("h:2", "h:1"))
    assert.strictEqual(state.switches, 2)
    assert.isTrue(state.accept("h:1"))
    assert.isFalse(state.accept("h:2"))
  })
})

describe("parseSentinelUrl (go-redis's ParseFailoverURL form)", () => {
  const parse = (url: string) => Effect.runSync(parseSentinelUrl(url))
  const error = (url: string) => Effect.runSync(Effect.flip(parseSentinelUrl(url)))

  it("the host is the first sentinel, each addr one more; master_name, db and the data nodes' credentials", () => {
    const o = parse(
      "redis://sentinel-user:s%40pw@10.0.0.1:26380/2?master_name=mymaster&addr=10.0.0.2:26379&addr=[::1]:26381" +
        "&username=app&password=data%26pw&pool_size=7&dial_timeout=300ms&read_from=replica"
    )
    assert.deepStrictEqual(o.sentinel.sentinels, [
      { host: "10.0.0.1", port: 26380 },
      { host: "10.0.0.2", port: 26379 },
      { host: "::1", port: 26381 }
    ])
    assert.strictEqual(o.sentinel.masterName, "mymaster")
    assert.strictEqual(o.sentinel.username, "sentinel-user")
    assert.strictEqual(Redacted.value(o.sentinel.password as Redacted.Redacted<string>), "s@pw")
    assert.strictEqual(o.service.db, 2)
    assert.strictEqual(o.service.username, "app")
    assert.strictEqual(Redacted.value(o.service.password as Redacted.Redacted<string>), "data&pw")
    assert.strictEqual(o.service.poolSize, 7)
    assert.strictEqual(Duration.toMillis(o.service.dialTimeout as Duration.Duration), 300)
    assert.strictEqual(o.service.readFrom, "replica")
    assert.strictEqual(o.service.tls, undefined)
  })

  it("the port defaults to 26379; rediss:// is TLS to the sentinels and the data nodes, each verified against its own host", () => {
    const o = parse("rediss://s1?master_name=m")
    assert.deepStrictEqual(o.sentinel.sentinels, [{ host: "s1", port: 26379 }])
    assert.strictEqual(o.sentinel.tls, true)
    assert.strictEqual(o.service.tls, true)
    assert.deepStrictEqual(parse("rediss://s1?master_name=m&skip_verify=true").service.tls, { rejectUnauthorized: false })
  })

  it("bad URLs fail with InvalidArgumentError naming the option", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["redis://s1:26379", "sentinel.masterName"],
      ["redis+sentinel://s1:26379/mymaster", "url"],
      ["redis://s1?master_name=m&addr=nohost", "sentinel.sentinels"],
      ["redis://s1?master_name=m&addr=h:99999", "sentinel.sentinels"],
      ["redis://s1?master_name=m&read_from=somewhere", "readFrom"],
      ["redis://s1/x?master_name=m", "db"],
      ["redis://s1?master_name=m&bogus=1", "bogus"]
    ]
    for (const [url, option] of cases) {
      const e = error(url)
      assert.strictEqual(e._tag, "InvalidArgumentError", url)
      assert.strictEqual(e.option, option, url)
      assert.match(e.message, /^invalid Sentinel URL: /)
    }
  })

  it("no error quotes a password, in the user info or in the query", () => {
    const secret = "Hunter2Secret"
    const urls = [
      `redis://u:${secret}#x@s1?master_name=m`,
      `redis://u:ab/${secret}@s1?master_name=m`,
      `redis://u:ab?${secret}@s1?master_name=m`,
      `redis://u:${secret}@s1:notaport?master_name=m`,
      `redis://s1?master_name=m&password=ab&${secret}`,
      `redis://s1?master_name=m&password=ab&pool_size=${secret}`,
      `redis://s1?master_name=m&password=%E0%A4%A&${secret}`
    ]
    for (const url of urls) {
      const e = error(url)
      assert.strictEqual(e._tag, "InvalidArgumentError", url)
      assert.notInclude(e.message, secret, url)
      assert.notInclude(String(e.option), secret, url)
    }
  })
})

describe("replica reads", () => {
  it("SENTINEL REPLICAS (RESP2 pairs or RESP3 maps): replicas down, disconnected or with their link down are left out", () => {
    const resp2 = [
      ["ip", "10.0.0.2", "port", "6380", "flags", "slave", "master-link-status", "ok"],
      ["ip", "10.0.0.3", "port", "6381", "flags", "s_down,slave", "master-link-status", "ok"],
      ["ip", "10.0.0.4", "port", "6382", "flags", "slave,disconnected"],
      ["ip", "10.0.0.5", "port", "6383", "flags", "slave", "master-link-status", "err"],
      ["ip", "10.0.0.6", "port", "6384", "flags", "o_down,slave"],
      ["ip", "10.0.0.7", "port", "6385", "flags", "slave"]
    ]
    assert.deepStrictEqual(parseReplicas(resp2), [{ host: "10.0.0.2", port: 6380 }, { host: "10.0.0.7", port: 6385 }])
    const resp3 = [new Map([["ip", "h"], ["port", "7000"], ["flags", "slave"], ["master-link-status", "ok"]])]
    assert.deepStrictEqual(parseReplicas(resp3), [{ host: "h", port: 7000 }])
    assert.deepStrictEqual(parseReplicas(null), [])
    assert.deepStrictEqual(parseReplicas([["ip", "h", "port", "0", "flags", "slave"]]), [])
  })

  it("reads of keys go to a replica; writes, scripts, blocking commands and questions about the server do not", () => {
    for (const name of ["GET", "MGET", "HGET", "HGETALL", "LRANGE", "SMEMBERS", "ZRANGE", "EXISTS", "TTL", "SCAN", "HSCAN", "SSCAN", "ZSCAN"]) {
      assert.isTrue(isReplicaRead(name), name)
    }
    for (const name of ["SET", "INCR", "DEL", "EVAL", "EVALSHA", "EVAL_RO", "FCALL_RO", "BLPOP", "XREAD", "MULTI", "INFO", "ROLE", "PING", "PUBSUB"]) {
      assert.isFalse(isReplicaRead(name), name)
    }
  })
})
