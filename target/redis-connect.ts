/**
 * The one place the target builds an ioredis client from its options: standalone `new Redis(url)`,
 * cluster `new Redis.Cluster(seed, { redisOptions, natMap })`, replicated a Sentinel-backed
 * `new Redis({ sentinels, name, … })` (target/redis-sentinel.ts). Every topology gets the same
 * fail-fast `base` options (cache-client.ts), so a node that is slow or gone costs a request at
 * most one command budget on every topology alike.
 *
 * The target reaches every node through a Toxiproxy proxy a fault can hit: local Cluster nodes
 * announce their client proxies; replicated nodes are known to Sentinel by their link proxies,
 * and `natMap` maps each announced address to the node's client proxy.
 */
import { Cluster, type ClusterOptions, type NatMap, Redis, type RedisOptions } from 'ioredis';
import type { TargetOptions } from './config.ts';
import { sentinelOptions } from './redis-sentinel.ts';

export type RedisConnectOptions = Pick<
  TargetOptions,
  'redisTopology' | 'redisNatMap' | 'redisSentinels' | 'redisMasterName'
> & {
  url: string;
};

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** `{"127.0.0.1:7000": "127.0.0.1:17000"}` → ioredis' `{"127.0.0.1:7000": {host, port}}`. */
export function toNatMap(m: Record<string, string>): NatMap {
  return Object.fromEntries(Object.entries(m).map(([from, to]) => [from, hostPort(to)]));
}

function clusterClient(o: RedisConnectOptions, base: RedisOptions): Cluster {
  const u = new URL(o.url);
  const { retryStrategy, lazyConnect, enableOfflineQueue, ...nodeOptions } = base;
  const options: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    // The cluster's own reconnect (all nodes lost) follows the standalone client's backoff.
    clusterRetryStrategy: retryStrategy ? (times) => retryStrategy(times) : undefined,
    natMap: toNatMap(o.redisNatMap),
    // A MOVED/ASK reply is followed (slot migration, failover); each hop is one more command
    // within the same budget, never a queued retry.
    maxRedirections: 4,
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    slotsRefreshTimeout: base.connectTimeout ?? 1000,
    redisOptions: {
      ...nodeOptions,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    },
  };
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], options);
}

/**
 * The client strategies get. A Cluster speaks the same command interface strategies use (GET,
 * SET, EVAL/EVALSHA, pipelines, status and connection events); ioredis types it as a separate
 * class, so it is handed over as `Redis`.
 */
export function connectRedis(o: RedisConnectOptions, base: RedisOptions): Redis {
  switch (o.redisTopology) {
    case 'cluster':
      return clusterClient(o, base) as unknown as Redis;
    case 'replicated':
      return new Redis({ ...base, ...sentinelOptions(o) });
    default:
      return new Redis(o.url, base);
  }
}

/** True for a Cluster client (ioredis sets `isCluster` on both classes). */
export function isCluster(redis: Redis): boolean {
  return redis.isCluster === true;
}

/**
 * DEL of keys that may live in different slots: one DEL on standalone (what it always sent), one
 * single-key DEL per key side by side on Cluster, which refuses a multi-slot DEL with CROSSSLOT.
 * Not atomic across keys on Cluster; invalidation never needed that (each key's DEL is what makes
 * its next read miss).
 */
export async function deleteKeys(redis: Redis, keys: string[]): Promise<number> {
  if (!isCluster(redis) || keys.length <= 1) return redis.del(...keys);
  const counts = await Promise.all(keys.map((k) => redis.del(k)));
  return counts.reduce((a, b) => a + b, 0);
}
