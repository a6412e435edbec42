/**
 * What the target counts for the harness (docs/measurements.md "Source loads"). The figures are
 * the target's own observations: app.ts wraps every `load` / `write` / counter closure it hands a
 * strategy (`observeLoad`, `observeCall`) and classifies each read by the source it returned and
 * whether a load ran during it (`settleRead`). What a strategy reports through `Instrumentation`
 * (`ctx.events`) is optional: kept as `reported` for the harness's cross-check and, for
 * `rebuild`, used only to label the reason of the load it wraps. A strategy that calls nothing
 * is measured exactly like one that reports everything.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RebuildEvent, TargetStats } from '../contract/types.ts';
import type { CacheErrorKind } from './cache-client.ts';
import type { ReadSource } from './strategy.ts';

/** What a strategy may report (optional annotations; the target observes the same things itself). */
export interface Instrumentation {
  hit(namespace: string): void;
  miss(namespace: string): void;
  staleServed(namespace: string): void;
  /** A read answered from the DB because Redis failed (fail-open). */
  fallback(namespace: string): void;
  /**
   * Wraps one source load and labels its reason. The target records the load itself (around the
   * closure it handed out); this only annotates it, and counts as the strategy's claim.
   */
  rebuild<T>(key: string, reason: RebuildEvent['reason'], load: () => Promise<T>): Promise<T>;
  lockWait(ms: number): void;
  backgroundRefresh(): void;
  writeBehindIncrement(n: number): void;
  writeBehindFlushed(n: number): void;
  writeBehindLost(n: number): void;
  /** Increments written straight to the DB because Redis never received them (fail-open). */
  writeBehindDirect(n: number): void;
}

/** Epoch ms as a float, comparable across the processes of one machine (results/schema.ts). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The endpoint (history op name) the current request serves. The pg wrapper reads it to count
 * queries per endpoint without threading a parameter through every strategy. Outside a request
 * (write-behind flush timers, startup) it is undefined and the query counts as "background".
 */
export const endpointContext = new AsyncLocalStorage<string>();

export function currentEndpoint(): string {
  return endpointContext.getStore() ?? 'background';
}

/** Attribution of work done outside any request (timers) or after its read returned. */
export const BACKGROUND = 'background';

/**
 * One `strategy.read` as the target sees it. app.ts creates one per read request; the load
 * closure it hands the strategy reports into it. On a cache hit no load runs, so the only cost
 * is this object and `settleRead`'s couple of field reads.
 *
 * The scope carries its endpoint: read routes do not enter `endpointContext` for the whole
 * request (a hit queries no DB, so it would only pay for the context); a load enters it for
 * exactly the queries it makes (`observeLoad`).
 */
export class ReadScope {
  readonly key: string;
  readonly namespace: string;
  /** The endpoint of the request that reads; undefined outside any request (background). */
  readonly endpoint: string | undefined;
  /** Load closure calls that started while the read was still running. */
  loads = 0;
  /** An in-read load was annotated 'early' by the strategy (xfetch's early recompute). */
  early = false;
  settled = false;
  source: ReadSource | undefined = undefined;
  /** In-read loads that ended before the read returned: their reason depends on its source. */
  pending: RebuildEvent[] | null = null;
  constructor(key: string, namespace: string, endpoint = endpointContext.getStore()) {
    this.key = key;
    this.namespace = namespace;
    this.endpoint = endpoint;
  }
}

/** A count with a breakdown by one label (namespace, endpoint, error kind). */
export class Tally {
  total = 0;
  readonly by = new Map<string, number>();
  add(label: string, n = 1): void {
    this.total += n;
    this.by.set(label, (this.by.get(label) ?? 0) + n);
  }
  byObject(): Record<string, number> {
    return Object.fromEntries(this.by);
  }
  /** Moves everything into `into` (the lifetime tally) and starts from zero. */
  drainInto(into: Tally): void {
    for (const [k, v] of this.by) into.add(k, v);
    if (this.by.size === 0) into.total += this.total;
    this.total = 0;
    this.by.clear();
  }
}

