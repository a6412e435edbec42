/**
 * After-load collectors: Redis INFO and keyspace by namespace, pg_stat_statements for the
 * target's tagged queries. All talk to the services directly, never through the proxies, so a
 * fault still applied cannot hide the numbers.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { PG_STAT_TARGET_FILTER } from '../../target/db.ts';
import { keyNamespace } from '../../target/keys.ts';
import type { NamespaceMemory, PgStatSnapshot, RedisSnapshot } from '../results/schema.ts';

/** Keys per namespace whose MEMORY USAGE is read: bounded so a big keyspace costs little. */
export const NAMESPACE_SAMPLE = 200;

/** Counters Redis keeps since its start; the cell reports their change over the load. */
export interface RedisBaseline {
  evictedKeys: number;
  oomRejections: number;
}

function infoField(info: string, name: string): number {
  return Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
}

/** `errorstat_OOM:count=N` (INFO errorstats, Redis ≥ 6.2); 0 when absent. */
function oomCount(info: string): number {
  return Number(/^errorstat_OOM:count=(\d+)/m.exec(info)?.[1] ?? 0);
}

/** A counter's change since the baseline; a restarted server (counter below it) counts from 0. */
function since(now: number, base: number | undefined): number {
  if (base === undefined) return now;
  return now >= base ? now - base : now;
}

/** Every master's baseline summed (a Cluster's masters each count their own slots). */
export async function redisBaseline(urls: string | string[]): Promise<RedisBaseline> {
  const all = await Promise.all((typeof urls === 'string' ? [urls] : urls).map(nodeBaseline));
  return {
    evictedKeys: all.reduce((a, b) => a + b.evictedKeys, 0),
    oomRejections: all.reduce((a, b) => a + b.oomRejections, 0),
  };
}

async function nodeBaseline(url: string): Promise<RedisBaseline> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  r.on('error', () => {});
  await r.connect();
  try {
    const info = `${await r.info('stats')}\n${await r.info('errorstats')}`;
    return { evictedKeys: infoField(info, 'evicted_keys'), oomRejections: oomCount(info) };
  } finally {
    r.disconnect();
  }
}

/** Nearest-rank percentile of ascending values. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function namespaceMemory(keys: number, sizes: readonly number[]): NamespaceMemory {
  const sorted = [...sizes].sort((a, b) => a - b);
  const sampledBytes = sorted.reduce((a, b) => a + b, 0);
  return {
    keys,
    sampled: sorted.length,
    sampledBytes,
    estimatedBytes: sorted.length > 0 ? Math.round((sampledBytes / sorted.length) * keys) : 0,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
  };
}

/**
 * The snapshot of every master (one URL on standalone): counters and key counts summed, memory by
 * namespace from the union of each node's sample, version and policy from the first.
 */
export async function redisSnapshot(
  urls: string | string[],
  baseline?: RedisBaseline,
): Promise<RedisSnapshot> {
  const nodes = await Promise.all((typeof urls === 'string' ? [urls] : urls).map(nodeSnapshot));
  const first = nodes[0]!;
  const sum = (f: (n: NodeSnapshot) => number) => nodes.reduce((a, n) => a + f(n), 0);
  const keysByNamespace: Record<string, number> = {};
  const sizes: Record<string, number[]> = {};
  for (const n of nodes) {
    for (const [ns, c] of Object.entries(n.keysByNamespace))
      keysByNamespace[ns] = (keysByNamespace[ns] ?? 0) + c;
    for (const [ns, list] of Object.entries(n.sizes)) sizes[ns] = [...(sizes[ns] ?? []), ...list];
  }
  const namespaces: Record<string, NamespaceMemory> = {};
  let sampled = 0;
  let sampledBytes = 0;
  for (const [ns, list] of Object.entries(sizes)) {
    namespaces[ns] = namespaceMemory(keysByNamespace[ns] ?? 0, list);
    sampled += list.length;
    sampledBytes += list.reduce((a, b) => a + b, 0);
  }
  return {
    version: first.version,
    usedMemory: sum((n) => n.usedMemory),
    evictedKeys: sum((n) => n.evictedKeys),
    keyspaceHits: sum((n) => n.keyspaceHits),
    keyspaceMisses: sum((n) => n.keyspaceMisses),
    keys: sum((n) => n.keys),
    keysByNamespace,
    avgValueBytes: sampled > 0 ? Math.round(sampledBytes / sampled) : 0,
    hottestKeys: [],
    evictedDuringLoad: since(
      sum((n) => n.evictedKeys),
      baseline?.evictedKeys,
    ),
    oomRejections: since(
      sum((n) => n.oom),
      baseline?.oomRejections,
    ),
    maxmemory: first.maxmemory,
    ...(first.maxmemoryPolicy ? { maxmemoryPolicy: first.maxmemoryPolicy } : {}),
    namespaces,
  };
}

