/**
 * RESP codec throughput, side by side in one process: our `Decoder` against
 * `redis-parser` and node-redis's decoder, on RESP2 corpora cut into 64 KB
 * chunks, in strings mode (`ours`, `redis-parser`, `node-redis`) and in bytes
 * mode (`ours bytes` with `bytes: true` against `redis-parser buffers` with
 * `returnBuffers: true`); our `encodeCommand` against node-redis's
 * `encodeCommand`. Contenders are interleaved within each repetition; medians
 * are printed.
 *
 *   node_modules/.bin/node bench/resp.ts [repetitions] [corpus name filter]
 *
 * `RESP_BENCH_DECODERS=ours,redis-parser` limits the decoders;
 * `RESP_BENCH_TRACE=1` also prints the minimum and median of each.
 */
import { createRequire } from "node:module"
import * as os from "node:os"
import { RespWriter } from "../src/internal/respWriter.ts"
import { Decoder, encodeCommand } from "../src/Resp.ts"

const require = createRequire(import.meta.url)

interface RedisParser {
  execute(buffer: Buffer): void
}
const RedisParserClass: new(options: {
  returnReply: (reply: unknown) => void
  returnError: (error: unknown) => void
  returnFatalError?: (error: unknown) => void
  returnBuffers?: boolean
}) => RedisParser = require("redis-parser")

interface NodeRedisDecoder {
  write(chunk: Buffer): void
}
const NodeRedisDecoderClass: new(config: {
  onReply: (reply: unknown) => void
  onErrorReply: (error: unknown) => void
  onPush: (push: unknown) => void
  getTypeMapping: () => object
}) => NodeRedisDecoder = require("@redis/client/dist/lib/RESP/decoder.js").Decoder
const nodeRedisEncodeCommand: (args: ReadonlyArray<string | Buffer>) => Array<string | Buffer> =
  require("@redis/client/dist/lib/RESP/encoder.js").default

const repetitions = Number(process.argv[2] ?? 7)
const CHUNK = 64 * 1024
const TARGET_BYTES = 8 * 1024 * 1024

// A small deterministic PRNG, so every run decodes the same bytes.
let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const word = (length: number) => {
  let s = ""
  for (let i = 0; i < length; i++) s += String.fromCharCode(97 + Math.floor(random() * 26))
  return s
}
const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
const array10 = () => `*10\r\n${Array.from({ length: 10 }, () => bulk(word(8))).join("")}`

interface Corpus {
  readonly name: string
  readonly chunks: ReadonlyArray<Buffer>
  readonly bytes: number
  readonly replies: number
}

const corpus = (name: string, reply: () => string): Corpus => {
  const parts: Array<string> = []
  let bytes = 0
  while (bytes < TARGET_BYTES) {
    const r = reply()
    parts.push(r)
    bytes += Buffer.byteLength(r)
  }
  const data = Buffer.from(parts.join(""))
  const chunks: Array<Buffer> = []
  for (let i = 0; i < data.length; i += CHUNK) chunks.push(data.subarray(i, i + CHUNK))
  return { name, chunks, bytes: data.length, replies: parts.length }
}

const mixed = (): string => {
  const r = random()
  if (r < 0.2) return "+OK\r\n"
  if (r < 0.35) return `:${Math.floor(random() * 1e6)}\r\n`
  if (r < 0.6) return bulk(word(16))
  if (r < 0.7) return bulk(word(100))
  if (r < 0.75) return bulk(word(1024))
  if (r < 0.8) return "$-1\r\n"
  if (r < 0.82) return "-ERR something went wrong\r\n"
  return array10()
}

const only = process.argv[3]
const corpora: ReadonlyArray<Corpus> = [
  corpus("mixed", mixed),
  corpus("+OK", () => "+OK\r\n"),
  corpus("integers", () => `:${Math.floor(random() * 1e9)}\r\n`),
  corpus("bulk 16 B", () => bulk(word(16))),
  corpus("bulk 1 KB", () => bulk(word(1024))),
  corpus("arrays of 10", array10)
].filter((c) => only === undefined || c.name.includes(only))

