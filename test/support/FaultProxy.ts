/**
 * A loopback TCP proxy in front of a server, for fault tests.
 *
 * Every accepted connection gets its own connection to the target, and bytes
 * flow through two lanes (client→server, server→client) that keep their
 * order. Faults are switched at run time:
 *
 * - `setDelay(ms)`: each chunk is held `ms` after it arrived, in both
 *   directions; order is preserved (a chunk never overtakes an earlier one).
 * - `setChunkSize(n)`: forwarded bytes are written `n` at a time, each piece
 *   flushed to the kernel and followed by a turn of the event loop, so the
 *   receiver really sees separate reads. Both directions.
 * - `setHold(true)`: a black hole as TCP lives through it: nothing is delivered
 *   in either direction (new connections are still accepted and dialed, their
 *   bytes held too) until `setHold(false)`, then everything held is delivered
 *   in order, as the retransmissions of a TCP connection arrive once the path
 *   is back. Bounded by `maxQueuedBytes` per lane like a delay (the source is
 *   paused), as a TCP window fills.
 * - `setBlackHole(true)`: bytes are accepted and dropped in both directions
 *   (new connections are still accepted and dialed). Dropped bytes are gone
 *   for good: after `setBlackHole(false)` only data that arrives from then on
 *   is forwarded, so a connection that lost bytes mid-stream stays out of step
 *   (a client should have timed it out and closed it). Bytes that arrived
 *   before the switch, still waiting in a delayed lane, are delivered.
 * - `cutAll`: destroys every current connection (both sides).
 * - `inject(bytes)`: appends bytes to the server→client lane of the latest
 *   (or every) connection, after whatever is queued there.
 * - `cutOnNextReply`: the next chunk the server sends on any connection is
 *   dropped and that connection destroyed (the command ran; its reply is lost).
 * - `cutMidReply(n)`: the next server→client data on any connection is
 *   forwarded for `n` bytes (across chunks if needed), then the connection is
 *   destroyed.
 * - `reset`: back to plain forwarding (no delay, chunking, hold, black hole or armed cut).
 *
 * Memory is bounded: a lane holding more than `maxQueuedBytes` pauses its
 * source socket until it drains. Everything is closed when the scope closes.
 * Timers are real (`setTimeout`), not Effect's `Clock`.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { RedisServer } from "./RedisServer.ts"

/**
 * The proxy could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class FaultProxyError extends Data.TaggedError("FaultProxyError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Counters of a proxy since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyStats {
  /** Connections accepted from clients. */
  readonly accepted: number
  /** Connections currently open (client side not yet closed). */
  readonly open: number
  /** Bytes written to the server / to clients. */
  readonly bytesToServer: number
  readonly bytesToClient: number
  /** Bytes dropped by the black hole or by `cutOnNextReply`. */
  readonly bytesDropped: number
  /** Connections destroyed by `cutAll`, `cutOnNextReply` and `cutMidReply`. */
  readonly cuts: number
  /** Armed cuts (`cutOnNextReply`, `cutMidReply`) still waiting for server data. */
  readonly armed: number
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyOptions {
  /** Bytes a lane may hold before its source is paused. Default 4 MiB. */
  readonly maxQueuedBytes?: number | undefined
}