interface NodeSnapshot {
  version?: string;
  usedMemory: number;
  evictedKeys: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  keys: number;
  oom: number;
  maxmemory: number;
  maxmemoryPolicy?: string;
  keysByNamespace: Record<string, number>;
  /** MEMORY USAGE of the sampled keys, by namespace. */
  sizes: Record<string, number[]>;
}

async function nodeSnapshot(url: string): Promise<NodeSnapshot> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  r.on('error', () => {});
  await r.connect();
  try {
    const info = `${await r.info()}\n${await r.info('errorstats')}`;
    const field = (name: string) => infoField(info, name);
    const keysByNamespace: Record<string, number> = {};
    const toSample: Record<string, string[]> = {};
    let keys = 0;
    let cursor = '0';
    // SCAN (not KEYS) so a big keyspace does not block Redis. SCAN walks the hash table, so the
    // first keys met in a namespace are a sample in no particular (id or age) order.
    do {
      const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of batch) {
        keys++;
        const ns = keyNamespace(k);
        keysByNamespace[ns] = (keysByNamespace[ns] ?? 0) + 1;
        toSample[ns] ??= [];
        if (toSample[ns].length < NAMESPACE_SAMPLE) toSample[ns].push(k);
      }
    } while (cursor !== '0');
    const sizes: Record<string, number[]> = {};
    for (const [ns, list] of Object.entries(toSample)) {
      // A key evicted or expired between SCAN and MEMORY USAGE answers null: left out of the sample.
      sizes[ns] = (await Promise.all(list.map((k) => r.memory('USAGE', k).catch(() => null)))).filter(
        (v): v is number => typeof v === 'number',
      );
    }
    // A server that refuses CONFIG (external, locked down) still gets its snapshot, without the policy.
    const policyReply = (await r.config('GET', 'maxmemory-policy').catch(() => [])) as string[];
    return {
      version: /redis_version:(\S+)/.exec(info)?.[1],
      usedMemory: field('used_memory'),
      evictedKeys: field('evicted_keys'),
      keyspaceHits: field('keyspace_hits'),
      keyspaceMisses: field('keyspace_misses'),
      keys,
      oom: oomCount(info),
      maxmemory: field('maxmemory'),
      ...(policyReply[1] ? { maxmemoryPolicy: policyReply[1] } : {}),
      keysByNamespace,
      sizes,
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
    return await readPgStat(c, PG_STAT_TARGET_FILTER);
  } finally {
    await c.end();
  }
}

/** Calls, execution time and the top statements of pg_stat_statements rows matching `filter`. */
export async function readPgStat(c: pg.Client, filter: string): Promise<PgStatSnapshot> {
  const r = await c.query<{ query: string; calls: string; total: number; mean: number }>(
    `SELECT query, calls, total_exec_time AS total, mean_exec_time AS mean
       FROM pg_stat_statements WHERE ${filter} ORDER BY calls DESC`,
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
}
