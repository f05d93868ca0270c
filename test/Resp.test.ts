import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { constants as bufferConstants } from "node:buffer"
import * as net from "node:net"
import { InvalidArgumentError, ProtocolError, RedisReplyError } from "../src/Errors.ts"
import { RespWriter } from "../src/internal/respWriter.ts"
import { type Arg, Decoder, type DecoderOptions, encodeCommand, type Reply } from "../src/Resp.ts"
import * as RedisServer from "./support/RedisServer.ts"

// ---------------------------------------------------------------------------
// helpers

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"))

interface Decoded {
  readonly replies: Array<Reply>
  readonly pushes: Array<ReadonlyArray<Reply>>
  readonly attributes: Array<ReadonlyMap<Reply, Reply>>
}

const collector = (options: Partial<DecoderOptions> = {}) => {
  const out: Decoded = { replies: [], pushes: [], attributes: [] }
  const decoder = new Decoder({
    ...options,
    onReply: (reply) => out.replies.push(reply),
    onPush: (push) => out.pushes.push(push),
    onAttribute: (attributes) => out.attributes.push(attributes)
  })
  return { decoder, out }
}

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, options: Partial<DecoderOptions> = {}): Decoded => {
  const { decoder, out } = collector(options)
  for (const chunk of chunks) decoder.write(chunk)
  return out
}

const decodeOne = (text: string | Uint8Array, options: Partial<DecoderOptions> = {}): Reply => {
  const out = decodeChunks([typeof text === "string" ? bytes(text) : text], options)
  expect(out.replies).toHaveLength(1)
  return out.replies[0]!
}

// Error values become plain objects so that deep equality looks at code and message.
const plain = (value: unknown): unknown => {
  if (value instanceof RedisReplyError) return { error: value.code, message: value.message }
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString("hex") }
  if (Array.isArray(value)) return value.map(plain)
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [plain(k), plain(v)]))
  if (value instanceof Set) return new Set([...value].map(plain))
  return value
}

const plainDecoded = (d: Decoded) => ({
  replies: plain(d.replies),
  pushes: plain(d.pushes),
  attributes: plain(d.attributes)
})

const splitAt = (data: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const p of points) {
    chunks.push(data.subarray(from, p))
    from = p
  }
  chunks.push(data.subarray(from))
  return chunks
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

const expectProtocolError = (f: () => void, reason?: "malformed" | "limit"): ProtocolError => {
  let caught: unknown
  try {
    f()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ProtocolError)
  if (reason !== undefined) expect((caught as ProtocolError).reason).toBe(reason)
  return caught as ProtocolError
}

// ---------------------------------------------------------------------------
// every type

