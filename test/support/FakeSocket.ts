/**
 * A `ConnSocket` on a socket that never touches the network, for tests of the
 * connection's own machinery: every write recorded, every reply fed by hand,
 * the socket reporting itself full on demand.
 */
import { EventEmitter } from "node:events"
import type * as Exit from "effect/Exit"
import type { Settings } from "../../src/internal/connSlot.ts"
import { ConnSocket } from "../../src/internal/connSocket.ts"

/** The socket: `writes` as Latin-1 text, `full` makes `write` report back-pressure, `reply` feeds bytes in. */
export class FakeSocket extends EventEmitter {
  writes: Array<string> = []
  full = false
  destroyed = 0
  write(bytes: Uint8Array): boolean {
    this.writes.push(Buffer.from(bytes).toString("latin1"))
    return !this.full
  }
  destroy(): void {
    this.destroyed++
  }
  reply(text: string): void {
    this.emit("data", Buffer.from(text, "latin1"))
  }
}

/** A connection's settings: no timeouts, `maxPending` 1000, no handlers, and `options` over them. */
export const settingsOf = (options: Partial<Settings> = {}): Settings => ({
  address: "fake:1",
  readTimeout: 0,
  writeTimeout: 0,
  drainTimeout: 0,
  maxPending: 1000,
  onPush: undefined,
  unblock: undefined,
  decoder: {},
  ...options
})

/** A connection on a fresh fake socket. */
export const setup = (options: Partial<Settings> = {}) => {
  const sock = new FakeSocket()
  const conn = new ConnSocket(sock as any, settingsOf(options))
  return { sock, conn }
}

/** A command queued on `conn` without an Effect: its outcome lands in `exit`, its slot is kept. */
export interface Call {
  exit: Exit.Exit<any, any> | undefined
  slot: any
}

export const call = (
  conn: ConnSocket,
  args: ReadonlyArray<any>,
  options?: { timeout?: number; blocking?: boolean }
): Call => {
  const c: Call = { exit: undefined, slot: undefined }
  c.slot = conn.enqueueSlot(args, undefined, options, (exit) => {
    c.exit = exit
  })
  return c
}

/** A batch queued on `conn` like {@link call}. */
export const batch = (
  conn: ConnSocket,
  commands: ReadonlyArray<ReadonlyArray<any>>,
  options?: { timeout?: number; blocking?: boolean }
): Call => {
  const c: Call = { exit: undefined, slot: undefined }
  c.slot = conn.enqueueSlot(undefined, commands, options, (exit) => {
    c.exit = exit
  })
  return c
}

/** Lets queued microtasks (the connection's flush) run. */
export const ticks = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}
