/**
 * Per-second samples of the target's counters (DB queries, cache hits/misses), taken from every
 * instance's control endpoint on a clock aligned to the load start, so series index i of the
 * driver and of the target cover the same second.
 */
import type { TargetStats } from '../results/schema.ts';

export interface TargetSeries {
  dbQueries: number[];
  cacheHits: number[];
  cacheMisses: number[];
}

export async function fetchStats(controlUrl: string): Promise<TargetStats> {
  const r = await fetch(`${controlUrl}/stats`, { signal: AbortSignal.timeout(2000) });
  if (!r.ok) throw new Error(`${controlUrl}/stats: HTTP ${r.status}`);
  return (await r.json()) as TargetStats;
}

function totals(stats: TargetStats[]): CounterTotals {
  let db = 0;
  let hits = 0;
  let misses = 0;
  for (const s of stats) {
    db += s.dbQueries;
    hits += s.cache.hits + s.cache.staleServed;
    misses += s.cache.misses;
  }
  return { db, hits, misses };
}

/** Running totals a sampler differences into per-second counts. */
export interface CounterTotals {
  db: number;
  hits: number;
  misses: number;
}

export function startSampler(controlUrls: string[], t0: number): { stop(): Promise<TargetSeries> } {
  return startCounterSampler(async () => totals(await Promise.all(controlUrls.map(fetchStats))), t0);
}

/**
 * The per-second clock and differencing behind every sampler: `read` gives running totals (the
 * demo target's control endpoints, or pg_stat_statements and a probe in service mode).
 */
export function startCounterSampler(
  read: () => Promise<CounterTotals>,
  t0: number,
): { stop(): Promise<TargetSeries> } {
  const series: TargetSeries = { dbQueries: [], cacheHits: [], cacheMisses: [] };
  let prev: CounterTotals | undefined;
  let prevIndex = -1;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();

  const sample = async (index: number) => {
    let cur: CounterTotals;
    try {
      cur = await read();
    } catch {
      return; // a missed sample merges into the next second's delta
    }
    if (prev && index > prevIndex) {
      // Spread a delta over the seconds it covers when a sample was missed.
      const span = index - prevIndex;
      for (let k = prevIndex; k < index; k++) {
        series.dbQueries[k] = (cur.db - prev.db) / span;
        series.cacheHits[k] = (cur.hits - prev.hits) / span;
        series.cacheMisses[k] = (cur.misses - prev.misses) / span;
      }
    }
    prev = cur;
    prevIndex = index;
  };

  const schedule = () => {
    if (stopped) return;
    const now = Date.now();
    const index = Math.max(0, Math.ceil((now - t0) / 1000));
    const at = t0 + index * 1000;
    timer = setTimeout(
      () => {
        inflight = sample(index);
        schedule();
      },
      Math.max(0, at - now),
    );
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight;
      // A final partial second.
      await sample(Math.max(prevIndex + 1, Math.ceil((Date.now() - t0) / 1000)));
      for (const k of ['dbQueries', 'cacheHits', 'cacheMisses'] as const) {
        series[k] = Array.from(series[k], (v) => Math.round(v ?? 0));
      }
      return series;
    },
  };
}