describe("Decoder: every type", () => {
  it("decodes RESP2 simple strings, errors, integers, bulk strings and arrays", () => {
    expect(decodeOne("+OK\r\n")).toBe("OK")
    expect(decodeOne("+\r\n")).toBe("")
    expect(plain(decodeOne("-ERR unknown command 'FOO'\r\n"))).toEqual({
      error: "ERR",
      message: "ERR unknown command 'FOO'"
    })
    expect(plain(decodeOne("-WRONGTYPE Operation against a key\r\n"))).toEqual({
      error: "WRONGTYPE",
      message: "WRONGTYPE Operation against a key"
    })
    expect(decodeOne(":0\r\n")).toBe(0)
    expect(decodeOne(":1000\r\n")).toBe(1000)
    expect(decodeOne(":-42\r\n")).toBe(-42)
    expect(decodeOne(":+7\r\n")).toBe(7)
    expect(decodeOne(":9007199254740991\r\n")).toBe(9007199254740991)
    expect(decodeOne(":-9007199254740991\r\n")).toBe(-9007199254740991)
    expect(decodeOne(":9007199254740992\r\n")).toBe(9007199254740992n)
    expect(decodeOne(":-9223372036854775808\r\n")).toBe(-9223372036854775808n)
    expect(decodeOne(":9223372036854775807\r\n")).toBe(9223372036854775807n)
    expect(decodeOne("$5\r\nhello\r\n")).toBe("hello")
    expect(decodeOne("$0\r\n\r\n")).toBe("")
    expect(decodeOne("$4\r\na\r\nb\r\n")).toBe("a\r\nb")
    expect(decodeOne("$-1\r\n")).toBe(null)
    expect(decodeOne("*-1\r\n")).toBe(null)
    expect(decodeOne("*0\r\n")).toEqual([])
    expect(decodeOne("*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n")).toEqual([1, "x", ["y"]])
  })

  it("decodes UTF-8 text of every length, ASCII or not", () => {
    for (const text of ["é", "日本語", "a".repeat(8), "b".repeat(9), "ü".repeat(20), "x".repeat(100), "🙂 ok"]) {
      const encoded = Buffer.from(text, "utf8")
      expect(decodeOne(`$${encoded.length}\r\n${text}\r\n`)).toBe(text)
      expect(decodeOne(`+${text}\r\n`)).toBe(text)
    }
  })

  it("decodes long ASCII and non-ASCII strings mixed in one chunk, also from a reused buffer", () => {
    const ascii = "a".repeat(100)
    const other = "é".repeat(50)
    const reply = (t: string) => `$${Buffer.byteLength(t)}\r\n${t}\r\n`
    const orders = [[ascii, other, ascii], [other, ascii, other], [ascii, ascii, other]]
    for (const order of orders) {
      expect(decodeChunks([bytes(order.map(reply).join(""))]).replies).toEqual(order)
    }
    const { decoder, out } = collector()
    const reused = Buffer.alloc(Buffer.byteLength(reply(other)))
    expect(reused.write(reply(ascii))).toBe(reused.length)
    decoder.write(reused)
    expect(reused.write(reply(other))).toBe(reused.length)
    decoder.write(reused)
    expect(out.replies).toEqual([ascii, other])
  })

  it("decodes RESP3 null, booleans, doubles, big numbers, verbatim strings and blob errors", () => {
    expect(decodeOne("_\r\n")).toBe(null)
    expect(decodeOne("#t\r\n")).toBe(true)
    expect(decodeOne("#f\r\n")).toBe(false)
    expect(decodeOne(",3.14\r\n")).toBe(3.14)
    expect(decodeOne(",-2\r\n")).toBe(-2)
    expect(decodeOne(",1.5e10\r\n")).toBe(1.5e10)
    expect(decodeOne(",1e-300\r\n")).toBe(1e-300)
    expect(decodeOne(",inf\r\n")).toBe(Infinity)
    expect(decodeOne(",-inf\r\n")).toBe(-Infinity)
    expect(decodeOne(",nan\r\n")).toBeNaN()
    expect(decodeOne("(3492890328409238509324850943850943825024385\r\n")).toBe(
      3492890328409238509324850943850943825024385n
    )
    expect(decodeOne("(-12\r\n")).toBe(-12n)
    expect(decodeOne("=15\r\ntxt:Some string\r\n")).toBe("Some string")
    expect(decodeOne("=4\r\nmkd:\r\n")).toBe("")
    expect(plain(decodeOne("!21\r\nSYNTAX invalid syntax\r\n"))).toEqual({
      error: "SYNTAX",
      message: "SYNTAX invalid syntax"
    })
  })

  it("decodes maps, sets and nested aggregates", () => {
    expect(decodeOne("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n")).toEqual(new Map<Reply, Reply>([["first", 1], ["second", 2]]))
    expect(decodeOne("~3\r\n+a\r\n+b\r\n+a\r\n")).toEqual(new Set(["a", "b"]))
    expect(decodeOne("%0\r\n")).toEqual(new Map())
    expect(decodeOne("~0\r\n")).toEqual(new Set())
    expect(decodeOne("*2\r\n%1\r\n+k\r\n~1\r\n:1\r\n*0\r\n")).toEqual([new Map<Reply, Reply>([["k", new Set([1])]]), []])
    expect(plain(decodeOne("*2\r\n+QUEUED\r\n-ERR nope\r\n"))).toEqual(["QUEUED", { error: "ERR", message: "ERR nope" }])
  })

  it("sends push frames to onPush and never to onReply, in order with replies", () => {
    const out = decodeChunks([bytes(">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n+OK\r\n>0\r\n:5\r\n")])
    expect(out.replies).toEqual(["OK", 5])
    expect(out.pushes).toEqual([["message", "chan", "hi"], []])
  })

  it("drops push frames without onPush", () => {
    const replies: Array<Reply> = []
    const decoder = new Decoder({ onReply: (r) => replies.push(r) })
    decoder.write(bytes(">2\r\n+message\r\n+x\r\n+OK\r\n"))
    expect(replies).toEqual(["OK"])
  })

  it("consumes attributes without disturbing the replies, at the top and inside aggregates", () => {
    const out = decodeChunks([
      bytes("|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.19\r\n$5\r\nvalue\r\n*2\r\n:1\r\n|1\r\n+ttl\r\n:3\r\n:2\r\n|0\r\n+done\r\n")
    ])
    expect(out.replies).toEqual(["value", [1, 2], "done"])
    expect(out.attributes).toEqual([
      new Map<Reply, Reply>([["key-popularity", ["a", 0.19]]]),
      new Map<Reply, Reply>([["ttl", 3]]),
      new Map()
    ])
    const replies: Array<Reply> = []
    new Decoder({ onReply: (r) => replies.push(r) }).write(bytes("|1\r\n+a\r\n+b\r\n+c\r\n"))
    expect(replies).toEqual(["c"])
  })

  it("gives bytes instead of strings with bytes: true", () => {
    const options = { bytes: true }
    expect(decodeOne("+OK\r\n", options)).toEqual(bytes("OK"))
    expect(decodeOne("=7\r\ntxt:\x00\xff\r\n", options)).toEqual(new Uint8Array([0, 0xc3, 0xbf]))
    const binary = new Uint8Array(256).map((_, i) => i)
    const reply = decodeOne(concat([bytes("$256\r\n"), binary, bytes("\r\n")]), options)
    expect(reply).toBeInstanceOf(Uint8Array)
    expect(reply).toEqual(binary)
    expect(decodeOne(":5\r\n", options)).toBe(5)
    expect(plain(decodeOne("-ERR x\r\n", options))).toEqual({ error: "ERR", message: "ERR x" })
  })

  it("does not let a reply share memory with the chunk it came in", () => {
    const chunk = bytes("$3\r\nabc\r\n")
    const reply = decodeOne(chunk, { bytes: true }) as Uint8Array
    chunk.fill(0)
    expect(reply).toEqual(bytes("abc"))
  })
})

// ---------------------------------------------------------------------------
// chunking

const mixedCorpus = [
  "+OK\r\n",
  "-ERR something bad\r\n",
  ":123456\r\n",
  ":-9223372036854775808\r\n",
  "$11\r\nhello world\r\n",
  "$-1\r\n",
  "$0\r\n\r\n",
  "$17\r\nstr\r\nwith\r\nCRLF\r\n\r\n",
  "*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n",
  "*-1\r\n",
  "*0\r\n",
  "_\r\n",
  "#t\r\n",
  "#f\r\n",
  ",1.25\r\n",
  ",-inf\r\n",
  "(123456789012345678901234567890\r\n",
  "=10\r\ntxt:héllo\r\n",
  "!10\r\nERR blob e\r\n",
  "%2\r\n+k1\r\n:1\r\n$2\r\nk2\r\n~2\r\n:1\r\n:2\r\n",
  ">2\r\n+pubsub\r\n+msg\r\n",
  "|1\r\n+ttl\r\n:10\r\n+after attribute\r\n",
  `$${Buffer.byteLength("日本語テキスト")}\r\n日本語テキスト\r\n`,
  "$300\r\n" + "z".repeat(300) + "\r\n"
].join("")

/** What the corpus means, written by hand from the RESP spec (not taken from the decoder). */
const mixedCorpusMeaning: Decoded = {
  replies: [
    "OK",
    new RedisReplyError({ code: "ERR", message: "ERR something bad" }),
    123456,
    -9223372036854775808n,
    "hello world",
    null,
    "",
    "str\r\nwith\r\nCRLF\r\n",
    ["foo", 1, ["a", null]],
    null,
    [],
    null,
    true,
    false,
    1.25,
    -Infinity,
    123456789012345678901234567890n,
    "héllo",
    new RedisReplyError({ code: "ERR", message: "ERR blob e" }),
    new Map<Reply, Reply>([["k1", 1], ["k2", new Set([1, 2])]]),
    "after attribute",
    "日本語テキスト",
    "z".repeat(300)
  ],
  pushes: [["pubsub", "msg"]],
  attributes: [new Map([["ttl", 10]])]
}

