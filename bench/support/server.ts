/**
 * Helpers for benchmarks that start their own redis-server: a free loopback
 * port, and waiting until something listens on it.
 */
import * as net from "node:net"

/** A loopback port that was free a moment ago. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** Resolves once a TCP connection to `port` succeeds; rejects after about 5 s. */
export const waitForPort = async (port: number, host = "127.0.0.1") => {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host }, () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`nothing listens on ${host}:${port}`)
}
