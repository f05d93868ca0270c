/**
 * Sharded pub/sub over a cluster: a shard channel lives on the master that
 * owns its slot, so each slot with subscriptions gets a subscriber of its own
 * (`PubSub.make`), whose connection goes to the slot's owner. When the slot
 * moves, the server ends the subscriptions (`sunsubscribe`) and the
 * subscriber reconnects: each reconnect refreshes the map first, so it lands
 * on the new owner and renews there (a `Resubscribed` event).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Conn from "../Conn.ts"
import { ConnectionError, CrossSlotError, InvalidArgumentError, type RedisError } from "../Errors.ts"
import * as PubSub from "../PubSub.ts"
import { keysSlot } from "./clusterKeys.ts"
import type { ClusterState } from "./clusterState.ts"
import type { Address } from "./clusterTopology.ts"

/** @internal */
export const makeShardSubscribe = (options: {
  readonly state: ClusterState
  readonly conn: Conn.ConnOptions
  readonly pubsub: Omit<PubSub.SubscriberOptions, "connect"> | undefined
  readonly scope: Scope.Scope
}): ((...channels: ReadonlyArray<string>) => Stream.Stream<PubSub.PubSubEvent, RedisError>) => {
  const bySlot = new Map<number, PubSub.Subscriber>()

  const subscriberFor = (slot: number): Effect.Effect<PubSub.Subscriber> =>
    Effect.suspend(() => {
      const found = bySlot.get(slot)
      if (found !== undefined) return Effect.succeed(found)
      // The node of the last connection: after a move it is the one that knows for sure where the slot went.
      let last: Address | undefined
      const connect = Effect.suspend(() => {
        const refresh = last === undefined ? Effect.void : Effect.ignore(options.state.refresh(last))
        return Effect.andThen(
          refresh,
          Effect.suspend(() => {
            const owner = options.state.owner(slot)
            if (owner === undefined) {
              return Effect.fail(new ConnectionError({ reason: "unknown", message: `no node serves slot ${slot}` }))
            }
            last = owner
            return Conn.make({ ...options.conn, host: owner.host, port: owner.port })
          })
        )
      })
      return Effect.map(Scope.provide(PubSub.make({ ...options.pubsub, connect }), options.scope), (made) => {
        const raced = bySlot.get(slot)
        if (raced !== undefined) return raced
        bySlot.set(slot, made)
        return made
      })
    })

  return (...channels) => {
    if (channels.length === 0) {
      return Stream.fail(new InvalidArgumentError({ option: "channels", message: "ssubscribe needs at least one channel" }))
    }
    const slot = keysSlot(channels)
    if (slot === -2) {
      return Stream.fail(
        new CrossSlotError({ command: "SSUBSCRIBE", message: "SSUBSCRIBE: shard channels of one call must hash to the same slot" })
      )
    }
    return Stream.unwrap(Effect.map(subscriberFor(slot), (subscriber) => subscriber.ssubscribe(...channels)))
  }
}