describe("Decoder: chunking", () => {
  const corpus = bytes(mixedCorpus)
  const whole = plainDecoded(mixedCorpusMeaning)

  it("decodes the mixed corpus in one chunk", () => {
    expect(plainDecoded(decodeChunks([corpus]))).toEqual(whole)
  })

  it("gives the same replies when the corpus is split at any byte boundary", () => {
    for (let i = 0; i <= corpus.length; i++) {
      expect(plainDecoded(decodeChunks([corpus.subarray(0, i), corpus.subarray(i)]))).toEqual(whole)
    }
  })

  it("gives the same replies when split at any two boundaries", () => {
    for (let i = 0; i <= corpus.length; i += 3) {
      for (let j = i; j <= corpus.length; j += 7) {
        const chunks = [corpus.subarray(0, i), corpus.subarray(i, j), corpus.subarray(j)]
        expect(plainDecoded(decodeChunks(chunks))).toEqual(whole)
      }
    }
  })

  it("gives the same replies one byte at a time, also for copies that are not Buffers", () => {
    const chunks = Array.from(corpus, (b) => Uint8Array.of(b))
    expect(plainDecoded(decodeChunks(chunks))).toEqual(whole)
  })

  it("decodes many replies of one chunk and each reply once", () => {
    const repeated = concat(Array.from({ length: 50 }, () => corpus))
    const out = plainDecoded(decodeChunks([repeated]))
    expect((out.replies as Array<unknown>)).toHaveLength(23 * 50)
    expect((out.replies as Array<unknown>).slice(23 * 49)).toEqual(whole.replies)
  })

  it("assembles a long line and a bulk larger than 64 KB arriving one byte at a time", () => {
    const line = "l".repeat(100_000)
    const payload = "b".repeat(200_000)
    const data = bytes(`+${line}\r\n$${payload.length}\r\n${payload}\r\n:1\r\n`)
    const { decoder, out } = collector()
    for (let i = 0; i < data.length; i++) decoder.write(data.subarray(i, i + 1))
    expect(out.replies).toEqual([line, payload, 1])
  })

  it("assembles a large bulk string arriving in many small chunks", () => {
    const payload = Buffer.alloc(3_000_000, "q")
    const data = concat([bytes(`$${payload.length}\r\n`), payload, bytes("\r\n+next\r\n")])
    const chunks: Array<Uint8Array> = []
    for (let i = 0; i < data.length; i += 1000) chunks.push(data.subarray(i, i + 1000))
    const out = decodeChunks(chunks)
    expect(out.replies).toHaveLength(2)
    expect((out.replies[0] as string).length).toBe(payload.length)
    expect(out.replies[1]).toBe("next")
  })
})

// ---------------------------------------------------------------------------
// round trips with fast-check

interface Node {
  readonly enc: Uint8Array
  readonly exp: unknown
}

const node = (enc: string | Uint8Array | ReadonlyArray<Uint8Array>, exp: unknown): Node => ({
  enc: typeof enc === "string" ? bytes(enc) : enc instanceof Uint8Array ? enc : concat(enc),
  exp
})

const lineText = fc.string({ unit: "grapheme", maxLength: 12 }).filter((s) => !/[\r\n]/.test(s))
const anyText = fc.string({ unit: "grapheme", maxLength: 40 })
const bulk = (text: string) => node(`$${Buffer.byteLength(text)}\r\n${text}\r\n`, text)
const errorCode = fc.constantFrom("ERR", "WRONGTYPE", "MOVED", "NOSCRIPT", "LOADING")

const leaf: fc.Arbitrary<Node> = fc.oneof(
  lineText.map((s) => node(`+${s}\r\n`, s)),
  anyText.map(bulk),
  fc.constant(node("$-1\r\n", null)),
  fc.constant(node("_\r\n", null)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) =>
    node(`:${n}\r\n`, n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n)
  ),
  fc.integer({ min: -1000, max: 100000 }).map((n) => node(`:${n}\r\n`, n)),
  fc.double({ noDefaultInfinity: false }).filter((d) => !Object.is(d, -0)).map((d) =>
    node(`,${Number.isNaN(d) ? "nan" : d === Infinity ? "inf" : d === -Infinity ? "-inf" : String(d)}\r\n`, d)
  ),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((n) => node(`(${n}\r\n`, n)),
  fc.boolean().map((b) => node(b ? "#t\r\n" : "#f\r\n", b)),
  anyText.map((s) => node(`=${Buffer.byteLength(s) + 4}\r\ntxt:${s}\r\n`, s)),
  fc.tuple(errorCode, lineText).map(([code, s]) =>
    node(`-${code} ${s}\r\n`, { error: code, message: `${code} ${s}` })
  ),
  fc.tuple(errorCode, anyText).map(([code, s]) => {
    const text = `${code} ${s}`
    return node(`!${Buffer.byteLength(text)}\r\n${text}\r\n`, { error: code, message: text })
  })
)

const { tree } = fc.letrec<{ tree: Node; array: Node; map: Node; set: Node }>((tie) => ({
  tree: fc.oneof({ maxDepth: 4, depthIdentifier: "tree" }, leaf, tie("array"), tie("map"), tie("set")),
  array: fc.array(tie("tree"), { maxLength: 6 }).map((items) =>
    node([bytes(`*${items.length}\r\n`), ...items.map((i) => i.enc)], items.map((i) => i.exp))
  ),
  map: fc.uniqueArray(fc.tuple(anyText, tie("tree")), { maxLength: 5, selector: ([k]) => k }).map((entries) =>
    node(
      [bytes(`%${entries.length}\r\n`), ...entries.flatMap(([k, v]) => [bulk(k).enc, v.enc])],
      new Map(entries.map(([k, v]) => [k, v.exp]))
    )
  ),
  set: fc.uniqueArray(lineText, { maxLength: 6 }).map((items) =>
    node([bytes(`~${items.length}\r\n`), ...items.map((s) => bytes(`+${s}\r\n`))], new Set(items))
  )
}))

