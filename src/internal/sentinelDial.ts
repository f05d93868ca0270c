/**
 * Dialing the master of a Sentinel group: the sentinels are asked for its
 * address at every dial (never an address kept from before), and the new
 * connection must answer `ROLE` master before anyone uses it; one that does
 * not is closed and the sentinels are asked once more, since they may have
 * switched in between.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Conn from "../Conn.ts"
import { ConnectionError, SentinelRoleError } from "../Errors.ts"
import type * as Resp from "../Resp.ts"
import type { Dial } from "./redisPoolMake.ts"
import { addressText, asConnectionError, type Sentinels } from "./sentinelDiscovery.ts"

const text = (reply: Resp.Reply | undefined): string | undefined =>
  typeof reply === "string" ? reply : reply instanceof Uint8Array ? new TextDecoder().decode(reply) : undefined

/** What a connection must answer to `ROLE`: master; anything else fails with a `SentinelRoleError` (as a `ConnectionError`). */
export const checkRole = (conn: Conn.Conn, masterName: string): Effect.Effect<void, ConnectionError> =>
  Effect.matchEffect(conn.send(["ROLE"]), {
    onFailure: (error) => {
      if (error._tag === "ConnectionError") return Effect.fail(error)
      const roleError = new SentinelRoleError({
        masterName,
        address: conn.address,
        role: "unknown",
        message: `${conn.address}, named master of ${JSON.stringify(masterName)} by the sentinels, failed ROLE: ${error.message}`,
        cause: error
      })
      return Effect.fail(asConnectionError(roleError, conn.address))
    },
    onSuccess: (reply) => {
      const role = Array.isArray(reply) ? text(reply[0]) ?? "unknown" : "unknown"
      if (role === "master") return Effect.void
      const roleError = new SentinelRoleError({
        masterName,
        address: conn.address,
        role,
        message: `${conn.address}, named master of ${JSON.stringify(masterName)} by the sentinels, answered ROLE ${role}`
      })
      return Effect.fail(asConnectionError(roleError, conn.address))
    }
  })

const isRoleError = (error: ConnectionError): boolean => error.reason === "sentinel" && error.cause instanceof SentinelRoleError

/** What the dial asks of the service around it. */
export interface DialHooks {
  /**
   * Whether `address` may be the master: false for one a switch already
   * replaced, which a slower sentinel may still name. Asked before the dial and
   * again once the connection is up (a switch may have been seen in between).
   */
  readonly accept: (address: string) => boolean
  /** A connection passed the ROLE check. */
  readonly connected: (conn: Conn.Conn) => void
}

const anyAddress: DialHooks = { accept: () => true, connected: () => {} }

const retiredError = (masterName: string, address: string): ConnectionError =>
  asConnectionError(
    new SentinelRoleError({
      masterName,
      address,
      role: "retired",
      message: `${address} was named master of ${JSON.stringify(masterName)}, but a switch away from it has been seen`
    }),
    address
  )

/**
 * The pool's dial: the address from the sentinels, then the connection with
 * its handshake, the ROLE check, and the caller's `onConnect`.
 */
export const sentinelDial = (sentinels: Sentinels, hooks: DialHooks = anyAddress): Dial =>
(options) => {
  const masterName = sentinels.masterName
  const once = Effect.flatMap(
    Effect.mapError(sentinels.resolveMaster, (error) => asConnectionError(error)),
    (master) => {
      const address = addressText(master)
      if (!hooks.accept(address)) return Effect.fail(retiredError(masterName, address))
      const { path: _path, ...rest } = options
      return Conn.make({
        ...rest,
        host: master.host,
        port: master.port,
        onConnect: (conn) => {
          const checked = Effect.flatMap(checkRole(conn, masterName), () => {
            if (!hooks.accept(conn.address)) return Effect.fail(retiredError(masterName, conn.address))
            hooks.connected(conn)
            return Effect.void
          })
          const user = options.onConnect
          return user === undefined ? checked : Effect.andThen(checked, Effect.suspend(() => user(conn)))
        }
      })
    }
  )
  return Effect.catchIf(once, isRoleError, () => once)
}
