/**
 * Finding the master through the sentinels, by the Sentinel client spec: the
 * sentinels are asked in order, each on a new connection within a short
 * timeout, `SENTINEL GET-MASTER-ADDR-BY-NAME <name>`; the first that names an
 * address moves to the front of the list, so the next resolution asks it
 * first. Nothing is cached: every resolution asks. The same round trip asks
 * that sentinel for the other sentinels it knows (`SENTINEL SENTINELS`), and
 * sentinels not on the list yet join its end.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Conn from "../Conn.ts"
import {
  type CommandTimeoutError,
  ConnectionError,
  ProtocolError,
  RedisReplyError,
  type SentinelError,
  SentinelMasterUnknownError,
  SentinelUnreachableError
} from "../Errors.ts"
import type * as Resp from "../Resp.ts"

/** A sentinel's or a data node's address. */
export interface Address {
  readonly host: string
  readonly port: number
}

export const addressText = (address: Address): string => `${address.host}:${address.port}`

type QueryError = ConnectionError | CommandTimeoutError | ProtocolError | RedisReplyError

const text = (reply: Resp.Reply | undefined): string | undefined =>
  typeof reply === "string" ? reply : reply instanceof Uint8Array ? new TextDecoder().decode(reply) : undefined

/** A `[host, port]` reply as an address; undefined for anything else. */
export const parseAddressReply = (reply: Resp.Reply): Address | undefined => {
  if (!Array.isArray(reply) || reply.length !== 2) return undefined
  const host = text(reply[0])
  const port = Number(text(reply[1]))
  if (host === undefined || host === "" || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined
  return { host, port }
}

/** The sentinels of one master, in the order they are asked. */
export class Sentinels {
  readonly masterName: string
  /** The order of asking: the last sentinel that answered first. */
  list: Array<Address>
  /** Options of a connection to a sentinel (credentials, TLS, timeouts). */
  readonly connOptions: Conn.ConnOptions

  constructor(masterName: string, list: ReadonlyArray<Address>, connOptions: Conn.ConnOptions) {
    this.masterName = masterName
    this.list = [...list]
    this.connOptions = connOptions
  }

  /** Told of every sentinel that joins the list. */
  onLearnt: ((sentinel: Address) => void) | undefined = undefined

  /** One sentinel, on a connection of its own closed afterwards: the replies of `commands`, error replies as values. */
  query(sentinel: Address, commands: ReadonlyArray<ReadonlyArray<Resp.Arg>>): Effect.Effect<Array<Resp.Reply>, QueryError> {
    return Effect.scoped(
      Effect.flatMap(
        Conn.make({ ...this.connOptions, host: sentinel.host, port: sentinel.port }),
        (conn) => conn.sendBatch(commands)
      )
    ).pipe(Effect.catchTag("InvalidArgumentError", (error) =>
      Effect.fail(new ProtocolError({ reason: "unexpected", message: error.message }))))
  }

  /** Adds the sentinels of a `SENTINEL SENTINELS` reply that are not on the list yet. */
  learn(reply: Resp.Reply | undefined): void {
    if (!Array.isArray(reply)) return
    for (const entry of reply) {
      const fields = new Map<string, string | undefined>()
      if (entry instanceof Map) {
        for (const [k, v] of entry) fields.set(String(text(k as Resp.Reply)), text(v as Resp.Reply))
      } else if (Array.isArray(entry)) {
        for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(text(entry[i])), text(entry[i + 1]))
      } else continue
      const flags = fields.get("flags") ?? ""
      if (flags.split(",").some((flag) => flag === "s_down" || flag === "o_down" || flag === "disconnected")) continue
      const address = parseAddressReply([fields.get("ip") ?? null, fields.get("port") ?? null])
      if (address === undefined) continue
      if (this.list.some((known) => known.host === address.host && known.port === address.port)) continue
      this.list.push(address)
      this.onLearnt?.(address)
    }
  }

  /** Moves `sentinel` to the front of the list. */
  promote(sentinel: Address): void {
    const i = this.list.indexOf(sentinel)
    if (i > 0) {
      this.list.splice(i, 1)
      this.list.unshift(sentinel)
    }
  }

  /**
   * The master's address as the first sentinel that knows it says; a
   * sentinel that cannot be reached, does not answer in time or does not
   * know the name is passed over for the next.
   */
  get resolveMaster(): Effect.Effect<Address, SentinelUnreachableError | SentinelMasterUnknownError> {
    return Effect.suspend(() => {
      const name = this.masterName
      const order = [...this.list]
      const causes: Array<QueryError> = []
      let answered = 0
      let unknownCause: RedisReplyError | undefined
      const loop = (i: number): Effect.Effect<Address, SentinelUnreachableError | SentinelMasterUnknownError> => {
        if (i >= order.length) {
          const sentinels = order.map(addressText)
          return answered > 0
            ? Effect.fail(
              new SentinelMasterUnknownError({
                masterName: name,
                sentinels,
                cause: unknownCause,
                message: `no sentinel of ${sentinels.join(", ")} knows a master named ${JSON.stringify(name)}`
              })
            )
            : Effect.fail(
              new SentinelUnreachableError({
                masterName: name,
                sentinels,
                causes,
                message: `no sentinel answered for ${JSON.stringify(name)}: ${
                  causes.map((cause, j) => `${sentinels[j]}: ${cause.message}`).join("; ")
                }`
              })
            )
        }
        const sentinel = order[i]!
        const commands = [["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name], ["SENTINEL", "SENTINELS", name]]
        return Effect.matchEffect(this.query(sentinel, commands), {
          onFailure: (error) => {
            causes.push(error)
            return loop(i + 1)
          },
          onSuccess: ([reply, others]) => {
            // An error reply is an answer: this sentinel works, it does not know the name (or refuses the command).
            if (reply instanceof RedisReplyError) {
              answered++
              unknownCause = reply
              return loop(i + 1)
            }
            if (reply === null || reply === undefined) {
              answered++
              return loop(i + 1)
            }
            const address = parseAddressReply(reply)
            if (address === undefined) {
              causes.push(
                new ProtocolError({
                  reason: "unexpected",
                  message: `SENTINEL GET-MASTER-ADDR-BY-NAME on ${addressText(sentinel)} answered a reply that is not [host, port]`
                })
              )
              return loop(i + 1)
            }
            this.promote(sentinel)
            this.learn(others)
            return Effect.succeed(address)
          }
        })
      }
      return loop(0)
    })
  }
}

/** A sentinel failure as the `ConnectionError` a pool's dial fails with (reason `sentinel`, the error as cause). */
export const asConnectionError = (
  error: SentinelError,
  address?: string
): ConnectionError =>
  new ConnectionError({
    reason: "sentinel",
    message: `sentinel: ${error.message}`,
    address,
    written: false,
    cause: error
  })
