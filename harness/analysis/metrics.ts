/**
 * The comparison metrics every report shows: one flat number per cell, with its label, unit,
 * direction and a one-line note on how it was measured (the reports print the note next to the
 * table, so a reader never has to guess what a number means).
 */
import { formatRatio, formatValue, type Unit } from '../results/format.ts';
import { lostIncrementsOf } from './fail-open.ts';
import type { CellAnalysis } from './types.ts';

export type MetricId =
  | 'queriesPerRequest'
  | 'dbPeak'
  | 'dbReduction'
  | 'p50'
  | 'p95'
  | 'p99'
  | 'errorRate'
  | 'hitRatio'
  | 'timeTo90HitRatio'
  | 'rebuildsPerExpiry'
  | 'rebuildsPerExpiryAllKeys'
  | 'maxRebuildsPerExpiry'
  | 'duplicateRebuilds'
  | 'maxConcurrentRebuilds'
  | 'dbPeakAroundExpiries'
  | 'staleReadRatio'
  | 'staleAgeP99'
  | 'staleBeyondTtl'
  | 'servedAfterDelete'
  | 'faultErrorRate'
  | 'faultP99'
  | 'faultDbMultiplier'
  | 'faultReadErrors'
  | 'recoverySeconds'
  | 'staleAfterRecovery'
  | 'lostIncrements'
  | 'dbWritesPerIncrement'
  | 'flushWritesPerBufferedIncrement'
  | 'lostUpdates'
  | 'redisCpuPerRequest'
  | 'failoverSeconds'
  | 'staleAfterFailover'
  | 'lostDeletes'
  | 'lostOverwrites'
  | 'lostIncrs';

export interface MetricDef {
  id: MetricId;
  label: string;
  unit: Unit;
  better: 'lower' | 'higher';
  how: string;
  /**
   * A response time: moves with the machine's free CPU as much as with the code, so it is not
   * compared for a cell where other processes were busy (validity `machine-busy`).
   */
  latency?: true;
}