// A top-level item: a reply (maybe after an attribute), or a push.
type Item = { readonly kind: "reply" | "push"; readonly node: Node; readonly attribute: Node | undefined }

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.record({
    kind: fc.constant("reply" as const),
    node: tree,
    attribute: fc.option(
      fc.uniqueArray(fc.tuple(lineText, tree), { maxLength: 3, selector: ([k]) => k }).map((entries) =>
        node(
          [bytes(`|${entries.length}\r\n`), ...entries.flatMap(([k, v]) => [bytes(`+${k}\r\n`), v.enc])],
          new Map(entries.map(([k, v]) => [k, v.exp]))
        )
      ),
      { nil: undefined }
    )
  }),
  fc.array(tree, { maxLength: 4 }).map((items): Item => ({
    kind: "push",
    node: node([bytes(`>${items.length}\r\n`), ...items.map((i) => i.enc)], items.map((i) => i.exp)),
    attribute: undefined
  }))
)

describe("Decoder: round trips", () => {
  it("decodes random replies cut into random chunks", () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
        const data = concat(items.flatMap((i) => (i.attribute ? [i.attribute.enc, i.node.enc] : [i.node.enc])))
        const out = plainDecoded(decodeChunks(splitAt(data, cuts)))
        expect(out.replies).toEqual(items.filter((i) => i.kind === "reply").map((i) => i.node.exp))
        expect(out.pushes).toEqual(items.filter((i) => i.kind === "push").map((i) => i.node.exp))
        expect(out.attributes).toEqual(items.flatMap((i) => (i.attribute ? [i.attribute.exp] : [])))
      }),
      { numRuns: 400 }
    )
  })

  it("decodes random binary bulk strings as bytes under random chunking", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (values, cuts) => {
        const data = concat(values.flatMap((v) => [bytes(`$${v.length}\r\n`), v, bytes("\r\n")]))
        const out = decodeChunks(splitAt(data, cuts), { bytes: true })
        expect(out.replies.map((r) => plain(r))).toEqual(values.map((v) => plain(v)))
      }),
      { numRuns: 200 }
    )
  })
})

// ---------------------------------------------------------------------------
// malformed input and limits

const malformedCorpus: ReadonlyArray<readonly [string, string, Partial<DecoderOptions>?]> = [
  ["bad type byte", "?abc\r\n"],
  ["bad type byte after a reply", "+OK\r\nhello\r\n"],
  ["CR not followed by LF", "+OK\rX\r\n"],
  ["bare LF header", "$3\nabc\r\n"],
  ["non-numeric bulk length", "$abc\r\n"],
  ["empty bulk length", "$\r\n"],
  ["negative bulk length -2", "$-2\r\n"],
  ["negative bulk length -10", "$-10\r\n"],
  ["negative array length", "*-5\r\n"],
  ["null map", "%-1\r\n"],
  ["null attribute", "|-1\r\n+OK\r\n"],
  ["null blob error", "!-1\r\n"],
  ["non-numeric array length", "*x\r\n"],
  ["length with trailing garbage", "*1x\r\n"],
  ["bulk without CRLF", "$3\r\nabcXY"],
  ["bulk longer than declared", "$3\r\nabcd\r\n"],
  ["non-numeric integer", ":12a\r\n"],
  ["empty integer", ":\r\n"],
  ["sign-only integer", ":-\r\n"],
  ["truncated aggregate then garbage", "*3\r\n:1\r\n:2\r\n\x00\r\n"],
  ["aggregate element missing, CRLF instead", "*2\r\n$1\r\na\r\n\r\n"],
  ["bad boolean", "#x\r\n"],
  ["null with content", "_x\r\n"],
  ["bad double", ",abc\r\n"],
  ["empty double", ",\r\n"],
  ["bad big number", "(12x\r\n"],
  ["verbatim without format", "=3\r\nabc\r\n"],
  ["bulk over maxBulkLength", "$1000\r\n", { maxBulkLength: 100 }],
  ["array over maxAggregateLength", "*1000\r\n", { maxAggregateLength: 100 }],
  ["map over maxAggregateLength", "%60\r\n", { maxAggregateLength: 50 }],
  ["declared length 2^53 - 1", "$9007199254740991\r\nabc"],
  ["array length over 2^32 - 1", "*4294967296\r\n:1\r\n"],
  ["length of 400 digits", "$" + "9".repeat(400) + "\r\n"],
  ["nesting over maxDepth", "*1\r\n".repeat(6) + ":1\r\n", { maxDepth: 5 }],
  ["line over the limit", "+" + "a".repeat(300), { maxBulkLength: 100 }]
]