const TALLY_NAMES = [
  'hits',
  'misses',
  'staleServed',
  'fallbacks',
  'dbQueries',
  'dbTimeMs',
  'poolWaits',
  'poolWaitMs',
  'httpRequests',
  'redisErrors',
  'breakerOpens',
  'lockWaits',
  'lockWaitMs',
  'backgroundRefreshes',
  'rebuilds',
  // Target-observed closure calls (loads, writes, counter calls) by endpoint or 'background'.
  'sourceCalls',
  'sourceCallsFailed',
  'loads',
  'loadsFailed',
  'loadsBackground',
  'reads',
  'earlyReads',
  // What the strategy reported through ctx.events (optional; cross-checked by the harness).
  'reportedHits',
  'reportedMisses',
  'reportedStale',
  'reportedFallbacks',
  'reportedRebuilds',
  'wbIncrements',
  'wbFlushed',
  'wbLost',
  'wbDirect',
  'wbFlushWrites',
  'counterDbWrites',
] as const;
export type TallyName = (typeof TALLY_NAMES)[number];

function tallies(): Record<TallyName, Tally> {
  return Object.fromEntries(TALLY_NAMES.map((n) => [n, new Tally()])) as Record<TallyName, Tally>;
}

/** Bound on the in-memory rebuild log; beyond it events are counted as dropped, not kept. */
const DEFAULT_MAX_EVENTS = 1_000_000;

/**
 * The in-process implementation. Counters since the last `reset()` feed `/stats`; lifetime
 * counters (current + everything drained by resets) feed Prometheus, which needs monotonic
 * counters.
 */
export class TargetInstrumentation implements Instrumentation {
  readonly instanceId: string;
  readonly current = tallies();
  readonly lifetime = tallies();
  private events: RebuildEvent[] = [];
  private readonly maxEvents: number;
  droppedEvents = 0;

  constructor(instanceId: string, opts: { maxEvents?: number } = {}) {
    this.instanceId = instanceId;
    this.maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
  }

  // --- reported by the strategy (ctx.events): claims, cross-checked, never the figures ---

  hit(namespace: string): void {
    this.current.reportedHits.add(namespace);
  }
  miss(namespace: string): void {
    this.current.reportedMisses.add(namespace);
  }
  staleServed(namespace: string): void {
    this.current.reportedStale.add(namespace);
  }
  fallback(namespace: string): void {
    this.current.reportedFallbacks.add(namespace);
  }

  /**
   * The reason handed to the next load closure call. `rebuild` sets it and calls `load`, which
   * (when it is the target's closure, called synchronously as every strategy does) takes it at
   * once; it is cleared as soon as `load()` returns its promise, so it never leaks to another load.
   */
  private annotation: RebuildEvent['reason'] | undefined = undefined;

  async rebuild<T>(_key: string, reason: RebuildEvent['reason'], load: () => Promise<T>): Promise<T> {
    this.current.reportedRebuilds.add(reason);
    this.annotation = reason;
    let p: Promise<T>;
    try {
      p = load();
    } finally {
      this.annotation = undefined;
    }
    return p;
  }

  // --- observed by the target around the closures it hands out (app.ts) ---

