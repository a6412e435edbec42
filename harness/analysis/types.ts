/**
 * The typed shape of `CellResult.analysis` and of the run-level analysis. Every figure here is
 * defined in docs/measurements.md; bump ANALYSIS_VERSION when a definition changes, so a report
 * can tell that an old results.json was analysed under other rules.
 */

import type { CacheCounters } from '../../contract/types.ts';
import type { RedisTopology } from '../infra/types.ts';
import type { CellResult, NamespaceMemory } from '../results/schema.ts';
import type { FailoverFigures } from './failover.ts';
import type { Estimate } from './uncertainty.ts';
import type { Claim } from './verdict.ts';

export const ANALYSIS_VERSION = 3;

export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface DbLoadAnalysis {
  /** Queries the target issued (its own count, all instances). */
  totalQueries: number;
  httpRequests: number;
  /** totalQueries / httpRequests; null when no request completed. */
  queriesPerRequest: number | null;
  /** Per endpoint: dbQueriesByEndpoint / httpRequestsByEndpoint. */
  queriesPerRequestByEndpoint: Record<string, number | null>;
  /** Sum of series.dbQueries / number of seconds in the series. */
  meanPerSecond: number;
  /** Largest per-second value of series.dbQueries, and the second (offset from load start) it happened. */
  peakPerSecond: number;
  peakSecond: number | null;
  dbTimeMs: number;
  /** dbTimeMs / totalQueries. */
  meanQueryMs: number | null;
  poolWaits: number;
  /** Total time queries waited for a pooled connection, ms; null when the target did not report it. */
  poolWaitMs: number | null;
  /** DB time per endpoint, ms (when reported). */
  dbTimeMsByEndpoint: Record<string, number>;
  pgStatCalls: number | null;
  /** |pgStatCalls − totalQueries| / totalQueries; null when pg_stat_statements was not sampled. */
  pgStatRelativeDiff: number | null;
  /** True when pgStatRelativeDiff > PG_STAT_TOLERANCE (0.5%). */
  pgStatMismatch: boolean;
}

export interface EpisodeSummary {
  key: string;
  start: number;
  end: number;
  rebuilds: number;
  maxConcurrent: number;
  instances: string[];
}

export interface StampedeKeySummary {
  key: string;
  episodes: number;
  rebuilds: number;
  maxRebuildsPerEpisode: number;
  maxConcurrent: number;
}

export interface StampedeAnalysis {
  /** False when the cache served no read at all (no-cache): the per-expiry figures are null. */
  applies: boolean;
  /** Rebuilds caused by a miss or a refresh (fallback loads excluded). */
  rebuilds: number;
  /** Reads answered from the DB because Redis failed; not part of any episode. */
  fallbackLoads: number;
  // --- target-observed loads (analysis v2; 0 for results whose events lack these fields) ---
  /** Loads that threw (they still reached, or tried to reach, the database). */
  failedLoads: number;
  /** Loads that ran after their read returned or outside a request (background refreshes). */
  backgroundLoads: number;
  /** Loads the strategy did not label through ctx.events.rebuild (reason inferred by the target). */
  inferredReasons: number;
  episodes: number;
  /**
   * Rebuilds that began while another rebuild of the same key was still loading (all instances):
   * two rebuilds inside one guard window. The `duplicateRebuilds` metric. Absent in older analyses.
   */
  overlappingRebuilds?: number;
  /**
   * The other rebuilds beyond the first of an episode (rebuilds − episodes − overlapping): started
   * after the previous one ended, within the grace — the stored value was lost again at once.
   */
  repeatedRebuilds?: number;
  /**
   * Mean rebuilds per expiry episode of the HOT key — the key with the most rebuilds (ideal 1);
   * null when there was no rebuild. The headline figure: budgets, gate and verdicts use it.
   */
  rebuildsPerExpiry: number | null;
  hotKey: string | null;
  /**
   * Mean over ALL episodes of all keys. Rarely read keys contribute one-rebuild episodes (their
   * cold or post-TTL first miss), which pull this towards 1 whatever the strategy does.
   */
  rebuildsPerExpiryAllKeys: number | null;
  maxRebuildsPerExpiry: number;
  /** Largest number of rebuilds of one key running at the same instant, all instances merged. */
  maxConcurrentPerKey: number;
  episodesWithMultiple: number;
  graceMs: number;
  byReason: Record<string, number>;
  byInstance: Record<string, number>;
  /** Up to 10 keys, most rebuilds in one episode first. */
  hottestKeys: StampedeKeySummary[];
  /** Up to 5 largest episodes. */
  largestEpisodes: EpisodeSummary[];
  /** Max of series.dbQueries over the seconds within ±1 s of any episode start. */
  dbPeakAroundExpiries: number | null;
  /** Median of series.dbQueries, for context. */
  dbMedianPerSecond: number | null;
}