describe("Decoder: malformed input", () => {
  for (const [name, text, options] of malformedCorpus) {
    const data = bytes(text)
    const expected = name.includes("over") || name.includes("2^53") || name.includes("digits") ? "limit" : "malformed"

    it(`${name}: ProtocolError(${expected}) in one chunk, then refusal until reset`, () => {
      const { decoder, out } = collector(options)
      expectProtocolError(() => decoder.write(data), expected)
      expectProtocolError(() => decoder.write(bytes("+OK\r\n")))
      expect(out.replies.length).toBeLessThanOrEqual(1)
      decoder.reset()
      out.replies.length = 0
      decoder.write(bytes("+OK\r\n"))
      expect(out.replies).toEqual(["OK"])
    })

    it(`${name}: ProtocolError(${expected}) when written one byte at a time`, () => {
      const { decoder } = collector(options)
      let caught: unknown
      for (const b of data) {
        try {
          decoder.write(Uint8Array.of(b))
        } catch (error) {
          caught = error
          break
        }
      }
      // A line over a limit may only be noticed once more bytes arrive.
      if (caught === undefined) {
        try {
          decoder.write(bytes("\r\n"))
        } catch (error) {
          caught = error
        }
      }
      expect(caught).toBeInstanceOf(ProtocolError)
      expect((caught as ProtocolError).reason).toBe(expected)
      expectProtocolError(() => decoder.write(bytes("+OK\r\n")))
    })
  }

  it("refuses an unterminated line once it is longer than any valid one", () => {
    const { decoder } = collector()
    decoder.write(bytes("$12"))
    expectProtocolError(() => {
      for (let i = 0; i < 10; i++) decoder.write(new Uint8Array(1000).fill(0x31))
    }, "limit")
  })

  it("costs nothing for the largest declared length the limits allow", () => {
    // 2^53 - 1 was accepted here once; lengths are now capped at what V8 can hold (see "limits within what V8 can hold").
    for (const [options, header] of [
      [{ maxBulkLength: Number.MAX_SAFE_INTEGER }, `$${MAX_STRING}\r\nabc`],
      [{ maxBulkLength: Number.MAX_SAFE_INTEGER, bytes: true }, `$${2 ** 32 - 1}\r\nabc`]
    ] as const) {
      const { decoder, out } = collector(options)
      const before = process.memoryUsage().arrayBuffers
      for (let i = 0; i < 1000; i++) {
        decoder.reset()
        decoder.write(bytes(header))
        decoder.write(bytes("def"))
      }
      const grown = process.memoryUsage().arrayBuffers - before
      expect(grown).toBeLessThan(16 * 1024 * 1024)
      expect(out.replies).toEqual([])
    }
  })

  it("does not allocate a huge declared aggregate", () => {
    // The largest counts accepted (2^32 - 1 was, before aggregates were capped at what V8 can hold).
    const { decoder, out } = collector({ maxAggregateLength: 2 ** 32 - 1 })
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 1000; i++) {
      decoder.reset()
      decoder.write(bytes("*67108864\r\n:1\r\n%16777216\r\n~16777216\r\n"))
    }
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024)
    expect(out.replies).toEqual([])
  })

  it("gives a ProtocolError, not a stack overflow, for 100 000 levels of nesting", () => {
    const deep = bytes("*1\r\n".repeat(100_000) + ":1\r\n")
    const { decoder } = collector()
    expectProtocolError(() => decoder.write(deep), "limit")
    const split = collector()
    expectProtocolError(() => {
      for (let i = 0; i < deep.length; i += 4096) split.decoder.write(deep.subarray(i, i + 4096))
    }, "limit")
  })

  it("gives a value, not a stack overflow, for 100 000 levels of nesting when the limit allows it", () => {
    const levels = 100_000
    const { decoder, out } = collector({ maxDepth: levels })
    decoder.write(bytes("*1\r\n".repeat(levels) + ":1\r\n+after\r\n"))
    expect(out.replies).toHaveLength(2)
    let value: Reply = out.replies[0]!
    let depth = 0
    while (Array.isArray(value)) {
      expect(value).toHaveLength(1)
      value = value[0]
      depth++
    }
    expect(depth).toBe(levels)
    expect(value).toBe(1)
    expect(out.replies[1]).toBe("after")
  })

  it("stops after a callback throws and propagates its exception", () => {
    const boom = new Error("boom")
    let calls = 0
    const decoder = new Decoder({
      onReply: () => {
        calls++
        throw boom
      }
    })
    expect(() => decoder.write(bytes("+a\r\n+b\r\n"))).toThrow(boom)
    expect(() => decoder.write(bytes("+c\r\n"))).toThrow(boom)
    expect(calls).toBe(1)
    decoder.reset()
    expect(() => decoder.write(bytes("+d\r\n"))).toThrow(boom)
    expect(calls).toBe(2)
  })
})

// ---------------------------------------------------------------------------
// limits within what V8 can hold, whatever the chunking

/** V8's longest string: 2^29 - 24 characters on 64-bit. */
const MAX_STRING = bufferConstants.MAX_STRING_LENGTH

describe("Decoder: limits within what V8 can hold", () => {
  it("refuses, at the header, a bulk string longer than V8's longest string", () => {
    // 512 MiB (Redis' own limit, the default maxBulkLength) is 24 bytes more than a string can hold.
    for (const header of [`$${MAX_STRING + 1}\r\n`, "$536870900\r\n", `=${MAX_STRING + 5}\r\n`, `!${MAX_STRING + 1}\r\n`]) {
      expectProtocolError(() => collector().decoder.write(bytes(header)), "limit")
      expectProtocolError(() => collector({ maxBulkLength: 2 ** 40 }).decoder.write(bytes(header)), "limit")
    }
    // Declared, not yet arrived: the header alone costs nothing and is accepted.
    collector().decoder.write(bytes(`$${MAX_STRING}\r\nabc`))
  })

  it("in bytes mode, caps bulk strings at 4 GiB - 1 and error replies (always text) at V8's longest string", () => {
    collector({ bytes: true }).decoder.write(bytes("$536870900\r\nabc"))
    collector({ bytes: true, maxBulkLength: 2 ** 40 }).decoder.write(bytes(`$${2 ** 32 - 1}\r\nabc`))
    expectProtocolError(() => collector({ bytes: true, maxBulkLength: 2 ** 40 }).decoder.write(bytes(`$${2 ** 32}\r\n`)), "limit")
    expectProtocolError(() => collector({ bytes: true }).decoder.write(bytes("!536870900\r\n")), "limit")
  })

  it("refuses a set, map or attribute of more than 2^24 members (V8's Map and Set bound), even when maxAggregateLength allows more", () => {
    for (const type of ["~", "%", "|"]) {
      for (const options of [{}, { maxAggregateLength: 2 ** 32 - 1 }]) {
        expectProtocolError(() => collector(options).decoder.write(bytes(`${type}16777217\r\n`)), "limit")
        collector(options).decoder.write(bytes(`${type}16777216\r\n`))
      }
    }
  })

  it("refuses an array or push of more than 2^24 elements by default, and of more than 2^26 whatever maxAggregateLength says", () => {
    for (const type of ["*", ">"]) {
      expectProtocolError(() => collector().decoder.write(bytes(`${type}16777217\r\n`)), "limit")
      collector().decoder.write(bytes(`${type}16777216\r\n`))
      const raised = { maxAggregateLength: 2 ** 32 - 1 }
      collector(raised).decoder.write(bytes(`${type}67108864\r\n`))
      expectProtocolError(() => collector(raised).decoder.write(bytes(`${type}150000000\r\n`)), "limit")
    }
  })

  it("refuses a big number of more than 10 000 digits before converting it", () => {
    const digits = "7".repeat(10_000)
    expect(decodeOne(`(${digits}\r\n`)).toBe(BigInt(digits))
    expect(decodeOne(`(-${digits}\r\n`)).toBe(-BigInt(digits))
    expectProtocolError(() => collector().decoder.write(bytes(`(${digits}7\r\n`)), "limit")
    expectProtocolError(() => collector().decoder.write(bytes(`(-${digits}7\r\n`)), "limit")
    // ~10 M digits would block the event loop for seconds in BigInt(); refused after reading 10 002 bytes.
    expectProtocolError(() => collector().decoder.write(bytes(`(${"9".repeat(10_000_000)}\r\n`)), "limit")
  })
})

