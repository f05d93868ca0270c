/**
 * Following a failover: a subscriber on every sentinel listens to
 * `+switch-master`, and a switch of our master retires every pooled connection
 * that is not to the new address, at once. Without it, connections kept in the
 * pool go on writing to the old master, which Sentinel demotes only ~10 s
 * later after a `SENTINEL FAILOVER` (and whose writes are then lost). A
 * subscriber that reconnected may have missed a switch: the sentinels are
 * asked again. Each sentinel announces a switch; the first announcement acts,
 * the others find nothing left to do.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Conn from "../Conn.ts"
import * as PubSub from "../PubSub.ts"
import { type Address, addressText, type Sentinels } from "./sentinelDiscovery.ts"

/** A `+switch-master` payload: `<name> <old ip> <old port> <new ip> <new port>`. */
export const parseSwitch = (
  payload: string
): { readonly name: string; readonly from: string; readonly to: string } | undefined => {
  const parts = payload.trim().split(/\s+/)
  if (parts.length !== 5) return undefined
  const [name, oldHost, oldPort, newHost, newPort] = parts as [string, string, string, string, string]
  if (!/^\d+$/.test(oldPort) || !/^\d+$/.test(newPort)) return undefined
  return { name, from: `${oldHost}:${oldPort}`, to: `${newHost}:${newPort}` }
}

/** What the watcher acts on. */
export interface SwitchHandler {
  /** The sentinels announced that the master moved from `from` to `to`. */
  readonly switched: (from: string, to: string) => Effect.Effect<void>
  /** The sentinels named `address` after a subscriber reconnected (a switch may have been missed). */
  readonly resynced: (address: string) => Effect.Effect<void>
}

/**
 * Subscribes to `+switch-master` on every sentinel of the list, and on every
 * sentinel that joins it later, for as long as the scope lasts; reconnects
 * without end (a sentinel may be down for long).
 */
export const watchSwitches = (
  sentinels: Sentinels,
  handler: SwitchHandler
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const watch = (sentinel: Address) =>
      Effect.gen(function*() {
        const subscriber = yield* PubSub.make({
          connect: Conn.make({ ...sentinels.connOptions, host: sentinel.host, port: sentinel.port }),
          reconnectTimeout: 0,
          pingInterval: "5 seconds"
        })
        const events = subscriber.subscribe("+switch-master").pipe(
          Stream.runForEach((event) => {
            if (event._tag === "Message") {
              const change = parseSwitch(event.message)
              return change === undefined || change.name !== sentinels.masterName
                ? Effect.void
                : handler.switched(change.from, change.to)
            }
            if (event._tag === "Resubscribed") {
              return Effect.matchEffect(sentinels.resolveMaster, {
                onFailure: () => Effect.void,
                onSuccess: (address) => handler.resynced(addressText(address))
              })
            }
            return Effect.void
          }),
          Effect.ignore
        )
        yield* Effect.forkScoped(events)
      })
    const scope = yield* Effect.scope
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    yield* Effect.forEach(sentinels.list.slice(), watch, { discard: true })
    sentinels.onLearnt = (sentinel) => {
      runFork(Scope.provide(watch(sentinel), scope))
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => void (sentinels.onLearnt = undefined)))
  })
