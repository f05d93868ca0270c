/**
 * One-shot commands for test support: open a loopback TCP connection, write
 * commands, read as many replies, close. Error replies are values
 * (`RedisReplyError`), not failures, so a test can look at `ASK`, `MOVED` or
 * `TRYAGAIN` as the server sent them. No pool, no retries, no handshake: what
 * the cluster and Sentinel helpers need to steer servers without depending on
 * the client code under test (only on the RESP codec).
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import { RedisReplyError } from "../../src/Errors.ts"
import * as Resp from "../../src/Resp.ts"

/**
 * Options of {@link request}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** `"127.0.0.1"` unless given. */
  readonly host?: string | undefined
  /** Whole-request bound: connect, write and all replies. Default 10 000 ms. */
  readonly timeoutMillis?: number | undefined
  /** Strings as `Uint8Array` (keys that are not UTF-8). Default false. */
  readonly bytes?: boolean | undefined
  /** `HELLO 3` first (its reply is not returned). Default: RESP2. */
  readonly resp3?: boolean | undefined
  /** Aborts the request (the socket is destroyed, the promise rejects). */
  readonly signal?: AbortSignal | undefined
}

/**
 * Sends `commands` on one new connection, in one write, and resolves with
 * their replies in order. Rejects on a connection failure, a close before the
 * last reply, the timeout, or `signal`.
 *
 * @since 0.1.0
 * @category requests
 */
export const request = (
  port: number,
  commands: ReadonlyArray<ReadonlyArray<Resp.Arg>>,
  options: RequestOptions = {}
): Promise<Array<Resp.Reply>> =>
  new Promise((resolve, reject) => {
    const replies: Array<Resp.Reply> = []
    const skip = options.resp3 ? 1 : 0
    const expected = commands.length + skip
    const socket = net.connect({ host: options.host ?? "127.0.0.1", port })
    let settled = false
    const finish = (error: Error | undefined) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener("abort", onAbort)
      socket.destroy()
      if (error === undefined) resolve(replies.slice(skip))
      else reject(error)
    }
    const onAbort = () => finish(new Error("aborted"))
    if (options.signal?.aborted) return onAbort()
    options.signal?.addEventListener("abort", onAbort)
    const bound = options.timeoutMillis ?? 10_000
    const timer = setTimeout(() => finish(new Error(`no reply from port ${port} within ${bound} ms`)), bound)
    const decoder = new Resp.Decoder({
      bytes: options.bytes ?? false,
      onReply: (reply) => {
        replies.push(reply)
        if (replies.length === expected) finish(undefined)
      }
    })
    socket.on("data", (chunk: Buffer) => {
      try {
        decoder.write(chunk)
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)))
      }
    })
    socket.once("error", (error) => finish(error))
    socket.once("close", () => finish(new Error(`port ${port} closed the connection after ${replies.length - skip} replies`)))
    socket.once("connect", () => {
      const all = options.resp3 ? [["HELLO", "3"], ...commands] : commands
      socket.write(Buffer.concat(all.map((command) => Resp.encodeCommand(command))))
    })
    if (commands.length === 0 && !options.resp3) finish(undefined)
  })

/**
 * {@link request} for one command whose reply must not be an error reply:
 * rejects with the `RedisReplyError` when it is.
 *
 * @since 0.1.0
 * @category requests
 */
export const command = async (port: number, args: ReadonlyArray<Resp.Arg>, options: RequestOptions = {}): Promise<Resp.Reply> => {
  const [reply] = await request(port, [args], options)
  if (reply instanceof RedisReplyError) throw reply
  return reply ?? null
}

/**
 * A reply as text: strings as they are, bytes as UTF-8, anything else as JSON-ish.
 *
 * @since 0.1.0
 * @category requests
 */
export const text = (reply: Resp.Reply | undefined): string =>
  typeof reply === "string"
    ? reply
    : reply instanceof Uint8Array
    ? Buffer.from(reply).toString("utf8")
    : reply instanceof RedisReplyError
    ? reply.message
    : String(reply)

/**
 * `key:value` lines of an `INFO` or `CLUSTER INFO` reply as a record.
 *
 * @since 0.1.0
 * @category requests
 */
export const infoFields = (reply: Resp.Reply | undefined): Record<string, string> => {
  const fields: Record<string, string> = {}
  for (const line of text(reply).split(/\r?\n/)) {
    const colon = line.indexOf(":")
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim()
  }
  return fields
}

/**
 * Resolves after `millis` of real time, or rejects when `signal` aborts.
 *
 * @since 0.1.0
 * @category requests
 */
export const sleep = (millis: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error("aborted"))
    const onAbort = () => {
      clearTimeout(timer)
      reject(new Error("aborted"))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, millis)
    signal?.addEventListener("abort", onAbort, { once: true })
  })

/**
 * Polls `check` until it returns `undefined` (met) or the bound passes; then
 * rejects with the last reason `check` gave (or the error it threw). A check
 * that throws counts as not met (servers restart, ports refuse) and is
 * retried.
 *
 * @since 0.1.0
 * @category requests
 */
export const waitUntil = async (
  what: string,
  check: () => Promise<string | undefined>,
  options: { readonly timeoutMillis: number; readonly intervalMillis?: number; readonly signal?: AbortSignal | undefined }
): Promise<void> => {
  const deadline = Date.now() + options.timeoutMillis
  let last = "not checked yet"
  while (true) {
    if (options.signal?.aborted) throw new Error(`${what}: aborted`)
    try {
      const problem = await check()
      if (problem === undefined) return
      last = problem
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${options.timeoutMillis} ms; last: ${last}`)
    await sleep(options.intervalMillis ?? 50, options.signal)
  }
}