describe("Decoder: limits do not depend on chunking", () => {
  const cases: ReadonlyArray<readonly [string, string, Partial<DecoderOptions>]> = [
    ["a simple string over maxBulkLength", `+${"a".repeat(5000)}\r\n`, { maxBulkLength: 1024 }],
    ["an error line over maxBulkLength", `-ERR ${"a".repeat(5000)}\r\n`, { maxBulkLength: 1024 }],
    ["an integer line over 4096 bytes", `:${"1".repeat(5000)}\r\n`, {}],
    ["a double line over 4096 bytes", `,${"1".repeat(5000)}\r\n`, {}],
    ["a length line of leading zeros over 4096 bytes", `$${"0".repeat(5000)}3\r\nabc\r\n`, {}],
    ["an aggregate length of leading zeros over 4096 bytes", `*${"0".repeat(5000)}1\r\n:1\r\n`, {}]
  ]
  for (const [name, text, options] of cases) {
    it(`${name}: refused in one chunk, in two, and byte by byte`, () => {
      const data = bytes(text)
      expectProtocolError(() => collector(options).decoder.write(data), "limit")
      expectProtocolError(() => {
        const { decoder } = collector(options)
        decoder.write(data.subarray(0, 100))
        decoder.write(data.subarray(100))
      }, "limit")
      expectProtocolError(() => {
        const { decoder } = collector(options)
        for (let i = 0; i < data.length; i++) decoder.write(data.subarray(i, i + 1))
      }, "limit")
    })
  }

  it("a line exactly at the limit passes in one chunk and byte by byte", () => {
    const line = "b".repeat(1024)
    expect(decodeOne(`+${line}\r\n`, { maxBulkLength: 1024 })).toBe(line)
    const data = bytes(`+${line}\r\n:${"0".repeat(4095)}7\r\n`)
    const { decoder, out } = collector({ maxBulkLength: 1024 })
    for (let i = 0; i < data.length; i++) decoder.write(data.subarray(i, i + 1))
    expect(out.replies).toEqual([line, 7])
  })
})

// ---------------------------------------------------------------------------
// fuzz: only ProtocolError, and the same replies however the bytes are cut

interface Outcome {
  readonly decoded: unknown
  readonly threw: boolean
}

/** Feeds `chunks`; any exception other than a ProtocolError fails the property. */
const outcome = (chunks: ReadonlyArray<Uint8Array>, options: Partial<DecoderOptions>): Outcome => {
  const { decoder, out } = collector(options)
  for (const chunk of chunks) {
    try {
      decoder.write(chunk)
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw new Error(`the decoder threw ${String(error)}`, { cause: error })
      return { decoded: plainDecoded(out), threw: true }
    }
  }
  return { decoded: plainDecoded(out), threw: false }
}

const fuzzOptions: fc.Arbitrary<Partial<DecoderOptions>> = fc.constantFrom<Partial<DecoderOptions>>(
  {},
  { bytes: true },
  { maxBulkLength: 24, maxAggregateLength: 4, maxDepth: 3 },
  { bytes: true, maxBulkLength: 24, maxAggregateLength: 4, maxDepth: 3 }
)

// What a hostile or broken server may send: lengths V8 cannot hold, long runs of digits, long lines.
const hostile = fc.constantFrom(
  "$536870900\r\n",
  `$${MAX_STRING + 1}\r\n`,
  "$4294967296\r\n",
  "!536870900\r\n",
  "~16777217\r\n",
  "%16777217\r\n",
  "|16777217\r\n",
  "*150000000\r\n",
  ">150000000\r\n",
  "*9007199254740993\r\n",
  `(${"9".repeat(12_000)}\r\n`,
  `(${"9".repeat(9_000)}\r\n`,
  `:${"9".repeat(5_000)}\r\n`,
  `:${"9".repeat(400)}\r\n`,
  `,${"1".repeat(5_000)}\r\n`,
  `,1e${"9".repeat(400)}\r\n`,
  `+${"x".repeat(3_000)}\r\n`,
  `$${"0".repeat(4_200)}1\r\nx\r\n`,
  "*1\r\n".repeat(600) + ":1\r\n",
  "\r\n",
  "-1\r\n",
  "?"
)

type Mutation =
  | { readonly op: "flip" | "insert" | "delete"; readonly at: number; readonly byte: number }
  | { readonly op: "splice"; readonly at: number; readonly text: string }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom("flip" as const, "insert" as const, "delete" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("splice" as const), at: fc.nat(), text: hostile })
)

const mutate = (data: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let out = Buffer.from(data)
  for (const m of mutations) {
    const at = m.at % (out.length + 1)
    if (m.op === "flip") {
      if (at < out.length) out[at] = m.byte
    } else if (m.op === "insert") {
      out = Buffer.concat([out.subarray(0, at), Buffer.of(m.byte), out.subarray(at)])
    } else if (m.op === "delete") {
      out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)])
    } else if (m.op === "splice") {
      out = Buffer.concat([out.subarray(0, at), Buffer.from(m.text, "latin1"), out.subarray(at)])
    }
  }
  return new Uint8Array(out)
}

const encodeItems = (items: ReadonlyArray<Item>): Uint8Array =>
  concat(items.flatMap((i) => (i.attribute ? [i.attribute.enc, i.node.enc] : [i.node.enc])))

/** The property: decoding `data` throws nothing but ProtocolError, and gives the same outcome in one chunk and in `cuts`. */
const sameOutcome = (data: Uint8Array, cuts: ReadonlyArray<number>, options: Partial<DecoderOptions>): Outcome => {
  const whole = outcome([data], options)
  expect(outcome(splitAt(data, cuts), options)).toEqual(whole)
  const bytewise: Array<Uint8Array> = Array.from(data.subarray(0, 2000), (b) => Uint8Array.of(b))
  if (data.length > 2000) bytewise.push(data.subarray(2000))
  expect(outcome(bytewise, options)).toEqual(whole)
  return whole
}