  /**
   * Runs one source load for `scope`'s read and records it as a RebuildEvent. A load that starts
   * after its read returned (stale-while-revalidate's refresh) or outside any request is
   * background work: recorded as such, and its DB queries are attributed to 'background'. The
   * load runs in its endpoint's context, so the pg wrapper attributes its queries.
   */
  observeLoad<T>(scope: ReadScope, load: () => Promise<T>): Promise<T> {
    const annotated = this.annotation;
    this.annotation = undefined;
    const background = scope.settled || scope.endpoint === undefined;
    if (!background) {
      scope.loads++;
      if (annotated === 'early') scope.early = true;
    }
    const start = nowMs();
    const endpoint = background ? BACKGROUND : (scope.endpoint as string);
    const finish = (ok: boolean) => {
      const e: RebuildEvent = {
        key: scope.key,
        namespace: scope.namespace,
        instance: this.instanceId,
        start,
        end: nowMs(),
        // Decided at settleRead for an in-read load the strategy did not label.
        reason: annotated ?? (background ? 'refresh' : 'miss'),
        ok,
      };
      if (background) e.background = true;
      if (annotated === undefined) e.inferred = true;
      this.countCall(endpoint, ok);
      if (!ok) this.current.loadsFailed.add(scope.namespace);
      if (background) this.current.loadsBackground.add(scope.namespace);
      if (annotated === undefined && !background && !scope.settled) {
        if (scope.pending === null) scope.pending = [e];
        else scope.pending.push(e);
      } else {
        if (annotated === undefined && scope.source === 'fallback' && !background) e.reason = 'fallback';
        this.recordRebuild(e);
      }
    };
    return endpointContext.run(endpoint, load).then(
      (v) => {
        finish(true);
        return v;
      },
      (err: unknown) => {
        finish(false);
        throw err;
      },
    );
  }

  /**
   * Classifies a finished read by what the target saw: the source the strategy returned and
   * whether a load closure ran during it. `source` is undefined when the read threw. The hit
   * path costs two field reads and one tally.
   */
  settleRead(scope: ReadScope, source: ReadSource | undefined): void {
    scope.settled = true;
    scope.source = source;
    const ns = scope.namespace;
    if (source === 'cache' && scope.loads === 0) this.current.hits.add(ns);
    else if (source === 'stale') this.current.staleServed.add(ns);
    else if (source === 'fallback') this.current.fallbacks.add(ns);
    else if (source !== undefined || scope.loads > 0) this.current.misses.add(ns);
    if (source !== undefined) this.current.reads.add(ns);
    if (source === 'db' && scope.early) this.current.earlyReads.add(ns);
    const pending = scope.pending;
    if (pending !== null) {
      scope.pending = null;
      for (const e of pending) {
        if (source === 'fallback') e.reason = 'fallback';
        this.recordRebuild(e);
      }
    }
  }

  /** Runs one write or counter closure, counted for the current endpoint (or background). */
  observeCall<T>(fn: () => Promise<T>): Promise<T> {
    const endpoint = endpointContext.getStore() ?? BACKGROUND;
    return fn().then(
      (v) => {
        this.countCall(endpoint, true);
        return v;
      },
      (err: unknown) => {
        this.countCall(endpoint, false);
        throw err;
      },
    );
  }

  private countCall(endpoint: string, ok: boolean): void {
    this.current.sourceCalls.add(endpoint);
    if (!ok) this.current.sourceCallsFailed.add(endpoint);
  }

  recordRebuild(e: RebuildEvent): void {
    this.current.rebuilds.add(e.reason);
    this.current.loads.add(e.namespace ?? 'unknown');
    if (this.events.length >= this.maxEvents) {
      this.droppedEvents++;
      return;
    }
    this.events.push(e);
  }

  lockWait(ms: number): void {
    this.current.lockWaits.add('lock');
    this.current.lockWaitMs.add('lock', ms);
  }
  backgroundRefresh(): void {
    this.current.backgroundRefreshes.add('refresh');
  }
  writeBehindIncrement(n: number): void {
    this.current.wbIncrements.add('counter', n);
  }
  writeBehindFlushed(n: number): void {
    this.current.wbFlushed.add('counter', n);
    this.current.wbFlushWrites.add('counter');
  }
  writeBehindLost(n: number): void {
    this.current.wbLost.add('counter', n);
  }
  writeBehindDirect(n: number): void {
    this.current.wbDirect.add('counter', n);
  }

  // --- fed by the target itself (routes, pg wrapper, cache client callbacks) ---

