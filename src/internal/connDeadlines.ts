/**
 * A connection's deadlines: a command not written within its write timeout
 * fails unsent; one not answered within its read timeout fails its caller and
 * is orphaned (its reply dropped when it lands, within `drainTimeout`, or the
 * connection closes); a blocking one is left to `connBlocked.ts`.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import { CommandTimeoutError } from "../Errors.ts"
import { startUnblock } from "./connBlocked.ts"
import type { Slot } from "./connSlot.ts"
import type { ConnSocket } from "./connSocket.ts"
import { argText } from "./text.ts"

const commandName = argText

/** A written command whose caller left: keep the slot so replies stay in order, drop the reply when it lands. */
export const orphan = (socket: ConnSocket, slot: Slot, now: number): void => {
  if (!slot.overdue) {
    slot.overdue = true
    socket.overdue++
  }
  if (slot.blocking) {
    // Closing does not stop a stalled server from popping for this caller once it runs again (it serves the
    // pop before it reads the close). With `unblock`, another connection asks the server to release this one
    // (CLIENT UNBLOCK): the server then answers it, nil or what it popped, whenever it runs again, and this
    // connection reads on until it does, without a deadline, and puts back whatever was popped. It is never
    // reused: an UNBLOCK still on its way must not release someone else's command. Without `unblock`, it
    // reads on for a bounded time.
    if (socket.settings.unblock !== undefined && socket.clientId > 0) {
      slot.deadline = 0
      socket.retired = true
      startUnblock(socket)
      return
    }
    if (slot.args === undefined || slot.readTimeout === 0) {
      socket.fail(socket.closedError("a caller left a blocking command without a deadline; the connection is closed"))
      return
    }
    slot.deadline = Math.max(slot.deadline, now + Math.max(socket.settings.drainTimeout, socket.settings.readTimeout, 1000))
    socket.armTimer(slot.deadline)
    return
  }
  const drain = socket.settings.drainTimeout
  if (drain <= 0) {
    socket.fail(socket.closedError("a reply was late and drainTimeout is 0"))
    return
  }
  slot.deadline = now + drain
  socket.armTimer(slot.deadline)
}

/** The connection's timer fired: fail the writes and reads past their deadlines, close on a drain that ran out. */
export const expire = (socket: ConnSocket): void => {
  if (socket.closed) return
  const now = Date.now()
  let next = 0
  // writes first: a command that could not be written in time was never sent
  const queue = socket.writeQueue
  for (let i = socket.writeHead; i < queue.length; i++) {
    const slot = queue[i]!
    if (slot.state !== "queued" || slot.deadline === 0) continue
    if (slot.deadline <= now) {
      slot.state = "cancelled"
      slot.bytes = undefined
      socket.queued -= slot.count
      const resume = slot.resume
      slot.resume = undefined
      resume?.(Exit.fail(timeoutError(socket, slot, "write", slot.writeTimeout)))
      if (socket.closed) return
    } else if (next === 0 || slot.deadline < next) {
      next = slot.deadline
    }
  }
  const reads = socket.readQueue
  for (let i = socket.readHead; i < reads.length; i++) {
    const slot = reads[i]!
    if (slot.deadline === 0) continue
    if (slot.deadline <= now) {
      const resume = slot.resume
      if (resume === undefined) {
        socket.fail(socket.closedError("a timed-out reply did not arrive within drainTimeout"))
        return
      }
      slot.resume = undefined
      // the connection's state first (the caller may look at it as soon as it resumes)
      orphan(socket, slot, now)
      resume(Exit.fail(timeoutError(socket, slot, "read", slot.readTimeout)))
      if (socket.closed) return
    }
    if (next === 0 || slot.deadline < next) next = slot.deadline
  }
  if (next !== 0) socket.armTimer(next)
  socket.checkIdle()
}

export const timeoutError = (
  socket: ConnSocket,
  slot: Slot,
  phase: "read" | "write",
  millis: number
): CommandTimeoutError => {
  const command = commandName(slot.name)
  const what = slot.replies !== undefined && slot.kind === undefined ? `a batch of ${slot.count} commands starting with ${command}` : command
  return new CommandTimeoutError({
    command,
    phase,
    timeoutMillis: millis,
    message: phase === "read"
      ? `${what}: no reply from ${socket.settings.address} within ${millis}ms (the connection stays in sync; the late reply will be dropped)`
      : `${what}: not written to ${socket.settings.address} within ${millis}ms (${
        socket.waitingDrain ? "the socket is not draining" : `${socket.written} commands in flight, maxPending ${socket.settings.maxPending}`
      }); it was never sent`
  })
}
