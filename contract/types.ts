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
