import { describe, expect, it } from 'vitest';
import type { LoadShape, Scenario } from '../scenarios/types.ts';
import {
  arrivalOffsets,
  createKeyPicker,
  createRequestGenerator,
  createRng,
  parseResponse,
  totalDurationMs,
} from '../scenarios/workload.ts';

function scenario(over: Partial<Scenario> = {}): Scenario {
  return {
    name: 't',
    question: 'q?',
    description: '',
    load: { phases: [{ duration: 1000, rate: 100 }], arrivals: 'constant', maxInFlight: 10 },
    keys: { type: 'uniform' },
    mix: { 'read-user': 1 },
    data: { users: 100, teams: 10, counters: 5, reportCostMs: 0, userReadCostMs: 0 },
    cache: {},
    start: 'warm',
    faults: [],
    budgets: {},
    ...over,
  };
}

describe('createRng', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const sa = Array.from({ length: 100 }, a);
    const sb = Array.from({ length: 100 }, b);
    const sc = Array.from({ length: 100 }, c);
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    for (const v of sa) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });

  it('is roughly uniform (mean and decile counts)', () => {
    const rng = createRng(7);
    const n = 200_000;
    const bins = new Array(10).fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = rng();
      sum += v;
      bins[Math.floor(v * 10)]++;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    for (const b of bins) expect(Math.abs(b - n / 10) / (n / 10)).toBeLessThan(0.03);
  });
});