export const METRICS: Record<MetricId, MetricDef> = {
  queriesPerRequest: {
    id: 'queriesPerRequest',
    label: 'DB queries / request',
    unit: '',
    better: 'lower',
    how: "target's DB query count ÷ HTTP requests it served (all instances)",
  },
  dbPeak: {
    id: 'dbPeak',
    label: 'peak DB queries/s',
    unit: '/s',
    better: 'lower',
    how: 'largest one-second bucket of DB queries issued by the target',
  },
  dbReduction: {
    id: 'dbReduction',
    label: 'DB load saved vs no-cache',
    unit: '%',
    better: 'higher',
    how: '1 − (queries/request ÷ queries/request of the no-cache cell of the same scenario)',
  },
  p50: {
    id: 'p50',
    latency: true,
    label: 'p50 latency',
    unit: 'ms',
    better: 'lower',
    how: 'all requests, measured from the scheduled send time (open model, no coordinated omission)',
  },
  p95: {
    id: 'p95',
    latency: true,
    label: 'p95 latency',
    unit: 'ms',
    better: 'lower',
    how: 'all requests, measured from the scheduled send time (open model, no coordinated omission)',
  },
  p99: {
    id: 'p99',
    latency: true,
    label: 'p99 latency',
    unit: 'ms',
    better: 'lower',
    how: 'all requests, measured from the scheduled send time (open model, no coordinated omission)',
  },
  errorRate: {
    id: 'errorRate',
    label: 'error rate',
    unit: '%',
    better: 'lower',
    how: 'failed ÷ completed requests over the whole load phase',
  },
  hitRatio: {
    id: 'hitRatio',
    label: 'hit ratio',
    unit: '%',
    better: 'higher',
    how: 'cache hits ÷ (hits + misses) counted by the target',
  },
  timeTo90HitRatio: {
    id: 'timeTo90HitRatio',
    label: 'time to 90% hit ratio',
    unit: 's',
    better: 'lower',
    how: 'from the load start (or the first fault) to the end of the first whole second from which hit ratio stays ≥ 90% for 3 s (target counts); never reached before the load ended: "≥ x" with interval [x, ∞], x the least it can be (right-censored)',
  },
  rebuildsPerExpiry: {
    id: 'rebuildsPerExpiry',
    label: 'rebuilds / expiry',
    unit: '',
    better: 'lower',
    how: 'mean rebuilds per expiry episode of the hot key (the key with the most rebuilds); an episode = rebuilds of the key overlapping in time, all instances merged; ideal 1',
  },
  rebuildsPerExpiryAllKeys: {
    id: 'rebuildsPerExpiryAllKeys',
    label: 'rebuilds / expiry (all keys)',
    unit: '',
    better: 'lower',
    how: 'mean rebuilds per expiry episode over every key (rarely read keys pull it towards 1)',
  },
  maxRebuildsPerExpiry: {
    id: 'maxRebuildsPerExpiry',
    label: 'max rebuilds / expiry',
    unit: '',
    better: 'lower',
    how: 'largest expiry episode',
  },
  duplicateRebuilds: {
    id: 'duplicateRebuilds',
    label: 'duplicate rebuilds',
    unit: '',
    better: 'lower',
    how: 'rebuilds that began while another rebuild of the same key was still loading (all instances, every key): two rebuilds inside one guard window, which a lock or lease prevents unless its guard key is lost (evicted, flushed)',
  },
  maxConcurrentRebuilds: {
    id: 'maxConcurrentRebuilds',
    label: 'max concurrent rebuilds',
    unit: '',
    better: 'lower',
    how: 'most rebuilds of one key running at the same instant (sweep line over start/end, all instances)',
  },
  dbPeakAroundExpiries: {
    id: 'dbPeakAroundExpiries',
    label: 'DB peak around expiries',
    unit: '/s',
    better: 'lower',
    how: 'largest DB queries/s within ±1 s of an expiry episode start',
  },
  staleReadRatio: {
    id: 'staleReadRatio',
    label: 'stale reads',
    unit: '%',
    better: 'lower',
    how: 'reads that returned a version older than a write completed before the read started ÷ reads checked',
  },
  staleAgeP99: {
    id: 'staleAgeP99',
    label: 'stale age p99',
    unit: 'ms',
    better: 'lower',
    how: 'read start − completion of the earliest newer write, over stale reads',
  },
  staleBeyondTtl: {
    id: 'staleBeyondTtl',
    label: 'stale beyond TTL',
    unit: '',
    better: 'lower',
    how: 'stale reads older than the cache TTL: correctness bugs (stale-set race, lost invalidation)',
  },
  servedAfterDelete: {
    id: 'servedAfterDelete',
    label: 'served after delete',
    unit: '',
    better: 'lower',
    how: 'reads that returned an entity, or a list still holding it, after its delete had completed (also stale reads)',
  },
  faultErrorRate: {
    id: 'faultErrorRate',
    label: 'errors in faults',
    unit: '%',
    better: 'lower',
    how: 'non-2xx ÷ requests scheduled inside recorded fault windows',
  },
  faultP99: {
    id: 'faultP99',
    latency: true,
    label: 'p99 in faults',
    unit: 'ms',
    better: 'lower',
    how: 'p99 of (end − scheduled) for requests scheduled inside fault windows (worst window)',
  },
  faultDbMultiplier: {
    id: 'faultDbMultiplier',
    label: 'DB load in faults',
    unit: '×',
    better: 'lower',
    how: 'DB queries/s during the window ÷ the same-length window before it (worst window)',
  },
  faultReadErrors: {
    id: 'faultReadErrors',
    label: 'read errors in faults',
    unit: '',
    better: 'lower',
    how: 'failed reads scheduled inside recorded fault windows (fail-open keeps it at 0)',
  },
  recoverySeconds: {
    id: 'recoverySeconds',
    label: 'recovery',
    unit: 's',
    better: 'lower',
    how: 'time after the fault until hit ratio and p99 stay within 10% of pre-fault for 3 s (worst window); the second is found on the per-second series, the moment within the second before it is placed to 0.1 s from the request history (errors and p99 back)',
  },
  staleAfterRecovery: {
    id: 'staleAfterRecovery',
    label: 'stale after recovery',
    unit: '',
    better: 'lower',
    how: 'stale reads that started after recovery',
  },
  failoverSeconds: {
    id: 'failoverSeconds',
    label: 'failover',
    unit: 's',
    better: 'lower',
    how: "primary killed → first write a Sentinel-backed client (the target's path) got acknowledged and the harness then found on the new primary",
  },
  staleAfterFailover: {
    id: 'staleAfterFailover',
    label: 'stale after failover',
    unit: '',
    better: 'lower',
    how: 'stale reads (staleness checker, driver history) that started after the first write on the new primary',
  },
  lostDeletes: {
    id: 'lostDeletes',
    label: 'lost DELs',
    unit: '',
    better: 'lower',
    how: "keys the target's writes deleted on the partitioned primary after the cut (its keyevent notifications) that the frozen replica still held when it was promoted: invalidations the failover undid",
  },
  lostOverwrites: {
    id: 'lostOverwrites',
    label: 'lost overwrites',
    unit: '',
    better: 'lower',
    how: 'keys the target SET on the partitioned primary after the cut for which the promoted replica held a different, older value',
  },
  lostIncrs: {
    id: 'lostIncrs',
    label: 'lost INCRs',
    unit: '',
    better: 'lower',
    how: 'keys the target incremented on the partitioned primary after the cut (version counters, write-behind buffers) whose value on the promoted replica differs',
  },
  lostIncrements: {
    id: 'lostIncrements',
    label: 'lost increments',
    unit: '',
    better: 'lower',
    how: 'increments acknowledged (200 in the driver history) minus what the counters in PostgreSQL gained after the final flush (harness query)',
  },
  dbWritesPerIncrement: {
    id: 'dbWritesPerIncrement',
    label: 'DB writes / increment',
    unit: '',
    better: 'lower',
    how: "target's counter DB writes (flushes and direct writes) ÷ acknowledged increments",
  },
  flushWritesPerBufferedIncrement: {
    id: 'flushWritesPerBufferedIncrement',
    label: 'flush writes / buffered increment',
    unit: '',
    better: 'lower',
    how: 'write-behind: DB writes made by flushes ÷ increments buffered in Redis (the saving of buffering, outages aside)',
  },
  lostUpdates: {
    id: 'lostUpdates',
    label: 'lost updates',
    unit: '',
    better: 'lower',
    how: 'leaderboard: increments acknowledged (200 in the driver) minus the sum of scores Redis shows after the load (harness read)',
  },
  redisCpuPerRequest: {
    id: 'redisCpuPerRequest',
    label: 'Redis CPU / request',
    unit: 'ms',
    better: 'lower',
    how: 'Redis INFO cpu (used_cpu_user + used_cpu_sys) change over the load ÷ completed requests',
  },
};

