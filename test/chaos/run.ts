/**
 * `npm run chaos`: runs the full version of every chaos scenario, one after
 * the other, prints a summary of each, and writes the table to
 * `RELIABILITY.md`. Exits non-zero when an invariant failed.
 *
 * ```sh
 * npm run chaos                 # all nine and the four cluster ones (11-14), full, writes RELIABILITY.md
 * npm run chaos -- --cluster     # only the cluster ones, full; rewrites RELIABILITY.md's cluster section only
 * npm run chaos -- 2 4 12        # only scenarios 2, 4 and 12 (RELIABILITY.md untouched)
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
import { type ClusterResult, clusterScenarios, clusterSummary, clusterViolations, runClusterScenario } from "./cluster.ts"
import { type Mode, scenarios } from "./scenarios.ts"

const args = process.argv.slice(2)
const mode: Mode = args.includes("--short") ? "short" : "full"
const clusterOnly = args.includes("--cluster")
const only = args.filter((arg) => /^\d+$/.test(arg)).map(Number)
const chosen = clusterOnly ? [] : scenarios.filter((scenario) => only.length === 0 || only.includes(scenario.id))
const chosenCluster = clusterScenarios.filter((scenario) => only.length === 0 || only.includes(scenario.id))
const writeReport = mode === "full" && only.length === 0 && !clusterOnly
const writeClusterReport = mode === "full" && only.length === 0

const CLUSTER_BEGIN = "<!-- cluster chaos: begin (written by npm run chaos) -->"
const CLUSTER_END = "<!-- cluster chaos: end -->"

const clusterRow = (r: ClusterResult): string =>
  [
    `${r.id}`,
    r.name.replace(/^cluster: /, ""),
    `${r.attempted}`,
    `${r.acked}`,
    `${r.attempted - r.acked - r.interrupted} (${failedTags(r)})`,
    `${r.lostToReplication} (${r.rolledBack} / ${r.redelivered})`,
    `${r.lostElsewhere} / ${r.lostAcked}`,
    `${r.durableAcked} / ${r.durableLost}`,
    `${r.appliedTwice} / ${r.appliedUnsent}`,
    `${r.misdelivered}`,
    `${r.silentPopLoss}`,
    `${r.popLostWithConnection} / ${r.popLostWithTimeout}`,
    r.recoveryMillis === undefined ? "n/a" : `${r.recoveryMillis}`,
    r.clusterMillis === undefined ? "n/a" : `${r.clusterMillis}`,
    `${r.refreshes} (${r.refreshesPerSecond}/s; ≤ ${r.refreshBound})`,
    `${r.redirects.moved} / ${r.redirects.ask}`,
    `${r.opened} on ${r.nodesUsed} nodes`,
    r.balanced && r.closed && r.leftoverClients === 0 && r.hung === 0 ? "yes" : `NO ${JSON.stringify(r.finalStats)}`,
    clusterViolations(r).length === 0
      ? "pass"
      : `FAIL: ${clusterViolations(r).join("; ")}`
  ].join(" | ")

const clusterReport = (results: ReadonlyArray<ClusterResult>, started: Date, seconds: number): string =>
  `${CLUSTER_BEGIN}
## On a cluster

Produced by \`npm run chaos\` (or \`npm run chaos -- --cluster\`) on ${started.toISOString()}, in ${seconds} s, same machine.
Each scenario starts its own 6-node cluster (3 masters, 1 replica each, \`cluster-node-timeout 1000\`, no persistence;
\`test/support/RedisCluster.ts\`) and runs the same ${results[0]?.fibers === undefined ? 208 : results[0].fibers - 8} fibers as above against one
\`Cluster.make\` service (poolSize ${results[0]?.poolSize ?? 20} per node, \`retryTimeout\` 10 s, every other option at its default; the keys
\`c:*\`, \`w:*\`, \`q:*\`, \`g:*\` spread over the three shards), plus 8 durable writers that RPUSH a unique id and then send
\`WAIT 1 1000\` on the same connection (the slot owner's, held by \`watch\`). The fault starts after 1.5 s and aims at the
shard of \`c:0\`.

Redis replicates asynchronously: a write the killed master acknowledged but had not yet sent to its replica is lost by
Redis itself when the replica takes over. Such losses are counted apart (**lost to replication**), and only on the
killed master's shard; **lost elsewhere** counts acknowledged writes lost on any other shard or in any other scenario
(must be 0, beside the single-node column **lost acked**, which then covers the other shards only), and **WAIT-acked /
lost** the writes a replica had confirmed (WAIT ≥ 1) and those of them missing afterwards (must be 0). The rollback
has two more effects on the killed shard, counted in the same column and excused only there and only after the kill:
replies that only a rollback explains (an INCR value seen before, an RPUSH length that shrank; anywhere else they
count as **wrong caller**), and elements popped from the dead master whose pop the replica never got, so that they
are in their queue again and popped twice (**pops redelivered**; anywhere else they count as **twice**). Every other
check (foreign ids, writes reported unsent yet applied, duplicates beyond those redelivered) holds on that shard too.

Columns as above, and:
- **recovery ms**: from the fault's start (a kill, the first migration; the end of a graceful failover or of the
  partition) to the first
  successful SET of a key of the faulted shard through the client (probed every 10 ms). **cluster ms**: the same fault's
  start to the test cluster's own view of health (every slot served by a reachable master) — the floor any client has.
- **refreshes**: topology reloads during the run (the first load not counted), per second, and the bound the router's
  100 ms cooldown allows (one per cooldown, plus two).
- **MOVED / ASK**: redirects the client followed.

| # | scenario | attempted | acked | failed | lost to replication (replies explained / pops redelivered) | lost elsewhere / lost acked | WAIT-acked / lost | twice / unsent-applied | wrong caller | silent pops | pops lost w/ conn / w/ read timeout | recovery ms | cluster ms | refreshes | MOVED / ASK | conns opened | at rest | invariants |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${results.map((r) => `| ${clusterRow(r)} |`).join("\n")}

Notes:
- Scenario 14 puts a \`FaultProxy\` in front of one master through the \`mapAddress\` option (the cluster bus is not
  proxied, so the cluster sees no failure and fails nothing over) and holds every byte of that node 2 s in both
  directions, in order, as TCP does while a partition lasts. With a proxy that drops the bytes instead and then
  forwards again, a short run saw 11 replies taken by the wrong caller: fibers busy on the other shards write new
  commands to the holed node's connections between the hole's end and their first read timeout, and those take the
  replies of requests the hole swallowed. No RESP client can tell (RESP has no request ids); TCP never drops bytes and
  then delivers later ones, so that is a network that no longer is one, as noted above.
- Scenario 11's loss column is Redis's, not the client's. On loopback a replica trails its master by well under a
  millisecond, so a plain kill lost nothing and could not tell WAIT-acknowledged writes from the others (and a
  replica stopped with SIGSTOP still reads the stream from its socket buffer when it resumes); the scenario
  therefore stops the replica and has the master drop its replication link (\`CLIENT KILL TYPE replica\`) 0.5 s
  before the kill, as a slow link would: writes the master acknowledged in that time are gone once the replica takes
  over (the column), WAIT-acknowledged ones never (the durable writers' WAITs time out with 0 during the cut and
  count as plain writes).
${CLUSTER_END}
`

const writeClusterSection = (section: string) => {
  const file = path.join(import.meta.dirname, "..", "..", "RELIABILITY.md")
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  const begin = current.indexOf(CLUSTER_BEGIN)
  const end = current.indexOf(CLUSTER_END)
  const next = begin !== -1 && end > begin
    ? current.slice(0, begin) + section + current.slice(end + CLUSTER_END.length + 1)
    : `${current.trimEnd()}\n\n${section}`
  fs.writeFileSync(file, next)
  console.log(`wrote ${file} (cluster section)`)
}

const failedTags = (result: Pick<Result, "failures">): string => {
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
  was popped for nobody, so only reply bytes destroyed in transit could cause this, which no scenario does (real TCP
  retransmits): it must be 0 everywhere.
- **recovery ms**: from the fault's end (the last one, for repeated faults: the slowest) to the next success (awaited by
  condition once the workload stops, for at most 2 × (1.5 × probeBackoffMax + dialTimeout + poolTimeout), 48 s with
  the defaults: the breaker's probe may be in its longest backoff when the fault ends).
- **conns opened**: handshakes completed during the run (\`onConnect\`); bound: 2 × (poolSize + connections the
  fault destroyed). In scenario 9, where every connection made during the fault dies before it serves (the fake
  server counts them: "born to die"), the bound is the fault's first victims + those + 2 × poolSize, and the born
  to die are bounded by the breaker: breakerThreshold (= poolSize) + poolSize dials under way when it opens + 10
  probes (\`connectionBound\`, \`breakerBound\` in \`test/chaos/harness.ts\`).
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
- **Fixed** (\`src/internal/pool.ts\`): under the full suite's load, scenario 9 made 113 connections born to die against
  the breaker's bound of 90. The \`CLIENT UNBLOCK\` the pool sends for consumers that left their BLPOPs went on a new
  connection, the fake server answered it like a handshake step, and that answer counted as the connection serving a
  caller: the breaker's count started over (or its half-open state closed) and the pool dialed for every caller
  again. The pool's own housekeeping now proves nothing to the breaker (\`test/chaos/storm.test.ts\`).
- **Fixed** (\`src/RedisPool.ts\`): a pop whose caller left is released with \`CLIENT UNBLOCK\` from another
  connection, sent again every 100 ms while the server is stalled. Sent on the shared pipeline, right after the black
  hole of scenario 3 had swallowed the requests in flight there, its reply was taken for one of theirs: a short run on
  a loaded machine saw 6 INCRs answered 0 or 1 (and their writes counted as lost). It now goes on a connection
  checked out for it alone (\`test/RedisPool.test.ts\`, "the CLIENT UNBLOCK for a pop whose caller left...").

Notes:
- Scenario 3's black hole holds every byte sent in it, both ways, and delivers them in order when it ends, as TCP
  does: the packets a black hole loses are retransmitted once the path is back. Until 2026-11-30 the proxy dropped
  them for good and then forwarded later bytes, which TCP never does; a command written between the hole's end and
  its connection's first read timeout then took the reply of a request the hole had swallowed, and no RESP client can
  tell (RESP has no request ids). The workload showed none while every fiber was still waiting on its swallowed
  command by then, until a loaded run of the suite saw 2 replies go to the wrong caller. A middlebox that drops bytes
  without closing the connection is a broken network, not a fault this library (or any) can mask; what it does to a
  connection (the first read timeout stops the writes there, \`drainTimeout\` closes it) is tested on its own with
  \`FaultProxy.setBlackHole\` (\`test/Conn.test.ts\` "requests a middlebox dropped…", \`test/RedisPool.test.ts\`,
  \`test/PubSub.test.ts\`).
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
  const clusterStarted = new Date()
  const clusterResults: Array<ClusterResult> = []
  for (const scenario of chosenCluster) {
    console.log(`scenario ${scenario.id} (${mode}): ${scenario.name}`)
    const result = yield* runClusterScenario(scenario, { mode })
    console.log(clusterSummary(result))
    const broken = clusterViolations(result)
    if (broken.length > 0) {
      failed = true
      console.log(`  VIOLATIONS: ${broken.join("; ")}`)
    }
    clusterResults.push(result)
  }
  if (writeClusterReport && clusterResults.length > 0) {
    const seconds = Math.round((Date.now() - clusterStarted.getTime()) / 1000)
    writeClusterSection(clusterReport(clusterResults, clusterStarted, seconds))
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