describe('createKeyPicker', () => {
  it('uniform covers 1..n evenly', () => {
    const pick = createKeyPicker({ type: 'uniform' }, 20, createRng(1));
    const counts = new Array(21).fill(0);
    for (let i = 0; i < 100_000; i++) counts[pick()]++;
    expect(counts[0]).toBe(0);
    for (let k = 1; k <= 20; k++) expect(Math.abs(counts[k] - 5000) / 5000).toBeLessThan(0.06);
  });

  it('zipf rank frequencies match 1/k^s / H(n,s)', () => {
    for (const s of [0.8, 1.1, 1.3]) {
      const n = 1000;
      const draws = 300_000;
      const pick = createKeyPicker({ type: 'zipf', exponent: s }, n, createRng(99));
      const counts = new Array(n + 1).fill(0);
      let outOfRange = 0;
      for (let i = 0; i < draws; i++) {
        const id = pick();
        if (id < 1 || id > n) outOfRange++;
        else counts[id]++;
      }
      expect(outOfRange).toBe(0);
      let h = 0;
      for (let k = 1; k <= n; k++) h += 1 / k ** s;
      // Each of the top ranks within 5 standard errors of its theoretical count.
      for (const k of [1, 2, 3, 5, 10, 50]) {
        const p = 1 / k ** s / h;
        const expected = draws * p;
        const se = Math.sqrt(draws * p * (1 - p));
        expect(Math.abs(counts[k] - expected)).toBeLessThan(5 * se);
      }
      // Aggregate check over the whole tail: chi-square over 20 log-spaced rank buckets.
      const edges = [1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256, 362, 512, 724, 1001];
      let chi = 0;
      for (let i = 0; i + 1 < edges.length; i++) {
        let obs = 0;
        let p = 0;
        for (let k = edges[i] as number; k < (edges[i + 1] as number); k++) {
          obs += counts[k];
          p += 1 / k ** s / h;
        }
        chi += (obs - draws * p) ** 2 / (draws * p);
      }
      // 18 degrees of freedom: P(chi2 > 42.3) = 0.001.
      expect(chi).toBeLessThan(42.3);
    }
  });

  it('zipf picks are O(log n): a million-key picker is fast', () => {
    const pick = createKeyPicker({ type: 'zipf', exponent: 1.1 }, 1_000_000, createRng(3));
    const t = performance.now();
    let x = 0;
    for (let i = 0; i < 200_000; i++) x += pick();
    expect(x).toBeGreaterThan(0);
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('hot-set sends hotFraction (plus its uniform share) to the hot ids', () => {
    const n = 1000;
    const pick = createKeyPicker({ type: 'hot-set', hotKeys: 10, hotFraction: 0.9 }, n, createRng(5));
    let hot = 0;
    const draws = 100_000;
    for (let i = 0; i < draws; i++) if (pick() <= 10) hot++;
    const expected = 0.9 + 0.1 * (10 / n);
    expect(Math.abs(hot / draws - expected)).toBeLessThan(0.005);
  });

  it('rejects an empty key space', () => {
    expect(() => createKeyPicker({ type: 'uniform' }, 0, createRng(1))).toThrow(/>= 1/);
  });
});

describe('createRequestGenerator', () => {
  it('is deterministic per seed and follows the mix', () => {
    const s = scenario({ mix: { 'read-user': 3, 'update-user': 1, 'incr-counter': 1 } });
    const g1 = createRequestGenerator(s, 11);
    const g2 = createRequestGenerator(s, 11);
    const a = Array.from({ length: 500 }, g1);
    const b = Array.from({ length: 500 }, g2);
    expect(a).toEqual(b);
    const g = createRequestGenerator(s, 12);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) {
      const r = g();
      counts[r.op] = (counts[r.op] ?? 0) + 1;
    }
    expect((counts['read-user'] ?? 0) / 50_000).toBeCloseTo(0.6, 1);
    expect((counts['update-user'] ?? 0) / 50_000).toBeCloseTo(0.2, 1);
    expect((counts['incr-counter'] ?? 0) / 50_000).toBeCloseTo(0.2, 1);
  });

  it('builds the API contract paths, bodies and keys', () => {
    const ops = [
      'read-user',
      'update-user',
      'read-team-members',
      'read-team-report',
      'incr-counter',
      'read-counter',
    ] as const;
    for (const op of ops) {
      const r = createRequestGenerator(scenario({ mix: { [op]: 1 } }), 1)();
      expect(r.op).toBe(op);
      const id = Number(r.key.split(':')[1]);
      expect(id).toBeGreaterThanOrEqual(1);
      switch (op) {
        case 'read-user':
          expect([r.method, r.path, r.kind, r.key]).toEqual(['GET', `/users/${id}`, 'read', `user:${id}`]);
          expect(id).toBeLessThanOrEqual(100);
          break;
        case 'update-user':
          expect([r.method, r.path, r.kind]).toEqual(['PUT', `/users/${id}`, 'write']);
          expect(JSON.parse(r.body ?? '')).toHaveProperty('name');
          break;
        case 'read-team-members':
          expect([r.method, r.path, r.key]).toEqual(['GET', `/teams/${id}/members`, `team:${id}`]);
          expect(id).toBeLessThanOrEqual(10);
          break;
        case 'read-team-report':
          expect([r.method, r.path]).toEqual(['GET', `/teams/${id}/report`]);
          break;
        case 'incr-counter':
          expect([r.method, r.path, r.kind, r.key, r.value]).toEqual([
            'POST',
            `/counters/${id}/incr`,
            'incr',
            `counter:${id}`,
            1,
          ]);
          expect(JSON.parse(r.body ?? '')).toEqual({ by: 1 });
          expect(id).toBeLessThanOrEqual(5);
          break;
        case 'read-counter':
          expect([r.method, r.path, r.kind]).toEqual(['GET', `/counters/${id}`, 'read']);
          break;
      }
    }
  });

  it('rejects a mix with no positive weight', () => {
    expect(() => createRequestGenerator(scenario({ mix: { 'read-user': 0 } }), 1)).toThrow(/mix/);
  });
});

function collect(load: LoadShape, seed = 1): number[] {
  return [...arrivalOffsets(load, createRng(seed))];
}

describe('arrivalOffsets', () => {
  it('constant: exact count, even spacing, increasing, inside the load', () => {
    const load: LoadShape = {
      phases: [{ duration: 10_000, rate: 300 }],
      arrivals: 'constant',
      maxInFlight: 1,
    };
    const t = collect(load);
    expect(t.length).toBe(3000);
    expect(t[0]).toBe(0);
    for (let i = 1; i < t.length; i++)
      expect((t[i] as number) - (t[i - 1] as number)).toBeCloseTo(1000 / 300, 6);
    expect(t[t.length - 1]).toBeLessThan(totalDurationMs(load));
  });

  it('multi-phase constant: counts per phase', () => {
    const load: LoadShape = {
      phases: [
        { duration: 2000, rate: 100 },
        { duration: 3000, rate: 500 },
        { duration: 1000, rate: 0 },
        { duration: 1000, rate: 50 },
      ],
      arrivals: 'constant',
      maxInFlight: 1,
    };
    const t = collect(load);
    expect(totalDurationMs(load)).toBe(7000);
    expect(t.filter((x) => x < 2000).length).toBe(200);
    expect(t.filter((x) => x >= 2000 && x < 5000).length).toBe(1500);
    expect(t.filter((x) => x >= 5000 && x < 6000).length).toBe(0);
    expect(t.filter((x) => x >= 6000).length).toBe(50);
  });

  it('ramping: total = area under the ramp, rate rises linearly', () => {
    const load: LoadShape = {
      phases: [{ duration: 10_000, rate: 100, to: 500 }],
      arrivals: 'constant',
      maxInFlight: 1,
    };
    const t = collect(load);
    expect(Math.abs(t.length - 3000)).toBeLessThanOrEqual(1);
    // Second i carries ≈ 100 + 40·(i + 0.5) arrivals.
    for (let s = 0; s < 10; s++) {
      const n = t.filter((x) => x >= s * 1000 && x < (s + 1) * 1000).length;
      expect(Math.abs(n - (100 + 40 * (s + 0.5)))).toBeLessThanOrEqual(1);
    }
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThan(t[i - 1] as number);
  });

  it('ramping down to zero and up from zero', () => {
    const down = collect({
      phases: [{ duration: 4000, rate: 200, to: 0 }],
      arrivals: 'constant',
      maxInFlight: 1,
    });
    expect(Math.abs(down.length - 400)).toBeLessThanOrEqual(1);
    const up = collect({
      phases: [{ duration: 4000, rate: 0, to: 200 }],
      arrivals: 'constant',
      maxInFlight: 1,
    });
    expect(Math.abs(up.length - 400)).toBeLessThanOrEqual(1);
    expect(up.filter((x) => x < 2000).length).toBeCloseTo(100, -1);
  });

  it('poisson: count within 4 sigma, exponential gaps, deterministic per seed', () => {
    const load: LoadShape = {
      phases: [{ duration: 20_000, rate: 500 }],
      arrivals: 'poisson',
      maxInFlight: 1,
    };
    const t = collect(load, 8);
    expect(collect(load, 8)).toEqual(t);
    expect(Math.abs(t.length - 10_000)).toBeLessThan(4 * Math.sqrt(10_000));
    const gaps = t.slice(1).map((x, i) => x - (t[i] as number));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(mean).toBeCloseTo(2, 1);
    // Exponential: P(gap > mean) = e^-1.
    const over = gaps.filter((g) => g > 2).length / gaps.length;
    expect(Math.abs(over - Math.exp(-1))).toBeLessThan(0.02);
    for (const x of t) expect(x).toBeLessThan(20_000);
  });
});

describe('parseResponse', () => {
  it('extracts versions from reads and writes', () => {
    expect(parseResponse('read-user', 200, { user: { id: 1 }, versions: { 'user:1': 4 } })).toEqual({
      versions: { 'user:1': 4 },
    });
    expect(
      parseResponse('read-team-members', 200, { team: {}, versions: { 'user:1': 2, 'user:2': 3, bad: 'x' } }),
    ).toEqual({ versions: { 'user:1': 2, 'user:2': 3 } });
  });

  it('reads the counter value and ignores errors and junk', () => {
    expect(parseResponse('read-counter', 200, { value: 17, pending: 2 })).toEqual({ value: 17 });
    expect(parseResponse('incr-counter', 200, { value: 17, pending: 2 })).toEqual({});
    expect(parseResponse('read-user', 503, { versions: { 'user:1': 1 } })).toEqual({});
    expect(parseResponse('read-user', 200, 'nope')).toEqual({});
    expect(parseResponse('read-user', 200, null)).toEqual({});
  });
});
