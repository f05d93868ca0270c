/**
 * The `RedisPool` service over a master that Redis Sentinel manages: the same
 * service, another layer, so a program written against `RedisPool` (and
 * `Persistence.layer`) runs unchanged.
 *
 * ```ts
 * const live = Sentinel.layer({
 *   sentinel: { masterName: "mymaster", sentinels: ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"] },
 *   password: Redacted.make("data-node-secret")
 * })
 * program.pipe(Effect.provide(live))
 * ```
 *
 * Discovery follows the Sentinel client spec. Every new connection asks the
 * sentinels for the master's address (never an address kept from before):
 * they are tried in order, each within `sentinel.timeout`, and the first that
 * names the master moves to the front of the list, and the other sentinels it
 * knows (`SENTINEL SENTINELS`) join the list. The connection must then
 * answer `ROLE` master; one that does not is closed and the sentinels asked
 * again. These failures are typed: `SentinelUnreachableError` (no sentinel
 * answered; each one's cause), `SentinelMasterUnknownError` (none knows the
 * name) and `SentinelRoleError` (the named node is not a master). Building
 * the layer fails with them directly; afterwards a dial that fails for one of
 * them is a `ConnectionError` with reason `sentinel` and the error as `cause`
 * (retried like any failed dial).
 *
 * Following a failover: a subscriber on every sentinel (`followSwitches`)
 * hears `+switch-master`. On a switch, idle connections to the old master
 * close at once, shared ones take no new commands and close when their last
 * one is answered, checked-out ones close when they come back, the pub/sub
 * subscriber reconnects to the new master, and the old address is refused at
 * dial time for 30 s even if a slower sentinel still names it. This is what
 * keeps writes off a master that Sentinel replaced but has not demoted yet
 * (after a `SENTINEL FAILOVER` it accepts writes for ~10 s, all lost when it
 * is demoted). A `READONLY` reply retires every pooled connection.
 *
 * Replica reads (`readFrom: "replica"`): reads of keys run on a replica the
 * sentinels list as up (`SENTINEL REPLICAS`), each on a pool of its own whose
 * connections must answer `ROLE` slave; writes, transactions, blocking
 * commands, scripts and pub/sub stay on the master, and so does any read when
 * no replica is usable or the one chosen fails.
 *
 * The options can come from a URL in go-redis's `ParseFailoverURL` form (see
 * {@link UrlOptions}).
 *
 * @since 0.1.0
 */
import type * as tls from "node:tls"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import {
  type ConnectionError,
  type InvalidArgumentError,
  type SentinelError,
  SentinelMasterUnknownError,
  SentinelRoleError,
  SentinelUnreachableError
} from "./Errors.ts"
import type * as Conn from "./Conn.ts"
import * as PoolInternal from "./internal/pool.ts"
import { commandMethods } from "./internal/methods.ts"
import { makeStandalone } from "./internal/redisPoolMake.ts"
import { resolve } from "./internal/redisPoolOptions.ts"
import { sentinelDial } from "./internal/sentinelDial.ts"
import { addressText, Sentinels } from "./internal/sentinelDiscovery.ts"
import { resolveSentinel } from "./internal/sentinelOptions.ts"
import { makeReplicaReads } from "./internal/sentinelReplicas.ts"
import { SwitchState } from "./internal/sentinelState.ts"
import { watchSwitches } from "./internal/sentinelWatch.ts"
import * as RedisPool from "./RedisPool.ts"

/**
 * Where the sentinels are and how to talk to them.
 *
 * @since 0.1.0
 * @category models
 */
export interface SentinelOptions {
  /** The name the sentinels monitor the master under (`sentinel monitor <name> ...`). */
  readonly masterName: string
  /** The sentinels, `"host:port"` (`"[::1]:26379"` for IPv6) or `{ host, port }`, asked in this order at first. */
  readonly sentinels: ReadonlyArray<string | { readonly host: string; readonly port: number }>
  /** ACL user on the sentinels (`sentinel sentinel-user`); the data nodes' user is the top-level `username`. */
  readonly username?: string | undefined
  /** Password of the sentinels (`sentinel sentinel-pass`); the data nodes' is the top-level `password`. */
  readonly password?: Redacted.Redacted<string> | string | undefined
  /** TLS to the sentinels, as `Conn.ConnOptions.tls`. */
  readonly tls?: boolean | tls.ConnectionOptions | undefined
  /** Bound on dialing one sentinel and its answer; past it the next sentinel is asked. Default 500 ms. */
  readonly timeout?: Duration.Input | undefined
  /** Subscribe to `+switch-master` on the sentinels and drop connections to a master they replaced. Default true. */
  readonly followSwitches?: boolean | undefined
}

