// The program shown in README.md ("Using it"); kept here so that the type check covers it.
import { Effect } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import { RedisPool } from "effect-redis-pool"

const program = Effect.gen(function*() {
  const redis = yield* RedisPool.RedisPool
  yield* redis.set("greeting", "hello", { expire: "10 seconds" })
  const greeting = yield* redis.get("greeting") // string | null
  const [count, list] = yield* redis.pipeline([["INCR", "visits"], ["LRANGE", "log", 0, -1]])
  yield* Effect.log(greeting, count, list)
}).pipe(
  Effect.catchTag("PoolTimeoutError", (e) => Effect.logWarning(e.message)), // the pool explains itself
  Effect.provide(RedisPool.layer({ url: "redis://localhost:6379/0?pool_size=20" }))
)

NodeRuntime.runMain(program)
