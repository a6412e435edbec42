/**
 * Scenario definitions as plain types. No imports and no Node API: the k6 entry script imports
 * this (and workload.ts) directly. Validation (zod) lives in schema.ts on the harness side.
 * Durations and offsets are milliseconds after parsing ("30s", "500ms", "2m" in files).
 */

/** The operations the target API serves; kebab-case names equal to history `op`. */
export const OPERATIONS = [
  'read-user',
  'update-user',
  'delete-user',
  'read-team-members',
  'read-team-report',
  'incr-counter',
  'read-counter',
  'leaderboard-score',
  'leaderboard-top',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/**
 * The cache namespaces the target's read endpoints use (target/app.ts `observedRead`): the keys of
 * a per-endpoint `cache.ttlMs` mapping, besides `default`.
 */
export const CACHE_NAMESPACES = ['user', 'team-members', 'team-report'] as const;
export type CacheNamespace = (typeof CACHE_NAMESPACES)[number];

/** The namespace whose cached value a read operation returns: its TTL is the one that read is judged by. */
export const OPERATION_NAMESPACE: Partial<Record<Operation, CacheNamespace>> = {
  'read-user': 'user',
  'read-team-members': 'team-members',
  'read-team-report': 'team-report',
};

/**
 * `cache.ttlMs` per namespace: `default` for namespaces not named (absent: the strategy's own
 * default TTL). A plain number in `cache.ttlMs` is the TTL of every namespace.
 */
export type TtlByNamespace = Partial<Record<CacheNamespace | 'default', number>>;

/** A scenario's cache option value: a number, string or boolean, or ttlMs per namespace. */
export type CacheOptionValue = number | string | boolean | TtlByNamespace;

export interface LoadPhase {
  /** Phase length, ms. */
  duration: number;
  /** Arrivals per second at the start of the phase. */
  rate: number;
  /** If set, the rate ramps linearly from `rate` to `to` over the phase. */
  to?: number;
}

export interface LoadShape {
  phases: LoadPhase[];
  /** constant: evenly spaced arrivals; poisson: exponential inter-arrival times. */
  arrivals: 'constant' | 'poisson';
  /** Requests allowed in flight at once; arrivals beyond it are dropped and counted. */
  maxInFlight: number;
}

export type KeyDistribution =
  | { type: 'uniform' }
  | { type: 'zipf'; exponent: number }
  /** `hotFraction` of requests go to the first `hotKeys` ids, the rest uniformly to all. */
  | { type: 'hot-set'; hotKeys: number; hotFraction: number };

export interface DataSizes {
  users: number;
  teams: number;
  counters: number;
  /** Server-side cost of one team report (pg_sleep), ms. */
  reportCostMs: number;
  /** Server-side cost added to a user read (pg_sleep), ms; 0 = none. Widens the stale-set race. */
  userReadCostMs: number;
}

export type ToxicType =
  | 'latency'
  | 'timeout'
  | 'reset_peer'
  | 'bandwidth'
  | 'slow_close'
  | 'slicer'
  | 'limit_data';

export interface ToxicSpec {
  type: ToxicType;
  /** Toxiproxy's own attribute names, e.g. {latency: 200, jitter: 20} or {timeout: 0}. */
  attributes: Record<string, number>;
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
}

/** A network fault: Toxiproxy acts on the proxy in front of a service. */
export interface NetworkFaultSpec {
  /** Offset from load start, ms. */
  at: number;
  /** How long the fault lasts, ms. */
  for: number;
  proxy: 'redis' | 'postgres';
  /** Disable the proxy: closes the listener and every open connection (an outage). */
  down?: boolean;
  toxic?: ToxicSpec;
  process?: undefined;
}

/**
 * The metrics a scenario can put a budget on: metric ids of harness/analysis/metrics.ts (the same
 * name in the YAML, the tables and the gate). Each must stay <= its limit.
 */
export type BudgetMetric =
  | 'p99'
  | 'errorRate'
  | 'queriesPerRequest'
  | 'rebuildsPerExpiry'
  | 'duplicateRebuilds'
  | 'staleBeyondTtl'
  | 'servedAfterDelete'
  | 'faultReadErrors'
  | 'recoverySeconds'
  | 'lostIncrements';

/** Budget keys of older scenario files, still accepted: old key → metric id. */
export const BUDGET_ALIASES = {
  p99Ms: 'p99',
  dbQueriesPerRequest: 'queriesPerRequest',
  readErrorsDuringFaults: 'faultReadErrors',
} as const satisfies Record<string, BudgetMetric>;

/**
 * Metric id → limit. p99 in ms; errorRate a fraction of completed requests; queriesPerRequest by
 * the target's count; rebuildsPerExpiry of the hot key; staleBeyondTtl, servedAfterDelete,
 * faultReadErrors and lostIncrements counts; recoverySeconds until hit ratio and p99 are back within 10%. Scenario
 * files may still use the alias keys; loading renames them (results written before the rename
 * carry them in `scenario_spec`, which the budget checks also read).
 */
export type Budgets = Partial<Record<BudgetMetric, number>>;

/**
 * Process faults act on the service itself (the harness's own processes):
 * - `redis-restart`: redis-server killed (SIGKILL) at `at`, started again at `at + for` with an
 *   empty data dir — everything Redis held is lost;
 * - `redis-restart-persisted`: the same crash with AOF persistence on (appendfsync always: acknowledged writes are on disk)
 *   from before the load, so the restarted server reloads its data;
 * - `redis-flushall`: FLUSHALL at `at` (data loss without a restart); `for` is the window after;
 * - `postgres-restart`: PostgreSQL fast shutdown at `at`, started again at `at + for`;
 * - `sentinel-failover` (topology replicated): the primary SIGKILLed at `at`, the Sentinels promote
 *   the replica; the old primary restarts as its replica at `at + for`;
 * - `replica-partition` (topology replicated): the primary cut from its replica and the Sentinels
 *   (its link proxy disabled) at `at`, clients still writing to it; healed at `at + for`;
 * - `cluster-failover` (topology cluster, replicasPerMaster 1): a master SIGKILLed at `at`, its
 *   replica promoted by the cluster; the killed node rejoins as a replica at `at + for`;
 * - `cluster-replica-partition` (topology cluster, replicasPerMaster 1, a `cluster-failover`
 *   starting inside its window): the master serving slot 16383 cut from its replica (its link
 *   proxy) at `at`, clients still writing to it; healed at `at + for`;
 * - `slot-migration` (topology cluster): the hottest slots (`slots`, default 16) resharded to
 *   another master at `at` (harness/faults/cluster.ts); `for` is the window the move must finish in.
 */
export const PROCESS_FAULTS = [
  'redis-restart',
  'redis-restart-persisted',
  'redis-flushall',
  'postgres-restart',
  'sentinel-failover',
  'replica-partition',
  'cluster-failover',
  'cluster-replica-partition',
  'slot-migration',
] as const;
export type ProcessFaultName = (typeof PROCESS_FAULTS)[number];

export interface ProcessFaultSpec {
  at: number;
  for: number;
  process: ProcessFaultName;
  /** slot-migration only: how many of the hottest slots it moves, 1 to 16384 (default 16). */
  slots?: number;
  proxy?: undefined;
  down?: undefined;
  toxic?: undefined;
}

export type FaultSpec = NetworkFaultSpec | ProcessFaultSpec;

/** Redis eviction policies a scenario may run under (Redis's own names). */
export const MAXMEMORY_POLICIES = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'volatile-lru',
  'volatile-lfu',
  'volatile-ttl',
] as const;
export type MaxmemoryPolicy = (typeof MAXMEMORY_POLICIES)[number];