/** The flat metric values of one analysed cell (dbReduction is filled at run level). */
export function cellMetrics(a: CellAnalysis): Record<MetricId, number | null> {
  const applied = a.failOpen.windows.filter((w) => w.applied);
  const faultReq = applied.reduce((s, w) => s + w.requests, 0);
  const faultErr = applied.reduce((s, w) => s + w.errors, 0);
  const maxOf = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? Math.max(...v) : null;
  };
  const wb = a.failOpen.writeBehind;
  // Older analyses have no `applies`: treat them as applicable.
  const stampede = a.stampede.episodes > 0 && a.stampede.applies !== false;
  let recovery: number | null = null;
  if (applied.length) recovery = a.failOpen.allRecovered ? (a.failOpen.maxRecoveryMs ?? 0) / 1000 : null;
  return {
    queriesPerRequest: a.dbLoad.queriesPerRequest,
    dbPeak: a.dbLoad.peakPerSecond,
    dbReduction: null,
    p50: a.latency.p50,
    p95: a.latency.p95 ?? null,
    p99: a.latency.p99,
    errorRate: a.latency.errorRate,
    hitRatio: a.cacheHealth.hitRatio,
    timeTo90HitRatio: a.cacheHealth.secondsTo90HitRatio ?? null,
    rebuildsPerExpiry: a.stampede.rebuildsPerExpiry,
    rebuildsPerExpiryAllKeys: a.stampede.rebuildsPerExpiryAllKeys ?? null,
    maxRebuildsPerExpiry: stampede ? a.stampede.maxRebuildsPerExpiry : null,
    // Analyses made before the overlap count existed: rebuilds beyond the first of each episode.
    duplicateRebuilds: stampede
      ? (a.stampede.overlappingRebuilds ?? a.stampede.rebuilds - a.stampede.episodes)
      : null,
    maxConcurrentRebuilds: stampede ? a.stampede.maxConcurrentPerKey : null,
    dbPeakAroundExpiries: stampede ? a.stampede.dbPeakAroundExpiries : null,
    staleReadRatio: a.staleness?.staleReadRatio ?? null,
    staleAgeP99: a.staleness?.age.p99 ?? null,
    staleBeyondTtl: a.staleness ? a.staleness.staleBeyondTtl : null,
    // Only where something was deleted: elsewhere the question does not arise.
    servedAfterDelete: a.staleness?.deletes ? (a.staleness.servedAfterDelete ?? null) : null,
    faultErrorRate: applied.length ? (faultReq ? faultErr / faultReq : null) : null,
    faultP99: maxOf(applied.map((w) => w.latency.p99)),
    faultDbMultiplier: maxOf(applied.map((w) => w.dbMultiplier)),
    faultReadErrors: applied.length ? a.failOpen.readErrorsDuringFaults : null,
    recoverySeconds: recovery,
    staleAfterRecovery: applied.length ? applied.reduce((s, w) => s + w.staleReadsAfterRecovery, 0) : null,
    lostIncrements: wb ? lostIncrementsOf(wb) : null,
    dbWritesPerIncrement: wb ? wb.dbWritesPerIncrement : null,
    flushWritesPerBufferedIncrement: wb ? wb.flushWritesPerBufferedIncrement : null,
    lostUpdates: a.leaderboard ? a.leaderboard.lostUpdates : null,
    redisCpuPerRequest: a.leaderboard ? a.leaderboard.redisCpuMsPerRequest : null,
    failoverSeconds: a.failover?.failoverMs !== undefined ? a.failover.failoverMs / 1000 : null,
    staleAfterFailover: a.failover?.staleAfterFailover ?? null,
    lostDeletes: a.failover?.lostDeletes ?? null,
    lostOverwrites: a.failover?.lostOverwrites ?? null,
    lostIncrs: a.failover?.lostIncrs ?? null,
  };
}

/** A metric value as the tables show it (harness/results/format.ts, by the metric's unit). */
export function formatMetric(id: MetricId, v: number | null | undefined): string {
  return formatValue(METRICS[id].unit, v);
}

/** A ratio to the baseline; kept here so callers that format metrics need one import. */
export const formatRelative = formatRatio;
