/**
 * A bare TCP (or TLS, or Unix socket) client for tests that need to see bytes
 * exactly as they arrive: every `data` event is kept as one read, so a test can
 * count reads and look at raw replies without any RESP decoder.
 *
 * Waits use real timers, not Effect's `Clock`.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as tls from "node:tls"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Connecting failed, the socket closed before the awaited bytes came, or the
 * wait timed out (`reason`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RawSocketError extends Data.TaggedError("RawSocketError")<{
  readonly reason: "connect" | "closed" | "timeout"
  readonly message: string
}> {}

/**
 * A connected socket and what it has received so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawSocket {
  readonly socket: net.Socket
  /** Every read (`data` event), in order. */
  readonly reads: ReadonlyArray<Buffer>
  /** All bytes received so far. */
  readonly received: Buffer
  /** Whether the socket has closed. */
  readonly closed: boolean
  readonly write: (bytes: string | Uint8Array) => Effect.Effect<void>
  /**
   * Waits until `predicate(received)` holds (default: 10 s); fails with
   * `closed` if the socket closes first, `timeout` if the bound passes.
   */
  readonly waitFor: (predicate: (received: Buffer) => boolean, timeoutMillis?: number) => Effect.Effect<Buffer, RawSocketError>
  /** Waits until the socket has closed (default: 10 s). */
  readonly waitClosed: (timeoutMillis?: number) => Effect.Effect<void, RawSocketError>
}

/**
 * Where to connect: a TCP port on 127.0.0.1 (`port`), a Unix socket (`path`),
 * optionally with TLS options.
 *
 * @since 0.1.0
 * @category models
 */
export type RawSocketTarget =
  | { readonly port: number; readonly host?: string | undefined; readonly tls?: tls.ConnectionOptions | undefined }
  | { readonly path: string }

/**
 * Connects in the current scope (destroyed when it closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (target: RawSocketTarget | number): Effect.Effect<RawSocket, RawSocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<RawSocket, RawSocketError>((resume) => {
      const to: RawSocketTarget = typeof target === "number" ? { port: target } : target
      const reads: Array<Buffer> = []
      let buffer = Buffer.alloc(1024)
      let length = 0
      let received = buffer.subarray(0, 0)
      let closed = false
      const listeners = new Set<() => void>()
      const notify = () => {
        for (const listener of [...listeners]) listener()
      }
      const socket = "path" in to
        ? net.connect({ path: to.path })
        : to.tls !== undefined
        ? tls.connect({ host: to.host ?? "127.0.0.1", port: to.port, ...to.tls })
        : net.connect({ host: to.host ?? "127.0.0.1", port: to.port })
      socket.setNoDelay?.(true)
      let connected = false
      socket.on("data", (bytes: Buffer) => {
        reads.push(bytes)
        if (length + bytes.length > buffer.length) {
          const grown = Buffer.alloc(Math.max(buffer.length * 2, length + bytes.length))
          buffer.copy(grown, 0, 0, length)
          buffer = grown
        }
        bytes.copy(buffer, length)
        length += bytes.length
        received = buffer.subarray(0, length)
        notify()
      })
      socket.on("error", (cause) => {
        if (!connected) resume(Effect.fail(new RawSocketError({ reason: "connect", message: cause.message })))
      })
      socket.on("close", () => {
        closed = true
        notify()
      })
      const wait = <A>(check: () => A | undefined, describe: string, timeoutMillis: number) =>
        Effect.callback<A, RawSocketError>((resume) => {
          const listener = () => {
            const value = check()
            if (value !== undefined) {
              finish()
              resume(Effect.succeed(value))
            } else if (closed) {
              finish()
              resume(Effect.fail(new RawSocketError({ reason: "closed", message: `closed before ${describe}; received ${JSON.stringify(received.toString("latin1").slice(0, 200))}` })))
            }
          }
          const timer = setTimeout(() => {
            finish()
            resume(Effect.fail(new RawSocketError({ reason: "timeout", message: `no ${describe} within ${timeoutMillis} ms; received ${JSON.stringify(received.toString("latin1").slice(0, 200))}` })))
          }, timeoutMillis)
          const finish = () => {
            clearTimeout(timer)
            listeners.delete(listener)
          }
          listeners.add(listener)
          listener()
          return Effect.sync(finish)
        })
      const raw: RawSocket = {
        socket,
        reads,
        get received() {
          return received
        },
        get closed() {
          return closed
        },
        write: (bytes) => Effect.sync(() => void socket.write(bytes)),
        waitFor: (predicate, timeoutMillis = 10_000) =>
          wait(() => (predicate(received) ? received : undefined), "awaited bytes", timeoutMillis),
        waitClosed: (timeoutMillis = 10_000) => wait(() => (closed ? true : undefined), "close", timeoutMillis).pipe(Effect.asVoid)
      }
      socket.once("tls" in to && to.tls !== undefined ? "secureConnect" : "connect", () => {
        connected = true
        resume(Effect.succeed(raw))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (raw) => Effect.sync(() => raw.socket.destroy())
  )

/**
 * A predicate for `waitFor`: the received bytes contain `text` (latin1) at least `times` times.
 *
 * @since 0.1.0
 * @category predicates
 */
export const contains = (text: string, times = 1) => (received: Buffer): boolean => {
  let count = 0
  let from = 0
  const needle = Buffer.from(text, "latin1")
  while (count < times) {
    const index = received.indexOf(needle, from)
    if (index === -1) return false
    count++
    from = index + needle.length
  }
  return true
}
