/**
 * The one small interface every caching strategy implements (docs/strategies.md).
 *
 * A strategy sees the world through `StrategyContext`: a fail-open/fail-closed Redis wrapper
 * (`cache`), an optional instrumentation sink (`events`: the target measures hits, misses and
 * loads itself around the closures it hands out) and its own options. It never talks to `pg`
 * directly: the route hands it a `load`/`write` closure, so the strategy only decides *when*
 * the database is touched and what goes into Redis.
 */
import type { CacheClient } from './cache-client.ts';
import type { Instrumentation } from './instrumentation.ts';

/** Anything the API returns carries the version(s) it reflects: key → version. */
export interface Versioned {
  /** Entity keys (see keys.ts `entityKey`) → the version each reflects. */
  versions: Record<string, number>;
}

export type ReadSource = 'cache' | 'db' | 'stale' | 'fallback';

export interface ReadRequest<T extends Versioned> {
  /** The cache key (built by keys.ts). */
  key: string;
  /** Namespace for metrics and key-count reports: 'user', 'team-members', 'team-report'. */
  namespace: string;
  /**
   * Aggregate namespaces this value depends on (e.g. `team:12`). The `versioning` strategy puts
   * their version counters into the cache key; others ignore it.
   */
  dependsOn: string[];
  /** Loads the value from PostgreSQL. Every call is one rebuild, counted by the target itself. */
  load: () => Promise<T>;
}

export interface ReadResult<T> {
  value: T;
  source: ReadSource;
  /**
   * `JSON.stringify(value)` when the strategy already has it (a cache hit stores exactly this
   * string; a rebuild serializes once to SET it). Lets the route send it without re-serializing.
   */
  json?: string;
}

export interface WriteRequest<T extends Versioned> {
  /**
   * `update` (absent means update) or `delete`: the entity is gone after the commit, so nothing
   * may store it again — write-through DELs instead of SETting (docs/strategies.md "Deletes").
   */
  kind?: 'update' | 'delete';
  /** Cache key of the written entity. */
  key: string;
  namespace: string;
  /** Other cache keys whose value embeds this entity (aggregates) and must be invalidated. */
  invalidates: string[];
  /** Aggregate namespaces to bump (versioning strategy). */
  bumps: string[];
  /** Performs the DB write in one transaction and returns the committed entity. */
  write: () => Promise<T>;
}

export interface IncrementRequest {
  counterId: number;
  by: number;
  /** Direct DB increment (used by every strategy but write-behind). Returns the new DB value. */
  incrementInDb: (by: number) => Promise<number>;
  /** Current DB value. */
  readDb: () => Promise<number>;
}

export interface CounterValue {
  /** DB value plus increments buffered in Redis and not flushed yet. */
  value: number;
  /** Part of `value` still only in Redis (write-behind). */
  pending: number;
}

export interface Strategy {
  readonly name: string;
  read<T extends Versioned>(req: ReadRequest<T>): Promise<ReadResult<T>>;
  write<T extends Versioned>(req: WriteRequest<T>): Promise<T>;
  /** Counters: only write-behind buffers; the default goes straight to the DB. */
  increment(req: IncrementRequest): Promise<CounterValue>;
  readCounter(req: IncrementRequest): Promise<CounterValue>;
  /** Stops timers (background refresh, flush loops) and flushes what can be flushed. */
  close?(): Promise<void>;
  /**
   * Called once by the target when its routes exist: the read request a route would make for a
   * cache key, so a strategy can load keys no request has asked for yet (pre-warm at start).
   */
  attachRequests?(requestFor: RequestForKey): void;
}

/** The read request a route would make for `key` (its load counted as background), or null. */
export type RequestForKey = (key: string) => ReadRequest<Versioned> | null;

export type FailurePolicy = 'fail-open' | 'fail-closed';

export interface StrategyContext {
  cache: CacheClient;
  /**
   * Where coordination keys live: locks, lease tokens and write-behind buffers. Defaults to
   * `cache`; the target connects it to a second Redis when given one, so a response cache
   * under memory pressure cannot evict them (docs/strategies.md, Coordination keys).
   */
  coordination?: CacheClient;
  events: Instrumentation;
  instanceId: string;
  policy: FailurePolicy;
  /** Options given on the CLI / in the scenario, already merged over the strategy defaults. */
  options: Record<string, unknown>;
  /**
   * The target's cache key prefix (keys.ts, default 'cb:'). Helper keys not derived from a value
   * key (aggregate version counters, counter buffers) are put under it.
   */
  keyPrefix?: string;
}

/** What a strategy file exports as default. `defaults` documents every option. */
export interface StrategyModule {
  name: string;
  summary: string;
  defaults: Record<string, unknown>;
  create(ctx: StrategyContext): Strategy;
}