/**
 * Options of {@link make} and {@link layer}: the service's options
 * (`RedisPool.Options`) for the master's connections, without an address (the
 * sentinels name it), and `sentinel`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<RedisPool.Options, "url" | "host" | "port" | "path"> {
  readonly sentinel: SentinelOptions
  /**
   * Where read-only commands (GET, MGET, HGETALL, LRANGE, SMEMBERS, ZRANGE,
   * EXISTS, TTL, the SCAN family, ...) run: `"master"` (default) or
   * `"replica"`, a replica the sentinels list as up, on a pool of its own,
   * falling back to the master when none is usable. A replica's data may lag
   * the master's.
   */
  readonly readFrom?: "master" | "replica" | undefined
  readonly url?: undefined
}

/**
 * Options given as a Sentinel URL, in go-redis's `ParseFailoverURL` form:
 * `redis[s]://[user:password@]host:port[/db]?master_name=<name>&addr=host2:port2&addr=host3:port3`.
 * The host and port are the first sentinel (default port 26379), each `addr`
 * one more; the user info is the sentinels' credentials, the `username` and
 * `password` parameters the data nodes'; `read_from=replica` sets `readFrom`;
 * `rediss://` is TLS to both; the other parameters are a `redis://` URL's
 * (`db`, `pool_size`, `dial_timeout`, ...). Options given beside it win over
 * the URL's, `sentinel`'s field by field.
 *
 * @since 0.1.0
 * @category models
 */
export interface UrlOptions extends Omit<Options, "sentinel" | "url"> {
  readonly url: string | Redacted.Redacted<string>
  readonly sentinel?: Partial<SentinelOptions> | undefined
}

/**
 * The service over a Sentinel-managed master: `RedisPool`'s, and what it knows
 * of the master.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends RedisPool.Standalone {
  /** The master's address (`host:port`) as last learnt, from a dial or a switch; undefined before either. */
  readonly master: Effect.Effect<string | undefined>
  /** Master switches acted on: announced by `+switch-master`, or found after a sentinel subscriber reconnected. */
  readonly switches: Effect.Effect<number>
  /** With `readFrom: "replica"`, the replicas reads go to now (`host:port`); empty otherwise, or when reads run on the master. */
  readonly replicas: Effect.Effect<ReadonlyArray<string>>
  /** The sentinels known now (`host:port`), those the sentinels told of included, in the order they are asked. */
  readonly sentinels: Effect.Effect<ReadonlyArray<string>>
}

const isSentinelError = (cause: unknown): cause is SentinelError =>
  cause instanceof SentinelUnreachableError || cause instanceof SentinelMasterUnknownError ||
  cause instanceof SentinelRoleError

