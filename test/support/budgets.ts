/**
 * The time budgets of the test suite, shared by `vitest.config.ts` and the
 * watchdog (`test/support/watchdog.ts`), so that both agree on when a test or
 * a hook has run too long.
 *
 * @since 0.1.0
 */

/**
 * Default timeout of a test. Tests talk to real redis-server processes; slow
 * shared machines need room.
 *
 * @since 0.1.0
 */
export const TEST_TIMEOUT = 60_000

/**
 * Default timeout of a hook (a `layer(...)` starting a server runs in one).
 *
 * @since 0.1.0
 */
export const HOOK_TIMEOUT = 60_000

/**
 * How long past a budget the watchdog waits before it kills the worker:
 * vitest's own timeout fires first whenever the event loop can run it, and
 * the watchdog only acts when it cannot. `WATCHDOG_GRACE_MS` overrides it.
 *
 * @since 0.1.0
 */
export const WATCHDOG_GRACE = Number(process.env["WATCHDOG_GRACE_MS"] ?? 10_000)
