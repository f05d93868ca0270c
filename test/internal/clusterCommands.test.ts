import { assert, describe, it } from "vitest"
import * as Exit from "effect/Exit"
import { RedisReplyError } from "../../src/Errors.ts"
import type { Reply } from "../../src/Resp.ts"
import { lookup, readCommandTable, slotWith, spreadWith } from "../../src/internal/clusterCommands.ts"
import { keySlot } from "../../src/internal/clusterSlot.ts"

/** One `COMMAND` entry as the server sends it: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands. */
const entry = (name: string, flags: Array<string>, keys: [number, number, number], tips: Array<string>, subcommands: Array<Reply> = []): Reply =>
  [name, -1, flags, keys[0], keys[1], keys[2], [], tips, [], subcommands]

const table = readCommandTable([
  entry("pfdebug", ["write", "admin"], [2, 2, 1], []),
  entry("newmulti", ["write"], [1, -1, 2], []),
  entry("movable", ["write", "movablekeys"], [0, 0, 0], []),
  entry("get", ["readonly"], [1, 1, 1], []),
  entry("tally", ["readonly"], [0, 0, 0], ["request_policy:all_shards", "response_policy:agg_sum"]),
  entry("low", ["readonly"], [0, 0, 0], ["request_policy:all_shards", "response_policy:agg_min"]),
  entry("high", ["readonly"], [0, 0, 0], ["request_policy:all_shards", "response_policy:agg_max"]),
  entry("every", ["readonly"], [0, 0, 0], ["request_policy:all_nodes", "response_policy:agg_logical_and"]),
  entry("any", ["readonly"], [0, 0, 0], ["request_policy:all_shards", "response_policy:agg_logical_or"]),
  entry("listing", ["readonly"], [0, 0, 0], ["request_policy:all_shards"]),
  entry("odd", ["readonly"], [0, 0, 0], ["request_policy:all_shards", "response_policy:special"]),
  entry("ping", ["fast"], [0, 0, 0], ["request_policy:all_shards", "response_policy:all_succeeded"]),
  entry("function", [], [0, 0, 0], [], [
    entry("function|kill", [], [0, 0, 0], ["request_policy:all_shards", "response_policy:one_succeeded"]),
    entry("function|load", [], [0, 0, 0], ["request_policy:all_shards", "response_policy:all_succeeded"])
  ]),
  "not an entry",
  [42]
])

const ok = (reply: Reply) => Exit.succeed(reply)
const refused = (message: string) => Exit.fail(new RedisReplyError({ code: "ERR", message }))

describe("the server's command table", () => {
  it("reads names in upper case, subcommands as NAME|SUB, flags, key ranges and policies; skips what it cannot read", () => {
    assert.deepStrictEqual(lookup(table, "PFDEBUG", ["PFDEBUG", "GETREG", "k"]), {
      first: 2, last: 2, step: 1, movable: false, request: undefined, response: undefined
    })
    assert.strictEqual(lookup(table, "FUNCTION", ["FUNCTION", "load", "code"])?.response, "all_succeeded")
    assert.strictEqual(lookup(table, "FUNCTION", ["FUNCTION", "KILL"])?.response, "one_succeeded")
    assert.strictEqual(lookup(table, "FUNCTION", ["FUNCTION", "NOPE"])?.request, undefined)
    assert.isTrue(lookup(table, "MOVABLE", ["MOVABLE"])?.movable)
    assert.strictEqual(table.size, 15)
  })

  it("routes a command the hand-written table does not know by the server's key positions; the hand-written table first", () => {
    assert.strictEqual(slotWith(table, "PFDEBUG", ["PFDEBUG", "GETREG", "a"]), keySlot("a"))
    assert.strictEqual(slotWith(undefined, "PFDEBUG", ["PFDEBUG", "GETREG", "a"]), -1)
    assert.strictEqual(slotWith(table, "NEWMULTI", ["NEWMULTI", "{t}a", "1", "{t}b", "2"]), keySlot("t"))
    assert.strictEqual(slotWith(table, "NEWMULTI", ["NEWMULTI", "a", "1", "b", "2"]), -2)
    // Keys only the server can find: keyless here (MOVED brings it to the owner).
    assert.strictEqual(slotWith(table, "MOVABLE", ["MOVABLE", "x"]), -1)
    assert.strictEqual(slotWith(table, "GET", ["GET", "k"]), keySlot("k"))
    assert.strictEqual(slotWith(table, "UNKNOWN", ["UNKNOWN", "k"]), -1)
  })

  it("spreads keyless commands by their tips and merges the replies by the response policy", () => {
    const combine = (name: string, exits: Array<Exit.Exit<Reply, RedisReplyError>>, args: Array<Reply> = [name]) =>
      spreadWith(table, name, args as never)!.combine(exits)
    assert.deepStrictEqual(combine("TALLY", [ok(2), ok(3), ok(5)]), ok(10))
    assert.deepStrictEqual(combine("TALLY", [ok([1, 2]), ok([3, 4])]), ok([4, 6]))
    assert.deepStrictEqual(combine("LOW", [ok(7), ok(3), ok(5)]), ok(3))
    assert.deepStrictEqual(combine("HIGH", [ok(7), ok(3), ok(5)]), ok(7))
    assert.deepStrictEqual(combine("EVERY", [ok([1, 1, 0]), ok([1, 0, 0])]), ok([1, 0, 0]))
    assert.deepStrictEqual(combine("ANY", [ok(0), ok(1)]), ok(1))
    assert.deepStrictEqual(combine("ANY", [ok(0), ok(0)]), ok(0))
    assert.deepStrictEqual(combine("LISTING", [ok(["a"]), ok(["b", "c"])]), ok(["a", "b", "c"]))
    assert.deepStrictEqual(combine("FUNCTION", [ok("lib"), ok("lib")], ["FUNCTION", "LOAD", "code"]), ok("lib"))
    // all_succeeded and the aggregates fail with the first failure; one_succeeded takes the first success.
    const failed = combine("FUNCTION", [ok("lib"), refused("ERR no")], ["FUNCTION", "LOAD", "code"])
    assert.isTrue(Exit.isFailure(failed))
    assert.isTrue(Exit.isFailure(combine("TALLY", [refused("ERR a"), ok(1)])))
    assert.deepStrictEqual(combine("FUNCTION", [refused("NOTBUSY"), ok("OK"), refused("NOTBUSY")], ["FUNCTION", "KILL"]), ok("OK"))
    const none = combine("FUNCTION", [refused("NOTBUSY 1"), refused("NOTBUSY 2")], ["FUNCTION", "KILL"])
    assert.include(String((none as Exit.Failure<Reply, RedisReplyError>).cause), "NOTBUSY 1")
    assert.strictEqual(spreadWith(table, "EVERY", ["EVERY"])!.nodes, "all")
    assert.strictEqual(spreadWith(table, "TALLY", ["TALLY"])!.nodes, "masters")
  })

  it("sends to one node: a special response, PING, commands without a fan-out tip, and anything before the table is in", () => {
    assert.isUndefined(spreadWith(table, "ODD", ["ODD"]))
    assert.isUndefined(spreadWith(table, "PING", ["PING"]))
    assert.isUndefined(spreadWith(table, "GET", ["GET", "k"]))
    assert.isUndefined(spreadWith(table, "FUNCTION", ["FUNCTION", "LIST"]))
    assert.isUndefined(spreadWith(undefined, "TALLY", ["TALLY"]))
  })
})
