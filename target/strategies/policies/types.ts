/**
 * What a policy is. A strategy is a pipeline (parts/core.ts) over five slots, each filled by one
 * or more policies:
 *
 *   guard      who may rebuild a missing key: none, lock, lease, single-flight (stacks on the others)
 *   freshness  how long a value lives and how a hit is judged: ttl, jitter, stale-while-revalidate, xfetch
 *   keys       how a value key is named: plain, versioned
 *   write      what a write does to the cache after the DB commit: invalidate, through
 *   counters   where counter increments go: direct, behind (write-behind)
 *
 * A policy implements some of its slot's hooks and says which (`provides`), like an optional
 * capability interface: lock provides `miss` and `refreshPermit`, single-flight only `coalesce`.
 * Policies compose when no two in a slot provide the same hook ("jitter+xfetch" does: jitter
 * gives `ttl`, xfetch `stamp`/`judge`; "lock+lease" does not: both give `miss`). A hook nobody
 * provides takes the cache-aside default. `create` runs once per strategy instance, so state
 * (a coalescing map, a flush loop) belongs to that instance.
 */
import type { CacheClient, CacheError, CacheOutcome } from '../../cache-client.ts';
import type { Instrumentation } from '../../instrumentation.ts';
import type {
  CounterValue,
  IncrementRequest,
  ReadRequest,
  ReadResult,
  Versioned,
  WriteRequest,
} from '../../strategy.ts';
import type { Entry } from '../parts/envelope.ts';
import type { OptionName, StrategyOptions } from '../parts/options.ts';
import type { Repairs } from '../parts/repairs.ts';

/** What every policy instance may use. */
export interface PolicyEnv {
  cache: CacheClient;
  /** Locks, lease tokens and write-behind buffers: `cache` unless the target was given a second Redis. */
  coordination: CacheClient;
  events: Instrumentation;
  options: StrategyOptions;
  failClosed: boolean;
  instanceId: string;
  /** The target's key prefix, for helper keys not derived from a value key. */
  prefix: string;
  /** Failed invalidations waiting for Redis to return (parts/repairs.ts). */
  repairs: Repairs;
}

export interface Policy<Hooks> {
  readonly name: string;
  /** The hooks `create` returns; two policies of one slot may not provide the same hook. */
  readonly provides: readonly (keyof Hooks)[];
  /** Options this policy reads (rows of parts/options.ts); they make up the strategy's defaults. */
  readonly options?: readonly OptionName[];
  create(env: PolicyEnv): Partial<Hooks>;
}

export interface Loaded<T> {
  value: T;
  json: string;
  loadMs: number;
}

export type RebuildReason = 'miss' | 'refresh' | 'early' | 'lease';

/** One miss of one key, handed to the guard. */
export interface Miss<T extends Versioned> {
  req: ReadRequest<T>;
  /** The resolved value key (versioned keys include the versions). */
  key: string;
  /** Loads from the DB (counted as a rebuild). */
  load(reason: RebuildReason): Promise<Loaded<T>>;
  /** The raw string and PX to store for a loaded value (freshness stamp, TTL). */
  stamp(loaded: Loaded<T>): { raw: string; pxMs: number };
  /** SET the value (a failed SET is ignored: the value is correct, only not cached). */
  store(loaded: Loaded<T>): Promise<unknown>;
  /** A raw cached string as a cache hit, or null when it cannot be read. */
  hit(raw: string): ReadResult<T> | null;
  fromDb(loaded: Loaded<T>): ReadResult<T>;
  /** The read's Redis use ends here: fail-open loads from the DB, fail-closed throws. */
  fallback(error: CacheError): Promise<ReadResult<T>>;
}

/** Permission to refresh a value that is still cached (stale or early). */
export interface RefreshPermit {
  store(raw: string, pxMs: number): Promise<unknown>;
  release(): Promise<unknown>;
}

export interface GuardHooks {
  /** Rebuild a key that was not in the cache. Default: load and SET. */
  miss<T extends Versioned>(m: Miss<T>): Promise<ReadResult<T>>;
  /** Who may refresh a value still cached; null = someone else is. */
  refreshPermit(key: string): Promise<RefreshPermit | null>;
  /** Helper keys to DEL with the value keys after a write. */
  onWrite(req: WriteRequest<Versioned>): string[];
  /** In-process sharing: concurrent callers with the same id share one promise. */
  coalesce<R>(id: string, fn: () => Promise<R>): Promise<R>;
}

export type Verdict = 'fresh' | 'stale' | 'early';

export interface FreshnessHooks {
  /**
   * The TTL of the next stored value of `namespace` ('user', 'team-members', 'team-report').
   * Default: `ttlFor(options, namespace)` — the namespace's own ttlMs, else the common one.
   */
  ttl(namespace: string): number;
  /** The raw string to store and the Redis PX for it. Default: the JSON, PX ttl. */
  stamp(json: string, loadMs: number, ttlMs: number, now: number): { raw: string; pxMs: number };
  /** Default: fresh until Redis drops it. */
  judge(entry: Entry, now: number): Verdict;
  /** Refresh coordination when the guard provides none. Default: no coordination. */
  refreshPermit(key: string): Promise<RefreshPermit | null>;
}

export interface KeyHooks {
  /** The key a read uses. Default: req.key. */
  resolve(req: ReadRequest<Versioned>): Promise<CacheOutcome<string>>;
  /** After a commit, before the value keys are dropped; returns a failure (already queued for repair). */
  onWrite(req: WriteRequest<Versioned>): Promise<CacheError | null>;
}

/** One committed write, handed to the write policy. */
export interface Committed<T extends Versioned> {
  req: WriteRequest<T>;
  value: T;
  /** Stamped for storage as a freshly loaded value (δ = the namespace's last load time). */
  stamp(): { raw: string; pxMs: number };
}

export interface WriteHooks {
  /** Cache work after the commit; returns value keys to DEL and a failure. Default: DEL req.key. */
  afterCommit<T extends Versioned>(c: Committed<T>): Promise<{ del: string[]; failure: CacheError | null }>;
}

export interface CounterHooks {
  increment(req: IncrementRequest): Promise<CounterValue>;
  readCounter(req: IncrementRequest): Promise<CounterValue>;
  close(): Promise<void>;
}

export type GuardPolicy = Policy<GuardHooks>;
export type FreshnessPolicy = Policy<FreshnessHooks>;
export type KeyPolicy = Policy<KeyHooks>;
export type WritePolicy = Policy<WriteHooks>;
export type CounterPolicy = Policy<CounterHooks>;

type OneOrMany<P> = P | readonly P[];

/** The slots of a strategy; each takes one policy or a list that composes. */
export interface PolicySlots {
  guard?: OneOrMany<GuardPolicy>;
  freshness?: OneOrMany<FreshnessPolicy>;
  keys?: OneOrMany<KeyPolicy>;
  write?: OneOrMany<WritePolicy>;
  counters?: OneOrMany<CounterPolicy>;
}

export type SlotName = keyof PolicySlots;
