/**
 * Dialing a Redis server: TCP, TLS or a Unix socket, with failures sorted into
 * `ConnectionError` reasons (refused, dns, timeout, tls, closed, reset).
 *
 * @internal
 */
import * as net from "node:net"
import * as tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { ConnOptions } from "../Conn.ts"
import { ConnectionError, type ConnectionErrorReason } from "../Errors.ts"

const tlsCodes = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/

const dialError = (error: NodeJS.ErrnoException, address: string, tlsPhase: boolean): ConnectionError => {
  const code = error.code ?? ""
  let reason: ConnectionErrorReason
  if (code === "ECONNREFUSED" || code === "ENOENT" || code === "EACCES") reason = "refused"
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_FAIL" || code === "EAI_NONAME") reason = "dns"
  else if (code === "ETIMEDOUT") reason = "timeout"
  else if (tlsCodes.test(code) || (tlsPhase && code !== "ECONNRESET")) reason = "tls"
  else if (code === "ECONNRESET" || code === "EPIPE") reason = tlsPhase ? "tls" : "reset"
  else reason = "unknown"
  return new ConnectionError({
    reason,
    message: `${reason}: dialing ${address} failed: ${error.message}`,
    address,
    written: false,
    cause: error
  })
}

const ignore = () => {}

/**
 * The socket makers `dial` calls: Node's own. A seam for tests that script what a socket does (errors the network
 * cannot be made to produce on demand); they put them back when done.
 *
 * @internal
 */
export const connectors: {
  net: (options: net.NetConnectOpts) => net.Socket
  tls: (options: tls.ConnectionOptions) => tls.TLSSocket
} = { net: (options) => net.connect(options), tls: (options) => tls.connect(options) }

export const dial = (options: ConnOptions, address: string): Effect.Effect<net.Socket, ConnectionError> =>
  Effect.callback<net.Socket, ConnectionError>((resume) => {
    const useTls = options.tls !== undefined && options.tls !== false
    let socket: net.Socket
    try {
      if (useTls) {
        const tlsOptions: tls.ConnectionOptions = options.tls === true ? {} : { ...(options.tls as tls.ConnectionOptions) }
        // SNI carries host names only (RFC 6066): Node warns about an IP address (DEP0123) and will ignore it.
        // Certificate checks are unchanged: without a server name they use the host, the same address.
        if (tlsOptions.servername !== undefined && net.isIP(tlsOptions.servername) !== 0) delete tlsOptions.servername
        if (options.path !== undefined) socket = connectors.tls({ ...tlsOptions, path: options.path })
        else {
          const host = options.host ?? "127.0.0.1"
          socket = connectors.tls({
            ...tlsOptions,
            host,
            port: options.port ?? 6379,
            ...(tlsOptions.servername === undefined && net.isIP(host) === 0 ? { servername: host } : {})
          })
        }
      } else {
        socket = options.path !== undefined
          ? connectors.net({ path: options.path })
          : connectors.net({ host: options.host ?? "127.0.0.1", port: options.port ?? 6379 })
      }
    } catch (error) {
      resume(Exit.fail(dialError(error as NodeJS.ErrnoException, address, false)))
      return
    }
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 15_000)
    // Never an unhandled 'error' event, whatever happens between the dial and the connection's own listeners.
    socket.on("error", ignore)
    let tcpConnected = false
    const onConnect = () => {
      tcpConnected = true
    }
    const onError = (error: NodeJS.ErrnoException) => {
      cleanup()
      socket.destroy()
      resume(Exit.fail(dialError(error, address, useTls && tcpConnected)))
    }
    const onClose = () => {
      cleanup()
      resume(Exit.fail(
        new ConnectionError({
          reason: useTls && tcpConnected ? "tls" : "closed",
          message: `closed: ${address} closed the connection while dialing`,
          address,
          written: false
        })
      ))
    }
    const onReady = () => {
      cleanup()
      resume(Exit.succeed(socket))
    }
    const cleanup = () => {
      socket.off("connect", onConnect)
      socket.off("error", onError)
      socket.off("close", onClose)
      socket.off(useTls ? "secureConnect" : "connect", onReady)
    }
    socket.on("connect", onConnect)
    socket.on("error", onError)
    socket.on("close", onClose)
    socket.on(useTls ? "secureConnect" : "connect", onReady)
    return Effect.sync(() => {
      cleanup()
      socket.destroy()
    })
  })

