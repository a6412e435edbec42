/**
 * The local provisioner against the real processes: Redis, PostgreSQL and Toxiproxy, and the
 * fault primitives every scenario relies on.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalInfra } from '../harness/infra/local.ts';
import { isAlive } from '../harness/infra/processes.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { toxiproxy } from './helpers/infra.ts';

function fastRedis(url: string, commandTimeout = 300): Redis {
  const r = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: 500,
    retryStrategy: () => 50,
  });
  r.on('error', () => {});
  return r;
}

async function pgQuery(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query<{ n: number }>('SELECT 41 + 1 AS n');
    return r.rows[0]!.n;
  } finally {
    await c.end();
  }
}

async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ms: number; ok: boolean; value?: T; error?: string }> {
  const t = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - t, ok: true, value };
  } catch (e) {
    return { ms: performance.now() - t, ok: false, error: (e as Error).message };
  }
}

describe('local provisioner', () => {
  let infra: InfraHandle;
  beforeAll(async () => {
    infra = await startLocalInfra();
  });
  afterAll(async () => {
    await infra?.stop();
  });

  it('starts redis-server, postgres and toxiproxy-server with versions', () => {
    expect(infra.pids).toHaveLength(3);
    expect(infra.pids.every(isAlive)).toBe(true);
    expect(infra.versions.redis).toMatch(/^\d+\.\d+/);
    expect(infra.versions.postgres).toMatch(/^\d+/);
    expect(infra.versions.toxiproxy).toBeTruthy();
  });

  it('Redis PING and a Postgres query work through their proxies; pg_stat_statements is loaded', async () => {
    const r = fastRedis(infra.redisProxyUrl);
    await r.connect();
    expect(await r.ping()).toBe('PONG');
    r.disconnect();
    expect(await pgQuery(infra.postgresProxyUrl)).toBe(42);
    const c = new pg.Client({ connectionString: infra.postgresUrl });
    await c.connect();
    const ext = await c.query(
      "SELECT count(*)::int AS n FROM pg_stat_statements WHERE query LIKE 'SELECT $1 + $2%'",
    );
    await c.end();
    expect(ext.rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it('disabling the redis proxy makes PING fail at once; /reset restores it', async () => {
    const r = fastRedis(infra.redisProxyUrl);
    await r.connect();
    await toxiproxy(infra.toxiproxyUrl, 'POST', '/proxies/redis', { enabled: false });
    const down = await timed(() => r.ping());
    expect(down.ok).toBe(false);
    // "At once": refused/reset, well under the 300 ms command timeout.
    expect(down.ms).toBeLessThan(150);
    await toxiproxy(infra.toxiproxyUrl, 'POST', '/reset');
    let back = await timed(() => r.ping());
    for (let i = 0; i < 40 && !back.ok; i++) {
      await new Promise((res) => setTimeout(res, 50));
      back = await timed(() => r.ping());
    }
    expect(back.value).toBe('PONG');
    r.disconnect();
  });

  it('a timeout toxic with 0 blackholes Redis until the client timeout; /reset restores both proxies', async () => {
    const r = fastRedis(infra.redisProxyUrl, 400);
    await r.connect();
    await toxiproxy(infra.toxiproxyUrl, 'POST', '/proxies/redis/toxics', {
      name: 'bh',
      type: 'timeout',
      attributes: { timeout: 0 },
    });
    await toxiproxy(infra.toxiproxyUrl, 'POST', '/proxies/postgres/toxics', {
      name: 'bh',
      type: 'timeout',
      attributes: { timeout: 0 },
    });
    const hung = await timed(() => r.ping());
    expect(hung.ok).toBe(false);
    expect(hung.error).toMatch(/timed out/i);
    // It hangs until the client gives up, not before.
    expect(hung.ms).toBeGreaterThanOrEqual(380);
    expect(hung.ms).toBeLessThan(1500);
    const pgHung = await timed(() => pgQuery(infra.postgresProxyUrl));
    expect(pgHung.ok).toBe(false);
    expect(pgHung.ms).toBeGreaterThanOrEqual(1900);

    await toxiproxy(infra.toxiproxyUrl, 'POST', '/reset');
    r.disconnect();
    const r2 = fastRedis(infra.redisProxyUrl);
    await r2.connect();
    expect(await r2.ping()).toBe('PONG');
    r2.disconnect();
    expect(await pgQuery(infra.postgresProxyUrl)).toBe(42);
  });

  it('stop() ends every PID it started and is idempotent', async () => {
    const other = await startLocalInfra();
    const pids = other.pids;
    expect(pids.every(isAlive)).toBe(true);
    await other.stop();
    await other.stop();
    expect(pids.filter(isAlive)).toEqual([]);
  });
});
