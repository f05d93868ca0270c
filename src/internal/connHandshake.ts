/**
 * The handshake of a new connection: HELLO (or the RESP2 fallback), AUTH,
 * SETNAME, SELECT, CLIENT SETINFO and CLIENT ID pipelined, and every reply
 * checked for its shape before anyone may use the connection.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ConnOptions } from "../Conn.ts"
import {
  type CommandTimeoutError,
  ConnectionError,
  type ConnectionErrorReason,
  type InvalidArgumentError,
  ProtocolError,
  RedisReplyError
} from "../Errors.ts"
import type * as Resp from "../Resp.ts"
import type { ConnSocket } from "./connSocket.ts"
import { version } from "./connVersion.ts"
import { textOf } from "./text.ts"

const authCodes = new Set(["WRONGPASS", "NOAUTH", "NOPERM"])

const isUnknownCommand = (reply: Resp.Reply): boolean =>
  reply instanceof RedisReplyError && /unknown (sub)?command/i.test(reply.message)

const isHelloUnsupported = (reply: Resp.Reply): boolean =>
  reply instanceof RedisReplyError && (reply.code === "NOPROTO" || /unknown command/i.test(reply.message))


// `+OK`, also as bytes (`bytes: true`).
const isOk = (reply: Resp.Reply): boolean => textOf(reply) === "OK"

/** A field of a `HELLO` reply: a RESP3 map or a RESP2 flat array of pairs. */
const helloField = (reply: Resp.Reply, key: string): Resp.Reply | undefined => {
  if (reply instanceof Map) {
    for (const [k, v] of reply) if (textOf(k) === key) return v
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) if (textOf(reply[i]) === key) return reply[i + 1]
  }
  return undefined
}

const asNumber = (value: unknown): number | undefined => {
  if (typeof value === "number") return value
  if (typeof value === "bigint") return Number(value)
  const text = textOf(value)
  if (text === undefined) return undefined
  const n = Number(text)
  return Number.isFinite(n) ? n : undefined
}

/** What a reply is, for an error about its shape; never its content (a hostile server may echo a password). */
const shapeOf = (reply: Resp.Reply | undefined): string => {
  if (reply === undefined) return "nothing"
  if (reply === null) return "nil"
  switch (typeof reply) {
    case "string":
      return "a string"
    case "number":
      return Number.isInteger(reply) ? "an integer" : "a double"
    case "bigint":
      return "a big number"
    case "boolean":
      return "a boolean"
  }
  if (reply instanceof Uint8Array) return "a string"
  if (reply instanceof RedisReplyError) return "an error"
  if (Array.isArray(reply)) return "an array"
  if (reply instanceof Map) return "a map"
  return "a set"
}

/**
 * One handshake command's reply check. `accepts` says whether the reply is what the step
 * expects, error replies it tolerates included (they are counted, so the connection stays in
 * step); `shape` says what else it got.
 */
interface Step {
  readonly name: string
  readonly accepts: (reply: Resp.Reply) => boolean
  readonly shape: (reply: Resp.Reply | undefined) => string
}

const okStep = (name: string, tolerates: (reply: Resp.Reply) => boolean = () => false): Step => ({
  name,
  accepts: (reply) => isOk(reply) || tolerates(reply),
  shape: (reply) => textOf(reply) === undefined ? shapeOf(reply) : "a string other than OK"
})

const helloStep: Step = {
  name: "HELLO",
  accepts: (reply) => {
    const proto = asNumber(helloField(reply, "proto"))
    return (reply instanceof Map || Array.isArray(reply)) && (proto === 2 || proto === 3)
  },
  shape: (reply) =>
    !(reply instanceof Map || Array.isArray(reply))
      ? shapeOf(reply)
      : helloField(reply, "proto") === undefined
      ? `${shapeOf(reply)} without proto`
      : `${shapeOf(reply)} with a proto other than 2 or 3`
}

// Redis < 5 does not know CLIENT ID, and an ACL user may not run it: the id is then unknown (-1).
const clientIdStep: Step = {
  name: "CLIENT ID",
  accepts: (reply) => (typeof reply === "number" && Number.isInteger(reply)) || reply instanceof RedisReplyError,
  shape: shapeOf
}

/** The server refused a step (an error reply): its own words, reason `auth` for credentials and ACLs. */
const refused = (address: string, step: string, reply: RedisReplyError): ConnectionError => {
  const reason: ConnectionErrorReason = authCodes.has(reply.code) ? "auth" : "handshake"
  return new ConnectionError({
    reason,
    message: `${reason}: ${step} on ${address} failed: ${reply.message}`,
    address,
    written: true,
    cause: reply
  })
}

/**
 * A step answered with a shape it never has: bytes the server sent unasked (a greeting) or
 * replies out of step. The connection cannot be trusted; the dial fails with the
 * `ProtocolError` as cause.
 */
