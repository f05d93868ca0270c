/**
 * Command arguments and reply values as text: one UTF-8 decoder for the library.
 *
 * @internal
 */
import type { Arg } from "../Resp.ts"

const utf8 = new TextDecoder()

/** A string, or bytes decoded as UTF-8; `undefined` for anything else. */
export const textOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : value instanceof Uint8Array ? utf8.decode(value) : undefined

/** A command argument as Redis reads it (numbers in decimal); `""` when there is none. */
export const argText = (arg: Arg | undefined): string =>
  arg === undefined ? "" : typeof arg === "string" ? arg : arg instanceof Uint8Array ? utf8.decode(arg) : String(arg)

/** Bytes decoded as UTF-8. */
export const utf8Text = (bytes: Uint8Array): string => utf8.decode(bytes)
