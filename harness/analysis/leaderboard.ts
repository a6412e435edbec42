/**
 * Leaderboard (docs/measurements.md "Leaderboard"): per operation latency from the driver, the
 * board as the harness read it from Redis and PostgreSQL after the load, and lost updates —
 * increments the driver saw acknowledged (HTTP 200; every leaderboard-score sends by 1) minus the
 * sum of scores Redis shows. The target reports none of it.
 */
import type { CellResult } from '../results/schema.ts';
import type { LeaderboardAnalysis } from './types.ts';

function latencyOf(cell: CellResult, op: string): { p50: number; p99: number } | null {
  const s = cell.load.perOp[op];
  return s && s.latency.count > 0 ? { p50: s.latency.p50, p99: s.latency.p99 } : null;
}

export function analyzeLeaderboard(cell: CellResult): LeaderboardAnalysis | null {
  const t = cell.leaderboard;
  if (!t) return null;
  const acknowledged = cell.load.perOp['leaderboard-score']?.statuses['200'] ?? 0;
  const requests = cell.load.completed;
  return {
    storage: t.storage,
    acknowledged,
    redisTotal: t.redisTotal,
    pgTotal: t.pgTotal,
    lostUpdates: acknowledged - t.redisTotal,
    notApplied: typeof t.updatesApplied === 'number' ? acknowledged - t.updatesApplied : null,
    overwritten: typeof t.updatesApplied === 'number' ? t.updatesApplied - t.redisTotal : null,
    // PostgreSQL commits before Redis is touched: anything missing there is a target bug.
    missingInPg: acknowledged - t.pgTotal,
    score: latencyOf(cell, 'leaderboard-score'),
    top: latencyOf(cell, 'leaderboard-top'),
    bytesPerTopRead: t.bytesPerTopRead,
    redisCpuMs: t.redisCpuMs,
    redisCpuMsPerRequest: t.redisCpuMs === null || requests === 0 ? null : t.redisCpuMs / requests,
  };
}
