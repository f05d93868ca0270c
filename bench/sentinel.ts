/**
 * `npm run bench sentinel`: how soon writes resume after the master of a
 * Sentinel group is killed, for this library's `Sentinel` layer, ioredis
 * (`sentinels` + `name`, `failoverDetector` on and off) and node-redis
 * `createSentinel`, in the same process, against the same group, at once.
 * Each client writes `SET` in a loop (10 ms pause after a failure); the
 * master is killed with SIGKILL; reported per client: milliseconds from the
 * kill to its first successful write, and from `+switch-master` (heard on a
 * raw subscriber) to it. A fresh group (1 master, 1 replica, 3 sentinels,
 * `down-after-milliseconds 1000`, from `test/support/RedisSentinel.ts`) per
 * round. Options: `ROUNDS` (default 3), `BOUND` ms per round (default 20 000).
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Redis as IORedis } from "ioredis"
import { createSentinel } from "redis"
import * as Sentinel from "../src/Sentinel.ts"
import * as RedisSentinel from "../test/support/RedisSentinel.ts"

const ROUNDS = Number(process.env["ROUNDS"] ?? 3)
const BOUND = Number(process.env["BOUND"] ?? 20_000)

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Writer {
  readonly name: string
  /** Epoch ms of the first successful write after `killedAt`, once there is one. */
  firstAfter: number | undefined
  /** Writes failed after the kill. */
  failures: number
}

/** A write loop until `stop()`: `write` resolves on success and rejects on failure. */
const loop = (writer: Writer, write: (i: number) => Promise<unknown>, killedAt: () => number | undefined) => {
  let stopped = false
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const issued = Date.now()
      try {
        await write(i)
        const killed = killedAt()
        if (killed !== undefined && issued >= killed && writer.firstAfter === undefined) writer.firstAfter = Date.now()
      } catch {
        if (killedAt() !== undefined) writer.failures++
        await sleep(10)
      }
    }
  })()
  return async () => {
    stopped = true
    await done
  }
}

/** Epoch ms at which a sentinel announced `+switch-master`, heard on a raw RESP2 subscriber. */
const switchListener = (port: number) => {
  let at: number | undefined
  const socket = net.connect({ host: "127.0.0.1", port })
  socket.on("error", () => {})
  socket.write("SUBSCRIBE +switch-master\r\n")
  socket.on("data", (chunk) => {
    if (at === undefined && chunk.toString("latin1").includes("message")) at = Date.now()
  })
  return { at: () => at, close: () => socket.destroy() }
}

const round = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const group = yield* Scope.provide(RedisSentinel.make(), scope)
  const master = yield* group.master
  const sentinels = group.sentinels.map((node) => ({ host: node.host, port: node.port }))
  let killedAt: number | undefined
  const killed = () => killedAt

  const ours = yield* Scope.provide(
    Sentinel.make({ sentinel: { masterName: group.masterName, sentinels: group.sentinelAddresses } }),
    scope
  )
  const io = new IORedis({ sentinels, name: group.masterName, lazyConnect: false })
  const ioDetector = new IORedis({ sentinels, name: group.masterName, failoverDetector: true })
  const nr = createSentinel({ name: group.masterName, sentinelRootNodes: sentinels })
  nr.on("error", () => {})
  io.on("error", () => {})
  ioDetector.on("error", () => {})
  yield* Effect.promise(() => nr.connect())

  const writers: Array<Writer> = ["ours", "ioredis", "ioredis failoverDetector", "node-redis createSentinel"].map(
    (name) => ({ name, firstAfter: undefined, failures: 0 })
  )
  const stops = [
    loop(writers[0]!, (i) => Effect.runPromise(ours.send("SET", "bench:ours", i)), killed),
    loop(writers[1]!, (i) => io.set("bench:io", String(i)), killed),
    loop(writers[2]!, (i) => ioDetector.set("bench:iod", String(i)), killed),
    loop(writers[3]!, (i) => nr.set("bench:nr", String(i)), killed)
  ]
  yield* Effect.promise(() => sleep(500))
  const listener = switchListener(group.sentinels[0]!.port)
  yield* Effect.promise(() => sleep(200))
  yield* group.kill(master)
  killedAt = Date.now()
  const deadline = Date.now() + BOUND
  yield* Effect.promise(async () => {
    while (Date.now() < deadline && writers.some((w) => w.firstAfter === undefined)) await sleep(5)
  })
  for (const stop of stops) yield* Effect.promise(stop)
  listener.close()
  io.disconnect()
  ioDetector.disconnect()
  yield* Effect.promise(() => nr.close().catch(() => {}))
  yield* Scope.close(scope, Exit.void)
  const switchAt = listener.at()
  return writers.map((w) => ({
    name: w.name,
    fromKill: w.firstAfter === undefined ? Number.NaN : w.firstAfter - killedAt!,
    fromSwitch: w.firstAfter === undefined || switchAt === undefined ? Number.NaN : w.firstAfter - switchAt,
    failures: w.failures,
    switchAfterKill: switchAt === undefined ? Number.NaN : switchAt - killedAt!
  }))
})

const main = Effect.gen(function*() {
  const results: Array<Array<{ name: string; fromKill: number; fromSwitch: number; failures: number; switchAfterKill: number }>> = []
  for (let r = 0; r < ROUNDS; r++) {
    const result = yield* round
    results.push(result)
    console.log(`round ${r + 1}: +switch-master ${result[0]!.switchAfterKill} ms after the kill; ` +
      result.map((w) => `${w.name} ${w.fromKill} ms (${w.fromSwitch >= 0 ? "+" : ""}${w.fromSwitch})`).join(", "))
  }
  console.log(`\nfirst successful write after a master kill, medians of ${ROUNDS} rounds (ms after the kill / after +switch-master):`)
  for (const name of results[0]!.map((w) => w.name)) {
    const mine = results.map((round) => round.find((w) => w.name === name)!)
    console.log(
      `  ${name.padEnd(28)} ${String(median(mine.map((w) => w.fromKill))).padStart(6)} / ${
        String(median(mine.map((w) => w.fromSwitch))).padStart(6)
      }   failed writes in the window: ${median(mine.map((w) => w.failures))}`
    )
  }
})

Effect.runPromise(main).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