/**
 * A running proxy. Every operation is an Effect that takes effect at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxy {
  readonly host: "127.0.0.1"
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly target: { readonly host: string; readonly port: number }
  /** Holds every chunk `millis` after its arrival (0 = off), both directions, order preserved. */
  readonly setDelay: (millis: number) => Effect.Effect<void>
  /** Writes forwarded bytes `bytes` at a time (0 or undefined = off), both directions. */
  readonly setChunkSize: (bytes: number | undefined) => Effect.Effect<void>
  /** Holds all bytes in both directions while on, and delivers them in order when turned off (see the module doc). */
  readonly setHold: (on: boolean) => Effect.Effect<void>
  /** Drops all bytes in both directions while on; see the module doc for what is lost. */
  readonly setBlackHole: (on: boolean) => Effect.Effect<void>
  /** Destroys every current connection; returns how many. */
  readonly cutAll: Effect.Effect<number>
  /** Queues `bytes` to the client of the latest connection (default) or of every one; returns how many got them. */
  readonly inject: (bytes: Uint8Array | string, options?: { readonly to?: "latest" | "all" }) => Effect.Effect<number>
  /** Arms: the next server→client chunk is dropped and its connection destroyed. */
  readonly cutOnNextReply: Effect.Effect<void>
  /** Arms: the next server→client data is forwarded for `bytes` bytes, then its connection destroyed. */
  readonly cutMidReply: (bytes: number) => Effect.Effect<void>
  /** Back to plain forwarding: no delay, chunking, hold or black hole; armed cuts disarmed. */
  readonly reset: Effect.Effect<void>
  readonly stats: Effect.Effect<FaultProxyStats>
}

/**
 * The service key, for suites that share a proxy through `layer(...)`.
 *
 * @since 0.1.0
 * @category services
 */
export const FaultProxy = Context.Service<FaultProxy>("effect-redis-pool/test/FaultProxy")

type Item =
  | { readonly kind: "data"; readonly due: number; readonly bytes: Buffer }
  | { readonly kind: "end"; readonly due: number }
  | { readonly kind: "destroy"; readonly due: number }

type Arm = { readonly kind: "drop" } | { readonly kind: "mid"; remaining: number; conn: Connection | undefined }

interface State {
  delay: number
  chunkSize: number
  hold: boolean
  blackHole: boolean
  arms: Array<Arm>
  readonly maxQueuedBytes: number
  accepted: number
  bytesToServer: number
  bytesToClient: number
  bytesDropped: number
  cuts: number
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** One direction of a connection: a FIFO of items written to `dst` in order. */
class Lane {
  readonly src: net.Socket
  readonly dst: net.Socket
  readonly conn: Connection
  readonly toClient: boolean
  readonly items: Array<Item> = []
  queuedBytes = 0
  pumping = false

  constructor(src: net.Socket, dst: net.Socket, conn: Connection, toClient: boolean) {
    this.src = src
    this.dst = dst
    this.conn = conn
    this.toClient = toClient
  }

  push(item: Item) {
    if (this.conn.destroyed) return
    const state = this.conn.state
    if (item.kind === "data" && !state.hold && !this.pumping && item.due <= Date.now() && state.chunkSize === 0 && this.items.length === 0 && this.dst.writableLength === 0) {
      this.write(item.bytes)
      return
    }
    this.items.push(item)
    if (item.kind === "data") {
      this.queuedBytes += item.bytes.length
      if (this.queuedBytes > state.maxQueuedBytes) this.src.pause()
    }
    if (!this.pumping && !state.hold) void this.pump()
  }

  /** After a hold: delivers what it kept. */
  release() {
    if (!this.pumping && this.items.length > 0) void this.pump()
  }

  write(bytes: Buffer, callback?: () => void): boolean {
    if (this.toClient) this.conn.state.bytesToClient += bytes.length
    else this.conn.state.bytesToServer += bytes.length
    return this.dst.write(bytes, callback)
  }

  async pump() {
    this.pumping = true
    try {
      while (this.items.length > 0 && !this.conn.destroyed && !this.conn.state.hold) {
        const item = this.items.shift()!
        const wait = item.due - Date.now()
        if (wait > 0) await sleep(wait)
        if (this.conn.destroyed) return
        if (item.kind === "destroy") return this.conn.destroy()
        if (item.kind === "end") {
          this.dst.end()
          continue
        }
        await this.writeAll(item.bytes)
        this.queuedBytes -= item.bytes.length
        if (this.queuedBytes <= this.conn.state.maxQueuedBytes / 2 && this.src.isPaused()) this.src.resume()
      }
    } finally {
      this.pumping = false
    }
  }

