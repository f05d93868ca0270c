/**
 * Pub/sub on a connection: which commands subscribe, and, on a RESP2 subscriber
 * connection, which frames are confirmations of the command in flight and which
 * are messages for the push handler.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import type { Reply } from "../Resp.ts"
import type { ConnSocket } from "./connSocket.ts"
import { textOf } from "./text.ts"

export const pubSubCommands: ReadonlyMap<string, string> = new Map([
  ["SUBSCRIBE", "subscribe"],
  ["UNSUBSCRIBE", "unsubscribe"],
  ["PSUBSCRIBE", "psubscribe"],
  ["PUNSUBSCRIBE", "punsubscribe"],
  ["SSUBSCRIBE", "ssubscribe"],
  ["SUNSUBSCRIBE", "sunsubscribe"]
])

/** First words of the frames a server sends on a subscribed connection, other than replies to PING. */
const pubSubKinds: ReadonlySet<string> = new Set([
  "message",
  "pmessage",
  "smessage",
  ...pubSubCommands.values()
])

/** A RESP2 frame on a subscriber connection: a confirmation or a message is not a reply. */
export const routeSubscriber = (socket: ConnSocket, frame: ReadonlyArray<Reply>): boolean => {
  const kind = textOf(frame[0])
  if (kind === undefined || !pubSubKinds.has(kind)) return false
  if (!confirm(socket, frame)) deliver(socket, frame)
  return true
}

/** Counts `frame` toward the pub/sub command at the head of the read queue when it confirms that command's next name. */
export const confirm = (socket: ConnSocket, frame: ReadonlyArray<Reply>): boolean => {
  const slot = socket.readQueue[socket.readHead]
  if (slot === undefined || slot.kind === undefined) return false
  if (textOf(frame[0]) !== slot.kind || textOf(frame[1]) !== slot.names![slot.count - slot.remaining]) return false
  slot.replies!.push(frame)
  if (--slot.remaining === 0) socket.complete(slot, Exit.succeed(slot.replies!))
  return true
}

export const deliver = (socket: ConnSocket, push: ReadonlyArray<Reply>): void => {
  const handler = socket.pushHandler
  if (handler === undefined) return
  try {
    handler(push)
  } catch {
    // a throwing push handler must not desynchronise the connection
  }
}
