/**
 * What the target counts for the harness (definitions: docs/measurements.md). Strategies report through this
 * interface; the implementation keeps in-process counters, the rebuild event log served on the
 * control endpoint, and the prom-client metrics behind /metrics.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RebuildEvent, TargetStats } from '../contract/types.ts';
import type { CacheErrorKind } from './cache-client.ts';

export interface Instrumentation {
  hit(namespace: string): void;
  miss(namespace: string): void;
  staleServed(namespace: string): void;
  /** A read answered from the DB because Redis failed (fail-open). */
  fallback(namespace: string): void;
  /** Wraps one source load: records a RebuildEvent {key, instance, start, end, reason}. */
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

  hit(namespace: string): void {
    this.current.hits.add(namespace);
  }
  miss(namespace: string): void {
    this.current.misses.add(namespace);
  }
  staleServed(namespace: string): void {
    this.current.staleServed.add(namespace);
  }
  fallback(namespace: string): void {
    this.current.fallbacks.add(namespace);
  }

  async rebuild<T>(key: string, reason: RebuildEvent['reason'], load: () => Promise<T>): Promise<T> {
    const start = nowMs();
    try {
      return await load();
    } finally {
      this.recordRebuild({ key, instance: this.instanceId, start, end: nowMs(), reason });
    }
  }

  recordRebuild(e: RebuildEvent): void {
    this.current.rebuilds.add(e.reason);
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

  /** Rebuild events that ended at or after `since` (epoch ms), in end order. */
  rebuildsSince(since = 0): RebuildEvent[] {
    if (since <= 0) return this.events.slice();
    // Events are appended when they end, so `end` is non-decreasing: binary-search the start.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.end < since) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
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

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
