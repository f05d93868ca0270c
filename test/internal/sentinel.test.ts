import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { parseAddressReply, Sentinels } from "../../src/internal/sentinelDiscovery.ts"
import { SwitchState } from "../../src/internal/sentinelState.ts"
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
