/**
 * A blocking command whose caller left (interrupted, or past its deadline): the
 * server may still serve it, so the connection keeps reading until it answers,
 * asks the server to release it from another connection (`Settings.unblock`,
 * CLIENT UNBLOCK), and pushes back what a pop took for nobody. A connection
 * closed while such a reply is out lingers until it lands.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Arg, Reply } from "../Resp.ts"
import { restoreCommand } from "./connRestore.ts"
import { ignoreExit } from "./connSlot.ts"
import type { ConnSocket } from "./connSocket.ts"

/** Whether a blocking command whose caller left is still waiting for its reply. */
export const awaitingOrphanedBlock = (socket: ConnSocket): boolean => {
  if (socket.closed) return false
  for (let i = socket.readHead; i < socket.readQueue.length; i++) {
    const slot = socket.readQueue[i]!
    if (slot.blocking && slot.resume === undefined) return true
  }
  return false
}

/**
 * Asks the server, through `unblock`, to release the blocked command until it
 * answers: an UNBLOCK that arrives before the server has blocked the command
 * finds nothing to release, and one sent while the server is stalled may time
 * out, so it is sent again (100 ms apart) while the reply is still awaited. A
 * server that answers "nothing blocked" ten times in a row while the reply has
 * still not come has no command of this connection left (its request or its
 * reply was lost on the way): the connection is closed rather than wait forever.
 */
export const startUnblock = (socket: ConnSocket): void => {
  if (socket.unblocking) return
  socket.unblocking = true
  const unblock = socket.settings.unblock!
  const clientId = socket.clientId
  let nothingBlocked = 0
  const attempt: Effect.Effect<void> = Effect.suspend(() => {
    if (!awaitingOrphanedBlock(socket)) return Effect.void
    return Effect.flatMap(Effect.exit(Effect.suspend(() => unblock(clientId))), (exit) => {
      if (!awaitingOrphanedBlock(socket)) return Effect.void
      nothingBlocked = exit._tag === "Success" && !exit.value ? nothingBlocked + 1 : 0
      if (nothingBlocked >= 10) {
        socket.fail(socket.closedError("the server holds no blocked command for this connection: its reply was lost"))
        return Effect.void
      }
      return Effect.flatMap(Effect.sleep(100), () => attempt)
    })
  })
  Effect.runFork(Effect.ensuring(attempt, Effect.sync(() => void (socket.unblocking = false))))
}

/**
 * Whether a close should wait: nothing queued, every command in flight orphaned,
 * and one of them a blocking pop that may still pop for nobody (see `orphan`). Each
 * orphan keeps its own deadline, so the wait is bounded.
 */
export const lingerForRestore = (socket: ConnSocket): boolean => {
  if (socket.closed) return false
  if (socket.lingering) return true
  if (socket.queued > 0) return false
  let restorable = false
  for (let i = socket.readHead; i < socket.readQueue.length; i++) {
    const slot = socket.readQueue[i]!
    if (slot.resume !== undefined) return false
    if (slot.args !== undefined) restorable = true
  }
  socket.lingering = restorable
  return restorable
}

/** A blocking pop answered a caller who left: push what it popped back where it came from. */
export const restore = (socket: ConnSocket, args: ReadonlyArray<Arg>, reply: Reply): void => {
  const command = restoreCommand(args, reply)
  if (command === undefined) return
  socket.restored++
  socket.enqueueSlot(command, undefined, undefined, ignoreExit)
}
