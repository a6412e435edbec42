/**
 * Memory pressure as a scenario axis: a scenario's `redis: { maxmemory, maxmemoryPolicy }` is
 * applied with CONFIG SET over the harness's own (direct) Redis connection before the cell's
 * warm-up, and the server's own values are put back after the cell. The originals are read once
 * per server and kept, so a cell that died before its reset is repaired by the next cell's apply:
 * a cell without `redis:` always runs with the server's defaults.
 */
import { Redis } from 'ioredis';
import type { ScenarioRedis } from '../../scenarios/types.ts';
import { UsageError } from '../errors.ts';

interface ServerDefaults {
  maxmemory: string;
  maxmemoryPolicy: string;
}

/** Server URL → its values before the harness first changed them. */
const originals = new Map<string, ServerDefaults>();

/** A short-lived connection for one harness-side step (CONFIG, snapshots): closed on every path. */
export async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  r.on('error', () => {});
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function configGet(r: Redis, name: string): Promise<string> {
  const reply = (await r.config('GET', name)) as string[];
  return reply[1] ?? '';
}

async function defaultsOf(r: Redis, url: string): Promise<ServerDefaults> {
  let d = originals.get(url);
  if (!d) {
    d = {
      maxmemory: await configGet(r, 'maxmemory'),
      maxmemoryPolicy: await configGet(r, 'maxmemory-policy'),
    };
    originals.set(url, d);
  }
  return d;
}

/** What the cell runs with: the scenario's values, the server's own for what it leaves out. */
export async function applyRedisConfig(url: string, spec: ScenarioRedis | undefined): Promise<void> {
  // Never changed on this server: nothing to put back, and no CONFIG command needed (a server
  // that refuses CONFIG still runs every scenario without `redis:`).
  if (spec === undefined && !originals.has(url)) return;
  await withRedis(url, async (r) => {
    const d = await defaultsOf(r, url);
    await r.config('SET', 'maxmemory-policy', spec?.maxmemoryPolicy ?? d.maxmemoryPolicy);
    await r.config('SET', 'maxmemory', String(spec?.maxmemory ?? d.maxmemory));
  });
}

/** Puts back the server's own values (after every cell, also a failed one). */
export async function resetRedisConfig(url: string): Promise<void> {
  if (!originals.has(url)) return;
  await applyRedisConfig(url, undefined);
}

/**
 * Before the run: a server that refuses CONFIG SET (a managed Redis, a renamed command) cannot
 * run a scenario with `redis:`. Setting each option to its current value proves it is allowed
 * without changing anything; the refusal becomes one line naming the option (exit 2).
 */
export async function checkRedisConfig(
  url: string,
  scenarios: readonly { name: string; redis?: ScenarioRedis }[],
): Promise<void> {
  const options = [
    ['maxmemory', 'maxmemory'],
    ['maxmemory-policy', 'maxmemoryPolicy'],
  ] as const;
  const wanted = options.flatMap(([option, field]) => {
    const s = scenarios.find((sc) => sc.redis?.[field] !== undefined);
    return s ? [{ option, field, scenario: s.name }] : [];
  });
  if (wanted.length === 0) return;
  await withRedis(url, async (r) => {
    for (const { option, field, scenario } of wanted) {
      try {
        await r.config('SET', option, await configGet(r, option));
      } catch (e) {
        throw new UsageError(
          'REDIS_CONFIG_REFUSED',
          `scenario ${scenario}: redis.${field}: the Redis server refused CONFIG SET ${option}: ${(e as Error).message.split('\n')[0]}`,
          { cause: e },
        );
      }
    }
  });
}