export interface StaleExample {
  key: string;
  op: string;
  returnedVersion: number;
  newerVersion: number;
  writeEnd: number;
  readStart: number;
  ageMs: number;
  /** The TTL this read was judged against (its endpoint's, docs/measurements.md); absent in older results. */
  ttlMs?: number;
}

export interface StalenessAnalysis {
  /** Successful reads that carried at least one (key, version) pair. */
  readsChecked: number;
  pairsChecked: number;
  writes: number;
  staleReads: number;
  stalePairs: number;
  staleReadRatio: number | null;
  stalePairRatio: number | null;
  /** Over stale reads; a read's age is the largest age of its stale pairs. ms. */
  age: Percentiles;
  /** The common TTL (namespaces without their own); `ttlByOp` has each read op's when they differ. */
  ttlMs: number;
  /** Read op → the TTL its reads were judged against, when `cache.ttlMs` was set per namespace. */
  ttlByOp?: Record<string, number>;
  staleBeyondTtl: number;
  /**
   * Reads that returned an entity (or a list containing it) whose delete had completed before
   * the read started; also counted in staleReads. Absent in older results.
   */
  servedAfterDelete?: number;
  servedAfterDeleteByOp?: Record<string, number>;
  /** Successful delete-user operations in the history. */
  deletes?: number;
  /** Up to 10 reads stale beyond the TTL, oldest first. */
  beyondTtlExamples: StaleExample[];
  staleByOp: Record<string, number>;
  /** Reads started after a fault window closed (removedAt) that were stale. */
  staleAfterFaults: number;
}

export interface FaultWindowAnalysis {
  index: number;
  label: string;
  applied: boolean;
  /** Recorded times, epoch ms; the window is [appliedAt, removedAt). */
  appliedAt: number | null;
  removedAt: number | null;
  durationMs: number | null;
  requests: number;
  errors: number;
  errorRate: number | null;
  readErrors: number;
  latency: Percentiles;
  before: { requests: number; errorRate: number | null; latency: Percentiles };
  dbRateBefore: number | null;
  dbRateDuring: number | null;
  /** dbRateDuring / dbRateBefore. */
  dbMultiplier: number | null;
  preHitRatio: number | null;
  preP99: number | null;
  recovered: boolean;
  /** ms from removedAt to the start of the first second of the confirming run; null if never. */
  recoveryMs: number | null;
  // --- Fine recovery (issue 11) ---
  /** 100: recoveryMs placed by the history within the second before; 1000: whole seconds (no history). */
  recoveryResolutionMs?: number | null;
  /** The whole-second figure before the history refined it (cross-check). */
  recoveryWholeSecondMs?: number | null;
  /** Seconds that confirmed the recovery (3; fewer when the load ended first; 0 if not recovered). */
  recoveryConfirmedSeconds: number;
  /** ms from the window end to the load end: the time there was to observe a recovery. */
  tailMs: number | null;
  staleReadsAfterEnd: number;
  staleReadsAfterRecovery: number;
}

