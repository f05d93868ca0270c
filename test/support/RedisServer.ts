/**
 * A throwaway `redis-server` for tests, as a scoped Effect resource.
 *
 * Each server gets a free loopback port, its own temporary directory (removed
 * when the scope closes), no persistence unless asked for, and
 * `enable-debug-command yes`. It can be restarted on the same port with the
 * same directory (so `appendonly` data survives), paused with SIGSTOP, resumed,
 * killed and started again. It is always stopped when its scope closes,
 * including when the test fails or is interrupted, and it dies with the process
 * that started it (`setpriv --pdeathsig KILL` where available, and a
 * `process.on("exit")` hook) so that no orphan outlives a crashed test worker.
 *
 * Waits use real timers, not Effect's `Clock`, so the server works the same
 * inside `it.effect` (whose `TestClock` does not advance by itself).
 *
 * ```ts
 * it.effect("...", () => Effect.gen(function*() {
 *   const server = yield* RedisServer.make({ config: ["requirepass s3cret"] })
 *   yield* server.cli("SET", "k", "v")
 * }))
 *
 * layer(RedisServer.layer())("suite", (it) => {
 *   it.effect("...", () => Effect.gen(function*() {
 *     const server = yield* RedisServer.RedisServer
 *   }))
 * })
 * ```
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { freePort } from "./ports.ts"

/**
 * Starting, controlling or querying a test server failed. `reason` says which:
 * `missing` (the binary is not installed; the message says how to install
 * it), `start` (the server exited or did not answer PING in time), `state`
 * (an operation that needs a running server found none), `cli` (a `cli` call
 * failed or the server answered with an error).
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisServerError extends Data.TaggedError("RedisServerError")<{
  readonly reason: "missing" | "start" | "state" | "cli"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * TLS material of a server started with `tls`: a CA, the server's certificate
 * (for `localhost` and `127.0.0.1`), and a client certificate signed by the
 * same CA. All files are PEM, inside the server's directory.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServerTls {
  readonly port: number
  /** `rediss://127.0.0.1:<port>` */
  readonly url: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  readonly clientCertFile: string
  readonly clientKeyFile: string
  /** The CA certificate itself (PEM), ready for Node's `tls` `ca` option. */
  readonly ca: string
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServerOptions {
  /** Path or name of the `redis-server` binary. Default: `$REDIS_SERVER_BIN`, else `redis-server`. */
  readonly binary?: string | undefined
  /**
   * Extra `redis.conf` lines, appended after the defaults (so they win), e.g.
   * `"requirepass s3cret"`, `'rename-command HELLO ""'`, `"appendonly yes"`,
   * `"appendfsync always"`, `"maxclients 5"`.
   */
  readonly config?: ReadonlyArray<string> | undefined
  /** Also listen on a Unix socket `<dir>/redis.sock`. Default false. */
  readonly unixSocket?: boolean | undefined
  /**
   * Also listen with TLS on a second free port, with a CA and certificates
   * made by `openssl` in the server's directory. `authClients` is Redis's
   * `tls-auth-clients` (default `optional`: client certificates are checked
   * when presented).
   */
  readonly tls?: boolean | { readonly authClients?: "yes" | "no" | "optional" | undefined } | undefined
  /** Bound on the wait for PING after a start. Default 20 000 ms. */
  readonly startTimeoutMillis?: number | undefined
  /** Bound on the wait for exit after SIGTERM before SIGKILL. Default 5 000 ms. */
  readonly stopTimeoutMillis?: number | undefined
}

/**
 * A running test server. All operations are serialised; `pid` and `running`
 * read the current state.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisServer {
  readonly host: "127.0.0.1"
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** The server's working directory (AOF/RDB files, `redis.conf`, TLS files, the Unix socket). */
  readonly dir: string
  /** Path of the Unix socket when `unixSocket` was asked for. */
  readonly unixSocket: string | undefined
  readonly tls: RedisServerTls | undefined
  /** Pid of the current process, or of the last one when stopped. */
  readonly pid: number
  /** Whether a process is up (paused counts as up). */
  readonly running: boolean
  /** SIGTERM (SIGKILL after `stopTimeoutMillis`), wait for exit, then start again on the same port and directory. */
  readonly restart: Effect.Effect<void, RedisServerError>
  /** SIGTERM (SIGKILL after `stopTimeoutMillis`) and wait for exit. */
  readonly stop: Effect.Effect<void, RedisServerError>
  /** SIGKILL and wait for exit: nothing is flushed (what `appendfsync always` acknowledged survives). */
  readonly kill: Effect.Effect<void, RedisServerError>
  /** Start again (same port, same directory) after `stop` or `kill`; nothing when already running. */
  readonly start: Effect.Effect<void, RedisServerError>
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  readonly pause: Effect.Effect<void, RedisServerError>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void, RedisServerError>
  /**
   * Runs `redis-cli -p <port> ...args` (authenticating when the config has
   * `requirepass`) and returns its output without the trailing newline. Fails
   * when the server answers an error or within 10 s gives no answer.
   */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string, RedisServerError>
  /** The server's recent output (bounded), for diagnostics. */
  readonly log: Effect.Effect<string>
}

