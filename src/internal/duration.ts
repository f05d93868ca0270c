/**
 * Durations written as text: one rule for URL parameters and `REDIS_*` configuration.
 *
 * - a Go duration: `300ms`, `1.5s`, `2m`, `1h30m` (units ns, us/µs, ms, s, m, h);
 * - a bare integer: seconds, as go-redis reads its URL parameters (`read_timeout=3`);
 * - Effect's forms: `500 millis`, `3 seconds`, `Infinity`.
 *
 * Zero or less means "none" (no deadline, no expiry), except for retry backoffs, where it
 * means no wait. In code, options take any `Duration.Input`, where a bare number is
 * milliseconds.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const goUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }

const goDuration = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/
const goPart = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g

/** A Go duration (`1h30m`, `1.5s`, `-2ms`) in milliseconds, or undefined when it is not one. */
const parseGo = (text: string): number | undefined => {
  const match = goDuration.exec(text)
  if (match === null) return undefined
  let millis = 0
  for (const [, amount, unit] of text.matchAll(goPart)) millis += Number(amount) * goUnits[unit!]!
  return match[1] === "-" ? -millis : millis
}

/** What a duration is for: a deadline or limit (zero or less: none), or a backoff (zero or less: no wait). */
export type DurationKind = "limit" | "backoff"

/** The text a parse failure should show the user. */
export const durationForms = "a duration such as 500ms, 3s, 3 (seconds) or \"500 millis\""

/**
 * Reads `text` by the rule above; undefined when it is not a duration.
 */
export const parseDurationText = (text: string, kind: DurationKind = "limit"): Duration.Duration | undefined => {
  const trimmed = text.trim()
  let millis: number | undefined
  if (/^[+-]?\d+$/.test(trimmed)) {
    millis = Number(trimmed) * 1000
  } else {
    millis = parseGo(trimmed)
    if (millis === undefined) {
      const effect = Duration.fromInput(trimmed as Duration.Input)
      if (Option.isNone(effect)) return undefined
      millis = Duration.toMillis(effect.value)
    }
  }
  if (Number.isNaN(millis)) return undefined
  if (millis > 0) return Number.isFinite(millis) ? Duration.millis(millis) : Duration.infinity
  return kind === "backoff" ? Duration.zero : Duration.infinity
}