export interface WriteBehindAnalysis {
  /** Acknowledged increments (the history's sum when it exists, else buffered + direct). */
  increments: number;
  /** Of those, buffered in Redis (write-behind) and written straight to the DB on a Redis failure. */
  buffered: number;
  direct: number;
  flushed: number;
  lost: number;
  dbWrites: number;
  /** dbWrites / increments: what the DB really took per acknowledged increment, fallbacks included. */
  dbWritesPerIncrement: number | null;
  /** Flush writes / buffered increments: the buffering's own saving (null when nothing was buffered). */
  flushWritesPerBufferedIncrement: number | null;
  /** From the history: acknowledged increments missing from the last read of each counter. */
  historyLostLowerBound: number | null;
  countersChecked: number;
  // --- Reconciliation (issue 11): the lost-increments figure; `lost` above is the target's own
  // count, kept as a cross-check only.
  /**
   * acknowledged = increments the driver saw answered 200 (history); committed = what the counters
   * in PostgreSQL gained by the end of the cell, after the final flush (harness's own query);
   * lost = acknowledged − committed (negative: the DB took increments the driver never saw
   * acknowledged, e.g. a timed-out request that did commit). null when the cell has no
   * counterTotals (older results) or no history.
   */
  reconciled: { acknowledged: number; committed: number; lost: number } | null;
}

export interface FailOpenAnalysis {
  windows: FaultWindowAnalysis[];
  /** Sum over windows. */
  errorsDuringFaults: number;
  readErrorsDuringFaults: number;
  /** Max over windows; null when no window recovered or there was none. */
  maxRecoveryMs: number | null;
  allRecovered: boolean;
  writeBehind: WriteBehindAnalysis | null;
}

/** The target's cache counters (all instances) plus what Redis and the driver saw. */
export interface CacheHealthAnalysis extends CacheCounters {
  /** Observed by the target (analysis v2): hits / (hits + misses). */
  hitRatio: number | null;
  /** What the strategy's own ctx.events calls give; null when it reported no hit or miss. */
  reportedHitRatio: number | null;
  minHitRatioPerSecond: number | null;
  redisKeyspaceHitRatio: number | null;
  evictions: number | null;
  usedMemoryBytes: number | null;
  keys: number | null;
  keysByNamespace: Record<string, number>;
  avgValueBytes: number | null;
  hottestKeys: { key: string; requests: number }[];
  /**
   * Seconds from the load start (or the cell's first fault) until the hit ratio holds ≥ 90% for
   * 3 whole seconds; when it never does before the load ends, the least it can be (see
   * `secondsTo90HitRatioCensored`). Null without a per-second bucket after the reference instant.
   * Absent in analyses made before it existed.
   */
  secondsTo90HitRatio?: number | null;
  /** True: 90% was never held before the load ended; secondsTo90HitRatio is a lower bound. */
  secondsTo90HitRatioCensored?: boolean;
  /** Keys Redis evicted during the load / load seconds; null for results without the count. */
  evictionsPerSecond: number | null;
  /** Commands Redis refused with OOM during the load (failed SETs under noeviction); null when unknown. */
  oomRejections: number | null;
  /** maxmemory (bytes, 0 = none) and policy the cell ran with; null when not recorded. */
  maxmemory: number | null;
  maxmemoryPolicy: string | null;
  /**
   * Evictions during the load of a scenario that sets no `redis.maxmemory`: normal traffic is
   * already pushing the server's own limit out of the cache.
   */
  unexpectedEvictions: boolean;
  /** Memory by namespace, largest estimated bytes first. */
  namespaces: ({ namespace: string } & NamespaceMemory)[];
}

export type FlagSeverity = 'error' | 'warning';

export interface ValidityFlag {
  code: string;
  severity: FlagSeverity;
  message: string;
  hint: string;
}

export interface ValidityAnalysis {
  /** False when any flag has severity 'error'. */
  trusted: boolean;
  /**
   * False when other processes were busy on the machine during the load (flag `machine-busy`):
   * the counts stand, latency is not compared (verdicts do not rank it, the gate cannot judge
   * it). Absent = true (older files).
   */
  latencyTrusted?: boolean;
  flags: ValidityFlag[];
}

