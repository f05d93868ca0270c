/**
 * `npm run chaos`: runs the full version of every chaos scenario, one after
 * the other, prints a summary of each, and writes the table to
 * `RELIABILITY.md`. Exits non-zero when an invariant failed.
 *
 * ```sh
 * npm run chaos                 # all nine, full, writes RELIABILITY.md
 * npm run chaos -- 2 4          # only scenarios 2 and 4 (RELIABILITY.md untouched)
 * npm run chaos -- --short      # the short versions (as in npm test)
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import { connectionBound, type Result, runScenario, summary, violations } from "./harness.ts"
import { type Mode, scenarios } from "./scenarios.ts"

const args = process.argv.slice(2)
const mode: Mode = args.includes("--short") ? "short" : "full"
const only = args.filter((arg) => /^\d+$/.test(arg)).map(Number)
const chosen = scenarios.filter((scenario) => only.length === 0 || only.includes(scenario.id))
const writeReport = mode === "full" && only.length === 0

const failedTags = (result: Result): string => {
  const entries = Object.entries(result.failures).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? "none" : entries.map(([tag, count]) => `${tag} ${count}`).join(", ")
}

const row = (r: Result): string =>
  [
    `${r.id}`,
    r.name,
    `${r.attempted}`,
    `${r.acked}`,
    `${r.attempted - r.acked - r.interrupted} (${failedTags(r)}); ${r.interrupted} BLPOPs left by interruption`,
    `${r.lostAcked}`,
    `${r.appliedTwice} / ${r.appliedUnsent}`,
    `${r.misdelivered}`,
    `${r.silentPopLoss}`,
    `${r.popLostWithConnection} / ${r.popLostWithTimeout}`,
    r.recoveryMillis === undefined ? "n/a" : `${r.recoveryMillis}`,
    `${r.opened} (≤ ${connectionBound(r)}; ${r.destroyed} cut by the fault)`,
    `${r.heapBeforeMb} → ${r.heapAfterMb}`,
    r.balanced && r.closed && r.leftoverClients === 0 && r.hung === 0 ? "yes" : `NO ${JSON.stringify(r.finalStats)}`,
    violations(r).length === 0 ? "pass" : `FAIL: ${violations(r).join("; ")}`
  ].join(" | ")

const report = (results: ReadonlyArray<Result>, started: Date, seconds: number): string => {
  const cpus = os.cpus()
  return `# Reliability under faults

Produced by \`npm run chaos\` (\`node --expose-gc test/chaos/run.ts\`) on ${started.toISOString()}, in ${seconds} s.
Machine: ${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, Node ${process.version}, ${
    fs.existsSync("/usr/bin/redis-server") ? "redis-server from the system" : "redis-server"
  } on loopback. Each scenario starts its own server.

Each scenario runs ${results[0]?.fibers ?? 200} concurrent fibers against one \`RedisPool\` service (poolSize ${
    results[0]?.poolSize ?? 40
  }, every other option at its default):
76 writers (INCR of one of 16 counters, then RPUSH of a unique id to the writer's own list), 76 readers (GET of
keys whose value is the key's own name), 24 producers (RPUSH of unique ids to one consumer's queue) and 24 BLPOP
consumers (1 s server timeout; one consumer in four also interrupts some of its BLPOPs at a random 0.1-1.5 s).
Each fiber pauses 10-20 ms between operations. The fault starts after 1.5 s of warm-up.

Columns:
- **attempted / acked / failed**: operations, acknowledged ones, failures by error tag. A BLPOP that returned nil
  (server timeout) counts as acknowledged.
- **lost acked**: acknowledged writes absent from the server afterwards: a counter below its acknowledged INCRs, an
  acknowledged id missing from its writer's list (must be 0).
- **twice / unsent-applied**: writes applied twice (a counter above acknowledged + unknown-outcome INCRs, an id present
  twice) / writes the library reported as never sent (pool errors, \`written: false\`) that the server has anyway
  (both must be 0).
- **wrong caller**: replies that did not answer the caller's own command (GET of another key, an INCR value seen
  twice, an RPUSH length that did not grow, a BLPOP element of another queue, a reply of the wrong type) (must be 0).
- **silent pops**: acknowledged queue elements gone from the server that no consumer received, beyond one per BLPOP
  of that consumer that failed with its connection (must be 0). **pops lost w/ conn**: those explained by a BLPOP that
  failed with a \`ConnectionError\` (or a \`ProtocolError\`) while its reply was on the wire; its caller was told.
  **w/ read timeout**: beyond those, explained by a BLPOP of that consumer whose caller got a read-phase
  \`CommandTimeoutError\` or left by interruption. The library keeps such a connection reading and pushes back what
  was popped for nobody, so only reply bytes destroyed in transit can cause this: the proxy's black hole drops
  reply bytes it already accepted (real TCP would retransmit them), and no client can recover them. It must be 0
  in every other scenario (the short tests assert it).
- **recovery ms**: from the fault's end (the last one, for repeated faults: the slowest) to the next success (awaited by
  condition once the workload stops, for at most 2 × (1.5 × probeBackoffMax + dialTimeout + poolTimeout), 48 s with
  the defaults: the breaker's probe may be in its longest backoff when the fault ends).
- **conns opened**: handshakes completed during the run (\`onConnect\`); bound: 2 × (poolSize + connections the
  fault destroyed). In scenario 9, where every connection made during the fault dies before it serves, the bound is
  the breaker's: the fault's first victims + breakerThreshold (= poolSize) + poolSize dials under way when it opens
  + poolSize for the refill + 10 probes (\`connectionBound\` in \`test/chaos/harness.ts\`).
- **heap MB**: heap used before the pool was made and after it closed (with \`gc()\`).
- **at rest**: after the workload, the pool's \`inUse\`, \`turnsInUse\`, \`sharedInFlight\`, \`pendingWaiters\` and
  \`dialing\` came back to 0, its scope closed within 15 s, the server lists none of its connections, and no fiber
  was stuck in an operation.

| # | scenario | attempted | acked | failed | lost acked | twice / unsent-applied | wrong caller | silent pops | pops lost w/ conn / w/ read timeout | recovery ms | conns opened | heap MB | at rest | invariants |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${results.map((r) => `| ${row(r)} |`).join("\n")}

What the suite found:
- **Fixed** (\`src/internal/connSocket.ts\`, \`src/internal/connRestore.ts\`): a BLPOP whose caller left (interrupted, or past
  its read deadline) closed its connection at once, on the belief that closing stops the pop. It does not when the
  server is stalled: on SIGCONT, Redis served the queued RPUSH to the blocked (already closed) client before it read
  the close, and the element was gone. Scenario 2 lost 6 acknowledged elements in 6 s this way. Now the connection
  reads on until the server answers (bounded by the pop's own deadline, and through a close by the pool), and an
  element popped for nobody is pushed back where it came from (LPUSH/RPUSH/ZADD). A pop that blocks without limit
  still closes its connection when its caller leaves.
- **Fixed** (\`src/internal/pool.ts\`): scenario 9 opened 1173 connections for poolSize 40 (before this fix): every
  connection the fake server accepts passes its handshake and dies on its first reply, and the dial breaker counted
  only failed dials, so the pool redialed for every command (\`test/chaos/storm.test.ts\`: 800 connections for 200
  GETs). Now \`breakerThreshold\` connections in a row that fail before their first successful checkout open the
  breaker too, and it stays half-open (the probe's connections serve callers, the probe backs off) until one of
  them serves a caller.
- **Fixed** (\`src/RedisPool.ts\`): a pop whose caller left is released with \`CLIENT UNBLOCK\` from another
  connection, sent again every 100 ms while the server is stalled. Sent on the shared pipeline, right after the black
  hole of scenario 3 had swallowed the requests in flight there, its reply was taken for one of theirs: a short run on
  a loaded machine saw 6 INCRs answered 0 or 1 (and their writes counted as lost). It now goes on a connection
  checked out for it alone (\`test/RedisPool.test.ts\`, "the CLIENT UNBLOCK for a pop whose caller left...").

Notes:
- Scenario 3's black hole drops bytes in both directions and then forwards again, which TCP never does (it
  retransmits, or the connection dies). After the first read timeout on a connection the library writes nothing more
  there until the late replies land or the connection is closed (\`drainTimeout\`), but a command written between the
  hole's end and that first timeout would take a swallowed request's reply, and no RESP client can tell (RESP has no
  request ids). The workload shows none because every fiber is waiting on its swallowed command by then; a middlebox
  that drops bytes without closing the connection is a broken network, not a fault this library (or any) can mask.
- Scenario 6 injects bytes drawn from an alphabet with no RESP type marker, digit, CR or LF. Bytes that happen to
  form a valid RESP frame cannot be told from a reply by any client (RESP has no framing check); the library's
  answer to anything else is a \`ProtocolError\` and a closed connection.
- Scenario 9 runs the pool through a small server of the suite's own (\`test/chaos/HugeBulkServer.ts\`) that forwards
  to Redis, and for 2 s answers \`$4294967296\\r\\n\` plus 64 KiB instead (new connections get a fake handshake first).
- Timings come from a shared 2-core machine with other work running; they are figures, not guarantees.
`
}

const program = Effect.gen(function*() {
  const started = new Date()
  const results: Array<Result> = []
  let failed = false
  for (const scenario of chosen) {
    console.log(`scenario ${scenario.id} (${mode}): ${scenario.name}`)
    const result = yield* runScenario(scenario, { mode })
    console.log(summary(result))
    const broken = violations(result)
    if (broken.length > 0) {
      failed = true
      console.log(`  VIOLATIONS: ${broken.join("; ")}`)
    }
    results.push(result)
  }
  if (writeReport) {
    const seconds = Math.round((Date.now() - started.getTime()) / 1000)
    const file = path.join(import.meta.dirname, "..", "..", "RELIABILITY.md")
    fs.writeFileSync(file, report(results, started, seconds))
    console.log(`wrote ${file}`)
  }
  return failed
})

Effect.runPromise(program).then(
  (failed) => process.exit(failed ? 1 : 0),
  (error) => {
    console.error(error)
    process.exit(2)
  }
)