const malformedReply = (address: string, step: string, shape: string): ConnectionError => {
  const cause = new ProtocolError({ reason: "unexpected", message: `handshake: ${step} answered ${shape}` })
  return new ConnectionError({
    reason: "handshake",
    message: `handshake: ${step} on ${address} failed: ${cause.message}`,
    address,
    written: true,
    cause
  })
}

const check = (address: string, step: Step, reply: Resp.Reply | undefined): ConnectionError | undefined => {
  if (reply !== undefined && step.accepts(reply)) return undefined
  if (reply instanceof RedisReplyError) return refused(address, step.name, reply)
  return malformedReply(address, step.name, step.shape(reply))
}

const checkAll = (
  address: string,
  steps: ReadonlyArray<Step>,
  replies: ReadonlyArray<Resp.Reply>,
  offset: number
): ConnectionError | undefined => {
  for (let i = 0; i < steps.length; i++) {
    const failed = check(address, steps[i]!, replies[offset + i])
    if (failed !== undefined) return failed
  }
  return undefined
}

const sendFailed = (address: string, step: string) =>
(
  error: ConnectionError | CommandTimeoutError | ProtocolError | InvalidArgumentError
) =>
  error._tag === "ConnectionError"
    ? error
    : new ConnectionError({
      reason: "handshake",
      message: `handshake: ${step} on ${address} failed: ${error.message}`,
      address,
      written: true,
      cause: error
    })

/** The commands after HELLO/AUTH, shared by both paths, and the checks of their replies. */
const tailCommands = (options: ConnOptions, withClientId: boolean) => {
  const commands: Array<Array<Resp.Arg>> = []
  const steps: Array<Step> = []
  const db = options.db ?? 0
  if (db > 0) {
    commands.push(["SELECT", db])
    steps.push(okStep(`SELECT ${db}`))
  }
  const libName = options.libName ?? "effect-redis-pool"
  if (libName !== "") {
    // Only "the server does not know this" (Redis < 7.2) or "this ACL user may not" may be ignored:
    // the reply is counted either way, so the connection stays in sync.
    const tolerated = (reply: Resp.Reply) =>
      isUnknownCommand(reply) || (reply instanceof RedisReplyError && reply.code === "NOPERM")
    commands.push(["CLIENT", "SETINFO", "LIB-NAME", libName])
    steps.push(okStep("CLIENT SETINFO LIB-NAME", tolerated))
    commands.push(["CLIENT", "SETINFO", "LIB-VER", options.libVer ?? version])
    steps.push(okStep("CLIENT SETINFO LIB-VER", tolerated))
  }
  if (withClientId) {
    commands.push(["CLIENT", "ID"])
    steps.push(clientIdStep)
  }
  return { commands, steps }
}

export const handshake = Effect.fnUntraced(function*(socket: ConnSocket, options: ConnOptions) {
  const address = socket.address
  const protocol = options.protocol ?? 3
  const password = options.password === undefined ? undefined : Redacted.value(options.password)
  const hello: Array<Resp.Arg> = ["HELLO", protocol]
  if (password !== undefined) hello.push("AUTH", options.username ?? "default", password)
  if (options.clientName !== undefined) hello.push("SETNAME", options.clientName)
  const first = tailCommands(options, false)
  const replies = yield* socket.sendBatch([hello, ...first.commands]).pipe(
    Effect.mapError(sendFailed(address, "HELLO"))
  )
  const helloReply = replies[0]
  if (helloReply === undefined || !isHelloUnsupported(helloReply)) {
    const failed = checkAll(address, [helloStep, ...first.steps], replies, 0)
    if (failed !== undefined) return yield* failed
    socket.protocol = asNumber(helloField(helloReply!, "proto")) === 3 ? 3 : 2
    socket.clientId = asNumber(helloField(helloReply!, "id")) ?? -1
    return
  }
  // RESP2 fallback: the server does not know HELLO (or that protocol version).
  const commands: Array<Array<Resp.Arg>> = []
  const steps: Array<Step> = []
  if (password !== undefined) {
    commands.push(options.username === undefined ? ["AUTH", password] : ["AUTH", options.username, password])
    steps.push(okStep("AUTH"))
  }
  if (options.clientName !== undefined) {
    commands.push(["CLIENT", "SETNAME", options.clientName])
    steps.push(okStep("CLIENT SETNAME"))
  }
  const rest = tailCommands(options, true)
  steps.push(...rest.steps)
  const fallback = yield* socket.sendBatch([...commands, ...rest.commands]).pipe(
    Effect.mapError(sendFailed(address, steps[0]!.name))
  )
  const failed = checkAll(address, steps, fallback, 0)
  if (failed !== undefined) return yield* failed
  socket.protocol = 2
  const id = fallback[fallback.length - 1]
  socket.clientId = typeof id === "number" ? id : -1
})

