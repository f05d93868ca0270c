import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { commandKeys, commandSlot, commandsSlot, keysSlot } from "../../src/internal/clusterKeys.ts"
import { keySlot } from "../../src/internal/clusterSlot.ts"
import { commandName } from "../../src/internal/commandTraits.ts"
import { RedisReplyError } from "../../src/Errors.ts"
import type * as Resp from "../../src/Resp.ts"
import * as RedisServer from "../support/RedisServer.ts"
import { request } from "../support/request.ts"

/** One command of each shape the table knows, with keys k1, k2, ... where it has them. */
const samples: ReadonlyArray<ReadonlyArray<Resp.Arg>> = [
  ["GET", "k1"],
  ["set", "k1", "v", "EX", 10],
  ["HSET", "k1", "f", "v"],
  ["ZADD", "k1", 1, "m"],
  ["XADD", "k1", "*", "f", "v"],
  ["MGET", "k1", "k2", "k3"],
  ["DEL", "k1", "k2"],
  ["EXISTS", "k1", "k2"],
  ["MSET", "k1", "v1", "k2", "v2"],
  ["MSETNX", "k1", "v1", "k2", "v2"],
  ["RENAME", "k1", "k2"],
  ["LMOVE", "k1", "k2", "LEFT", "RIGHT"],
  ["BLPOP", "k1", "k2", 0],
  ["BZPOPMIN", "k1", 0],
  ["BITOP", "AND", "k1", "k2", "k3"],
  ["OBJECT", "ENCODING", "k1"],
  ["MEMORY", "USAGE", "k1"],
  ["XINFO", "STREAM", "k1"],
  ["XGROUP", "CREATE", "k1", "g", "$"],
  ["EVAL", "return 1", 2, "k1", "k2", "a1"],
  ["EVALSHA", "a".repeat(40), 0, "a1"],
  ["FCALL", "f", 1, "k1", "a1"],
  ["ZUNION", 2, "k1", "k2"],
  ["ZINTERCARD", 2, "k1", "k2", "LIMIT", 1],
  ["SINTERCARD", 1, "k1"],
  ["LMPOP", 2, "k1", "k2", "LEFT"],
  ["BLMPOP", 0, 1, "k1", "LEFT"],
  ["BZMPOP", 0, 2, "k1", "k2", "MIN"],
  ["ZUNIONSTORE", "k1", 2, "k2", "k3"],
  ["ZDIFFSTORE", "k1", 1, "k2"],
  ["XREAD", "COUNT", 1, "STREAMS", "k1", "k2", "0", "0"],
  ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k1", ">"],
  ["SORT", "k1", "LIMIT", 0, 1, "STORE", "k2"],
  ["GEORADIUS", "k1", 0, 0, 1, "km", "STORE", "k2"],
  ["GEORADIUSBYMEMBER", "k1", "m", 1, "km", "STOREDIST", "k2"],
  ["PFMERGE", "k1", "k2"],
  ["COPY", "k1", "k2"],
  ["PING"],
  ["INFO", "server"],
  ["DBSIZE"],
  ["PUBLISH", "channel", "message"]
]

describe("clusterKeys", () => {
  it("keys of a command hash to one slot, to -1 without keys, to -2 across slots", () => {
    assert.strictEqual(commandSlot("GET", ["GET", "hello"]), keySlot("hello"))
    assert.strictEqual(commandSlot("PING", ["PING"]), -1)
    assert.strictEqual(commandSlot("MGET", ["MGET", "a", "b"]), -2)
    assert.strictEqual(commandSlot("MGET", ["MGET", "{a}1", "{a}2"]), keySlot("a"))
    assert.strictEqual(keysSlot([]), -1)
    assert.strictEqual(commandsSlot([["PING"], ["SET", "{t}a", 1], ["GET", "{t}b"]], commandName), keySlot("t"))
    assert.strictEqual(commandsSlot([["SET", "a", 1], ["GET", "b"]], commandName), -2)
    // Byte and number keys hash like their text.
    assert.strictEqual(commandSlot("GET", ["GET", new TextEncoder().encode("hello")]), keySlot("hello"))
    assert.strictEqual(commandSlot("GET", ["GET", 12]), keySlot("12"))
    // A numkeys that is not a count gives no keys rather than a throw.
    assert.deepStrictEqual(commandKeys("EVAL", ["EVAL", "s", "x", "k"]), [])
    // A shard channel is routed like a key (the server has it as a channel, not a key).
    assert.strictEqual(commandSlot("SPUBLISH", ["SPUBLISH", "news", "hi"]), keySlot("news"))
  })
})

layer(RedisServer.layer())("clusterKeys against COMMAND GETKEYS", (it) => {
  it.effect("every sample's keys are the ones the server finds", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const replies = yield* Effect.promise(() => request(server.port, samples.map((args) => ["COMMAND", "GETKEYS", ...args])))
      let compared = 0
      const wrong: Array<string> = []
      for (let i = 0; i < samples.length; i++) {
        const args = samples[i]!
        const reply = replies[i]
        const ours = commandKeys(commandName(args), args).map(String)
        if (reply instanceof RedisReplyError) {
          // Keyless commands; commands this server version lacks are skipped.
          if (reply.message.includes("Invalid command")) continue
          if (ours.length > 0) wrong.push(`${args.join(" ")}: ours ${ours}, server: ${reply.message}`)
        } else if (JSON.stringify(ours) !== JSON.stringify(reply)) {
          wrong.push(`${args.join(" ")}: ours ${ours}, server ${JSON.stringify(reply)}`)
        }
        compared++
      }
      assert.deepStrictEqual(wrong, [])
      assert.isAtLeast(compared, samples.length - 2)
    }))
})