  httpRequest(endpoint: string): void {
    this.current.httpRequests.add(endpoint);
  }
  dbQuery(endpoint: string, ms: number): void {
    this.current.dbQueries.add(endpoint);
    this.current.dbTimeMs.add(endpoint, ms);
  }
  poolWait(ms: number): void {
    this.current.poolWaits.add('pool');
    this.current.poolWaitMs.add('pool', ms);
  }
  /** A DB write of a counter increment (any strategy): write-behind's "DB writes per increment". */
  counterDbWrite(): void {
    this.current.counterDbWrites.add('counter');
  }
  /** createCacheClient's onError. Breaker-open skips are not Redis errors: tallied by kind only. */
  redisError(kind: CacheErrorKind): void {
    this.current.redisErrors.add(kind);
  }
  /** createCacheClient's onBreakerOpen. */
  breakerOpen(): void {
    this.current.breakerOpens.add('breaker');
  }

  /**
   * Rebuild events that ended at or after `since` (epoch ms). A linear filter: an in-read load is
   * logged when its read returns, so the log is only nearly in end order.
   */
  rebuildsSince(since = 0): RebuildEvent[] {
    if (since <= 0) return this.events.slice();
    return this.events.filter((e) => e.end >= since);
  }

  snapshot(): TargetStats {
    const c = this.current;
    const redisErrors = c.redisErrors.by;
    return {
      instances: 1,
      dbQueries: c.dbQueries.total,
      dbQueriesByEndpoint: c.dbQueries.byObject(),
      dbTimeMs: round3(c.dbTimeMs.total),
      dbTimeMsByEndpoint: Object.fromEntries([...c.dbTimeMs.by].map(([k, v]) => [k, round3(v)])),
      poolWaits: c.poolWaits.total,
      poolWaitMs: round3(c.poolWaitMs.total),
      httpRequests: c.httpRequests.total,
      httpRequestsByEndpoint: c.httpRequests.byObject(),
      cache: {
        hits: c.hits.total,
        misses: c.misses.total,
        staleServed: c.staleServed.total,
        fallbacks: c.fallbacks.total,
        redisErrors: (redisErrors.get('connection') ?? 0) + (redisErrors.get('command') ?? 0),
        redisTimeouts: redisErrors.get('timeout') ?? 0,
        breakerOpens: c.breakerOpens.total,
        lockWaits: c.lockWaits.total,
        backgroundRefreshes: c.backgroundRefreshes.total,
      },
      sources: {
        loads: c.loads.total,
        loadsFailed: c.loadsFailed.total,
        loadsBackground: c.loadsBackground.total,
        callsByEndpoint: c.sourceCalls.byObject(),
        failedByEndpoint: c.sourceCallsFailed.byObject(),
        reads: c.reads.total,
        earlyReads: c.earlyReads.total,
      },
      reported: {
        hits: c.reportedHits.total,
        misses: c.reportedMisses.total,
        staleServed: c.reportedStale.total,
        // Write-behind's counter fallbacks are not reads: the read figures are compared alone.
        fallbacks: c.reportedFallbacks.total - (c.reportedFallbacks.by.get('counter') ?? 0),
        rebuilds: c.reportedRebuilds.total,
      },
      writeBehind: {
        increments: c.wbIncrements.total,
        flushed: c.wbFlushed.total,
        lost: c.wbLost.total,
        direct: c.wbDirect.total,
        flushWrites: c.wbFlushWrites.total,
        dbWrites: c.counterDbWrites.total,
      },
    };
  }

  /** Zeroes the counters and the event log (the lifetime totals behind /metrics keep going). */
  reset(): void {
    for (const name of TALLY_NAMES) this.current[name].drainInto(this.lifetime[name]);
    this.events = [];
    this.droppedEvents = 0;
  }

  /** Lifetime value of a tally (current + drained), for Prometheus. */
  lifetimeOf(name: TallyName): { total: number; by: Map<string, number> } {
    const by = new Map(this.lifetime[name].by);
    for (const [k, v] of this.current[name].by) by.set(k, (by.get(k) ?? 0) + v);
    return { total: this.lifetime[name].total + this.current[name].total, by };
  }
}

