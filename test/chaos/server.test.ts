import { describe, it } from "vitest"
import { CHAOS_TIMEOUT, checkShort } from "./chaos.support.ts"

// Short versions of the server-side chaos scenarios (issue 8); `npm run chaos` runs the full ones.
describe("chaos: server faults (short)", () => {
  it("killed and restarted on the same port (appendfsync always): nothing acknowledged is lost, nothing doubled or misdelivered", () => checkShort(1).then(() => undefined), CHAOS_TIMEOUT)
  it("SIGSTOP for 3 s: nothing lost or misdelivered, and the pool comes back to rest", () => checkShort(2).then(() => undefined), CHAOS_TIMEOUT)
  it("maxclients below poolSize: refusals are errors, not losses, and the pool recovers", () => checkShort(7).then(() => undefined), CHAOS_TIMEOUT)
  it("CLIENT KILL TYPE normal every 500 ms: every caller told, nothing lost or misdelivered", () => checkShort(8).then(() => undefined), CHAOS_TIMEOUT)
})