/**
 * Builds the service over the Sentinel-managed master in the current scope;
 * closing the scope closes its pool. Unless `lazyConnect`, it connects before
 * it returns, and fails with the `SentinelError` (or `ConnectionError`) that
 * says why it could not. Invalid options fail with `InvalidArgumentError`
 * naming the option (`sentinel.masterName`, ...).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options | UrlOptions
): Effect.Effect<Service, InvalidArgumentError | ConnectionError | SentinelError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* resolveSentinel(options)
    const resolved = yield* resolve(config.service)
    const sentinels = new Sentinels(config.masterName, config.sentinels, config.conn)
    // Asked once up front so that a layer that cannot find its master fails with the typed reason.
    if (config.service.lazyConnect !== true) yield* sentinels.resolveMaster
    const state = new SwitchState()
    const standalone = yield* makeStandalone(
      config.service,
      resolved,
      sentinelDial(sentinels, state),
      (error) => {
        // A write answered READONLY: a connection of the pool reaches a demoted master.
        if (error._tag === "RedisReplyError" && error.code === "READONLY") state.readOnly()
      },
      sentinelDial(sentinels, state.subscriberHooks)
    ).pipe(
      Effect.catchTag(
        "ConnectionError",
        (error): Effect.Effect<never, ConnectionError | SentinelError> =>
          Effect.fail(error.reason === "sentinel" && isSentinelError(error.cause) ? error.cause : error)
      )
    )
    state.pool = PoolInternal.implOf<Conn.Conn>(standalone.pool)
    const reads = config.readFrom === "replica" ? yield* makeReplicaReads(sentinels, resolved, standalone) : undefined
    if (reads !== undefined) state.onSwitch = reads.switched
    if (config.followSwitches) yield* watchSwitches(sentinels, state)
    const service: Service = {
      ...standalone,
      ...(reads === undefined ? {} : {
        ...commandMethods(reads.run),
        run: reads.run,
        send: reads.send,
        pipeline: reads.pipeline
      }),
      replicas: Effect.sync(() => reads === undefined ? [] : reads.replicas()),
      master: Effect.sync(() => state.master),
      switches: Effect.sync(() => state.switches),
      sentinels: Effect.sync(() => sentinels.list.map(addressText))
    }
    return service
  })

/**
 * A layer providing `RedisPool.RedisPool` over the Sentinel-managed master;
 * the pool closes with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options | UrlOptions
): Layer.Layer<RedisPool.RedisPool, InvalidArgumentError | ConnectionError | SentinelError> =>
  Layer.effect(RedisPool.RedisPool, make(options))

/**
 * The options read from configuration: `SENTINELS` (`host:port` separated by
 * commas) and `MASTER_NAME`, both required; `SENTINEL_USERNAME`,
 * `SENTINEL_PASSWORD` (`Redacted`), `SENTINEL_TIMEOUT` (an Effect duration
 * string, `"500 millis"`) and `READ_FROM` (`master` or `replica`); and every option of `RedisPool.config` for the
 * master's connections (`POOL_SIZE`, `PASSWORD`, `READ_TIMEOUT`, ...) except the
 * address (`URL`, `HOST`, `PORT` and `PATH` are not read: the sentinels name
 * the master). Under `prefix` (default `"REDIS"`): `REDIS_SENTINELS`,
 * `REDIS_MASTER_NAME`, ...
 *
 * @since 0.1.0
 * @category config
 */
export const config = (prefix = "REDIS"): Config.Config<Options> => {
  const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
    Config.map(Config.option(config), (value) => value._tag === "Some" ? value.value : undefined)
  const all = Config.all({
    service: RedisPool.config(""),
    sentinels: Config.map(Config.String("SENTINELS"), (text) =>
      text.split(",").map((item) => item.trim()).filter((item) => item !== "")),
    masterName: Config.String("MASTER_NAME"),
    username: optional(Config.String("SENTINEL_USERNAME")),
    password: optional(Config.Redacted("SENTINEL_PASSWORD")),
    timeout: optional(Config.String("SENTINEL_TIMEOUT")),
    readFrom: optional(Config.Literals(["master", "replica"] as const, "READ_FROM"))
  }).pipe(Config.map(({ masterName, password, readFrom, sentinels, service, timeout, username }): Options => {
    const { host: _host, path: _path, port: _port, url: _url, ...rest } = service
    return {
      ...rest,
      ...(readFrom !== undefined ? { readFrom } : {}),
      sentinel: {
        masterName,
        sentinels,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(timeout !== undefined ? { timeout: timeout as Duration.Input } : {})
      }
    }
  }))
  return prefix === "" ? all : Config.nested(all, prefix)
}

/**
 * A layer whose options come from configuration: by default {@link config}
 * (`REDIS_SENTINELS`, `REDIS_MASTER_NAME`, `REDIS_PASSWORD`, ... from the
 * environment), or any `Config` of options, or a record of `Config`s per
 * option.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect, Layer } from "effect"
 * import { RedisPool, Sentinel } from "effect-redis-pool"
 *
 * const live = Sentinel.layerConfig().pipe(
 *   Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
 *     env: { REDIS_SENTINELS: "10.0.0.1:26379,10.0.0.2:26379", REDIS_MASTER_NAME: "mymaster" }
 *   })))
 * )
 * const program = Effect.gen(function*() {
 *   const redis = yield* RedisPool.RedisPool
 *   return yield* redis.get("greeting")
 * })
 * const runnable = program.pipe(Effect.provide(live))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> | Config.Wrap<Options> = config()
): Layer.Layer<RedisPool.RedisPool, InvalidArgumentError | ConnectionError | SentinelError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(Config.unwrap(options as Config.Wrap<Options>), (resolved: Options) => layer(resolved))
  )
