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

/**
 * The pool's dial: the address from the sentinels, then the connection with
 * its handshake, the ROLE check, and the caller's `onConnect`. `accept` may
 * refuse an address the sentinels named (one retired after a switch that a
 * slower sentinel still names).
 */
export const sentinelDial = (
  sentinels: Sentinels,
  accept: (address: string) => boolean = () => true
): Dial =>
(options) => {
  const masterName = sentinels.masterName
  const once = Effect.flatMap(
    Effect.mapError(sentinels.resolveMaster, (error) => asConnectionError(error)),
    (master) => {
      const address = addressText(master)
      if (!accept(address)) {
        const roleError = new SentinelRoleError({
          masterName,
          address,
          role: "retired",
          message: `a sentinel still names ${address} master of ${JSON.stringify(masterName)}, which it left in a switch already seen`
        })
        return Effect.fail(asConnectionError(roleError, address))
      }
      const { path: _path, ...rest } = options
      return Conn.make({
        ...rest,
        host: master.host,
        port: master.port,
        onConnect: (conn) => {
          const checked = checkRole(conn, masterName)
          const user = options.onConnect
          return user === undefined ? checked : Effect.andThen(checked, Effect.suspend(() => user(conn)))
        }
      })
    }
  )
  return Effect.catchIf(once, isRoleError, () => once)
}
