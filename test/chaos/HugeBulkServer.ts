/**
 * A loopback server that forwards to a real Redis until it is switched to
 * "huge" mode; from then on it answers with a bulk string declared 4 GiB long
 * (`$4294967296\r\n` followed by 64 KiB of filler, then nothing), which real
 * Redis never does:
 *
 * - a forwarded connection gets that header in place of its next reply, and is
 *   poisoned: nothing the server sends on it is forwarded any more;
 * - a connection opened in huge mode is answered by the fake itself, which
 *   speaks just enough RESP for the handshake (HELLO is refused with "unknown
 *   command", so the client falls back to RESP2; PING, AUTH, SELECT and CLIENT
 *   succeed, CLIENT ID with an integer), then answers the first other command
 *   with the header.
 *
 * The client must fail those callers with a bounded error and close the
 * connection; closing it is the client's job, the fake never does.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * The server's handle.
 *
 * @since 0.1.0
 * @category models
 */
export interface HugeBulkServer {
  readonly port: number
  /** "forward" (plain proxy) or "huge". */
  readonly setMode: (mode: "forward" | "huge") => Effect.Effect<void>
  /**
   * Connections accepted, open, and accepted in huge mode (`fakes`: each stays fake and dies on its first
   * command, during the fault or after it), huge headers sent, and `CLIENT UNBLOCK`s a fake answered.
   */
  readonly stats: Effect.Effect<
    {
      readonly accepted: number
      readonly clients: number
      readonly fakes: number
      readonly hugeReplies: number
      readonly unblocks: number
    }
  >
}

const HEADER = Buffer.from("$4294967296\r\n", "latin1")
const FILLER = Buffer.alloc(64 * 1024, "x")

/** Reads complete RESP arrays of bulk strings (what clients send) from `buffer`; returns them and the rest. */
const parseCommands = (buffer: Buffer): { commands: Array<Array<string>>; rest: Buffer } => {
  const commands: Array<Array<string>> = []
  let offset = 0
  const line = (from: number): { text: string; next: number } | undefined => {
    const end = buffer.indexOf("\r\n", from, "latin1")
    return end === -1 ? undefined : { text: buffer.toString("latin1", from, end), next: end + 2 }
  }
  while (offset < buffer.length) {
    const head = line(offset)
    if (head === undefined || !head.text.startsWith("*")) break
    const count = Number(head.text.slice(1))
    let at = head.next
    const args: Array<string> = []
    let complete = true
    for (let i = 0; i < count; i++) {
      const size = line(at)
      if (size === undefined || !size.text.startsWith("$")) {
        complete = false
        break
      }
      const length = Number(size.text.slice(1))
      if (size.next + length + 2 > buffer.length) {
        complete = false
        break
      }
      args.push(buffer.toString("latin1", size.next, size.next + length))
      at = size.next + length + 2
    }
    if (!complete) break
    commands.push(args)
    offset = at
  }
  return { commands, rest: buffer.subarray(offset) }
}

/**
 * Starts the server in front of `target` in the current scope, in "forward" mode.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (target: { readonly port: number }): Effect.Effect<HugeBulkServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let mode: "forward" | "huge" = "forward"
    let accepted = 0
    let fakes = 0
    let hugeReplies = 0
    let unblocks = 0
    const sockets = new Set<net.Socket>()
    const clients = new Set<net.Socket>()
    const track = (socket: net.Socket) => {
      sockets.add(socket)
      socket.on("error", () => socket.destroy())
      socket.once("close", () => sockets.delete(socket))
    }
    const sendHuge = (client: net.Socket) => {
      hugeReplies++
      client.write(HEADER)
      client.write(FILLER)
    }

    const forward = (client: net.Socket) => {
      const upstream = net.connect({ host: "127.0.0.1", port: target.port, noDelay: true })
      track(upstream)
      let poisoned = false
      client.on("data", (bytes: Buffer) => {
        if (!poisoned) upstream.write(bytes)
      })
      upstream.on("data", (bytes: Buffer) => {
        if (poisoned) return
        if (mode === "huge") {
          poisoned = true
          sendHuge(client)
          return
        }
        client.write(bytes)
      })
      client.once("close", () => upstream.destroy())
      upstream.once("close", () => client.destroy())
    }

    const fake = (client: net.Socket) => {
      let pending: Buffer = Buffer.alloc(0)
      let done = false
      client.on("data", (bytes: Buffer) => {
        if (done) return
        const parsed = parseCommands(Buffer.concat([pending, bytes]))
        pending = parsed.rest
        for (const args of parsed.commands) {
          const name = (args[0] ?? "").toUpperCase()
          if (name === "HELLO") client.write(`-ERR unknown command 'HELLO'\r\n`)
          else if (name === "PING") client.write("+PONG\r\n")
          // A client id is an integer, as the handshake checks.
          else if (name === "CLIENT" && (args[1] ?? "").toUpperCase() === "ID") client.write(`:${accepted}\r\n`)
          else if (name === "AUTH" || name === "SELECT" || name === "CLIENT") {
            // Like any CLIENT subcommand, an UNBLOCK gets an OK: the fake passes for a server there.
            if (name === "CLIENT" && (args[1] ?? "").toUpperCase() === "UNBLOCK") unblocks++
            client.write("+OK\r\n")
          }
          else {
            done = true
            sendHuge(client)
            return
          }
        }
      })
    }

    const server = net.createServer({ noDelay: true }, (client) => {
      accepted++
      track(client)
      clients.add(client)
      client.once("close", () => clients.delete(client))
      if (mode === "huge") {
        fakes++
        fake(client)
      } else {
        forward(client)
      }
    })
    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen({ host: "127.0.0.1", port: 0 }, () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          for (const socket of sockets) socket.destroy()
        })
    )
    return {
      port,
      setMode: (next) => Effect.sync(() => void (mode = next)),
      stats: Effect.sync(() => ({ accepted, clients: clients.size, fakes, hugeReplies, unblocks }))
    }
  })
