import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { isListening } from "./ports.ts"
import * as RawSocket from "./RawSocket.ts"
import * as RedisServer from "./RedisServer.ts"
import { eventually } from "./effects.ts"

/** Alive and not a zombie. */
const isAlive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}


const listening = (port: number) => Effect.promise(() => isListening(port))

describe("RedisServer", () => {
  it.effect("starts on a free loopback port and is gone, port and directory freed, when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* RedisServer.make().pipe(Scope.provide(scope))
      assert.strictEqual(yield* server.cli("PING"), "PONG")
      assert.strictEqual(server.url, `redis://127.0.0.1:${server.port}`)
      assert.isTrue(isAlive(server.pid))
      assert.isTrue(fs.existsSync(server.dir))
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "save"), "save\n")
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "appendonly"), "appendonly\nno")
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "enable-debug-command"), "enable-debug-command\nyes")
      const pid = server.pid
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(isAlive(pid))
      assert.isFalse(yield* listening(server.port))
      assert.isFalse(fs.existsSync(server.dir))
    }))

  it.effect("restart keeps the port, the directory and appendonly data", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["appendonly yes", "appendfsync always"] })
      yield* server.cli("SET", "survivor", "still-here")
      const { pid, port } = server
      yield* server.restart
      assert.notStrictEqual(server.pid, pid)
      assert.isFalse(isAlive(pid))
      assert.strictEqual(server.port, port)
      assert.strictEqual(yield* server.cli("GET", "survivor"), "still-here")
    }))

  it.effect("kill stops the process at once; start brings it back on the same port with its appendonly data", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ config: ["appendonly yes", "appendfsync always"] })
      yield* server.cli("RPUSH", "acked", "a", "b")
      const pid = server.pid
      yield* server.kill
      assert.isFalse(server.running)
      assert.isFalse(isAlive(pid))
      assert.isFalse(yield* listening(server.port))
      const failed = yield* Effect.flip(server.pause)
      assert.strictEqual(failed.reason, "state")
      yield* server.start
      assert.isTrue(server.running)
      assert.strictEqual(yield* server.cli("LRANGE", "acked", "0", "-1"), "a\nb")
    }))

  it.effect("start on a port someone else took retries, then fails clearly; once freed, it starts", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      yield* server.kill
      const squatter = net.createServer((socket) => socket.destroy())
      yield* Effect.promise(() => new Promise<void>((resolve) => squatter.listen(server.port, "127.0.0.1", resolve)))
      const error = yield* Effect.flip(server.start)
      assert.strictEqual(error.reason, "start")
      assert.include(error.message, `port ${server.port} stayed busy`)
      assert.include(error.message, "Address already in use")
      yield* Effect.promise(() => new Promise((resolve) => squatter.close(resolve)))
      yield* server.start
      assert.strictEqual(yield* server.cli("PING"), "PONG")
    }))

  it.effect("pause leaves a PING unanswered; resume answers it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const client = yield* RawSocket.connect(server.port)
      yield* server.pause
      yield* client.write("PING\r\n")
      const waited = yield* Effect.flip(client.waitFor(RawSocket.contains("+PONG"), 300))
      assert.strictEqual(waited.reason, "timeout")
      assert.strictEqual(client.received.length, 0)
      yield* server.resume
      yield* client.waitFor(RawSocket.contains("+PONG"))
      assert.strictEqual(client.received.toString(), "+PONG\r\n")
    }))

  it.effect("a paused server is still stopped when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* RedisServer.make().pipe(Scope.provide(scope))
      yield* server.pause
      const pid = server.pid
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(isAlive(pid))
      assert.isFalse(yield* listening(server.port))
    }))

  it.effect("a missing binary fails with a typed error that says how to install it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RedisServer.make({ binary: "/nonexistent/bin/redis-server" }))
      assert.strictEqual(error._tag, "RedisServerError")
      assert.strictEqual(error.reason, "missing")
      assert.include(error.message, "apt-get install -y redis-server")
    }))

  it.effect("extra config lines are applied, and cli authenticates with requirepass", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({
        config: ["maxclients 77", "requirepass s3cret", `rename-command FLUSHALL ""`, "hz 17"]
      })
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "maxclients"), "maxclients\n77")
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "hz"), "hz\n17")
      const renamed = yield* Effect.flip(server.cli("FLUSHALL"))
      assert.strictEqual(renamed.reason, "cli")
      assert.include(renamed.message, "unknown command")
      const client = yield* RawSocket.connect(server.port)
      yield* client.write("PING\r\n")
      yield* client.waitFor(RawSocket.contains("\r\n"))
      assert.match(client.received.toString(), /^-NOAUTH/)
    }))

  it.effect("a Unix socket and a TLS port serve PING; the CA it made verifies the server", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ unixSocket: true, tls: true })
      assert.isDefined(server.unixSocket)
      assert.isDefined(server.tls)
      const unix = yield* RawSocket.connect({ path: server.unixSocket! })
      yield* unix.write("PING\r\n")
      yield* unix.waitFor(RawSocket.contains("+PONG"))
      const serverTls = server.tls!
      assert.strictEqual(serverTls.url, `rediss://127.0.0.1:${serverTls.port}`)
      assert.strictEqual(yield* server.cli("CONFIG", "GET", "tls-port"), `tls-port\n${serverTls.port}`)
      const secure = yield* RawSocket.connect({
        port: serverTls.port,
        tls: {
          ca: serverTls.ca,
          servername: "localhost",
          cert: fs.readFileSync(serverTls.clientCertFile),
          key: fs.readFileSync(serverTls.clientKeyFile)
        }
      })
      assert.isTrue((secure.socket as tls.TLSSocket).authorized)
      yield* secure.write("PING\r\n")
      yield* secure.waitFor(RawSocket.contains("+PONG"))
      const untrusted = yield* Effect.flip(RawSocket.connect({ port: serverTls.port, tls: { servername: "localhost" } }))
      assert.strictEqual(untrusted.reason, "connect")
    }))

  it.effect("interrupting the fiber that holds the scope stops the server", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<RedisServer.RedisServer>()
      const fiber = yield* Effect.forkChild(
        Effect.scoped(
          Effect.gen(function*() {
            const server = yield* RedisServer.make()
            yield* Deferred.succeed(started, server)
            return yield* Effect.never
          })
        )
      )
      const server = yield* Deferred.await(started)
      const pid = server.pid
      assert.isTrue(isAlive(pid))
      yield* Fiber.interrupt(fiber)
      assert.isFalse(isAlive(pid))
      assert.isFalse(yield* listening(server.port))
      assert.isFalse(fs.existsSync(server.dir))
    }))

  it.effect("interrupting a start that is under way kills the half-started process", () =>
    Effect.gen(function*() {
      // A "server" that never answers PING keeps the start under way until interrupted.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "erp-mute-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const binary = path.join(dir, "mute-server")
      fs.writeFileSync(binary, "#!/bin/sh\nexec sleep 120\n", { mode: 0o755 })
      const before = new Set(RedisServer.livePids())
      const fiber = yield* Effect.forkChild(Effect.scoped(RedisServer.make({ binary })))
      const spawned = yield* eventually(() => RedisServer.livePids().some((pid) => !before.has(pid)))
      assert.isTrue(spawned)
      const pid = RedisServer.livePids().find((pid) => !before.has(pid))!
      assert.isTrue(isAlive(pid))
      yield* Fiber.interrupt(fiber)
      assert.isFalse(isAlive(pid))
      assert.isFalse(RedisServer.livePids().includes(pid))
    }))

  it.effect("a server does not outlive the process that started it", () =>
    Effect.gen(function*() {
      const node = fs.existsSync("node_modules/.bin/node") ? path.resolve("node_modules/.bin/node") : process.execPath
      const module = path.resolve("test/support/RedisServer.ts")
      const script = [
        `import * as Effect from "effect/Effect"`,
        `import * as RedisServer from ${JSON.stringify(module)}`,
        `const server = await Effect.runPromise(RedisServer.make().pipe(Effect.provideService(Scope.Scope, Scope.makeUnsafe())))`,
        `console.log(JSON.stringify({ pid: server.pid, port: server.port, dir: server.dir }))`,
        `setInterval(() => {}, 1000)`
      ]
      const child = spawn(node, ["--input-type=module", "-e", `import * as Scope from "effect/Scope"\n${script.join("\n")}`], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      const info = yield* Effect.promise(() =>
        new Promise<{ pid: number; port: number; dir: string }>((resolve, reject) => {
          let out = ""
          child.stdout.setEncoding("utf8").on("data", (text: string) => {
            out += text
            if (out.includes("\n")) resolve(JSON.parse(out.slice(0, out.indexOf("\n"))))
          })
          child.once("exit", (code) => reject(new Error(`child exited with ${code}: ${out}`)))
        })
      )
      assert.isTrue(isAlive(info.pid))
      child.kill("SIGKILL")
      // The thread-group leader turns zombie before its last thread has closed
      // the listening socket: wait for both.
      assert.isTrue(yield* eventually(async () => !isAlive(info.pid) && !(await isListening(info.port))))
      fs.rmSync(info.dir, { recursive: true, force: true })
    }))
})

layer(RedisServer.layer())("RedisServer.layer", (it) => {
  it.effect("shares one server across the suite", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      yield* server.cli("SET", "shared", "1")
      assert.strictEqual(yield* server.cli("DBSIZE"), "1")
    }))

  it.effect("sees what the previous test wrote", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      assert.strictEqual(yield* server.cli("GET", "shared"), "1")
    }))
})