describe("Decoder: fuzz", () => {
  it("random bytes: only ProtocolError, and the same outcome however they are cut", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          // bytes drawn mostly from RESP's alphabet, so that more of them get past the first byte
          fc.array(fc.constantFrom(..."$*%~|>!=+-:,(#_\r\n\r\n0123456789-1tf?".split("").map((c) => c.charCodeAt(0))), { maxLength: 200 })
            .map((a) => Uint8Array.from(a))
        ),
        fc.array(fc.nat(), { maxLength: 12 }),
        fuzzOptions,
        (data, cuts, options) => void sameOutcome(data, cuts, options)
      ),
      { numRuns: 500 }
    )
  })

  it("mutations of valid streams (flipped, inserted, deleted bytes; hostile lengths and lines): only ProtocolError, same outcome however cut", () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 6 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fuzzOptions,
        (items, mutations, cuts, options) => void sameOutcome(mutate(encodeItems(items), mutations), cuts, options)
      ),
      { numRuns: 400 }
    )
  })

  it("valid streams split at random points: every reply, never an error", () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (items, cuts) => {
        const result = sameOutcome(encodeItems(items), cuts, {})
        expect(result.threw).toBe(false)
        expect((result.decoded as { replies: unknown }).replies).toEqual(items.filter((i) => i.kind === "reply").map((i) => i.node.exp))
      }),
      { numRuns: 300 }
    )
  })
})

// ---------------------------------------------------------------------------
// encoding

const reference = (args: ReadonlyArray<Arg>): Uint8Array => {
  const parts: Array<Uint8Array> = [bytes(`*${args.length}\r\n`)]
  for (const arg of args) {
    const payload =
      arg instanceof Uint8Array
        ? arg
        : typeof arg === "number" && !Number.isFinite(arg)
        ? bytes(arg > 0 ? "inf" : "-inf")
        : bytes(String(arg))
    parts.push(bytes(`$${payload.length}\r\n`), payload, bytes("\r\n"))
  }
  return concat(parts)
}

const arg: fc.Arbitrary<Arg> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }),
  fc.integer(),
  fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
  fc.bigInt()
)

describe("encodeCommand", () => {
  it("encodes a command as a RESP array of bulk strings", () => {
    expect(Buffer.from(encodeCommand(["SET", "key", "value"])).toString()).toBe(
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
    )
    expect(Buffer.from(encodeCommand(["INCRBY", "n", 42, -7n, 1.5, Infinity, -Infinity])).toString()).toBe(
      "*7\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n42\r\n$2\r\n-7\r\n$3\r\n1.5\r\n$3\r\ninf\r\n$4\r\n-inf\r\n"
    )
    expect(Buffer.from(encodeCommand([])).toString()).toBe("*0\r\n")
  })

  it("is binary safe: CRLF inside values, every byte value, UTF-8 text", () => {
    const all = new Uint8Array(256).map((_, i) => i)
    expect(encodeCommand(["SET", "a\r\nb", all, "日本", ""])).toEqual(
      concat([
        bytes("*5\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$256\r\n"),
        all,
        bytes("\r\n$6\r\n日本\r\n$0\r\n\r\n")
      ])
    )
    const decoded = decodeOne(encodeCommand(["x", all]), { bytes: true }) as Array<Uint8Array>
    expect(decoded[1]).toEqual(all)
  })

  it("matches a reference encoding for random arguments", () => {
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 12 }), (args) => {
        expect(Buffer.compare(encodeCommand(args), reference(args))).toBe(0)
      }),
      { numRuns: 500 }
    )
  })

  it("returns bytes that later calls never overwrite", () => {
    const first = encodeCommand(["GET", "a"])
    const copy = Uint8Array.from(first)
    for (let i = 0; i < 5000; i++) encodeCommand(["SET", `k${i}`, "v".repeat(i % 100)])
    expect(first).toEqual(copy)
  })

  it("rejects an argument of another type with InvalidArgumentError", () => {
    for (const bad of [undefined, null, {}, true, NaN, Symbol("x")]) {
      expect(() => encodeCommand(["SET", "k", bad as never])).toThrow(InvalidArgumentError)
    }
    expect(Buffer.from(encodeCommand(["PING"])).toString()).toBe("*1\r\n$4\r\nPING\r\n")
  })
})

describe("RespWriter", () => {
  it("produces the same bytes as encodeCommand, for batches taken at random points", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(arg, { maxLength: 8 }), fc.boolean()), { maxLength: 20 }),
        fc.constantFrom(16, 64, 1024, 65536),
        (commands, slabSize) => {
          const writer = new RespWriter(slabSize)
          const taken: Array<Uint8Array> = []
          let sinceTake = 0
          for (const [args, take] of commands) {
            writer.add(args)
            sinceTake += encodeCommand(args).length
            expect(writer.length).toBe(sinceTake)
            if (take) {
              taken.push(Uint8Array.from(writer.take()))
              sinceTake = 0
            }
          }
          taken.push(writer.take())
          expect(writer.length).toBe(0)
          expect(Buffer.compare(concat(taken), concat(commands.map(([a]) => encodeCommand(a))))).toBe(0)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("never overwrites bytes it handed out", () => {
    const writer = new RespWriter(128)
    const handed: Array<[Uint8Array, Uint8Array]> = []
    for (let i = 0; i < 500; i++) {
      writer.add(["SET", `key:${i}`, "x".repeat(i % 70)])
      if (i % 3 === 0) {
        const out = writer.take()
        handed.push([out, Uint8Array.from(out)])
      }
    }
    for (const [out, copy] of handed) expect(out).toEqual(copy)
  })

  it("adds nothing when an argument is rejected", () => {
    const writer = new RespWriter(64)
    writer.add(["PING"])
    expect(() => writer.add(["SET", "a".repeat(100), undefined as never])).toThrow(InvalidArgumentError)
    expect(Buffer.from(writer.take()).toString()).toBe("*1\r\n$4\r\nPING\r\n")
    expect(writer.take()).toHaveLength(0)
  })

  it("holds no memory before its first command, then slabs of 4 KiB doubling up to its slab size as they fill", () => {
    const writer = new RespWriter(64 * 1024)
    expect(writer.take()).toHaveLength(0)
    const sizes: Array<number> = []
    for (let i = 0; i < 2_000; i++) {
      writer.add(["SET", `key:${i}`, "v".repeat(100)])
      const size = writer.take().buffer.byteLength
      if (sizes[sizes.length - 1] !== size) sizes.push(size)
    }
    // An idle connection (a handshake, a few commands) keeps 4 KiB; a busy one soon writes into 64 KiB slabs.
    expect(sizes).toEqual([4096, 8192, 16384, 32768, 65536])
  })

  it("encodes a value far larger than its slab", () => {
    const writer = new RespWriter(64)
    const big = new Uint8Array(1_000_000).fill(7)
    writer.add(["SET", "k", big])
    writer.add(["GET", "k"])
    const taken = writer.take()
    expect(Buffer.compare(taken, concat([encodeCommand(["SET", "k", big]), encodeCommand(["GET", "k"])]))).toBe(0)
    writer.add(["PING"])
    const next = writer.take()
    expect(Buffer.from(next).toString()).toBe("*1\r\n$4\r\nPING\r\n")
    // The oversized slab went out with the large command and is not reused.
    expect(next.buffer).not.toBe(taken.buffer)
    expect(next.buffer.byteLength).toBeLessThan(1_000_000)
  })
})

