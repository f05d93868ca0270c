import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { crc16, keySlot, SLOT_COUNT } from "../../src/internal/clusterSlot.ts"
import * as RedisCluster from "../support/RedisCluster.ts"

/** The spec's definition, written the slow way: bitwise CRC over TextEncoder's bytes, tag found in the bytes. */
const referenceSlot = (key: string | Uint8Array): number => {
  const bytes = typeof key === "string" ? new TextEncoder().encode(key) : key
  let start = 0
  let end = bytes.length
  const open = bytes.indexOf(0x7b)
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) {
      start = open + 1
      end = close
    }
  }
  let crc = 0
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]! << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % SLOT_COUNT
}

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units))
const piece = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.string({ unit: "binary", maxLength: 8 }),
  codeUnits,
  fc.constantFrom("{", "}", "{}", "{{", "}}", "}{", "é", "😀", "\ud83d", "\ude00", "\u0000")
)
/** Keys where braces are likely, so hash tags, empty tags and nested braces come up often. */
const textKey = fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(""))
const bytesKey = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.array(fc.constantFrom(0x7b, 0x7d, 0x00, 0xff, 0xc3, 0x61), { maxLength: 12 }).map((bytes) => Uint8Array.from(bytes))
)

describe("clusterSlot", () => {
  it("matches the slots measured on redis-server 7.0", () => {
    const vectors: ReadonlyArray<readonly [string, number]> = [
      ["123456789", 12739],
      ["foo{bar}{zap}", 5061],
      ["foo{{bar}}zap", 4015],
      ["foo{}{bar}", 8363],
      ["hello", 866],
      ["foo", 12182],
      ["", 0]
    ]
    for (const [key, slot] of vectors) {
      assert.strictEqual(keySlot(key), slot, key)
      assert.strictEqual(keySlot(new TextEncoder().encode(key)), slot, `bytes of ${key}`)
    }
    assert.strictEqual(crc16(new TextEncoder().encode("123456789")), 0x31c3)
    assert.strictEqual(keySlot("{bar}"), keySlot("bar"))
    assert.strictEqual(keySlot("a{bar}b"), keySlot("bar"))
  })

  it("a string key hashes as its UTF-8 bytes, lone surrogates as U+FFFD", () => {
    fc.assert(
      fc.property(textKey, (key) => {
        assert.strictEqual(keySlot(key), referenceSlot(key))
        assert.strictEqual(keySlot(key), keySlot(new TextEncoder().encode(key)))
      }),
      { numRuns: 2000 }
    )
    assert.strictEqual(keySlot("\ud800"), keySlot("\ufffd"))
    assert.strictEqual(keySlot("{\ud83d}x"), keySlot("\ufffd"))
  })

  it("a byte key hashes as it is", () => {
    fc.assert(fc.property(bytesKey, (key) => assert.strictEqual(keySlot(key), referenceSlot(key))), { numRuns: 2000 })
  })

  it("slots are in range", () => {
    fc.assert(fc.property(fc.oneof(textKey, bytesKey), (key) => {
      const slot = keySlot(key)
      return Number.isInteger(slot) && slot >= 0 && slot < SLOT_COUNT
    }))
  })
})

layer(RedisCluster.layer({ masters: 1, replicasPerMaster: 0 }))("clusterSlot against CLUSTER KEYSLOT", (it) => {
  it.effect("random keys (UTF-8, lone surrogates, bytes, hash-tag edge cases) get the slot the server computes", () =>
    Effect.gen(function*() {
      const cluster = yield* RedisCluster.RedisCluster
      const node = cluster.all[0]!
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(fc.oneof(textKey, bytesKey), { minLength: 1, maxLength: 50 }), async (keys) => {
            const replies = await Effect.runPromise(cluster.sendBatch(node, keys.map((key) => ["CLUSTER", "KEYSLOT", key])))
            assert.deepStrictEqual(keys.map(keySlot), replies)
          }),
          { numRuns: 40 }
        )
      )
    }))
})