/**
 * The service key, for suites that share a server through `layer(...)`.
 *
 * @since 0.1.0
 * @category services
 */
export const RedisServer = Context.Service<RedisServer>("effect-redis-pool/test/RedisServer")

const INSTALL_HINT = "install it with `apt-get install -y redis-server` (Debian/Ubuntu)"
const LOG_LIMIT = 64 * 1024
const BIND_ATTEMPTS = 8

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const executableInPath = (name: string): string | undefined => {
  for (const dir of (process.env["PATH"] ?? "").split(path.delimiter)) {
    if (dir === "") continue
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const resolveExecutable = (name: string): string | undefined => {
  if (!name.includes("/")) return executableInPath(name)
  try {
    fs.accessSync(name, fs.constants.X_OK)
    return fs.statSync(name).isFile() ? name : undefined
  } catch {
    return undefined
  }
}

const setpriv = executableInPath("setpriv")

const live = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
  })
}

const run = (file: string, args: ReadonlyArray<string>, options: { readonly timeout?: number; readonly env?: NodeJS.ProcessEnv } = {}) =>
  new Promise<{ readonly stdout: string; readonly stderr: string }>((resolve, reject) => {
    execFile(file, args, { timeout: options.timeout ?? 30_000, env: options.env ?? process.env, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stdout, stderr }))
      else resolve({ stdout, stderr })
    })
  })

