/**
 * The canonical run result (`results.json`). Every report is a pure function of this file.
 * Documented field by field in docs/results-schema.md; bump RESULTS_SCHEMA_VERSION on any
 * breaking change and keep `cachebench report` able to read the previous version.
 *
 * Times are epoch milliseconds as floats (performance.timeOrigin + performance.now()), taken on
 * the same machine by every process, so driver, target and fault timestamps can be merged.
 */

import type { RebuildEvent, TargetStats } from '../../contract/types.ts';
import type { FaultSpec, Scenario } from '../../scenarios/types.ts';
import type { CellAnalysis } from '../analysis/types.ts';
import type { RedisTopology } from '../infra/types.ts';
import type { MachineLoad } from '../pipeline/machine-load.ts';
import type { RunTarget, ServiceCell } from '../service/types.ts';

/** What the target and the drivers hand the harness; defined in contract/ so target/ need not import harness/. */
export type {
  CacheCounters,
  HistoryRecord,
  RebuildEvent,
  RebuildReason,
  TargetStats,
} from '../../contract/types.ts';

export const RESULTS_SCHEMA_VERSION = 1;

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  /** Added with issue 11 (p95 beside p50/p99); absent in older results. */
  p95?: number;
  p99: number;
  p999: number;
  max: number;
}

export interface RunEnvironment {
  node: string;
  os: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  hostname: string;
  redisVersion?: string;
  postgresVersion?: string;
  toxiproxyVersion?: string;
  gitSha?: string;
  gitDirty?: boolean;
}

export interface RunInfo {
  id: string;
  startedAt: number;
  finishedAt?: number;
  /** The exact command line, for the methodology section. */
  command: string;
  profile: string;
  seed: number;
  repeats: number;
  instances: number;
  infra: 'local' | 'containers' | 'external';
  driver: 'builtin' | 'k6';
  scenarios: string[];
  strategies: string[];
  baselineStrategy: string;
  /** `--topology` as given (absent: not given); each cell records the one it ran on. */
  topology?: RedisTopology;
  environment: RunEnvironment;
  /** Service mode (docs/service-mode.md): the service the variants are of; absent for the demo target. */
  target?: RunTarget;
}

/** One planned fault and what really happened to it. */
export interface FaultRecord {
  /** The fault as written in the scenario (profile applied). */
  spec: FaultSpec;
  /** Planned offsets from the cell's load start, ms. */
  plannedAt: number;
  plannedFor: number;
  /** Real epoch ms when Toxiproxy acknowledged the apply / the removal. */
  appliedAt?: number;
  removedAt?: number;
  ok: boolean;
  error?: string;
  /** What the fault kind measured itself (failover and partition faults; docs/measurements.md). */
  observed?: Record<string, number>;
}

/** Per-second series, all arrays the same length; index i covers [t0 + i s, t0 + (i+1) s). */
export interface CellSeries {
  t0: number;
  requests: number[];
  errors: number[];
  dropped: number[];
  p50: number[];
  p99: number[];
  /** From target stats, sampled each second (deltas). */
  dbQueries: number[];
  cacheHits: number[];
  cacheMisses: number[];
  /** hits / (hits + misses) or null when no cache reads happened that second. */
  hitRatio: (number | null)[];
}

export interface OpStats {
  count: number;
  errors: number;
  /** Latency from the *scheduled* send time (no coordinated omission), ms. */
  latency: LatencySummary;
  /** Status code → count. */
  statuses: Record<string, number>;
}

export interface LoadStats {
  requestedRate: number;
  achievedRate: number;
  scheduled: number;
  sent: number;
  completed: number;
  /** Arrivals not sent because the in-flight cap was hit. Counted, never hidden. */
  dropped: number;
  errors: number;
  durationMs: number;
  /** Lateness of the actual send versus the scheduled time, ms. */
  schedulingLag: LatencySummary;
  /** Driver process CPU use as a fraction of one core over the load phase. */
  driverCpu: number;
  /** How late the driver's worker was ready for the planned start, ms (0 = on time). */
  startLateMs?: number;
  driverPeakRssMB: number;
  overall: OpStats;
  perOp: Record<string, OpStats>;
}

/** A leaderboard cell's board after the load (harness/pipeline/leaderboard.ts). */
export interface LeaderboardTotals {
  storage: 'blob' | 'zset';
  board: string;
  /** Sum of every score Redis shows for the board. */
  redisTotal: number;
  redisMembers: number;
  /** Sum of the board's true scores in PostgreSQL. */
  pgTotal: number;
  /** Bytes one top-10 read takes out of Redis at the end of the load (blob: the whole value). */
  bytesPerTopRead: number;
  /** Redis process CPU (user + sys) over the load, ms; null when Redis restarted in the cell. */
  redisCpuMs: number | null;
  /**
   * Board writes Redis executed over the load (INFO commandstats: ZINCRBY calls, or SET calls
   * for the blob); null when Redis restarted. Absent in older results.
   */
  updatesApplied?: number | null;
}

