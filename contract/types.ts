/**
 * The records the target and the harness exchange, in one place neither side owns: what the
 * target's control server returns (`GET /stats` → TargetStats, `GET /rebuilds` → RebuildEvent[])
 * and what a load driver writes per HTTP operation (HistoryRecord). Plain types with no imports,
 * so `target/` can use them without depending on `harness/` (docs/architecture.md, "Contract").
 * Field meanings: docs/results-schema.md.
 */

/** Why a source (DB) load happened. */
export type RebuildReason = 'miss' | 'refresh' | 'early' | 'lease' | 'fallback';

/** A rebuild: one source (DB) load caused by a miss or a refresh. From the target instances. */
export interface RebuildEvent {
  key: string;
  instance: string;
  start: number;
  end: number;
  reason: RebuildReason;
  // --- target-observed loads (docs/measurements.md "Source loads"); absent in older results ---
  /** Namespace of the read whose load closure ran. */
  namespace?: string;
  /** False when the load threw (it still reached, or tried to reach, the database). */
  ok?: boolean;
  /** Ran after its read returned or outside any request (a background refresh). */
  background?: true;
  /** The strategy did not label it through ctx.events.rebuild: the target inferred the reason. */
  inferred?: true;
}

/** The cache counters of a target (summed over instances in a cell). */
export interface CacheCounters {
  hits: number;
  misses: number;
  staleServed: number;
  fallbacks: number;
  redisErrors: number;
  redisTimeouts: number;
  breakerOpens: number;
  lockWaits: number;
  backgroundRefreshes: number;
}

export interface TargetStats {
  instances: number;
  dbQueries: number;
  dbQueriesByEndpoint: Record<string, number>;
  dbTimeMs: number;
  /** DB time per endpoint, ms (optional: added after v1 shipped; absent in older results). */
  dbTimeMsByEndpoint?: Record<string, number>;
  poolWaits: number;
  /** Total time queries waited for a pooled connection, ms (optional, as above). */
  poolWaitMs?: number;
  httpRequests: number;
  httpRequestsByEndpoint: Record<string, number>;
  cache: CacheCounters;
  // --- target-observed sources and the strategy's own claims; absent in older results ---
  /** What the target observed around the closures it hands a strategy (docs/measurements.md). */
  sources?: {
    /** Load closure calls (source loads), background ones included. */
    loads: number;
    loadsFailed: number;
    /** Loads that started after their read returned or outside a request. */
    loadsBackground: number;
    /** Every closure call (load, write, counter) by endpoint, or 'background'. */
    callsByEndpoint: Record<string, number>;
    /** The calls that threw, same keys. */
    failedByEndpoint: Record<string, number>;
    /** Reads the strategy answered (hits + misses + stale + fallbacks as observed). */
    reads: number;
    /** Reads answered from the DB after an in-read load the strategy labelled 'early' (xfetch). */
    earlyReads: number;
  };
  /** What the strategy reported through ctx.events (optional annotations, cross-checked). */
  reported?: {
    hits: number;
    misses: number;
    staleServed: number;
    /** Read fallbacks only (write-behind's counter fallbacks are not reads). */
    fallbacks: number;
    rebuilds: number;
  };
  writeBehind: {
    /** Increments buffered in Redis (write-behind only). */
    increments: number;
    flushed: number;
    lost: number;
    /** Increments written straight to the DB because Redis never received them (absent in older runs). */
    direct?: number;
    /** DB writes made by flushes (absent in older runs). */
    flushWrites?: number;
    /** Every DB write of a counter increment: flushes, direct fallbacks, direct strategies. */
    dbWrites: number;
  };
}

/**
 * One line of the history file: one HTTP operation as the driver saw it.
 * `versions` maps entity keys (target/keys.ts entityKey, e.g. "user:42") to the version the
 * response reflected (reads) or committed (writes).
 */
export interface HistoryRecord {
  op: string;
  kind: 'read' | 'write' | 'incr';
  /** Entity or aggregate key the operation addressed, e.g. "user:42", "team:7". */
  key: string;
  scheduled: number;
  start: number;
  end: number;
  status: number;
  instance: number;
  versions?: Record<string, number>;
  /** Counter ops: the increment / the value read. */
  value?: number;
  error?: string;
}