  async writeAll(bytes: Buffer) {
    let offset = 0
    while (offset < bytes.length && !this.conn.destroyed) {
      const size = this.conn.state.chunkSize
      const piece = size > 0 ? bytes.subarray(offset, offset + size) : bytes.subarray(offset)
      offset += piece.length
      if (size > 0) {
        // Each piece is written from its own turn of the event loop, so the
        // receiver's poll phase runs between two pieces and reads them apart.
        await nextTurn()
        if (this.conn.destroyed) return
        await new Promise<void>((resolve) => this.write(piece, () => resolve()))
      } else if (!this.write(piece)) {
        await this.drained()
      }
    }
  }

  drained() {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.dst.off("drain", done)
        this.dst.off("close", done)
        resolve()
      }
      this.dst.once("drain", done)
      this.dst.once("close", done)
    })
  }
}

class Connection {
  readonly state: State
  readonly client: net.Socket
  readonly server: net.Socket
  readonly toServer: Lane
  readonly toClient: Lane
  destroyed = false
  readonly onGone: (conn: Connection) => void

  constructor(state: State, client: net.Socket, target: { host: string; port: number }, onGone: (conn: Connection) => void) {
    this.state = state
    this.client = client
    this.onGone = onGone
    this.server = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true })
    client.setNoDelay(true)
    this.toServer = new Lane(client, this.server, this, false)
    this.toClient = new Lane(this.server, client, this, true)
    client.on("data", (bytes: Buffer) => this.fromClient(bytes))
    this.server.on("data", (bytes: Buffer) => this.fromServer(bytes))
    client.on("end", () => this.toServer.push({ kind: "end", due: Date.now() + state.delay }))
    this.server.on("end", () => this.toClient.push({ kind: "end", due: Date.now() + state.delay }))
    for (const socket of [client, this.server]) {
      socket.on("error", () => this.destroy())
      // A server that closed after its FIN still has its replies in the lane; the
      // lane's "end" item finishes the client side, and the client's close ends all.
      socket.on("close", () => {
        if (socket === client || !this.server.readableEnded) this.destroy()
      })
    }
  }

  fromClient(bytes: Buffer) {
    if (this.state.blackHole) {
      this.state.bytesDropped += bytes.length
      return
    }
    this.toServer.push({ kind: "data", due: Date.now() + this.state.delay, bytes })
  }

  fromServer(bytes: Buffer) {
    const state = this.state
    if (state.blackHole) {
      state.bytesDropped += bytes.length
      return
    }
    const due = Date.now() + state.delay
    const index = state.arms.findIndex((arm) => arm.kind === "drop" || arm.conn === undefined || arm.conn === this)
    const arm = index === -1 ? undefined : state.arms[index]
    if (arm === undefined) {
      this.toClient.push({ kind: "data", due, bytes })
    } else if (arm.kind === "drop") {
      state.arms.splice(index, 1)
      state.bytesDropped += bytes.length
      state.cuts++
      this.toClient.push({ kind: "destroy", due })
    } else {
      arm.conn = this
      const head = bytes.subarray(0, arm.remaining)
      arm.remaining -= head.length
      if (head.length > 0) this.toClient.push({ kind: "data", due, bytes: head })
      if (arm.remaining === 0) {
        state.arms.splice(index, 1)
        state.bytesDropped += bytes.length - head.length
        state.cuts++
        this.toClient.push({ kind: "destroy", due })
      }
    }
  }

  destroy() {
    if (this.destroyed) return
    this.destroyed = true
    this.client.destroy()
    this.server.destroy()
    for (const arm of this.state.arms) {
      if (arm.kind === "mid" && arm.conn === this) arm.conn = undefined
    }
    this.onGone(this)
  }
}

