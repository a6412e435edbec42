/**
 * Cache health: what an operator would watch on a dashboard. Counts come from the target
 * (cell.target.cache, all instances summed) — hits, misses, stale serves and fallbacks as the
 * target observed them (the source each read returned and whether a load ran during it), not as
 * the strategy counts them; the strategy's own figure is kept beside it (`reportedHitRatio`) —
 * and from a Redis INFO/SCAN snapshot taken at the end of the cell (cell.redis): evictions and
 * OOM refusals counted by Redis itself over the load, memory by namespace from a bounded sample.
 */
import type { CellResult } from '../results/schema.ts';
import { ratio } from './stats.ts';
import type { CacheHealthAnalysis } from './types.ts';

export function analyzeCacheHealth(cell: CellResult): CacheHealthAnalysis {
  const c = cell.target.cache;
  const r = cell.redis;
  const rep = cell.target.reported;
  let minHit: number | null = null;
  for (const h of cell.series.hitRatio) if (h !== null && (minHit === null || h < minHit)) minHit = h;
  return {
    hits: c.hits,
    misses: c.misses,
    hitRatio: ratio(c.hits, c.hits + c.misses),
    reportedHitRatio: rep ? ratio(rep.hits, rep.hits + rep.misses) : null,
    minHitRatioPerSecond: minHit,
    redisKeyspaceHitRatio: r ? ratio(r.keyspaceHits, r.keyspaceHits + r.keyspaceMisses) : null,
    staleServed: c.staleServed,
    fallbacks: c.fallbacks,
    redisErrors: c.redisErrors,
    redisTimeouts: c.redisTimeouts,
    breakerOpens: c.breakerOpens,
    lockWaits: c.lockWaits,
    backgroundRefreshes: c.backgroundRefreshes,
    evictions: r ? r.evictedKeys : null,
    usedMemoryBytes: r ? r.usedMemory : null,
    keys: r ? r.keys : null,
    keysByNamespace: r ? { ...r.keysByNamespace } : {},
    avgValueBytes: r ? r.avgValueBytes : null,
    hottestKeys: r ? r.hottestKeys.slice(0, 10) : [],
    ...timeTo90(cell),
    ...memoryPressure(cell),
  };
}

/** The hit ratio at which a cache counts as warm again (docs/measurements.md "Time to 90% hit ratio"). */
export const WARM_HIT_RATIO = 0.9;

/** Whole seconds the hit ratio must hold ≥ the level: a lone good second is not a warm cache. */
export const WARM_HOLD_SECONDS = 3;

/** A time to a hit-ratio level, or (censored) the least it can be when the load ended first. */
export interface TimeToLevel {
  seconds: number;
  /**
   * The level was never held before the load ended: `seconds` is a lower bound (right-censored),
   * the value the figure would have had if the next possible run of good seconds had held.
   */
  censored: boolean;
}

/**
 * Seconds from the moment the cache was (or may have been) emptied — the load start, or the
 * apply of the cell's first fault when it has one — to the end of the first whole per-second
 * bucket starting at or after it from which the hit ratio stays ≥ `level` for WARM_HOLD_SECONDS
 * buckets in a row. One-second resolution: the per-second series is what the target's counters
 * give. When that never happens before the load ends the figure is right-censored: every run that
 * could still hold starts at a bucket whose hold reaches past the load, so the value is at least
 * the end of the first such bucket (`censored: true`). Null only without any bucket after the
 * reference instant.
 */
export function timeToHitRatio(cell: CellResult, level: number): TimeToLevel | null {
  const { t0, hitRatio } = cell.series;
  const fault = cell.faults.find((f) => f.ok && f.appliedAt !== undefined);
  const from = fault?.appliedAt ?? t0;
  const warm = (i: number) => {
    const h = hitRatio[i];
    return h !== null && h !== undefined && h >= level;
  };
  const first = Math.max(0, Math.ceil((from - t0) / 1000 - 1e-9));
  const at = (i: number) => (t0 + (i + 1) * 1000 - from) / 1000;
  for (let i = first; i + WARM_HOLD_SECONDS <= hitRatio.length; i++) {
    let held = true;
    for (let k = 0; k < WARM_HOLD_SECONDS && held; k++) held = warm(i + k);
    if (held) return { seconds: at(i), censored: false };
  }
  if (first >= hitRatio.length) return null;
  return { seconds: at(Math.max(first, hitRatio.length - WARM_HOLD_SECONDS + 1)), censored: true };
}

/** The uncensored time to `level` (timeToHitRatio), null when it was not reached before the load ended. */
export function secondsToHitRatio(cell: CellResult, level: number): number | null {
  const t = timeToHitRatio(cell, level);
  return t && !t.censored ? t.seconds : null;
}

function timeTo90(
  cell: CellResult,
): Pick<CacheHealthAnalysis, 'secondsTo90HitRatio' | 'secondsTo90HitRatioCensored'> {
  const t = timeToHitRatio(cell, WARM_HIT_RATIO);
  return { secondsTo90HitRatio: t?.seconds ?? null, secondsTo90HitRatioCensored: t?.censored ?? false };
}

type MemoryFields = Pick<
  CacheHealthAnalysis,
  | 'evictionsPerSecond'
  | 'oomRejections'
  | 'maxmemory'
  | 'maxmemoryPolicy'
  | 'unexpectedEvictions'
  | 'namespaces'
>;

/** Evictions per load second, OOM refusals and memory by namespace (absent in older results: null). */
export function memoryPressure(cell: CellResult): MemoryFields {
  const r = cell.redis;
  const loadSeconds = cell.load.durationMs / 1000;
  const evicted = r?.evictedDuringLoad;
  const evictionsPerSecond = evicted === undefined || !(loadSeconds > 0) ? null : evicted / loadSeconds;
  return {
    evictionsPerSecond,
    oomRejections: r?.oomRejections ?? null,
    maxmemory: r?.maxmemory ?? null,
    maxmemoryPolicy: r?.maxmemoryPolicy ?? null,
    unexpectedEvictions: (evicted ?? 0) > 0 && cell.scenario_spec.redis?.maxmemory === undefined,
    namespaces: Object.entries(r?.namespaces ?? {})
      .map(([namespace, m]) => ({ namespace, ...m }))
      .sort((a, b) => b.estimatedBytes - a.estimatedBytes || a.namespace.localeCompare(b.namespace)),
  };
}