export interface RedisSnapshot {
  version?: string;
  usedMemory: number;
  evictedKeys: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  keys: number;
  keysByNamespace: Record<string, number>;
  avgValueBytes: number;
  /** Hottest keys as counted by the driver's requests (key → requests). */
  hottestKeys: { key: string; requests: number }[];
  /** Keys Redis evicted between the zeroing of counters and the end of the load (INFO delta). */
  evictedDuringLoad?: number;
  /** Commands Redis refused with OOM (INFO errorstats delta over the load): failed SETs under noeviction. */
  oomRejections?: number;
  /** maxmemory (bytes, 0 = none) and policy the cell ran with, as the server reported them. */
  maxmemory?: number;
  maxmemoryPolicy?: string;
  /**
   * Keys Redis evicted during the load by namespace (keyNamespace: `team-report-lock`,
   * `counter-pending`, …), from its `evicted` keyspace events; only when the scenario sets
   * `redis.maxmemory` (harness/pipeline/eviction-watch.ts).
   */
  evictedByNamespace?: Record<string, number>;
  /** Memory by namespace from a bounded sample (MEMORY USAGE of at most NAMESPACE_SAMPLE keys each). */
  namespaces?: Record<string, NamespaceMemory>;
}

export interface NamespaceMemory {
  keys: number;
  sampled: number;
  /** Σ MEMORY USAGE over the sampled keys, bytes. */
  sampledBytes: number;
  /** sampledBytes / sampled × keys. */
  estimatedBytes: number;
  /** MEMORY USAGE per sampled key (key, value and Redis overhead), bytes. */
  p50: number;
  p99: number;
  max: number;
}

export interface PgStatSnapshot {
  /** Sum of `calls` over the statements the target issues (excludes harness/seed queries). */
  calls: number;
  totalExecMs: number;
  top: { query: string; calls: number; meanMs: number }[];
}

/** Wall time of the four parts of a cell, ms (CellResult.timings). */
export interface CellTimings {
  setupMs: number;
  warmupMs: number;
  loadMs: number;
  collectMs: number;
}

export interface CellResult {
  id: string;
  scenario: string;
  strategy: string;
  repeat: number;
  status: 'ok' | 'failed' | 'interrupted';
  error?: string;
  startedAt: number;
  endedAt: number;
  /** Load start (epoch ms): series and fault offsets are relative to it. */
  loadStartedAt: number;
  /**
   * The resolved scenario (profile applied), so a report can explain the cell on its own. The
   * snake_case name is the file's (schema v1); renaming it would break older readers for no gain.
   */
  scenario_spec: Scenario;
  strategyOptions: Record<string, unknown>;
  /** How Redis ran (scenario `redis.topology`, else `run --topology`); absent in older results = standalone. */
  topology?: RedisTopology;
  /**
   * cluster: the masters and replicas the cell started on, asked of the cluster (CLUSTER NODES)
   * after the reset; reports label the topology with it (`cluster (3 masters × 1 replica)`).
   */
  topologyShape?: { masters: number; replicas: number };
  /** When the label differs from what ran (`--strategies label=spec`): the spec the target loaded. */
  strategySpec?: string;
  /** The cache TTL in ms the cell ran with, for "stale beyond TTL" (namespaces without their own). */
  ttlMs: number;
  /** Namespace → TTL in ms when the scenario set `cache.ttlMs` per namespace; absent otherwise. */
  ttlByNamespace?: Record<string, number>;
  load: LoadStats;
  series: CellSeries;
  faults: FaultRecord[];
  target: TargetStats;
  rebuilds: RebuildEvent[];
  pgStatStatements?: PgStatSnapshot;
  redis?: RedisSnapshot;
  /** Relative path (from the run dir) of the NDJSON operation history (see HistoryRecord). */
  historyFile: string;
  /** Wall time of each pipeline step of the cell (reset+seed, startTargets, warm, load, …), ms. */
  phaseMs?: Record<string, number>;
  /**
   * The cell's overhead around its load, ms (results-schema.md "timings"): setup = reset, seed,
   * process faults, target start; warmup = warm-up reads and zeroing counters; load = the load
   * and its fault timeline; collect = collectors, target stop and reconciliation.
   */
  timings?: CellTimings;
  /**
   * CPU used during the load by the run's own processes and by everything else on the machine
   * (harness/pipeline/machine-load.ts); absent where it cannot be attributed (containers,
   * external services, not Linux). Latency is not judged on a cell where others were busy.
   */
  machine?: MachineLoad;
  /** Leaderboard cells (mix has leaderboard-*): the board after the load, read by the harness. */
  leaderboard?: LeaderboardTotals;
  // --- Reconciliation (process faults, issue 11) ---
  /**
   * Sum of every counter in PostgreSQL, read over the harness's own connection: when the load
   * started, and after the targets stopped (write-behind's final flush). Present when the
   * scenario increments counters. committed = afterFinalFlush − atLoadStart.
   */
  counterTotals?: { atLoadStart: number; afterFinalFlush: number };
  /** Service mode: black-box and probe figures side by side, and what was not measured. */
  service?: ServiceCell;
  /**
   * Filled by harness/analysis when the cell ends; reports read only this and the raw fields.
   * Absent when the analysis failed; older files may lack fields added since (see cellAnalysis).
   */
  analysis?: CellAnalysis;
}

export interface RunResults {
  schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  run: RunInfo;
  cells: CellResult[];
  warnings: string[];
}
