/**
 * Lua scripts: their SHA-1, and EVALSHA with EVAL as the fallback when the server
 * does not have the script (`NOSCRIPT`: a SCRIPT FLUSH, a restart, a new server).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type { RedisError } from "../Errors.ts"
import type { Arg, Reply } from "../Resp.ts"

/** The hex SHA-1 of `text`, as Redis names a script. */
export const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex")

const isNoScript = (error: { readonly _tag: string; readonly code?: string }): boolean =>
  error._tag === "RedisReplyError" && error.code === "NOSCRIPT"

/**
 * Runs a script by its digest, and by its source (which loads it) when the server
 * answers NOSCRIPT. `rest` is `numkeys key... arg...`.
 */
export const evalWithFallback = <E extends RedisError>(
  send: (args: ReadonlyArray<Arg>) => Effect.Effect<Reply, E>,
  source: string,
  digest: string,
  rest: ReadonlyArray<Arg>
): Effect.Effect<Reply, E> =>
  Effect.catchIf(send(["EVALSHA", digest, ...rest]), isNoScript, () => send(["EVAL", source, ...rest]))
