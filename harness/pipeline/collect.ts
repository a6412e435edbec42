/**
 * After-load collectors: Redis INFO and keyspace by namespace, pg_stat_statements for the
 * target's tagged queries. All talk to the services directly, never through the proxies, so a
 * fault still applied cannot hide the numbers.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { PG_STAT_TARGET_FILTER } from '../../target/db.ts';
import { keyNamespace } from '../../target/keys.ts';
import type { PgStatSnapshot, RedisSnapshot } from '../results/schema.ts';

export async function redisSnapshot(url: string): Promise<RedisSnapshot> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  r.on('error', () => {});
  await r.connect();
  try {
    const info = await r.info();
    const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
    const keysByNamespace: Record<string, number> = {};
    let keys = 0;
    let sampled = 0;
    let sampledBytes = 0;
    let cursor = '0';
    // SCAN (not KEYS) so a big keyspace does not block Redis; size from a bounded sample.
    do {
      const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of batch) {
        keys++;
        const ns = keyNamespace(k);
        keysByNamespace[ns] = (keysByNamespace[ns] ?? 0) + 1;
      }
      if (sampled < 200 && batch.length > 0) {
        const sample = batch.slice(0, 200 - sampled);
        const sizes = await Promise.all(sample.map((k) => r.memory('USAGE', k).catch(() => null)));
        for (const s of sizes) {
          if (typeof s === 'number') {
            sampled++;
            sampledBytes += s;
          }
        }
      }
    } while (cursor !== '0');
    return {
      version: /redis_version:(\S+)/.exec(info)?.[1],
      usedMemory: field('used_memory'),
      evictedKeys: field('evicted_keys'),
      keyspaceHits: field('keyspace_hits'),
      keyspaceMisses: field('keyspace_misses'),
      keys,
      keysByNamespace,
      avgValueBytes: sampled > 0 ? Math.round(sampledBytes / sampled) : 0,
      hottestKeys: [],
    };
  } finally {
    r.disconnect();
  }
}

export async function resetPgStatStatements(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  // A server shutting down under us (Ctrl-C) must surface as a rejected query, not a crash.
  c.on('error', () => {});
  await c.connect();
  try {
    await c.query('SELECT pg_stat_statements_reset()');
  } finally {
    await c.end();
  }
}

export async function pgStatSnapshot(url: string): Promise<PgStatSnapshot> {
  const c = new pg.Client({ connectionString: url });
  // A server shutting down under us (Ctrl-C) must surface as a rejected query, not a crash.
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query<{ query: string; calls: string; total: number; mean: number }>(
      `SELECT query, calls, total_exec_time AS total, mean_exec_time AS mean
         FROM pg_stat_statements WHERE ${PG_STAT_TARGET_FILTER} ORDER BY calls DESC`,
    );
    let calls = 0;
    let totalExecMs = 0;
    for (const row of r.rows) {
      calls += Number(row.calls);
      totalExecMs += row.total;
    }
    return {
      calls,
      totalExecMs: Math.round(totalExecMs * 10) / 10,
      top: r.rows.slice(0, 8).map((row) => ({
        query: row.query.replace(/\s+/g, ' ').slice(0, 160),
        calls: Number(row.calls),
        meanMs: Math.round(row.mean * 100) / 100,
      })),
    };
  } finally {
    await c.end();
  }
}