type Contender = {
  readonly name: string
  readonly run: (corpus: Corpus) => number
}

// Each decoder is made once and then fed every repetition, as a connection's
// decoder lives as long as its connection.
const longLived = (name: string, make: (count: () => void) => (chunk: Buffer) => void): Contender => {
  let n = 0
  const feed = make(() => void n++)
  return {
    name,
    run: (c) => {
      n = 0
      for (const chunk of c.chunks) feed(chunk)
      return n
    }
  }
}

const decodersAll: ReadonlyArray<Contender> = [
  longLived("ours", (count) => {
    const d = new Decoder({ onReply: count })
    return (chunk) => d.write(chunk)
  }),
  longLived("redis-parser", (count) => {
    const p = new RedisParserClass({ returnReply: count, returnError: count, returnBuffers: false })
    return (chunk) => p.execute(chunk)
  }),
  longLived("ours bytes", (count) => {
    const d = new Decoder({ onReply: count, bytes: true })
    return (chunk) => d.write(chunk)
  }),
  longLived("redis-parser buffers", (count) => {
    const p = new RedisParserClass({ returnReply: count, returnError: count, returnBuffers: true })
    return (chunk) => p.execute(chunk)
  }),
  longLived("node-redis", (count) => {
    const d = new NodeRedisDecoderClass({ onReply: count, onErrorReply: count, onPush: () => {}, getTypeMapping: () => ({}) })
    return (chunk) => d.write(chunk)
  })
]

const onlyDecoders = process.env["RESP_BENCH_DECODERS"]?.split(",")
const decoders = decodersAll.filter((d) => onlyDecoders === undefined || onlyDecoders.includes(d.name))

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
// The process's CPU time, not wall time: on a shared machine another process taking the CPU
// would otherwise count as ours. It includes V8's helper threads (parallel GC), so garbage still
// costs its maker. `RESP_BENCH_CLOCK=wall` measures wall time instead.
const cpuClock = process.env["RESP_BENCH_CLOCK"] !== "wall"
const now = cpuClock
  ? () => {
    const usage = process.cpuUsage()
    return (usage.user + usage.system) / 1000
  }
  : () => Number(process.hrtime.bigint()) / 1e6

// Milliseconds per pass over the corpus, from as many passes as fit in 25 ms
// (at least one). No forced GC between samples: a forced GC shrinks the young
// generation and adds the same fixed cost of extra scavenges to whoever runs
// next, which hides differences; the rotating order shares out the garbage.
const MIN_SAMPLE_MILLIS = 25
const timeDecode = (contender: Contender, c: Corpus): number => {
  const start = now()
  let passes = 0
  let millis = 0
  do {
    const n = contender.run(c)
    if (n !== c.replies) throw new Error(`${contender.name} decoded ${n} replies of ${c.name}, expected ${c.replies}`)
    passes++
    millis = now() - start
  } while (millis < MIN_SAMPLE_MILLIS)
  return millis / passes
}

// Warm up every contender on every corpus.
gc()
for (const c of corpora) for (const d of decoders) for (let i = 0; i < 2; i++) timeDecode(d, c)

const loadBefore = os.loadavg()[0]!
const decodeRows: Array<Array<string>> = []
const ratios: Record<string, { parser: number; nodeRedis: number; bytes: number }> = {}
for (const c of corpora) {
  const times: Record<string, Array<number>> = {}
  for (let r = 0; r < repetitions; r++) {
    // Rotate the order so no contender always runs first.
    for (let k = 0; k < decoders.length; k++) {
      const d = decoders[(k + r) % decoders.length]!
      ;(times[d.name] ??= []).push(timeDecode(d, c))
    }
  }
  const mb = c.bytes / (1024 * 1024)
  const medians = Object.fromEntries(decoders.map((d) => [d.name, median(times[d.name]!)]))
  if (process.env["RESP_BENCH_TRACE"]) {
    for (const d of decoders) console.log(c.name, d.name, "min", Math.min(...times[d.name]!).toFixed(1), "median", medians[d.name]!.toFixed(1))
  }
  for (const d of decoders) {
    const ms = medians[d.name]!
    // Bytes-mode contenders are compared with ours in bytes mode, the others with ours in strings mode.
    const base = d.name.endsWith("bytes") || d.name.endsWith("buffers") ? medians["ours bytes"] : medians["ours"]
    decodeRows.push([
      c.name,
      d.name,
      (mb / (ms / 1000)).toFixed(0),
      ((c.replies / (ms / 1000)) / 1e6).toFixed(2),
      d.name === "ours" || d.name === "ours bytes" || base === undefined ? "" : (ms / base).toFixed(2)
    ])
  }
  ratios[c.name] = {
    parser: medians["redis-parser"]! / medians["ours"]!,
    nodeRedis: medians["node-redis"]! / medians["ours"]!,
    bytes: medians["redis-parser buffers"]! / medians["ours bytes"]!
  }
}