export const COORDINATION_MODES = ['shared', 'separate'] as const;
export type CoordinationMode = (typeof COORDINATION_MODES)[number];

/**
 * How Redis runs: one server (`standalone`), a primary with a replica and three Sentinels
 * (`replicated`), or a Cluster of three masters (`cluster`). docs/architecture.md (Topologies).
 */
export const REDIS_TOPOLOGIES = ['standalone', 'replicated', 'cluster'] as const;
export type RedisTopology = (typeof REDIS_TOPOLOGIES)[number];

/**
 * Memory pressure: applied to the harness's Redis (CONFIG SET) for the cell, reset after it.
 * What a scenario leaves out runs with the server's own value.
 */
export interface ScenarioRedis {
  /** Bytes ("8mb" in files); Redis evicts (or refuses writes) above it. */
  maxmemory?: number;
  maxmemoryPolicy?: MaxmemoryPolicy;
  /**
   * Where coordination keys (locks, lease tokens, write-behind buffers) live: `shared` (the
   * default) on the cache Redis, `separate` on a second Redis the provisioner starts, without
   * maxmemory, so the cache's evictions cannot reach them.
   */
  coordination?: CoordinationMode;
  /**
   * How Redis runs for this scenario: standalone, replicated (primary, replica, Sentinels) or
   * cluster (three masters). Absent: `run --topology`, else standalone.
   */
  topology?: RedisTopology;
  /**
   * topology cluster only: replicas per master, 0 (the default) or 1. A `cluster-failover` fault
   * needs 1: a master without a replica has nothing to fail over to.
   */
  replicasPerMaster?: 0 | 1;
}

export interface Scenario {
  name: string;
  /** The question the scenario answers, one sentence. Reports print it above the verdict. */
  question: string;
  description: string;
  load: LoadShape;
  keys: KeyDistribution;
  /** Operation → weight (need not sum to 1). */
  mix: Partial<Record<Operation, number>>;
  data: DataSizes;
  /** Strategy options the scenario needs (ttlMs, jitter…), merged over strategy defaults. */
  cache: Record<string, CacheOptionValue>;
  start: 'warm' | 'cold';
  faults: FaultSpec[];
  budgets: Budgets;
  /** Metric ids (harness/analysis/metrics.ts) ranked first by the verdict: correctness. */
  primary?: string[];
  /** Memory pressure (maxmemory and eviction policy) for the cell; absent = the server's defaults. */
  redis?: ScenarioRedis;
  /** How the target keeps /leaderboard in Redis (target option leaderboardStorage); absent = zset. */
  leaderboard?: { storage: LeaderboardStorage };
}

/** The two Redis layouts of a leaderboard (target/leaderboard.ts). */
export const LEADERBOARD_STORAGES = ['blob', 'zset'] as const;
export type LeaderboardStorage = (typeof LEADERBOARD_STORAGES)[number];

export type ProfileName = 'quick' | 'standard' | 'full';

export interface Profile {
  name: ProfileName;
  /** Multiplies phase durations and fault offsets/lengths. */
  durationScale: number;
  /** Multiplies arrival rates. */
  rateScale: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  quick: { name: 'quick', durationScale: 0.2, rateScale: 1 },
  standard: { name: 'standard', durationScale: 1, rateScale: 1 },
  full: { name: 'full', durationScale: 3, rateScale: 1.5 },
};