export interface LatencyAnalysis {
  p50: number;
  /** null for results written before p95 was recorded. */
  p95: number | null;
  p99: number;
  max: number;
  errorRate: number | null;
  achievedRate: number;
  requestedRate: number;
}

export interface LeaderboardAnalysis {
  storage: 'blob' | 'zset';
  /** leaderboard-score requests answered 200 (each adds 1). */
  acknowledged: number;
  redisTotal: number;
  pgTotal: number;
  /** acknowledged − redisTotal: increments the board in Redis does not show. */
  lostUpdates: number;
  /**
   * The two parts of lostUpdates (null without Redis's command count): never applied by Redis
   * (acknowledged − board writes Redis executed: fail-open skips while Redis failed) and
   * overwritten (writes Redis executed − redisTotal: the blob's read-modify-write race).
   */
  notApplied: number | null;
  overwritten: number | null;
  /** acknowledged − pgTotal (0 unless the target lost a committed write). */
  missingInPg: number;
  score: { p50: number; p99: number } | null;
  top: { p50: number; p99: number } | null;
  bytesPerTopRead: number;
  redisCpuMs: number | null;
  redisCpuMsPerRequest: number | null;
}

export interface CellAnalysis {
  analysisVersion: number;
  latency: LatencyAnalysis;
  dbLoad: DbLoadAnalysis;
  stampede: StampedeAnalysis;
  /** Null when the history file could not be read (a validity flag says why). */
  staleness: StalenessAnalysis | null;
  failOpen: FailOpenAnalysis;
  cacheHealth: CacheHealthAnalysis;
  validity: ValidityAnalysis;
  /** Cells whose mix has leaderboard operations; absent in older analyses. */
  leaderboard?: LeaderboardAnalysis | null;
  /** Cells with a failover or partition fault (failover.ts); absent otherwise. */
  failover?: FailoverFigures;
}

export interface BudgetCheck {
  cellId: string;
  scenario: string;
  strategy: string;
  repeat: number;
  budget: string;
  metric: string;
  limit: number;
  value: number | null;
  passed: boolean;
  message: string;
}

/** One strategy's row in a scenario table: means over repeats. */
export interface StrategyRow {
  strategy: string;
  repeats: number;
  trusted: boolean;
  /** False when any of its cells ran while other processes were busy (no latency ranking). */
  latencyTrusted?: boolean;
  metrics: Record<string, number | null>;
  /** metric → value / baseline value. */
  relative: Record<string, number | null>;
  /** metric → 95 % interval (uncertainty.ts); null when none can be given. */
  intervals?: Record<string, Estimate | null>;
}

export interface ScenarioAnalysis {
  scenario: string;
  question: string;
  /** How Redis ran for this scenario's cells (absent: standalone). */
  topology?: RedisTopology;
  /** The topology as reports print it, with its shape: `cluster (3 masters × 1 replica)`. */
  topologyLabel?: string;
  baselineStrategy: string;
  rows: StrategyRow[];
  /** The metrics the verdict is based on, in order. */
  focus: string[];
  /** Correctness metrics ranked first (verdict.ts `primaryMetrics`). */
  primary?: string[];
  verdict: string;
  /** The verdict's claims in structured form (harness/bench/seed-pairs.ts compares them). */
  claims?: Claim[];
}

export interface RunAnalysis {
  analysisVersion: number;
  scenarios: ScenarioAnalysis[];
  budgets: BudgetCheck[];
  budgetsFailed: number;
  untrustedCells: { cellId: string; flags: ValidityFlag[] }[];
  warnings: string[];
}

/**
 * A run analysed once, as every renderer receives it next to the results: the run-level analysis
 * (serialised into summary.json) and each cell's analysis — the stored one, or the history-free
 * part for a cell that has none.
 */
export interface AnalyzedRun {
  run: RunAnalysis;
  cell(c: CellResult): CellAnalysis;
}