/**
 * Starts a proxy on a free loopback port in front of `target`, in the current
 * scope. Closing the scope stops listening and destroys every connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  target: { readonly host?: string | undefined; readonly port: number },
  options: FaultProxyOptions = {}
): Effect.Effect<FaultProxy, FaultProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    const to = { host: target.host ?? "127.0.0.1", port: target.port }
    const state: State = {
      delay: 0,
      chunkSize: 0,
      hold: false,
      blackHole: false,
      arms: [],
      maxQueuedBytes: options.maxQueuedBytes ?? 4 * 1024 * 1024,
      accepted: 0,
      bytesToServer: 0,
      bytesToClient: 0,
      bytesDropped: 0,
      cuts: 0
    }
    const connections = new Set<Connection>()
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
      state.accepted++
      connections.add(new Connection(state, client, to, (conn) => connections.delete(conn)))
    })
    const port = yield* Effect.acquireRelease(
      Effect.callback<number, FaultProxyError>((resume) => {
        server.once("error", (cause) => resume(Effect.fail(new FaultProxyError({ message: `proxy could not listen: ${cause.message}`, cause }))))
        server.listen({ host: "127.0.0.1", port: 0 }, () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          for (const conn of connections) conn.destroy()
        })
    )
    const setHold = (on: boolean) => {
      state.hold = on
      if (on) return
      for (const conn of connections) {
        conn.toServer.release()
        conn.toClient.release()
      }
    }
    const latest = () => {
      let last: Connection | undefined
      for (const conn of connections) last = conn
      return last
    }
    const proxy: FaultProxy = {
      host: "127.0.0.1",
      port,
      url: `redis://127.0.0.1:${port}`,
      target: to,
      setDelay: (millis) => Effect.sync(() => void (state.delay = Math.max(0, millis))),
      setChunkSize: (bytes) => Effect.sync(() => void (state.chunkSize = Math.max(0, Math.floor(bytes ?? 0)))),
      setHold: (on) => Effect.sync(() => setHold(on)),
      setBlackHole: (on) => Effect.sync(() => void (state.blackHole = on)),
      cutAll: Effect.sync(() => {
        const all = [...connections]
        for (const conn of all) conn.destroy()
        state.cuts += all.length
        return all.length
      }),
      inject: (bytes, options) =>
        Effect.sync(() => {
          const buffer = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes)
          const last = latest()
          const targets = options?.to === "all" ? [...connections] : last === undefined ? [] : [last]
          for (const conn of targets) conn.toClient.push({ kind: "data", due: Date.now() + state.delay, bytes: buffer })
          return targets.length
        }),
      cutOnNextReply: Effect.sync(() => void state.arms.push({ kind: "drop" })),
      cutMidReply: (bytes) =>
        Effect.sync(() => void state.arms.push({ kind: "mid", remaining: Math.max(0, Math.floor(bytes)), conn: undefined })),
      reset: Effect.sync(() => {
        state.delay = 0
        state.chunkSize = 0
        setHold(false)
        state.blackHole = false
        state.arms = []
      }),
      stats: Effect.sync(() => ({
        accepted: state.accepted,
        open: connections.size,
        bytesToServer: state.bytesToServer,
        bytesToClient: state.bytesToClient,
        bytesDropped: state.bytesDropped,
        cuts: state.cuts,
        armed: state.arms.length
      }))
    }
    return proxy
  })

/**
 * A layer providing {@link FaultProxy} in front of `target`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  target: { readonly host?: string | undefined; readonly port: number },
  options?: FaultProxyOptions
): Layer.Layer<FaultProxy, FaultProxyError> => Layer.effect(FaultProxy, make(target, options))

/**
 * A layer providing {@link FaultProxy} in front of the suite's {@link RedisServer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (options?: FaultProxyOptions): Layer.Layer<FaultProxy, FaultProxyError, RedisServer> =>
  Layer.effect(
    FaultProxy,
    Effect.gen(function*() {
      const server = yield* RedisServer
      return yield* make({ port: server.port }, options)
    })
  )