/** Sums per-instance snapshots (the harness merges N targets this way). */
export function mergeTargetStats(all: TargetStats[]): TargetStats {
  const sumRec = (recs: Record<string, number>[]) => {
    const out: Record<string, number> = {};
    for (const r of recs) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const sum = (f: (s: TargetStats) => number) => all.reduce((a, s) => a + f(s), 0);
  return {
    instances: sum((s) => s.instances),
    dbQueries: sum((s) => s.dbQueries),
    dbQueriesByEndpoint: sumRec(all.map((s) => s.dbQueriesByEndpoint)),
    dbTimeMs: round3(sum((s) => s.dbTimeMs)),
    dbTimeMsByEndpoint: sumRec(all.map((s) => s.dbTimeMsByEndpoint ?? {})),
    poolWaits: sum((s) => s.poolWaits),
    poolWaitMs: round3(sum((s) => s.poolWaitMs ?? 0)),
    httpRequests: sum((s) => s.httpRequests),
    httpRequestsByEndpoint: sumRec(all.map((s) => s.httpRequestsByEndpoint)),
    cache: {
      hits: sum((s) => s.cache.hits),
      misses: sum((s) => s.cache.misses),
      staleServed: sum((s) => s.cache.staleServed),
      fallbacks: sum((s) => s.cache.fallbacks),
      redisErrors: sum((s) => s.cache.redisErrors),
      redisTimeouts: sum((s) => s.cache.redisTimeouts),
      breakerOpens: sum((s) => s.cache.breakerOpens),
      lockWaits: sum((s) => s.cache.lockWaits),
      backgroundRefreshes: sum((s) => s.cache.backgroundRefreshes),
    },
    ...mergeObserved(all),
    writeBehind: {
      increments: sum((s) => s.writeBehind.increments),
      flushed: sum((s) => s.writeBehind.flushed),
      lost: sum((s) => s.writeBehind.lost),
      direct: sum((s) => s.writeBehind.direct ?? 0),
      flushWrites: sum((s) => s.writeBehind.flushWrites ?? 0),
      dbWrites: sum((s) => s.writeBehind.dbWrites),
    },
  };
}

/** The `sources` / `reported` blocks, summed; absent when any instance lacks them (old target). */
function mergeObserved(all: TargetStats[]): Pick<TargetStats, 'sources' | 'reported'> {
  const out: Pick<TargetStats, 'sources' | 'reported'> = {};
  const sources = all.map((s) => s.sources);
  if (sources.length > 0 && sources.every((s) => s !== undefined)) {
    const ss = sources as NonNullable<TargetStats['sources']>[];
    const sumRec = (recs: Record<string, number>[]) => {
      const r: Record<string, number> = {};
      for (const x of recs) for (const [k, v] of Object.entries(x)) r[k] = (r[k] ?? 0) + v;
      return r;
    };
    out.sources = {
      loads: ss.reduce((a, s) => a + s.loads, 0),
      loadsFailed: ss.reduce((a, s) => a + s.loadsFailed, 0),
      loadsBackground: ss.reduce((a, s) => a + s.loadsBackground, 0),
      callsByEndpoint: sumRec(ss.map((s) => s.callsByEndpoint)),
      failedByEndpoint: sumRec(ss.map((s) => s.failedByEndpoint)),
      reads: ss.reduce((a, s) => a + s.reads, 0),
      earlyReads: ss.reduce((a, s) => a + s.earlyReads, 0),
    };
  }
  const reported = all.map((s) => s.reported);
  if (reported.length > 0 && reported.every((r) => r !== undefined)) {
    const rr = reported as NonNullable<TargetStats['reported']>[];
    const sum = (f: (r: NonNullable<TargetStats['reported']>) => number) => rr.reduce((a, r) => a + f(r), 0);
    out.reported = {
      hits: sum((r) => r.hits),
      misses: sum((r) => r.misses),
      staleServed: sum((r) => r.staleServed),
      fallbacks: sum((r) => r.fallbacks),
      rebuilds: sum((r) => r.rebuilds),
    };
  }
  return out;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
