/**
 * What cachebench reads of a service from outside it: pg_stat_statements (DB load, total and per
 * operation through the profile's `sql` patterns) and, when the profile names one, the probe's
 * counters (docs/service-mode.md "Probe contract"). Both are read over cachebench's own
 * connections; its own statements are left out of the count.
 */
import pg from 'pg';
import { readPgStat } from '../pipeline/collect.ts';
import { type CounterTotals, startCounterSampler, type TargetSeries } from '../pipeline/sampler.ts';
import type { PgStatSnapshot } from '../results/schema.ts';

/**
 * The service's statements in pg_stat_statements: this database, not cachebench's own reads of
 * the view, and not transaction control (BEGIN/COMMIT are not queries a cache saves).
 */
export const SERVICE_STATEMENTS = `dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT ILIKE '%pg_stat_statements%'
  AND query !~* '^\\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|SAVEPOINT|RELEASE|SET|SHOW|RESET|DISCARD|DEALLOCATE)\\b'`;

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

export interface ServicePgStat extends PgStatSnapshot {
  /** Operation → calls of the statements its `sql` patterns match. */
  byOperation: Record<string, number>;
}

export async function servicePgStat(url: string, sql: Record<string, string[]>): Promise<ServicePgStat> {
  return withPg(url, async (c) => {
    const snapshot = await readPgStat(c, SERVICE_STATEMENTS);
    const byOperation: Record<string, number> = {};
    for (const [op, patterns] of Object.entries(sql)) {
      const m = await c.query<{ calls: string }>(
        `SELECT coalesce(sum(calls), 0)::bigint AS calls FROM pg_stat_statements
          WHERE ${SERVICE_STATEMENTS} AND query LIKE ANY($1::text[])`,
        [patterns],
      );
      byOperation[op] = Number(m.rows[0]?.calls ?? 0);
    }
    return { ...snapshot, byOperation };
  });
}

/** The probe's answer (docs/service-mode.md): counters since the service started. */
export interface ProbeStats {
  requests: number;
  hits: number;
  misses: number;
  loads: Record<string, number>;
}

export function parseProbeStats(body: unknown, url: string): ProbeStats {
  const o = body as Record<string, unknown> | null;
  const num = (k: string) => {
    const v = o?.[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new Error(`probe ${url}: "${k}" is ${JSON.stringify(v)} (allowed: a count >= 0)`);
    return v;
  };
  const loads: Record<string, number> = {};
  const raw = o?.loads;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`probe ${url}: "loads" is ${JSON.stringify(raw)} (allowed: an object of source → count)`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new Error(`probe ${url}: "loads.${k}" is ${JSON.stringify(v)} (allowed: a count >= 0)`);
    loads[k] = v;
  }
  return { requests: num('requests'), hits: num('hits'), misses: num('misses'), loads };
}

export async function readProbe(url: string): Promise<ProbeStats> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!r.ok) throw new Error(`probe ${url}: HTTP ${r.status}`);
  return parseProbeStats(await r.json(), url);
}

export function probeDelta(after: ProbeStats, before: ProbeStats): ProbeStats {
  const loads: Record<string, number> = {};
  for (const k of new Set([...Object.keys(after.loads), ...Object.keys(before.loads)]))
    loads[k] = (after.loads[k] ?? 0) - (before.loads[k] ?? 0);
  return {
    requests: after.requests - before.requests,
    hits: after.hits - before.hits,
    misses: after.misses - before.misses,
    loads,
  };
}

/** Per-second DB statements (and probe hits/misses) aligned to the load start, on the demo's sampler clock. */
export function startServiceSampler(o: { postgresUrl: string; probeUrl?: string; t0: number }): {
  stop(): Promise<TargetSeries>;
} {
  const client = new pg.Client({ connectionString: o.postgresUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  const connected = client.connect().then(
    () => true,
    () => false,
  );
  const read = async (): Promise<CounterTotals> => {
    if (!(await connected)) throw new Error('no connection');
    const r = await client.query<{ calls: string }>(
      `SELECT coalesce(sum(calls), 0)::bigint AS calls FROM pg_stat_statements WHERE ${SERVICE_STATEMENTS}`,
    );
    const probe = o.probeUrl ? await readProbe(o.probeUrl) : undefined;
    return { db: Number(r.rows[0]?.calls ?? 0), hits: probe?.hits ?? 0, misses: probe?.misses ?? 0 };
  };
  const sampler = startCounterSampler(read, o.t0);
  return {
    async stop() {
      try {
        return await sampler.stop();
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}
