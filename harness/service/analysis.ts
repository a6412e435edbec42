/**
 * After the shared analysis of a service cell (harness/analysis): figures that cannot be measured
 * from outside the service become null — never a zero that reads like a measurement — and the
 * cell's comparison figures (black-box, and the probe's) are filled in.
 */
import type { CellAnalysis } from '../analysis/types.ts';
import type { CellResult } from '../results/schema.ts';

/** Analysis paths set to null when not measured (fields whose type allows null). */
const NULLABLE: Record<string, (a: CellAnalysis) => void> = {
  'cacheHealth.hitRatio': (a) => {
    a.cacheHealth.hitRatio = null;
    a.cacheHealth.reportedHitRatio = null;
  },
  'cacheHealth.minHitRatioPerSecond': (a) => {
    a.cacheHealth.minHitRatioPerSecond = null;
  },
  'cacheHealth.secondsTo90HitRatio': (a) => {
    a.cacheHealth.secondsTo90HitRatio = null;
  },
  'failOpen.windows.preHitRatio': (a) => {
    for (const w of a.failOpen.windows) w.preHitRatio = null;
  },
  'stampede.rebuildsPerExpiry': (a) => {
    a.stampede.rebuildsPerExpiry = null;
  },
  'stampede.rebuildsPerExpiryAllKeys': (a) => {
    a.stampede.rebuildsPerExpiryAllKeys = null;
  },
  'failOpen.writeBehind': (a) => {
    a.failOpen.writeBehind = null;
  },
  'dbLoad.poolWaits': (a) => {
    a.dbLoad.poolWaitMs = null;
  },
  // The type says number: a report that reads it finds null and shows it as missing.
  'staleness.staleBeyondTtl': (a) => {
    if (a.staleness) (a.staleness as { staleBeyondTtl: number | null }).staleBeyondTtl = null;
  },
  'stampede.maxConcurrentPerKey': (a) => {
    (a.stampede as { maxConcurrentPerKey: number | null }).maxConcurrentPerKey = null;
  },
  'cacheHealth.hits': (a) => {
    (a.cacheHealth as { hits: number | null }).hits = null;
  },
  'cacheHealth.misses': (a) => {
    (a.cacheHealth as { misses: number | null }).misses = null;
  },
  'cacheHealth.staleServed': (a) => {
    (a.cacheHealth as { staleServed: number | null }).staleServed = null;
  },
  'cacheHealth.fallbacks': (a) => {
    (a.cacheHealth as { fallbacks: number | null }).fallbacks = null;
  },
};

/** Errors / requests over the cell's fault windows; null when it had none. */
export function faultErrorRate(a: CellAnalysis): number | null {
  let req = 0;
  let err = 0;
  for (const w of a.failOpen.windows) {
    req += w.requests;
    err += w.errors;
  }
  return a.failOpen.windows.length > 0 && req > 0 ? err / req : null;
}

export function finishServiceAnalysis(cell: CellResult): void {
  const a = cell.analysis;
  const svc = cell.service;
  if (!a || !svc) return;
  for (const path of Object.keys(svc.notMeasured)) NULLABLE[path]?.(a);
  svc.blackBox = {
    rebuildsPerExpiry: a.stampede.rebuildsPerExpiry,
    staleReads: a.staleness ? a.staleness.staleReads : null,
    dbQueriesPerRequest: a.dbLoad.queriesPerRequest,
    faultErrorRate: faultErrorRate(a),
    hitRatio: null,
  };
}
