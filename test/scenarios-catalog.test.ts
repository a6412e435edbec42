/**
 * The catalog's design arithmetic, checked on the generated request streams: each scenario must
 * make its strategy signature visible (docs/design.md) and stay within what a 2-core machine shared
 * with the target can run (no-cache must not saturate the 10-connection PostgreSQL pool).
 */
import { describe, expect, it } from 'vitest';
import { applyProfile, loadScenario } from '../scenarios/load.ts';
import type { Operation, Scenario } from '../scenarios/types.ts';
import { createRequestGenerator, totalDurationMs } from '../scenarios/workload.ts';

const PG_POOL = 10;

function sample(s: Scenario, n = 50_000) {
  const gen = createRequestGenerator(s, 1);
  const ops: Partial<Record<Operation, number>> = {};
  const keys = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = gen();
    ops[r.op] = (ops[r.op] ?? 0) + 1;
    keys.set(`${r.op} ${r.key}`, (keys.get(`${r.op} ${r.key}`) ?? 0) + 1);
  }
  const rate = s.load.phases[0]?.rate ?? 0;
  return {
    share: (op: Operation) => (ops[op] ?? 0) / n,
    rateOf: (op: Operation, key?: string) =>
      key === undefined ? ((ops[op] ?? 0) / n) * rate : ((keys.get(`${op} ${key}`) ?? 0) / n) * rate,
    distinct: (op: Operation) => [...keys.keys()].filter((k) => k.startsWith(`${op} `)).length,
  };
}

/** Connections no-cache keeps busy: every read goes to the DB and pays its server-side cost. */
function noCacheConnections(s: Scenario): number {
  const m = sample(s, 20_000);
  return (
    (m.rateOf('read-team-report') * (s.data.reportCostMs + 1)) / 1000 +
    (m.rateOf('read-user') * (s.data.userReadCostMs + 0.5)) / 1000 +
    (m.rateOf('update-user') * 1) / 1000 +
    (m.rateOf('read-team-members') * 1) / 1000
  );
}

describe('catalog design', () => {
  const names = [
    'steady-read',
    'hot-key',
    'mass-expiry',
    'write-race',
    'redis-latency',
    'redis-outage',
    'redis-blackhole',
    'db-slow',
    'cold-start',
    'counter-outage',
    'counter-restart',
    'deploy-restart',
    'leaderboard',
    'leaderboard-zset',
    'delete-race',
    'endpoint-ttls',
    'cluster-correctness',
  ];

  // 16 s of load + ~2.5 s of per-cell setup: 6 strategies × 4 scenarios in about 7.5 minutes.
  it('every scenario: moderate rates, standard 16 s, quick ≤ 7 s, no-cache within the DB pool', () => {
    for (const name of names) {
      const s = loadScenario(name);
      for (const p of s.load.phases) expect(p.rate, name).toBeGreaterThanOrEqual(200);
      for (const p of s.load.phases) expect(p.rate, name).toBeLessThanOrEqual(800);
      expect(totalDurationMs(s.load)).toBe(16_000);
      expect(totalDurationMs(applyProfile(s, 'quick').load)).toBeLessThanOrEqual(7000);
      expect(noCacheConnections(s), name).toBeLessThan(PG_POOL * 0.8);
    }
  });

  it('hot-key: one report key takes > 100 req/s while its rebuild costs 35 ms → a stampede of several under cache-aside', () => {
    const s = loadScenario('hot-key');
    const m = sample(s);
    const hot = m.rateOf('read-team-report', 'team:1');
    expect(hot).toBeGreaterThan(100);
    const stampede = (hot * s.data.reportCostMs) / 1000;
    expect(stampede).toBeGreaterThan(3);
    const ttl = Number(s.cache.ttlMs);
    expect(ttl).toBeLessThanOrEqual(3000);
    // The hot entry expires several times in the standard profile, and at least once in quick.
    expect(totalDurationMs(s.load) / ttl).toBeGreaterThanOrEqual(5);
    expect(totalDurationMs(applyProfile(s, 'quick').load) / ttl).toBeGreaterThanOrEqual(1.5);
  });

  it('mass-expiry: uniform keys, every key read several times per TTL, so all expire while in use', () => {
    const s = loadScenario('mass-expiry');
    expect(s.keys.type).toBe('uniform');
    expect(s.start).toBe('warm');
    const m = sample(s);
    const perKeyPerTtl = (m.rateOf('read-user') / s.data.users) * (Number(s.cache.ttlMs) / 1000);
    expect(perKeyPerTtl).toBeGreaterThan(1);
    expect(m.distinct('read-user')).toBe(s.data.users);
    // The first mass expiry happens inside even the quick run.
    expect(Number(s.cache.ttlMs)).toBeLessThan(totalDurationMs(applyProfile(s, 'quick').load));
  });

  it('write-race: writes meet a slow (≥ 10 ms) miss in flight, and a raced entry usually outlives its TTL', () => {
    const s = loadScenario('write-race');
    const m = sample(s);
    const ttlS = Number(s.cache.ttlMs) / 1000;
    expect(s.data.userReadCostMs).toBeGreaterThanOrEqual(10);
    expect(m.distinct('update-user')).toBeLessThanOrEqual(50);
    const writesPerUser = m.rateOf('update-user') / s.data.users;
    const readsPerUser = m.rateOf('read-user') / s.data.users;
    // A miss (one per TTL per user, plus one after each write) is in flight when a write lands.
    const raceChance = (1 / ttlS + writesPerUser) * (s.data.userReadCostMs / 1000);
    expect(raceChance).toBeGreaterThan(0.05);
    // The stale value survives its whole TTL (no later write deletes it) most of the time...
    expect(Math.exp(-writesPerUser * ttlS)).toBeGreaterThan(0.4);
    // ...and is read several times while it lives, so the history sees it.
    expect(readsPerUser * ttlS).toBeGreaterThan(3);
  });

  it('fault scenarios: the fault sits mid-run with time before and after to measure recovery', () => {
    const expected: Record<string, { proxy: string; kind: string }> = {
      'redis-latency': { proxy: 'redis', kind: 'latency' },
      'redis-outage': { proxy: 'redis', kind: 'down' },
      'redis-blackhole': { proxy: 'redis', kind: 'timeout' },
      'db-slow': { proxy: 'postgres', kind: 'latency' },
      'counter-outage': { proxy: 'redis', kind: 'down' },
    };
    for (const [name, e] of Object.entries(expected)) {
      const s = loadScenario(name);
      expect(s.faults.length, name).toBe(1);
      const f = s.faults[0]!;
      expect([f.proxy, f.down ? 'down' : f.toxic?.type]).toEqual([e.proxy, e.kind]);
      const total = totalDurationMs(s.load);
      expect(f.at).toBeGreaterThanOrEqual(4000);
      expect(total - (f.at + f.for)).toBeGreaterThanOrEqual(5000);
      if (name === 'redis-blackhole') expect(f.toxic?.attributes.timeout).toBe(0);
    }
    expect(loadScenario('redis-outage').faults[0]?.for).toBe(7000);
  });

  it('deploy-restart flushes a warm cache mid-run; the leaderboards differ only in storage, with concurrent writers on one board', () => {
    const d = loadScenario('deploy-restart');
    expect(d.start).toBe('warm');
    expect(d.faults.map((f) => f.process)).toEqual(['redis-flushall']);
    expect(d.faults[0]!.at).toBeGreaterThanOrEqual(4000);
    const blob = loadScenario('leaderboard');
    const zset = loadScenario('leaderboard-zset');
    expect([blob.leaderboard?.storage, zset.leaderboard?.storage]).toEqual(['blob', 'zset']);
    expect({ ...blob, name: '', question: '', description: '', leaderboard: undefined }).toEqual({
      ...zset,
      name: '',
      question: '',
      description: '',
      leaderboard: undefined,
    });
    const m = sample(blob);
    expect(m.share('leaderboard-score')).toBeGreaterThan(0.6);
    expect(m.distinct('leaderboard-score')).toBe(1); // one board: every writer contends
    expect(m.rateOf('leaderboard-score')).toBeGreaterThan(200);
  });

  it('counter-outage and cold-start exercise what they name', () => {
    const c = sample(loadScenario('counter-outage'));
    expect(c.share('incr-counter')).toBeGreaterThan(0.5);
    const cold = loadScenario('cold-start');
    expect(cold.start).toBe('cold');
    expect(cold.load.phases[0]?.rate).toBeGreaterThanOrEqual(600);
  });
});