// Encoding: ns per `SET key value`.
const ENCODE_N = 1_000_000
const keys = Array.from({ length: 1024 }, (_, i) => `key:${i}`)
const values = Array.from({ length: 1024 }, (_, i) => `value:${i * 7919}`)
const writer = new RespWriter()
const encoders: ReadonlyArray<Contender> = [
  {
    name: "ours encodeCommand",
    run: () => {
      let bytes = 0
      for (let i = 0; i < ENCODE_N; i++) bytes += encodeCommand(["SET", keys[i & 1023]!, values[i & 1023]!]).length
      return bytes
    }
  },
  {
    name: "ours RespWriter (take per 100)",
    run: () => {
      let bytes = 0
      for (let i = 0; i < ENCODE_N; i++) {
        writer.add(["SET", keys[i & 1023]!, values[i & 1023]!])
        if (i % 100 === 99) bytes += writer.take().length
      }
      return bytes + writer.take().length
    }
  },
  {
    name: "node-redis encodeCommand",
    run: () => {
      let parts = 0
      for (let i = 0; i < ENCODE_N; i++) parts += nodeRedisEncodeCommand(["SET", keys[i & 1023]!, values[i & 1023]!]).length
      return parts
    }
  }
]
const timeEncode = (e: Contender): number => {
  const start = now()
  e.run(corpora[0]!)
  return ((now() - start) * 1e6) / ENCODE_N
}
for (const e of encoders) for (let i = 0; i < 3; i++) timeEncode(e)
const encodeTimes: Record<string, Array<number>> = {}
for (let r = 0; r < repetitions; r++) {
  for (let k = 0; k < encoders.length; k++) {
    const e = encoders[(k + r) % encoders.length]!
    ;(encodeTimes[e.name] ??= []).push(timeEncode(e))
  }
}
const loadAfter = os.loadavg()[0]!

const table = (header: Array<string>, rows: Array<Array<string>>) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: Array<string>) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  console.log(line(header))
  for (const row of rows) console.log(line(row))
}

console.log(
  `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load ${loadBefore.toFixed(2)} -> ${
    loadAfter.toFixed(2)
  }, ${repetitions} repetitions, medians of ${cpuClock ? "CPU" : "wall"} time\n`
)
console.log(`Decoding RESP2 corpora of ${(TARGET_BYTES / 1024 / 1024).toFixed(0)} MB in 64 KB chunks:`)
table(["corpus", "decoder", "MB/s", "Mreplies/s", "time vs ours (same mode)"], decodeRows)
console.log("\nRatios (their time / our time, > 1 means we are faster):")
table(
  ["corpus", "", "strings: vs redis-parser", "vs node-redis", "bytes: vs redis-parser buffers"],
  Object.entries(ratios).map(([name, r]) => [name, "", r.parser.toFixed(2), r.nodeRedis.toFixed(2), r.bytes.toFixed(2)])
)
console.log("\nEncoding SET key value:")
const ourEncode = median(encodeTimes["ours encodeCommand"]!)
table(
  ["encoder", "", "ns/command", "time vs ours"],
  encoders.map((e) => {
    const ns = median(encodeTimes[e.name]!)
    return [e.name, "", ns.toFixed(1), (ns / ourEncode).toFixed(2)]
  })
)
