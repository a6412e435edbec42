/**
 * DB load (docs/measurements.md): what a strategy costs the database. The target's own query count is
 * the primary figure; pg_stat_statements is the independent witness it is checked against.
 */
import type { CellResult } from '../results/schema.ts';
import { ratio, sum } from './stats.ts';
import type { DbLoadAnalysis } from './types.ts';

/** Relative difference target count vs pg_stat_statements above which the count is suspect. */
export const PG_STAT_TOLERANCE = 0.005;

export function analyzeDbLoad(cell: CellResult): DbLoadAnalysis {
  const t = cell.target;
  const series = cell.series.dbQueries;
  let peak = 0;
  let peakSecond: number | null = null;
  series.forEach((v, i) => {
    if (v > peak || peakSecond === null) {
      peak = v;
      peakSecond = i;
    }
  });
  const byEndpoint: Record<string, number | null> = {};
  for (const [ep, q] of Object.entries(t.dbQueriesByEndpoint)) {
    byEndpoint[ep] = ratio(q, t.httpRequestsByEndpoint[ep] ?? 0);
  }
  const pg = cell.pgStatStatements;
  const pgDiff = pg
    ? t.dbQueries > 0
      ? Math.abs(pg.calls - t.dbQueries) / t.dbQueries
      : pg.calls > 0
        ? 1
        : 0
    : null;
  return {
    totalQueries: t.dbQueries,
    httpRequests: t.httpRequests,
    queriesPerRequest: ratio(t.dbQueries, t.httpRequests),
    queriesPerRequestByEndpoint: byEndpoint,
    meanPerSecond: series.length ? sum(series) / series.length : 0,
    peakPerSecond: peak,
    peakSecond,
    dbTimeMs: t.dbTimeMs,
    meanQueryMs: ratio(t.dbTimeMs, t.dbQueries),
    poolWaits: t.poolWaits,
    poolWaitMs: typeof t.poolWaitMs === 'number' ? t.poolWaitMs : null,
    dbTimeMsByEndpoint: { ...(t.dbTimeMsByEndpoint ?? {}) },
    pgStatCalls: pg ? pg.calls : null,
    pgStatRelativeDiff: pgDiff,
    pgStatMismatch: pgDiff !== null && pgDiff > PG_STAT_TOLERANCE,
  };
}

export interface DbReduction {
  reference: string;
  /** Queries per request of the cell / of the reference (0.1 = a tenth of the reference's load). */
  queriesPerRequestRatio: number | null;
  /** 1 − ratio: the share of DB queries the cache removed. */
  reduction: number | null;
  peakRatio: number | null;
}

/**
 * DB load of `cell` against a reference cell of the same scenario (no-cache, or the run's
 * baseline strategy). Compares queries per request, not totals, so a cell that achieved a
 * slightly different rate is still comparable.
 */
export function dbReduction(
  cell: DbLoadAnalysis,
  reference: DbLoadAnalysis,
  referenceName: string,
): DbReduction {
  const r =
    cell.queriesPerRequest !== null && reference.queriesPerRequest
      ? cell.queriesPerRequest / reference.queriesPerRequest
      : null;
  return {
    reference: referenceName,
    queriesPerRequestRatio: r,
    reduction: r === null ? null : 1 - r,
    peakRatio: ratio(cell.peakPerSecond, reference.peakPerSecond),
  };
}
