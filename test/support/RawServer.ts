/**
 * A hostile front for tests of what a client does with bytes a real Redis would
 * never send: a loopback TCP (or TLS) server that writes `greeting` to every
 * client the moment it accepts it, then either forwards both ways to `target`
 * (a real redis-server, so that every reply after the greeting is genuine) or
 * answers each command with what `respond` returns (a scripted server, for
 * replies of shapes a real one never sends). With `tls`, it terminates TLS and
 * records the server name (SNI) each client sent.
 *
 * Everything is closed when the scope closes. No timers.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as tls from "node:tls"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Decoder, type Reply } from "../../src/Resp.ts"

/**
 * The server could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class RawServerError extends Data.TaggedError("RawServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawServerOptions {
  /** Written to each client as soon as it is accepted (before anything is read from it). */
  readonly greeting?: string | Uint8Array | undefined
  /** A loopback port to forward each client to after the greeting. */
  readonly target?: number | undefined
  /** Without a `target`: the bytes to answer each command with (its arguments as strings), in order. */
  readonly respond?: ((command: ReadonlyArray<string>) => string | Uint8Array) | undefined
  /** Terminates TLS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
}

/**
 * A listening server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawServer {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: number
  /** With `tls`: the server name each client sent, in order (`false` when it sent none). */
  readonly servernames: ReadonlyArray<string | false>
}

/**
 * Listens on a free loopback port in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RawServerOptions = {}): Effect.Effect<RawServer, RawServerError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly raw: RawServer; readonly close: () => void }, RawServerError>((resume) => {
      const sockets = new Set<net.Socket>()
      const servernames: Array<string | false> = []
      let accepted = 0
      const track = (socket: net.Socket) => {
        sockets.add(socket)
        socket.on("error", () => socket.destroy())
        socket.on("close", () => sockets.delete(socket))
      }
      const serve = (client: net.Socket) => {
        accepted++
        track(client)
        if (client instanceof tls.TLSSocket) servernames.push((client as tls.TLSSocket & { servername: string | false }).servername)
        if (options.greeting !== undefined) client.write(options.greeting)
        const respond = options.respond
        if (respond !== undefined) {
          const commands = new Decoder({
            onReply: (command: Reply) => {
              client.write(respond((command as ReadonlyArray<Reply>).map((arg) => String(arg))))
            }
          })
          client.on("data", (bytes: Buffer) => {
            try {
              commands.write(bytes)
            } catch {
              client.destroy()
            }
          })
        }
        if (options.target === undefined) return
        client.pause()
        const upstream = net.connect({ host: "127.0.0.1", port: options.target }, () => {
          client.pipe(upstream)
          upstream.pipe(client)
          client.resume()
        })
        track(upstream)
        upstream.on("close", () => client.destroy())
        client.on("close", () => upstream.destroy())
      }
      const server = options.tls !== undefined
        ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, serve)
        : net.createServer({ noDelay: true }, serve)
      const close = () => {
        server.close()
        for (const socket of sockets) socket.destroy()
      }
      server.once("error", (cause) => resume(Effect.fail(new RawServerError({ message: cause.message, cause }))))
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({
          raw: {
            port,
            get accepted() {
              return accepted
            },
            servernames
          },
          close
        }))
      })
    }),
    ({ close }) => Effect.sync(close)
  ).pipe(Effect.map(({ raw }) => raw))

/**
 * A RESP3 `HELLO` reply: `proto` 3 and client id 7.
 *
 * @since 0.1.0
 * @category scripted servers
 */
export const helloMap = "%2\r\n+proto\r\n:3\r\n+id\r\n:7\r\n"

/**
 * A command's name as a scripted server sees it: `CLIENT` with its subcommand (`CLIENT ID`), upper case.
 *
 * @since 0.1.0
 * @category scripted servers
 */
export const commandOf = (args: ReadonlyArray<string>): string =>
  args.slice(0, args[0]?.toUpperCase() === "CLIENT" ? 2 : 1).join(" ").toUpperCase()

/**
 * A `respond` for {@link make} that answers the handshake well (`HELLO` with {@link helloMap}, `CLIENT ID` 7,
 * `PING` PONG, the rest OK), except where `override` returns an answer of its own.
 *
 * @since 0.1.0
 * @category scripted servers
 */
export const handshakeReplies = (
  override: (command: string, args: ReadonlyArray<string>) => string | undefined = () => undefined
) =>
(args: ReadonlyArray<string>): string => {
  const command = commandOf(args)
  const replaced = override(command, args)
  if (replaced !== undefined) return replaced
  switch (command) {
    case "HELLO":
      return helloMap
    case "CLIENT ID":
      return ":7\r\n"
    case "PING":
      return "+PONG\r\n"
    default:
      return "+OK\r\n"
  }
}

/**
 * An override for {@link handshakeReplies}: a server older than Redis 6 that does not know `HELLO`.
 *
 * @since 0.1.0
 * @category scripted servers
 */
export const unknownHello = (command: string): string | undefined =>
  command === "HELLO" ? "-ERR unknown command 'HELLO'\r\n" : undefined
