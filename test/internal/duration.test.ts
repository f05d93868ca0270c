import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { parseDurationText } from "../../src/internal/duration.ts"
import { resolve } from "../../src/internal/redisPoolOptions.ts"
import { parseUrl } from "../../src/internal/url.ts"
import * as RedisPool from "../../src/RedisPool.ts"

const millis = (d: Duration.Duration | Duration.Input | undefined) =>
  d === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(d as Duration.Input))

/** The same text through the three sources that take text: the rule, a URL parameter, a REDIS_* variable. */
const viaUrl = (text: string) =>
  Effect.runSync(Effect.map(parseUrl(`redis://h?read_timeout=${encodeURIComponent(text)}`), (o) => millis(o.readTimeout)))
const viaEnv = (text: string) =>
  Effect.runSync(
    Effect.map(
      RedisPool.config().parse(ConfigProvider.fromEnv({ env: { REDIS_READ_TIMEOUT: text } })),
      (o) => millis(o.readTimeout)
    )
  )

describe("durations as text: one rule for URLs and REDIS_* variables", () => {
  const cases: ReadonlyArray<readonly [string, number]> = [
    ["500ms", 500],
    ["3s", 3000],
    ["1.5s", 1500],
    ["1m30s", 90_000],
    ["250us", 0.25],
    ["3", 3000], // a bare integer is seconds, as go-redis reads it
    ["500 millis", 500], // Effect's form
    ["2 seconds", 2000],
    [" 10s ", 10_000]
  ]
  for (const [text, expected] of cases) {
    it(`"${text}" is ${expected} ms from the rule, a URL and the environment`, () => {
      assert.strictEqual(millis(parseDurationText(text)), expected)
      assert.strictEqual(viaUrl(text), expected)
      assert.strictEqual(viaEnv(text), expected)
    })
  }

  it("zero or less is no deadline, except for a retry backoff, where it is no wait", () => {
    assert.strictEqual(millis(parseDurationText("0")), Infinity)
    assert.strictEqual(millis(parseDurationText("-1s")), Infinity)
    assert.strictEqual(viaEnv("0"), Infinity)
    assert.strictEqual(millis(parseDurationText("0", "backoff")), 0)
    const env = Effect.runSync(
      RedisPool.config().parse(ConfigProvider.fromEnv({ env: { REDIS_MIN_RETRY_BACKOFF: "-1" } }))
    )
    assert.strictEqual(millis(env.minRetryBackoff), 0)
  })

  it("text that is not a duration is refused by every source, naming the forms it accepts", () => {
    for (const text of ["soon", "3 parsecs", "1.5", "ms", ""]) {
      assert.isUndefined(parseDurationText(text), text)
    }
    const url = Effect.runSync(Effect.flip(parseUrl("redis://h?read_timeout=soon")))
    assert.include(url.message, "500ms, 3s, 3 (seconds)")
    const env = Effect.runSyncExit(
      RedisPool.config().parse(ConfigProvider.fromEnv({ env: { REDIS_DIAL_TIMEOUT: "soon" } }))
    )
    assert.isTrue(Exit.isFailure(env))
    assert.include(String(env), "500ms, 3s, 3 (seconds)")
  })

  it("in code a number is milliseconds and any Duration.Input is accepted", () => {
    const numeric = Effect.runSync(resolve({ readTimeout: 250 }))
    assert.strictEqual(millis(numeric.conn.readTimeout), 250)
    const effectForm = Effect.runSync(resolve({ readTimeout: "2 seconds" }))
    assert.strictEqual(millis(effectForm.conn.readTimeout), 2000)
    const duration = Effect.runSync(resolve({ readTimeout: Duration.seconds(4) }))
    assert.strictEqual(millis(duration.conn.readTimeout), 4000)
  })
})