const makeTls = async (dir: string): Promise<Omit<RedisServerTls, "port" | "url">> => {
  const file = (name: string) => path.join(dir, name)
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  await run("openssl", ["req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "2", "-subj", "/CN=effect-redis-pool test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
  await fsp.writeFile(file("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
  await fsp.writeFile(file("client.ext"), "extendedKeyUsage=clientAuth\n")
  for (const [name, cn] of [["server", "localhost"], ["client", "effect-redis-pool test client"]] as const) {
    await run("openssl", ["req", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${cn}`])
    await run("openssl", ["x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out", file(`${name}.crt`), "-days", "2", "-extfile", file(`${name}.ext`)])
  }
  return {
    caFile: file("ca.crt"),
    certFile: file("server.crt"),
    keyFile: file("server.key"),
    clientCertFile: file("client.crt"),
    clientKeyFile: file("client.key"),
    ca: await fsp.readFile(file("ca.crt"), "utf8")
  }
}

/** One PING over a raw socket: "ready", "loading" (still loading its data), or "down". */
const probe = (port: number): Promise<"ready" | "loading" | "down"> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let received = ""
    const done = (result: "ready" | "loading" | "down") => {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done("down"), 1_000)
    socket.setEncoding("latin1")
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data: string) => {
      received += data
      if (received.includes("\r\n")) done(received.startsWith("-LOADING") ? "loading" : "ready")
    })
    socket.once("error", () => done("down"))
    socket.once("close", () => done("down"))
  })

const unquote = (value: string) => value.replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1")

class Instance {
  readonly binary: string
  readonly options: RedisServerOptions
  readonly dir: string
  readonly confFile: string
  readonly unixSocket: string | undefined
  port = 0
  tls: RedisServerTls | undefined = undefined
  child: ChildProcess | undefined = undefined
  exited: Promise<void> = Promise.resolve()
  pid = 0
  paused = false
  closed = false
  output = ""
  #lock: Promise<unknown> = Promise.resolve()

  constructor(binary: string, options: RedisServerOptions, dir: string) {
    this.binary = binary
    this.options = options
    this.dir = dir
    this.confFile = path.join(dir, "redis.conf")
    this.unixSocket = options.unixSocket ? path.join(dir, "redis.sock") : undefined
  }

  get running() {
    return this.child !== undefined
  }

  get password(): string | undefined {
    let password: string | undefined
    for (const line of this.options.config ?? []) {
      const match = /^\s*requirepass\s+(.+?)\s*$/.exec(line)
      if (match?.[1] !== undefined) password = unquote(match[1])
    }
    return password
  }

  /** Serialises operations; `shutdown` does not queue. */
  serial<A>(op: () => Promise<A>): Promise<A> {
    const next = this.#lock.then(op, op)
    this.#lock = next.catch(() => undefined)
    return next
  }

  log(text: string) {
    this.output += text
    if (this.output.length > LOG_LIMIT) this.output = this.output.slice(-LOG_LIMIT / 2)
  }

  async writeConfig() {
    const lines = [
      `port ${this.port}`,
      "bind 127.0.0.1",
      `dir "${this.dir}"`,
      "daemonize no",
      "protected-mode no",
      `logfile ""`,
      `save ""`,
      "appendonly no",
      "enable-debug-command yes"
    ]
    if (this.unixSocket !== undefined) lines.push(`unixsocket "${this.unixSocket}"`, "unixsocketperm 700")
    if (this.tls !== undefined) {
      const tlsOption = this.options.tls
      const authClients = typeof tlsOption === "object" ? tlsOption.authClients ?? "optional" : "optional"
      lines.push(
        `tls-port ${this.tls.port}`,
        `tls-cert-file "${this.tls.certFile}"`,
        `tls-key-file "${this.tls.keyFile}"`,
        `tls-ca-cert-file "${this.tls.caFile}"`,
        `tls-auth-clients ${authClients}`
      )
    }
    lines.push(...(this.options.config ?? []))
    await fsp.writeFile(this.confFile, lines.join("\n") + "\n")
  }

  /** Spawns the process and waits for PING; "bind" when the port was taken. */
  async spawnAndWait(): Promise<"ok" | "bind"> {
    if (this.closed) throw new RedisServerError({ reason: "state", message: "the server's scope is closed" })
    const args = [this.confFile]
    const child = setpriv !== undefined
      ? spawn(setpriv, ["--pdeathsig", "KILL", "--", this.binary, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] })
    installExitHook()
    live.add(child)
    let hasExited = false
    this.exited = new Promise<void>((resolve) => {
      const finish = () => {
        if (hasExited) return
        hasExited = true
        live.delete(child)
        if (this.child === child) {
          this.child = undefined
          this.paused = false
        }
        resolve()
      }
      child.once("exit", finish)
      child.once("error", (error) => {
        this.log(`spawn error: ${error.message}\n`)
        finish()
      })
    })
    child.stdout?.setEncoding("utf8").on("data", (text: string) => this.log(text))
    child.stderr?.setEncoding("utf8").on("data", (text: string) => this.log(text))
    this.child = child
    this.pid = child.pid ?? 0
    this.paused = false
    const mark = this.output.length
    const deadline = Date.now() + (this.options.startTimeoutMillis ?? 20_000)
    while (true) {
      if (this.closed) {
        await this.terminate("SIGKILL")
        throw new RedisServerError({ reason: "state", message: "the server's scope closed while it was starting" })
      }
      if (hasExited) {
        const recent = this.output.slice(Math.min(mark, this.output.length))
        if (/Address already in use/i.test(recent)) return "bind"
        throw new RedisServerError({
          reason: "start",
          message: `redis-server exited during start-up (port ${this.port}):\n${recent.slice(-4_000)}`
        })
      }
      const state = await Promise.race([probe(this.port), this.exited.then(() => "exited" as const)])
      if (state === "exited") continue
      if (state === "ready" && !hasExited) return "ok"
      if (Date.now() > deadline) {
        await this.terminate("SIGKILL")
        throw new RedisServerError({
          reason: "start",
          message: `redis-server did not answer PING on port ${this.port} within ${this.options.startTimeoutMillis ?? 20_000} ms:\n${this.output.slice(-4_000)}`
        })
      }
      await sleep(state === "loading" ? 50 : 20)
    }
  }

  /** First start: new free ports until one binds. */
  async firstStart() {
    const tlsFiles = this.options.tls ? await makeTls(this.dir) : undefined
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort()
      if (tlsFiles !== undefined) {
        const port = await freePort()
        this.tls = { ...tlsFiles, port, url: `rediss://127.0.0.1:${port}` }
      }
      await this.writeConfig()
      if ((await this.spawnAndWait()) === "ok") return
      if (attempt >= BIND_ATTEMPTS) {
        throw new RedisServerError({ reason: "start", message: `no free port after ${attempt} attempts:\n${this.output.slice(-2_000)}` })
      }
    }
  }

  /** Later starts: the same port; a bind failure is retried a few times. */
  async startAgain() {
    if (this.child !== undefined) return
    for (let attempt = 1; ; attempt++) {
      if ((await this.spawnAndWait()) === "ok") return
      if (attempt >= BIND_ATTEMPTS) {
        throw new RedisServerError({ reason: "start", message: `port ${this.port} stayed busy:\n${this.output.slice(-2_000)}` })
      }
      await sleep(100 * attempt)
    }
  }

  /** Sends `signal` (after SIGCONT if paused), waits for exit, escalates to SIGKILL after the stop bound. */
  async terminate(signal: "SIGTERM" | "SIGKILL") {
    const child = this.child
    if (child === undefined) return
    const exited = this.exited
    if (this.paused && signal === "SIGTERM") child.kill("SIGCONT")
    child.kill(signal)
    const bound = this.options.stopTimeoutMillis ?? 5_000
    const timedOut = await Promise.race([exited.then(() => false), sleep(bound).then(() => true)])
    if (timedOut) {
      child.kill("SIGKILL")
      await exited
    }
  }

  signal(signal: "SIGSTOP" | "SIGCONT") {
    if (this.child === undefined) {
      throw new RedisServerError({ reason: "state", message: `cannot send ${signal}: the server is not running` })
    }
    this.child.kill(signal)
    this.paused = signal === "SIGSTOP"
  }

  async cli(args: ReadonlyArray<string>): Promise<string> {
    const binary = resolveExecutable("redis-cli")
    if (binary === undefined) {
      throw new RedisServerError({ reason: "missing", message: "redis-cli not found: install it with `apt-get install -y redis-tools` (Debian/Ubuntu)" })
    }
    const password = this.password
    const env = password === undefined ? process.env : { ...process.env, REDISCLI_AUTH: password }
    try {
      const { stdout } = await run(binary, ["-h", "127.0.0.1", "-p", String(this.port), "-e", ...args], { timeout: 10_000, env })
      return stdout.replace(/\n$/, "")
    } catch (cause) {
      const out = cause as { stdout?: string; stderr?: string; killed?: boolean }
      throw new RedisServerError({
        reason: "cli",
        message: out.killed
          ? `redis-cli ${args.join(" ")}: no answer within 10 s`
          : `redis-cli ${args.join(" ")}: ${`${out.stdout ?? ""}${out.stderr ?? ""}`.trim()}`,
        cause
      })
    }
  }

  async shutdown() {
    this.closed = true
    await this.terminate("SIGKILL")
    await fsp.rm(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}

/**
 * Pids of the servers this process has started and not yet seen exit
 * (diagnostics: a test can check that nothing it started is left).
 *
 * @since 0.1.0
 * @category diagnostics
 */
export const livePids = (): ReadonlyArray<number> => [...live].flatMap((child) => (child.pid === undefined ? [] : [child.pid]))

const toError = (cause: unknown): RedisServerError =>
  cause instanceof RedisServerError
    ? cause
    : new RedisServerError({ reason: "start", message: cause instanceof Error ? cause.message : String(cause), cause })

const attempt = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: toError })

/**
 * Starts a server in the current scope and waits until it answers PING. The
 * scope's closing kills it (SIGKILL, also when paused) and removes its
 * directory. A missing binary fails with `reason: "missing"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisServerOptions = {}): Effect.Effect<RedisServer, RedisServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.binary ?? process.env["REDIS_SERVER_BIN"] ?? "redis-server"
    const binary = resolveExecutable(name)
    if (binary === undefined) {
      return yield* new RedisServerError({
        reason: "missing",
        message: `redis-server not found (looked for ${JSON.stringify(name)}): ${INSTALL_HINT}`
      })
    }
    const instance = yield* Effect.acquireRelease(
      attempt(async () => new Instance(binary, options, await fsp.mkdtemp(path.join(os.tmpdir(), "erp-redis-")))),
      (instance) => Effect.promise(() => instance.shutdown())
    )
    yield* attempt(() => instance.serial(() => instance.firstStart()))
    const op = (f: () => Promise<void>) => attempt(() => instance.serial(f))
    const server: RedisServer = {
      host: "127.0.0.1",
      port: instance.port,
      url: `redis://127.0.0.1:${instance.port}`,
      dir: instance.dir,
      unixSocket: instance.unixSocket,
      tls: instance.tls,
      get pid() {
        return instance.pid
      },
      get running() {
        return instance.running
      },
      restart: op(async () => {
        await instance.terminate("SIGTERM")
        await instance.startAgain()
      }),
      stop: op(() => instance.terminate("SIGTERM")),
      kill: op(() => instance.terminate("SIGKILL")),
      start: op(() => instance.startAgain()),
      pause: op(async () => instance.signal("SIGSTOP")),
      resume: op(async () => instance.signal("SIGCONT")),
      cli: (...args) => attempt(() => instance.cli(args)),
      log: Effect.sync(() => instance.output)
    }
    return server
  })

/**
 * A layer providing {@link RedisServer}: one server for the whole suite.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisServerOptions = {}): Layer.Layer<RedisServer, RedisServerError> =>
  Layer.effect(RedisServer, make(options))
