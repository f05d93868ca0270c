import { assert, describe, it } from "@effect/vitest"
import { unreachable } from "../../src/internal/poolEntry.ts"

describe("unreachable", () => {
  it("throws, naming the state no branch handled", () => {
    assert.throws(() => unreachable("lost" as never), "unhandled state lost")
  })
})
