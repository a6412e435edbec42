/**
 * The target observes source loads itself (docs/measurements.md "Source loads"), on real
 * PostgreSQL + Redis: a user's strategy module that calls no `ctx.events` method gets the same
 * stampede figures as cache-aside under the same hot-key load, and a strategy whose own events
 * lie about its loads gets its cell flagged untrusted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeCacheHealth } from '../harness/analysis/cache-health.ts';
import { analyzeDbLoad } from '../harness/analysis/db-load.ts';
import { analyzeStampede } from '../harness/analysis/stampede.ts';
import { analyzeValidity } from '../harness/analysis/validity.ts';
import { pgStatSnapshot, resetPgStatStatements } from '../harness/pipeline/collect.ts';
import type { CellResult, RebuildEvent, TargetStats } from '../harness/results/schema.ts';
import { seedDatabase } from '../target/db.ts';
import { startTarget, type TargetHandle } from '../target/instance.ts';
import type { StrategyModule, Versioned } from '../target/strategy.ts';
import plainCacheAside from './fixtures/plain-cache-aside.ts';
import { synthCell } from './fixtures/synthetic.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

async function stats(t: TargetHandle): Promise<TargetStats> {
  return (await (await fetch(`${t.controlUrl}/stats`)).json()) as TargetStats;
}
async function rebuilds(t: TargetHandle): Promise<RebuildEvent[]> {
  return (await (await fetch(`${t.controlUrl}/rebuilds?since=0`)).json()) as RebuildEvent[];
}
async function reset(t: TargetHandle): Promise<void> {
  await fetch(`${t.controlUrl}/reset`, { method: 'POST' });
}

/** A cell for the analysis modules: synthetic driver-side fields, the target's real figures. */
async function cellOf(t: TargetHandle, strategy: string, withPg = false): Promise<CellResult> {
  const { cell } = synthCell({ scenario: 'hot-key', strategy, seconds: 3 });
  cell.target = await stats(t);
  cell.rebuilds = await rebuilds(t);
  if (withPg) cell.pgStatStatements = await pgStatSnapshot(infra().postgresUrl);
  else delete cell.pgStatStatements;
  return cell;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A target running a strategy module this file defines, keys under `obs-<id>:`. */
const startFixtureTarget = (strategy: StrategyModule, instanceId: string) =>
  startTarget({
    redisUrl: infra().redisUrl,
    postgresUrl: infra().postgresUrl,
    strategy,
    instanceId,
    keyPrefix: `obs-${instanceId}:`,
  });

describe('source loads observed by the target', () => {
  let caTarget: TargetHandle;
  let mineTarget: TargetHandle;
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 50, teams: 5, counters: 2 }, 7);
    const common = {
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      reportCostMs: 80,
      strategyOptions: { ttlMs: 400 },
    };
    caTarget = await startTarget({
      ...common,
      strategy: 'cache-aside',
      instanceId: 'ca',
      keyPrefix: 'obs-ca:',
    });
    mineTarget = await startTarget({
      ...common,
      strategy: plainCacheAside,
      instanceId: 'mine',
      keyPrefix: 'obs-mine:',
    });
  }, 60_000);
  afterAll(async () => {
    await caTarget?.stop();
    await mineTarget?.stop();
  });

  it('a module that calls no ctx.events method gets rebuilds per expiry and concurrency within 20% of cache-aside', async () => {
    await reset(caTarget);
    await reset(mineTarget);
    // A hot-key stampede, identical for both targets and sent at the same instants: each round
    // 6 concurrent reads of the expired hot report (an 80 ms rebuild, so all 6 miss), then 10
    // reads of the fresh value, then a wait well past the 400 ms TTL (1 s rounds: the last SET of
    // a round may land late on a busy machine). Bursts rather than a steady rate keep the figures
    // independent of how busy the shared machine is.
    const hot = (t: TargetHandle) => fetch(`${t.url}/teams/1/report`).then((r) => r.arrayBuffer());
    for (let round = 0; round < 6; round++) {
      const t0 = performance.now();
      await Promise.all([caTarget, mineTarget].flatMap((t) => Array.from({ length: 6 }, () => hot(t))));
      await Promise.all([caTarget, mineTarget].flatMap((t) => Array.from({ length: 10 }, () => hot(t))));
      await sleep(Math.max(0, t0 + 1000 - performance.now()));
    }

    const ca = await cellOf(caTarget, 'cache-aside');
    const mine = await cellOf(mineTarget, 'mine');
    const caS = analyzeStampede(ca);
    const mineS = analyzeStampede(mine);
    const caH = analyzeCacheHealth(ca);
    const mineH = analyzeCacheHealth(mine);
    const line = (n: string, s: typeof caS, h: typeof caH) =>
      `${n}: rebuilds/expiry ${s.rebuildsPerExpiry?.toFixed(2)} max concurrent ${s.maxConcurrentPerKey} episodes ${s.episodes} hit ratio ${h.hitRatio?.toFixed(3)} (reported ${h.reportedHitRatio?.toFixed(3) ?? '–'})`;
    const summary = `${line('cache-aside', caS, caH)} | ${line('mine', mineS, mineH)}`;
    console.log(summary);

    // The module reported nothing, and is measured anyway.
    expect(mine.target.reported).toEqual({ hits: 0, misses: 0, staleServed: 0, fallbacks: 0, rebuilds: 0 });
    expect(mineS.inferredReasons).toBe(mineS.rebuilds + mineS.fallbackLoads);
    expect(caS.inferredReasons, 'cache-aside labels its loads').toBe(0);
    for (const s of [caS, mineS]) {
      expect(s.applies).toBe(true);
      expect(s.episodes, summary).toBeGreaterThanOrEqual(5);
      expect(s.rebuildsPerExpiry!, summary).toBeGreaterThan(3);
    }
    expect(mineH.hitRatio, summary).not.toBeNull();
    expect(mineS.rebuildsPerExpiry!, summary).toBeGreaterThanOrEqual(caS.rebuildsPerExpiry! * 0.8);
    expect(mineS.rebuildsPerExpiry!, summary).toBeLessThanOrEqual(caS.rebuildsPerExpiry! * 1.2);
    expect(mineS.maxConcurrentPerKey, summary).toBeGreaterThanOrEqual(
      Math.floor(caS.maxConcurrentPerKey * 0.8),
    );
    expect(mineS.maxConcurrentPerKey, summary).toBeLessThanOrEqual(Math.ceil(caS.maxConcurrentPerKey * 1.2));
    // The observed hit ratio of both agrees within 5 points; cache-aside's own count agrees with it.
    expect(Math.abs(mineH.hitRatio! - caH.hitRatio!), summary).toBeLessThan(0.05);
    expect(Math.abs(caH.reportedHitRatio! - caH.hitRatio!), summary).toBeLessThan(0.01);
    // Honest strategies raise no cross-check flag, whether they report or not.
    for (const c of [ca, mine]) {
      const v = analyzeValidity(c, { dbLoad: analyzeDbLoad(c) });
      expect(v.flags.filter((f) => f.code.includes('mismatch'))).toEqual([]);
    }
  }, 60_000);

  it('loads, DB queries and pg_stat_statements agree for an honest strategy; a self-report that lies flags the cell', async () => {
    // Reports one rebuild and a hit for every read, but loads from the DB on every read.
    const liar: StrategyModule = {
      name: 'liar',
      summary: 'loads on every read, claims hits (test fixture)',
      defaults: {},
      create(ctx) {
        let reported = false;
        return {
          name: 'liar',
          async read<T extends Versioned>(req: { key: string; namespace: string; load: () => Promise<T> }) {
            ctx.events.hit(req.namespace);
            if (!reported) {
              reported = true;
              return { value: await ctx.events.rebuild(req.key, 'miss', req.load), source: 'cache' as const };
            }
            return { value: await req.load(), source: 'cache' as const };
          },
          write: (req) => req.write(),
          increment: async (req) => ({ value: await req.incrementInDb(req.by), pending: 0 }),
          readCounter: async (req) => ({ value: await req.readDb(), pending: 0 }),
        };
      },
    };
    const t = await startFixtureTarget(liar, 'liar');
    try {
      await reset(t);
      await resetPgStatStatements(infra().postgresUrl);
      for (let i = 0; i < 10; i++) {
        const r = await fetch(`${t.url}/users/3`);
        expect(r.status).toBe(200);
        // The header says what the strategy returned; the figures say what the target saw.
        expect(r.headers.get('x-cache')).toBe('hit');
      }
      const cell = await cellOf(t, 'liar', true);
      expect(cell.target.reported).toMatchObject({ hits: 10, rebuilds: 1 });
      expect(cell.target.sources).toMatchObject({ loads: 10, reads: 10 });
      // Returned 'cache' after running a load: not a hit.
      expect(cell.target.cache.hits).toBe(0);
      expect(cell.target.cache.misses).toBe(10);
      expect(cell.rebuilds).toHaveLength(10);
      const v = analyzeValidity(cell, { dbLoad: analyzeDbLoad(cell) });
      expect(v.trusted).toBe(false);
      const flag = v.flags.find((f) => f.code === 'self-report-mismatch');
      expect(flag?.severity).toBe('error');
      expect(flag?.message).toContain('reported 1 rebuilds, target observed 10 source loads');
      expect(flag?.message).toContain('reported 10 hits, target observed 0 cache hits');
      expect(flag?.message).not.toContain('\n');
      // The target's loads agree with its DB layer and with PostgreSQL's own count.
      expect(v.flags.map((f) => f.code)).not.toContain('source-load-mismatch');
      expect(v.flags.map((f) => f.code)).not.toContain('pg-stat-load-mismatch');

      // A DB count that disagrees with the observed loads is caught too.
      const tampered = structuredClone(cell);
      tampered.target.dbQueriesByEndpoint['read-user'] = 30;
      const tv = analyzeValidity(tampered, { dbLoad: analyzeDbLoad(tampered) });
      expect(tv.flags.find((f) => f.code === 'source-load-mismatch')?.message).toContain(
        'read-user: 10 closure calls observed (0 failed) but 30 DB queries counted',
      );
      const pgTampered = structuredClone(cell);
      pgTampered.target.sources!.loads = 40;
      const pv = analyzeValidity(pgTampered, { dbLoad: analyzeDbLoad(pgTampered) });
      expect(pv.flags.find((f) => f.code === 'pg-stat-load-mismatch')?.message).toMatch(
        /observed 40 source loads .* pg_stat_statements counted 10 load statements/,
      );
    } finally {
      await t.stop();
    }
  }, 60_000);

  it('a refresh after the read returned is background work: counted, attributed, its queries too', async () => {
    // Serves a stale value and refreshes it after answering, calling nothing on ctx.events.
    const swr: StrategyModule = {
      name: 'bg',
      summary: 'refreshes after answering (test fixture)',
      defaults: {},
      create() {
        const values = new Map<string, unknown>();
        return {
          name: 'bg',
          async read<T extends Versioned>(req: { key: string; load: () => Promise<T> }) {
            const v = values.get(req.key) as T | undefined;
            if (v === undefined) {
              const loaded = await req.load();
              values.set(req.key, loaded);
              return { value: loaded, source: 'db' as const };
            }
            setTimeout(() => {
              void req.load().then((x) => values.set(req.key, x));
            }, 5);
            return { value: v, source: 'stale' as const };
          },
          write: (req) => req.write(),
          increment: async (req) => ({ value: await req.incrementInDb(req.by), pending: 0 }),
          readCounter: async (req) => ({ value: await req.readDb(), pending: 0 }),
        };
      },
    };
    const t = await startFixtureTarget(swr, 'bg');
    try {
      await reset(t);
      for (let i = 0; i < 3; i++) expect((await fetch(`${t.url}/users/4`)).status).toBe(200);
      await sleep(200);
      const s = await stats(t);
      expect(s.cache).toMatchObject({ hits: 0, misses: 1, staleServed: 2 });
      expect(s.sources).toMatchObject({ loads: 3, loadsBackground: 2 });
      expect(s.sources!.callsByEndpoint).toEqual({ 'read-user': 1, background: 2 });
      expect(s.dbQueriesByEndpoint).toEqual({ 'read-user': 1, background: 2 });
      const ev = await rebuilds(t);
      expect(ev.map((e) => [e.reason, e.background ?? false])).toEqual([
        ['miss', false],
        ['refresh', true],
        ['refresh', true],
      ]);
    } finally {
      await t.stop();
    }
  }, 30_000);
});
