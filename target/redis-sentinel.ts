/**
 * The Sentinel-backed client's options for `redisTopology: replicated`: ioredis asks the
 * Sentinels for the current primary, connects to it (through `natMap`, so through the Toxiproxy
 * proxy in front of that node) and follows a failover. The fail-fast `base` options of
 * cache-client.ts still apply to the data connection; this adds only what Sentinel needs.
 */
import type { RedisOptions } from 'ioredis';
import { TargetOptionError } from './config.ts';
import { type RedisConnectOptions, toNatMap } from './redis-connect.ts';

export function sentinelOptions(o: RedisConnectOptions): Partial<RedisOptions> {
  if (!o.redisSentinels) {
    throw new TargetOptionError(
      'redisSentinels',
      'redisSentinels: "" — redisTopology replicated needs the Sentinels as host:port,host:port',
    );
  }
  const u = new URL(o.url);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const sentinels = o.redisSentinels.split(',').map((s) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  });
  return {
    sentinels,
    name: o.redisMasterName,
    role: 'master',
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(password ? { password, sentinelPassword: password } : {}),
    natMap: toNatMap(o.redisNatMap),
    // Reconnect at once on Sentinel's +switch-master instead of waiting for the old primary's
    // connection to fail: the time to follow the new primary is then Sentinel's, not a timeout's.
    failoverDetector: true,
    // Sentinels answer from memory; a slow one is skipped for the next rather than waited on.
    sentinelCommandTimeout: 500,
    // All Sentinels unreachable: keep asking with the data connection's small backoff cap, never
    // give up (a target outlives any outage).
    sentinelRetryStrategy: (times) => Math.min(50 * times, 500),
    // The Sentinel list is ours; peers the Sentinels announce would bypass nothing but add noise.
    updateSentinels: false,
  };
}
