import { assert, describe, it } from "@effect/vitest"
import { restoreCommand } from "../../src/internal/connRestore.ts"

const bytes = (text: string) => new TextEncoder().encode(text)

describe("restoreCommand: what a blocking pop answered for nobody is pushed back, and nothing else", () => {
  it("every pop that takes elements, by the command's own name in any case or as bytes", () => {
    assert.deepStrictEqual(restoreCommand(["BLPOP", "a", 1], ["a", "x"]), ["LPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["blpop", "a", 1], ["a", "x"]), ["LPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand([bytes("BLPOP"), "a", 1], ["a", "x"]), ["LPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["BRPOP", "a", 1], ["a", "x"]), ["RPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["BZPOPMIN", "z", 1], ["z", "m", "1.5"]), ["ZADD", "z", "1.5", "m"])
    assert.deepStrictEqual(restoreCommand(["BZPOPMAX", "z", 1], ["z", "m", 2]), ["ZADD", "z", 2, "m"])
    assert.deepStrictEqual(restoreCommand(["bzpopmax", "z", 1], ["z", "m", 2]), ["ZADD", "z", 2, "m"])
  })

  it("elements and scores of every Arg kind: strings, numbers, big integers, bytes", () => {
    const member = bytes("m")
    assert.deepStrictEqual(restoreCommand(["BZPOPMIN", "z", 1], ["z", member, 12345678901234567890n]), [
      "ZADD",
      "z",
      12345678901234567890n,
      member
    ])
    assert.deepStrictEqual(restoreCommand(["BLPOP", "a", 1], ["a", 7n]), ["LPUSH", "a", 7n])
    assert.deepStrictEqual(restoreCommand(["BLPOP", "a", 1], [bytes("a"), bytes("x")]), ["LPUSH", bytes("a"), bytes("x")])
  })

  it("BLMPOP: the direction after the keys, numkeys as text, number or big integer", () => {
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, "1", "a", "left"], ["a", ["x"]]), ["LPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, 2, "a", "b", "RIGHT", "COUNT", 2], ["b", ["x", "y"]]), ["RPUSH", "b", "y", "x"])
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, 1n, "a", "LEFT"], ["a", ["x"]]), ["LPUSH", "a", "x"])
    assert.deepStrictEqual(restoreCommand(["BLMPOP", 1, bytes("1"), "a", bytes("RIGHT")], ["a", ["x"]]), ["RPUSH", "a", "x"])
    // numkeys that is not a positive integer, a direction missing or unknown: nothing is guessed.
    for (const numkeys of ["0", "-1", "1.5", "x", 0]) {
      assert.isUndefined(restoreCommand(["BLMPOP", 1, numkeys, "a", "LEFT"], ["a", ["x"]]), `numkeys ${String(numkeys)}`)
    }
    assert.isUndefined(restoreCommand(["BLMPOP", 1, "0", "LEFT"], ["a", ["x"]]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 2, "a", "b"], ["a", ["x"]]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a", "UP"], ["a", ["x"]]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a"], ["a", ["x"]]))
    // Elements that are not a non-empty list of values.
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a", "LEFT"], ["a", "x"]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a", "LEFT"], ["a", []]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a", "LEFT"], ["a", ["x", ["y"]]]))
    assert.isUndefined(restoreCommand(["BLMPOP", 1, 1, "a", "LEFT"], ["a", [null]]))
  })

  it("BZMPOP: RESP3 pairs and RESP2 flat lists; anything else is not guessed", () => {
    assert.deepStrictEqual(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", [["m", 1]]]), ["ZADD", "z", 1, "m"])
    assert.deepStrictEqual(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", ["m", "1", "n", "2"]]), ["ZADD", "z", "1", "m", "2", "n"])
    // A flat list of odd length: its last, unpaired member is left out.
    assert.deepStrictEqual(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", ["m", "1", "n"]]), ["ZADD", "z", "1", "m"])
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", ["m"]]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", []]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", "m"]))
    // Pairs that are not pairs of values, or a mix of pairs and values.
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", [["m"]]]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", [[["m"], 1]]]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", [["m", [1]]]]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", [["m", 1], "n"]]))
    assert.isUndefined(restoreCommand(["BZMPOP", 1, 1, "z", "MIN"], ["z", ["n", ["m", 1]]]))
  })

  it("nothing for a reply that is not [key, popped], a key that is not a value, or a command that pops nothing back", () => {
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], null))
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], "ax"))
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], ["a"]))
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], [["a"], "x"]))
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], [null, "x"]))
    assert.isUndefined(restoreCommand(["BLPOP", "a", 1], ["a", ["x"]]))
    assert.isUndefined(restoreCommand(["BRPOP", "a", 1], ["a", null]))
    assert.isUndefined(restoreCommand(["BZPOPMIN", "z", 1], ["z", "m", ["1"]]))
    assert.isUndefined(restoreCommand(["BZPOPMAX", "z", 1], ["z", ["m"], "1"]))
    assert.isUndefined(restoreCommand(["BZPOPMAX", "z", 1], ["z", "m"]))
    assert.isUndefined(restoreCommand([], ["a", "x"]))
    assert.isUndefined(restoreCommand(["XREAD", "BLOCK", 0, "STREAMS", "s", "$"], ["s", "x"]))
    assert.isUndefined(restoreCommand(["BLMOVE", "a", "b", "LEFT", "RIGHT", 1], ["a", "x"]))
    assert.isUndefined(restoreCommand(["WAIT", 1, 100], [1, 2]))
  })
})
