import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { parseUrl } from "../../src/internal/url.ts"

const parse = (url: string) => Effect.runSync(parseUrl(url))
const error = (url: string) => Effect.runSync(Effect.flip(parseUrl(url)))
const millis = (d: Duration.Duration | undefined) => d === undefined ? undefined : Duration.toMillis(d)

describe("parseUrl", () => {
  it("reads host, port, db and credentials from a redis:// URL", () => {
    const o = parse("redis://alice:s%40cret@cache.internal:6380/3")
    assert.strictEqual(o.host, "cache.internal")
    assert.strictEqual(o.port, 6380)
    assert.strictEqual(o.db, 3)
    assert.strictEqual(o.username, "alice")
    assert.strictEqual(Redacted.value(o.password!), "s@cret")
    assert.strictEqual(o.tls, undefined)
  })

  it("defaults the host to localhost and leaves the port to the default", () => {
    const o = parse("redis://")
    assert.strictEqual(o.host, "localhost")
    assert.strictEqual(o.port, undefined)
    assert.strictEqual(o.db, undefined)
  })

  it("takes a password without a user name", () => {
    const o = parse("redis://:pw@h")
    assert.strictEqual(o.username, undefined)
    assert.strictEqual(Redacted.value(o.password!), "pw")
  })

  it("turns on TLS for rediss:// with the host as server name, and skip_verify turns verification off", () => {
    assert.deepStrictEqual(parse("rediss://h:1").tls, { servername: "h" })
    assert.deepStrictEqual(parse("rediss://h:1?skip_verify=true").tls, { servername: "h", rejectUnauthorized: false })
  })

  it("accepts IPv6 addresses in brackets", () => {
    const o = parse("redis://[::1]:7000")
    assert.strictEqual(o.host, "::1")
    assert.strictEqual(o.port, 7000)
  })

  it("reads a unix socket path with db and credentials", () => {
    const o = parse("unix://u:p@/var/run/redis.sock?db=2")
    assert.strictEqual(o.path, "/var/run/redis.sock")
    assert.strictEqual(o.db, 2)
    assert.strictEqual(o.username, "u")
  })

  it("maps go-redis query parameters, bare integers as seconds and Go durations", () => {
    const o = parse(
      "redis://h/1?pool_size=20&dial_timeout=3&read_timeout=1.5s&write_timeout=250ms&pool_timeout=1m30s" +
        "&min_idle_conns=2&max_idle_conns=5&max_active_conns=30&conn_max_idle_time=10m&conn_max_lifetime=1h" +
        "&conn_max_lifetime_jitter=30s&pool_fifo=true&max_retries=5&min_retry_backoff=8ms&max_retry_backoff=512ms" +
        "&protocol=2&client_name=worker-1&db=4&max_concurrent_dials=3"
    )
    assert.strictEqual(o.poolSize, 20)
    assert.strictEqual(millis(o.dialTimeout), 3000)
    assert.strictEqual(millis(o.readTimeout), 1500)
    assert.strictEqual(millis(o.writeTimeout), 250)
    assert.strictEqual(millis(o.poolTimeout), 90_000)
    assert.strictEqual(o.minIdleConns, 2)
    assert.strictEqual(o.maxIdleConns, 5)
    assert.strictEqual(o.maxActiveConns, 30)
    assert.strictEqual(millis(o.connMaxIdleTime), 600_000)
    assert.strictEqual(millis(o.connMaxLifetime), 3_600_000)
    assert.strictEqual(millis(o.connMaxLifetimeJitter), 30_000)
    assert.strictEqual(o.poolFifo, true)
    assert.strictEqual(o.maxRetries, 5)
    assert.strictEqual(millis(o.minRetryBackoff), 8)
    assert.strictEqual(millis(o.maxRetryBackoff), 512)
    assert.strictEqual(o.protocol, 2)
    assert.strictEqual(o.clientName, "worker-1")
    assert.strictEqual(o.db, 4, "the db parameter overrides the path")
    assert.strictEqual(o.maxConcurrentDials, 3)
  })

  it("reads the aliases idle_timeout and max_conn_age", () => {
    const o = parse("redis://h?idle_timeout=5&max_conn_age=10")
    assert.strictEqual(millis(o.connMaxIdleTime), 5000)
    assert.strictEqual(millis(o.connMaxLifetime), 10_000)
  })

  it("disables a duration given as zero or less, and zeroes a backoff", () => {
    const o = parse("redis://h?read_timeout=0&conn_max_idle_time=-1&min_retry_backoff=-1")
    assert.isTrue(Duration.toMillis(o.readTimeout!) === Infinity)
    assert.isTrue(Duration.toMillis(o.connMaxIdleTime!) === Infinity)
    assert.strictEqual(millis(o.minRetryBackoff), 0)
  })

  it("lets the last of repeated parameters win and treats a blank value as the default", () => {
    const o = parse("redis://h?pool_size=1&pool_size=7&read_timeout=")
    assert.strictEqual(o.poolSize, 7)
    assert.strictEqual(o.readTimeout, undefined)
  })

  it.each<[string, string]>([
    ["http://h", "scheme"],
    ["localhost:6379", "redis://"],
    ["redis://h?pool_sise=10", "unknown parameter(s): pool_sise"],
    ["redis://h?pool_size=ten", "pool_size must be an integer"],
    ["redis://h?read_timeout=soon", "read_timeout must be a duration"],
    ["redis://h?pool_fifo=yes", "pool_fifo must be true"],
    ["redis://h?protocol=4", "protocol must be 2 or 3"],
    ["redis://h:99999", "invalid port"],
    ["redis://h:abc", "invalid port"],
    ["redis://h:0", "invalid port"],
    ["redis://[::1]:99999", "invalid port"],
    ["redis://[zz]:1", "invalid IPv6"],
    ["redis://hé.example", "invalid host"],
    ["redis://h?client_name=a@b", "an \"@\" after the host"],
    ["redis://h/x", "invalid database number"],
    ["redis://h/1/2", "invalid path"],
    ["redis://[::1", "unterminated IPv6"],
    ["redis://bad host", "invalid host"],
    ["unix://", "socket path"],
    ["redis://h?skip_verify=true", "needs a rediss:// URL"],
    ["redis://u:%zz@h", "percent-encoding"]
  ])("rejects %s with a clear InvalidArgumentError", (url, text) => {
    const e = error(url)
    assert.strictEqual(e._tag, "InvalidArgumentError")
    assert.include(e.message, text, url)
  })

  // Each password hides a delimiter; its pieces around the delimiter must appear nowhere in the error.
  it.each<[string, ReadonlyArray<string>]>([
    ["redis://alice:Zq#Wx@h:6380", ["Zq", "Wx"]],
    ["redis://alice:6380#Wx@h", ["6380", "Wx"]],
    ["redis://alice:Zq?Wx@h", ["Zq", "Wx"]],
    ["redis://alice:Zq/Wx@h/1", ["Zq", "Wx"]],
    ["redis://alice:6380?Wx@h", ["6380", "Wx"]],
    ["redis://alice:6380/Wx@h", ["6380", "Wx"]],
    ["redis://alice:6380?pool_size=Wx@h", ["6380", "Wx"]],
    ["redis://alice:Zq@Yy?Wx@h", ["Zq", "Yy", "Wx"]],
    ["redis://:99999?Wx@h", ["99999", "Wx"]],
    ["redis://alice:Zq?Wx@h?pool_sise=1", ["Zq", "Wx"]],
    ["unix://alice:Zq?Wx@/tmp/redis.sock", ["Zq", "Wx"]],
    ["unix://alice:6380/Wx@/tmp/redis.sock", ["6380", "Wx"]]
  ])("never echoes the user info when a password holds an unencoded delimiter: %s", (url, pieces) => {
    const e = error(url)
    assert.strictEqual(e._tag, "InvalidArgumentError")
    for (const piece of pieces) {
      assert.notInclude(e.message, piece)
      assert.notInclude(String(e.option), piece)
      assert.notInclude(JSON.stringify(e), piece)
    }
    assert.include(e.message, "must be percent-encoded (%23, %3F, %2F, %40, %3A)")
  })

  it("rejects a fragment, and says where a password must be percent-encoded", () => {
    for (const url of ["redis://h:6379#x", "redis://h#", "rediss://u:p@h/0?db=1#frag"]) {
      const e = error(url)
      assert.include(e.message, "fragment")
      assert.include(e.message, "%23")
    }
  })

  it("reads a password percent-encoded with every delimiter", () => {
    const o = parse("redis://alice:a%23b%3Fc%2Fd%40e%3Af@h:6380/2")
    assert.strictEqual(Redacted.value(o.password!), "a#b?c/d@e:f")
    assert.strictEqual(o.port, 6380)
    assert.strictEqual(o.db, 2)
  })

  it("takes an IPv6 zone as go-redis does ([fe80::1%25eth0])", () => {
    const o = parse("redis://[fe80::1%25eth0]:6380")
    assert.strictEqual(o.host, "fe80::1%eth0")
    assert.strictEqual(o.port, 6380)
  })

  it("sets no TLS server name for an IP address (SNI carries host names only; Node warns, DEP0123)", () => {
    assert.deepStrictEqual(parse("rediss://127.0.0.1:6380").tls, {})
    assert.deepStrictEqual(parse("rediss://[::1]:6380?skip_verify=true").tls, { rejectUnauthorized: false })
    assert.deepStrictEqual(parse("rediss://cache.internal:6380").tls, { servername: "cache.internal" })
  })

  it("refuses a host in a unix:// URL rather than guessing a relative path", () => {
    assert.include(error("unix://var/run/redis.sock").message, "unix:///path/to/socket")
    assert.strictEqual(parse("unix:///var/run/redis.sock").path, "/var/run/redis.sock")
  })

  it("never puts the password into an error", () => {
    const e = error("redis://user:hunter2@h?nope=1")
    assert.notInclude(e.message, "hunter2")
    assert.notInclude(JSON.stringify(e), "hunter2")
  })
})