// ---------------------------------------------------------------------------
// a real redis-server

// Sends the commands over a fresh plain socket and collects `count` replies.
const exchange = (
  port: number,
  commands: ReadonlyArray<ReadonlyArray<Arg>>,
  count: number,
  options: Partial<DecoderOptions> = {}
): Effect.Effect<Decoded> =>
  Effect.callback<Decoded>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    const { decoder, out } = collector(options)
    let done = false
    const finish = (f: () => void) => {
      if (done) return
      done = true
      socket.destroy()
      f()
    }
    socket.on("data", (chunk) => {
      try {
        decoder.write(chunk)
      } catch (error) {
        finish(() => resume(Effect.die(error)))
        return
      }
      if (out.replies.length >= count) finish(() => resume(Effect.succeed(out)))
    })
    socket.on("error", (error) => finish(() => resume(Effect.die(error))))
    socket.on("close", () => finish(() => resume(Effect.die(new Error(`closed after ${out.replies.length} replies`)))))
    const writer = new RespWriter()
    for (const command of commands) writer.add(command)
    socket.write(writer.take())
    return Effect.sync(() => socket.destroy())
  })

const debugTypes = ["string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim", "true", "false"]

layer(RedisServer.layer())("Decoder against a real redis-server", (it) => {
  it.effect("decodes every DEBUG PROTOCOL reply in RESP2", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const out = yield* exchange(server.port, debugTypes.map((t) => ["DEBUG", "PROTOCOL", t]), debugTypes.length)
      const byType = Object.fromEntries(debugTypes.map((t, i) => [t, plain(out.replies[i])]))
      expect(byType).toEqual({
        string: "Hello World",
        integer: 12345,
        double: "3.141",
        bignum: "1234567999999999999999999999999999999",
        null: null,
        array: [0, 1, 2],
        set: [0, 1, 2],
        map: [0, 0, 1, 1, 2, 0],
        attrib: "Some real reply following the attribute",
        push: { error: "ERR", message: "ERR RESP2 is not supported by this command" },
        verbatim: "This is a verbatim\nstring",
        true: 1,
        false: 0
      })
      expect(out.pushes).toEqual([])
      expect(out.attributes).toEqual([])
    }))

  it.effect("decodes every DEBUG PROTOCOL reply in RESP3 after HELLO 3", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const out = yield* exchange(
        server.port,
        [["HELLO", "3"], ...debugTypes.map((t) => ["DEBUG", "PROTOCOL", t])],
        debugTypes.length + 1
      )
      const hello = out.replies[0] as Map<Reply, Reply>
      expect(hello).toBeInstanceOf(Map)
      expect(hello.get("server")).toBe("redis")
      expect(hello.get("proto")).toBe(3)
      const byType = Object.fromEntries(debugTypes.map((t, i) => [t, out.replies[i + 1]]))
      expect(byType).toEqual({
        string: "Hello World",
        integer: 12345,
        double: 3.141,
        bignum: 1234567999999999999999999999999999999n,
        null: null,
        array: [0, 1, 2],
        set: new Set([0, 1, 2]),
        map: new Map<Reply, Reply>([[0, false], [1, true], [2, false]]),
        attrib: "Some real reply following the attribute",
        push: "Some real reply following the push reply",
        verbatim: "This is a verbatim\nstring",
        true: true,
        false: false
      })
      expect(out.pushes).toEqual([["server-cpu-usage", 42]])
      expect(out.attributes).toEqual([new Map<Reply, Reply>([["key-popularity", ["key:123", 90]]])])
    }))

  it.effect("round-trips binary values and error replies through the server, pipelined", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const big = new Uint8Array(2_000_000).map((_, i) => (i * 31) & 0xff)
      const out = yield* exchange(
        server.port,
        [
          ["HELLO", "3"],
          ["SET", "resp:bin", big],
          ["GET", "resp:bin"],
          ["SET", "resp:crlf", "a\r\nb"],
          ["GET", "resp:crlf"],
          ["INCRBY", "resp:n", 9007199254740993n],
          ["LPUSH", "resp:list", "x"],
          ["GET", "resp:list"],
          ["NOSUCHCOMMAND"],
          ["GET", "resp:missing"]
        ],
        10,
        { bytes: true }
      )
      expect(out.replies).toHaveLength(10)
      expect(plain(out.replies.slice(1, 8))).toEqual(plain([
        bytes("OK"),
        big,
        bytes("OK"),
        bytes("a\r\nb"),
        9007199254740993n,
        1,
        new RedisReplyError({ code: "WRONGTYPE", message: "WRONGTYPE Operation against a key holding the wrong kind of value" })
      ]))
      expect(out.replies[9]).toBeNull()
      // The unknown command's error, checked on its own: its wording differs between server versions.
      expect(out.replies[8]).toBeInstanceOf(RedisReplyError)
      expect((out.replies[8] as RedisReplyError).code).toBe("ERR")
      expect((out.replies[8] as RedisReplyError).message).toMatch(/^ERR unknown command [`']NOSUCHCOMMAND[`']/)
    }))
})
