/**
 * Loopback ports for test servers.
 *
 * @since 0.1.0
 */
import * as net from "node:net"

/**
 * Asks the kernel for a free TCP port on `host` (bind port 0, read it back,
 * close). Another process may take the port before the caller binds it, so
 * callers retry with a fresh port when their bind fails.
 *
 * @since 0.1.0
 * @category ports
 */
export const freePort = (host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

/**
 * Whether something accepts TCP connections at `host:port` right now.
 *
 * @since 0.1.0
 * @category ports
 */
export const isListening = (port: number, host = "127.0.0.1", timeoutMillis = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (result: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done(false), timeoutMillis)
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })
