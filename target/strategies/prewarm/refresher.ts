/**
 * The pre-warm job: counts reads per key (hot-keys.ts), and every `intervalMs` refreshes the
 * `topN` hottest keys that are missing from Redis or expire within `refreshAheadMs`, so a hot key
 * is reloaded in the background instead of by a burst of requests that all miss it.
 *
 * Loads go through the read request's own `load` closure, which the target wraps and counts
 * (target/app.ts `readAndSend`): called from the timer, after its read returned, each is a
 * background load in the target's figures, labelled 'refresh'.
 *
 * The hot set (keys and counts) is persisted in Redis (`<prefix>prewarm:hot`) on every tick, so
 * a restarted process — a deploy — warms what its predecessor saw as hot before its own traffic
 * has shown it (`warmAtStart`, through the target's key → request mapping). A Redis that lost
 * its data lost that set too; the running process still has its own counts and rewarms the
 * missing keys on its next tick.
 *
 * Across instances a refresh takes a short NX lock (`<key>:prewarm`), so N instances do not load
 * one hot key N times.
 */

import type { CacheClient } from '../../cache-client.ts';
import type { Instrumentation } from '../../instrumentation.ts';
import { isCluster } from '../../redis-connect.ts';
import type { ReadRequest, RequestForKey, Versioned } from '../../strategy.ts';
import { HotKeys } from './hot-keys.ts';

export interface RefresherOptions {
  ttlMs: number;
  topN: number;
  refreshAheadMs: number;
  intervalMs: number;
}

/** How many keys the tracker counts per key it refreshes: room for the runners-up to climb. */
const CANDIDATES_PER_SLOT = 4;
/** Counts are halved every this many ticks (with the default interval: every 2.5 s). */
const DECAY_EVERY_TICKS = 10;
/** Refreshes of one tick run at most this many at a time, so a rewarm is not itself a burst. */
const PARALLEL_LOADS = 8;
/** Lifetime of the persisted hot set: a day without any instance running forgets it. */
const HOT_SET_TTL_MS = 86_400_000;

export interface HotSetEntry {
  key: string;
  count: number;
}

export function hotSetKey(prefix: string): string {
  return `${prefix}prewarm:hot`;
}

export class PrewarmRefresher {
  private readonly cache: CacheClient;
  private readonly events: Instrumentation;
  private readonly prefix: string;
  private readonly opts: RefresherOptions;
  private readonly hot: HotKeys<ReadRequest<Versioned>>;
  private readonly timer: NodeJS.Timeout;
  private readonly inFlight = new Set<string>();
  private ticking: Promise<void> | null = null;
  private ticks = 0;
  private closed = false;

  constructor(cache: CacheClient, events: Instrumentation, prefix: string, opts: RefresherOptions) {
    this.cache = cache;
    this.events = events;
    this.prefix = prefix;
    this.opts = opts;
    this.hot = new HotKeys(opts.topN * CANDIDATES_PER_SLOT);
    this.timer = setInterval(() => void this.tick(), opts.intervalMs);
    this.timer.unref();
  }

  /** Counts one read of `req.key`; its request is what a later refresh loads through. */
  track(req: ReadRequest<Versioned>): void {
    this.hot.touch(req.key, req);
  }

  /**
   * A deploy/restart: seeds the counts from the hot set the previous process persisted and warms
   * those keys now (those still cached and not about to expire are left alone).
   */
  async warmAtStart(requestFor: RequestForKey): Promise<number> {
    const got = await this.cache.get(hotSetKey(this.prefix));
    if (!got.ok || got.value === null) return 0;
    let saved: HotSetEntry[];
    try {
      saved = JSON.parse(got.value) as HotSetEntry[];
    } catch {
      return 0; // an unreadable hot set is no hot set
    }
    if (!Array.isArray(saved)) return 0;
    let seeded = 0;
    for (const e of saved.slice(0, this.opts.topN)) {
      if (typeof e?.key !== 'string' || typeof e.count !== 'number') continue;
      const req = requestFor(e.key);
      if (!req) continue;
      this.hot.touch(e.key, req, Math.max(1, e.count));
      seeded++;
    }
    if (seeded > 0) await this.tick();
    return seeded;
  }

  /** One pass: persist the hot set, refresh those of the top N that are missing or expiring. */
  tick(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.ticking ??= this.pass().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.ticking;
  }

  private async pass(): Promise<void> {
    this.ticks++;
    if (this.ticks % DECAY_EVERY_TICKS === 0) this.hot.decay();
    const top = this.hot.top(this.opts.topN);
    if (top.length === 0 || !this.cache.available()) return;
    const saved: HotSetEntry[] = top.map((t) => ({ key: t.key, count: Math.round(t.count) }));
    const [, ttls] = await Promise.all([
      // A failed save only costs the next deploy its warm start.
      this.cache.set(hotSetKey(this.prefix), JSON.stringify(saved), HOT_SET_TTL_MS),
      this.cache.run('prewarm-pttl', async (r): Promise<[Error | null, unknown][]> => {
        // A Cluster pipeline must stay in one slot; the hot keys are spread over all of them.
        if (isCluster(r))
          return Promise.all(top.map((t) => r.pttl(t.key).then((v) => [null, v] as [null, number])));
        const p = r.pipeline();
        for (const t of top) p.pttl(t.key);
        return (await p.exec()) ?? [];
      }),
    ]);
    if (!ttls.ok) return;
    const due = top.filter((_t, i) => {
      const [err, pttl] = ttls.value[i] ?? [null, null];
      if (err || typeof pttl !== 'number') return false;
      // -2: not in Redis (expired, evicted, flushed); -1: no TTL (not ours to refresh).
      return pttl === -2 || (pttl >= 0 && pttl < this.opts.refreshAheadMs);
    });
    let next = 0;
    const worker = async () => {
      while (next < due.length && !this.closed) {
        const t = due[next++]!;
        await this.refresh(t.key, t.payload);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_LOADS, due.length) }, worker));
  }

  private async refresh(key: string, req: ReadRequest<Versioned>): Promise<void> {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    const lock = `${key}:prewarm`;
    try {
      const got = await this.cache.set(lock, this.prefix, Math.max(1_000, this.opts.intervalMs * 4), {
        nx: true,
      });
      if (!got.ok || !got.value) return; // another instance refreshes it, or Redis is failing
      try {
        this.events.backgroundRefresh();
        const value = await this.events.rebuild(key, 'refresh', req.load);
        await this.cache.set(key, JSON.stringify(value), this.opts.ttlMs);
      } catch {
        // A failed load (the DB down, the entity gone) leaves the key to the read path.
      } finally {
        await this.cache.del(lock);
      }
    } finally {
      this.inFlight.delete(key);
    }
  }
}
