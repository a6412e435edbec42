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
    ...memoryPressure(cell),
  };
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
