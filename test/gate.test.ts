/** The gate's decision logic on hand-made baselines (pure), and the U test against known values. */
import { describe, expect, it } from 'vitest';
import type { Baseline, BaselineGroup } from '../harness/gate/baseline.ts';
import { compareBaselines } from '../harness/gate/compare.ts';
import { loadRules } from '../harness/gate/rules.ts';
import { mannWhitneyGreater } from '../harness/gate/stats.ts';
import { gateJunit, gateMarkdown } from '../reports/gate.ts';

function baseline(groups: Record<string, Partial<BaselineGroup['metrics']>>): Baseline {
  const g: Record<string, BaselineGroup> = {};
  for (const [key, metrics] of Object.entries(groups)) {
    const [scenario, strategy] = key.split('/') as [string, string];
    g[key] = { scenario, strategy, metrics, untrusted: 0 };
  }
  return {
    format: 'cachebench-baseline',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    source: { runId: 'x', profile: 'quick', instances: 1, seed: 1, command: 'test' },
    groups: g,
  };
}

describe('Mann–Whitney U (one-sided)', () => {
  it('exact p for complete separation of 5 vs 5 is 1/252', () => {
    const r = mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
    expect(r.exact).toBe(true);
    expect(r.u).toBe(25);
    expect(r.pValue).toBeCloseTo(1 / 252, 6);
  });
  it('identical samples are not significant', () => {
    expect(mannWhitneyGreater([5, 5, 5], [5, 5, 5]).pValue).toBeGreaterThan(0.4);
  });
  it('b smaller than a gives p near 1', () => {
    expect(mannWhitneyGreater([6, 7, 8, 9], [1, 2, 3, 4]).pValue).toBeGreaterThan(0.95);
  });
});

describe('compareBaselines with the shipped rules', () => {
  const rules = loadRules();

  it('same vs same passes', () => {
    const b = baseline({
      'hot-key/lock': {
        rebuildsPerExpiry: [1, 1.02],
        queriesPerRequest: [0.05, 0.051],
        staleBeyondTtl: [0, 0],
      },
    });
    const v = compareBaselines(b, b, rules);
    expect(v.pass).toBe(true);
    expect(v.rows.filter((r) => r.status === 'pass').length).toBe(3);
  });

  it('a stampede regression fails naming the metric, both values and the rule', () => {
    const b = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [1.0], maxConcurrentRebuilds: [1] } });
    const c = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [6.5], maxConcurrentRebuilds: [9] } });
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(false);
    expect(v.regressions.map((r) => r.metric).sort()).toEqual(['maxConcurrentRebuilds', 'rebuildsPerExpiry']);
    const r = v.regressions.find((x) => x.metric === 'rebuildsPerExpiry')!;
    expect(r.reason).toContain('6.50');
    expect(r.reason).toContain('limit 2.50');
    expect(gateMarkdown(v)).toContain('rebuilds');
    expect(gateJunit(v).match(/<failure /g)).toHaveLength(2);
  });

  it('counts within tolerance pass: noise of a few percent is not a regression', () => {
    const b = baseline({ 's/x': { queriesPerRequest: [0.1, 0.11, 0.1] } });
    const c = baseline({ 's/x': { queriesPerRequest: [0.112, 0.108, 0.115] } });
    expect(compareBaselines(b, c, rules).pass).toBe(true);
  });

  it('stale reads beyond the TTL: a lost race guard fails, a few racy reads do not', () => {
    const b = baseline({ 'write-race/lease': { staleBeyondTtl: [0, 0, 0] } });
    // One odd repeat, or a couple of races, stay within the slack...
    expect(
      compareBaselines(b, baseline({ 'write-race/lease': { staleBeyondTtl: [0, 5, 0] } }), rules).pass,
    ).toBe(true);
    expect(
      compareBaselines(b, baseline({ 'write-race/lease': { staleBeyondTtl: [2, 1, 2] } }), rules).pass,
    ).toBe(true);
    // ...a guard that stopped working (races in every repeat) does not.
    const v = compareBaselines(b, baseline({ 'write-race/lease': { staleBeyondTtl: [8, 6, 9] } }), rules);
    expect(v.pass).toBe(false);
    expect(v.regressions[0]!.metric).toBe('staleBeyondTtl');
  });

  it('latency needs repeats, significance and a minimum effect', () => {
    const b = baseline({ 's/x': { p99: [10, 11, 10.5, 10.2, 10.8] } });
    const slower = baseline({ 's/x': { p99: [15, 16, 15.5, 15.2, 15.8] } });
    const slightly = baseline({ 's/x': { p99: [10.9, 11.5, 11.1, 11.3, 11.6] } });
    const few = baseline({ 's/x': { p99: [30, 31] } });
    expect(compareBaselines(b, slower, rules).pass).toBe(false);
    expect(compareBaselines(b, slightly, rules).pass).toBe(true); // significant but < 25%
    const v = compareBaselines(b, few, rules);
    expect(v.pass).toBe(true);
    expect(v.rows[0]!.status).toBe('skipped');
    expect(v.rows[0]!.reason).toContain('repeats');
  });

  it('higher-is-better metrics regress downwards', () => {
    const r = loadRules().concat([{ metric: 'hitRatio', kind: 'count', maxIncrease: 0.05, slack: 0 }]);
    const b = baseline({ 's/x': { hitRatio: [0.95] } });
    expect(compareBaselines(b, baseline({ 's/x': { hitRatio: [0.7] } }), r).pass).toBe(false);
    expect(compareBaselines(b, baseline({ 's/x': { hitRatio: [0.94] } }), r).pass).toBe(true);
  });
});

describe('gate: correctness, missing metrics, tested counts, reachable latency rule', () => {
  const rules = loadRules();
  type Ev = NonNullable<BaselineGroup['evidence']>;
  function withEvidence(b: Baseline, key: string, evidence: Ev): Baseline {
    b.groups[key]!.evidence = evidence;
    return b;
  }
  const prop = (x: number, n: number) => ({ kind: 'proportion' as const, x, n });
  const rate = (x: number, exposure: number, offset?: number) => ({
    kind: 'rate' as const,
    x,
    exposure,
    offset,
  });

  it('fails the issue case: invalidation removed, lock lost, DB queries 0.08 → 0.11', () => {
    const b = withEvidence(
      baseline({
        'write-race/cache-aside': { staleReadRatio: [0.0181], staleBeyondTtl: [2] },
        'hot-key/lock': { queriesPerRequest: [0.08], rebuildsPerExpiry: [1] },
      }),
      'write-race/cache-aside',
      { staleReadRatio: [prop(36, 2000)], staleBeyondTtl: [rate(2, 1)] },
    );
    b.groups['hot-key/lock']!.evidence = {
      queriesPerRequest: [rate(1600, 20000)],
      rebuildsPerExpiry: [rate(0, 8, 1)],
    };
    const c = withEvidence(
      baseline({
        'write-race/cache-aside': { staleReadRatio: [0.19], staleBeyondTtl: [0] },
        'hot-key/lock': { queriesPerRequest: [0.11], rebuildsPerExpiry: [4] },
      }),
      'write-race/cache-aside',
      { staleReadRatio: [prop(380, 2000)], staleBeyondTtl: [rate(0, 1)] },
    );
    c.groups['hot-key/lock']!.evidence = {
      queriesPerRequest: [rate(2200, 20000)],
      rebuildsPerExpiry: [rate(24, 8, 1)],
    };
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(false);
    expect(v.regressions.map((r) => `${r.scenario}/${r.strategy}/${r.metric}`).sort()).toEqual([
      'hot-key/lock/queriesPerRequest',
      'hot-key/lock/rebuildsPerExpiry',
      'write-race/cache-aside/staleReadRatio',
    ]);
    expect(v.regressions.find((r) => r.metric === 'staleReadRatio')!.reason).toMatch(/significant \(p=/);
  });

  it('a significant change below the minimum effect passes, and so does a large change that is noise', () => {
    const b = withEvidence(baseline({ 's/x': { queriesPerRequest: [0.081] } }), 's/x', {
      queriesPerRequest: [rate(81000, 1e6)],
    });
    const c = withEvidence(baseline({ 's/x': { queriesPerRequest: [0.083] } }), 's/x', {
      queriesPerRequest: [rate(83000, 1e6)],
    });
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(true);
    expect(v.rows[0]!.reason).toMatch(/below the minimum effect/);
    // 2 → 6 stale reads in ten: beyond a 2× limit but within Poisson noise of one cell.
    const b2 = withEvidence(baseline({ 's/x': { staleReadRatio: [0.2] } }), 's/x', {
      staleReadRatio: [prop(2, 10)],
    });
    const c2 = withEvidence(baseline({ 's/x': { staleReadRatio: [0.6] } }), 's/x', {
      staleReadRatio: [prop(6, 10)],
    });
    const v2 = compareBaselines(b2, c2, rules);
    expect(v2.pass).toBe(true);
    expect(v2.rows[0]!.reason).toMatch(/not significant/);
  });

  it('an untrusted repeat on either side is "cannot judge", never a pass, even with no regression', () => {
    const b = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [1, 1] } });
    const c = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [1, 1] } });
    expect(compareBaselines(b, c, rules).pass).toBe(true);
    c.groups['hot-key/lock']!.untrusted = 1;
    const v = compareBaselines(b, c, rules);
    expect(v.regressions).toHaveLength(0);
    expect(v.pass).toBe(false);
    expect(v.unjudged).toEqual([
      'hot-key/lock: cannot judge — 1 of 2 current repeat(s) flagged untrusted by the validity checks (rerun on a quieter machine)',
    ]);
    expect(gateMarkdown(v)).toContain('## cachebench gate: ❌ 1 cannot judge (untrusted)');
    expect(gateJunit(v)).toContain('failures="1"');
    // The pair's wall time, like every other case of that pair (CI test views sum them).
    expect(gateJunit(v, (sc, st) => (sc === 'hot-key' && st === 'lock' ? 12.5 : 0))).toContain(
      'name="hot-key/lock: validity" time="12.500"',
    );
    b.groups['hot-key/lock']!.untrusted = 2;
    c.groups['hot-key/lock']!.untrusted = 0;
    expect(compareBaselines(b, c, rules).unjudged[0]).toContain('2 of 2 baseline repeat(s)');
  });

  it('latency on a busy machine is "cannot judge" only where the rule could have judged it', () => {
    // 3 repeats a side: judgeable; a busy current repeat makes both latency rows cannot-judge.
    const b = baseline({ 's/x': { p99: [10, 11, 12], p50: [1, 1, 1], staleReadRatio: [0.01, 0.01, 0.01] } });
    const c = baseline({ 's/x': { p99: [30, 31, 32], p50: [1, 1, 1], staleReadRatio: [0.01, 0.01, 0.01] } });
    c.groups['s/x']!.latencyUntrusted = 1;
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(false);
    expect(v.regressions).toHaveLength(0); // the tripled p99 is not claimed either
    expect(v.rows.filter((r) => r.metric === 'p99' || r.metric === 'p50').map((r) => r.status)).toEqual([
      'skipped',
      'skipped',
    ]);
    expect(v.unjudged).toEqual([
      's/x: cannot judge latency — other processes were busy on the machine during 1 of 3 current repeat(s) (validity flag machine-busy); latency compares machines, not code',
    ]);
    // One repeat a side: latency could not be judged anyway, so a busy machine changes nothing.
    const b1 = baseline({ 's/x': { p99: [10], staleReadRatio: [0.01] } });
    const c1 = baseline({ 's/x': { p99: [30], staleReadRatio: [0.01] } });
    c1.groups['s/x']!.latencyUntrusted = 1;
    const v1 = compareBaselines(b1, c1, rules);
    expect(v1.pass).toBe(true);
    expect(v1.unjudged).toHaveLength(0);
  });

  it('a metric measured in the baseline and missing now fails as "no longer measured"', () => {
    const b = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [1, 1], staleReadRatio: [0.01, 0.01] } });
    const c = baseline({ 'hot-key/lock': { rebuildsPerExpiry: [null, null] } });
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(false);
    expect(v.regressions.map((r) => r.metric).sort()).toEqual(['rebuildsPerExpiry', 'staleReadRatio']);
    expect(v.regressions[0]!.reason).toMatch(/no longer measured/);
  });

  it('a tripled p99 fails at the recommended 3 repeats (p = 0.05 ≤ alpha)', () => {
    const b = baseline({ 's/x': { p99: [10, 11, 12] } });
    const c = baseline({ 's/x': { p99: [30, 31, 32] } });
    const v = compareBaselines(b, c, rules);
    const row = v.rows.find((r) => r.metric === 'p99')!;
    expect(row.status).toBe('regression');
    expect(row.reason).toMatch(/p=0\.050, exact/);
  });

  it('skips, naming the repeats needed, when the exact test cannot reach alpha', () => {
    const strict = rules.map((r) => (r.kind === 'latency' ? { ...r, alpha: 0.01 } : r));
    const b = baseline({ 's/x': { p99: [10, 11, 12] } });
    const c = baseline({ 's/x': { p99: [30, 31, 32] } });
    const row = compareBaselines(b, c, strict).rows.find((r) => r.metric === 'p99')!;
    expect(row.status).toBe('skipped');
    expect(row.reason).toMatch(/smallest possible p is 0\.050 > alpha 0\.01; run with --repeats 5/);
  });

  it('falls back to the limit alone for a baseline without units, and says so', () => {
    const b = baseline({ 's/x': { staleReadRatio: [0.01] } });
    const c = baseline({ 's/x': { staleReadRatio: [0.2] } });
    const v = compareBaselines(b, c, rules);
    expect(v.pass).toBe(false);
    expect(v.regressions[0]!.reason).toMatch(/limit only/);
  });
});

describe('baseline from a run carries the units the tests use', () => {
  it('same run vs itself passes every rule with a test, and evidence is stored per repeat', async () => {
    const { synthRun, CATALOG_LIKE } = await import('./fixtures/synthetic.ts');
    const { baselineFromResults } = await import('../harness/gate/baseline.ts');
    const { results } = synthRun({
      scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'write-race'].includes(s.name)),
      strategies: ['cache-aside', 'lock'],
      seconds: 8,
      historyRate: 40,
      repeats: 2,
    });
    const b = baselineFromResults(results);
    const g = b.groups['write-race/cache-aside']!;
    expect(g.evidence!.staleReadRatio).toHaveLength(2);
    expect(g.evidence!.staleReadRatio![0]).toMatchObject({ kind: 'proportion' });
    expect(b.groups['hot-key/lock']!.evidence!.queriesPerRequest![0]).toMatchObject({
      kind: 'per-second-ratio',
    });
    const v = compareBaselines(b, b, loadRules());
    expect(v.pass).toBe(true);
    expect(v.rows.some((r) => r.metric === 'staleReadRatio' && /not significant/.test(r.reason))).toBe(true);
  });
});

describe('DB queries per request with seconds as units', () => {
  const rules = loadRules();
  const ps = (num: number[], den: number[]) => ({ kind: 'per-second-ratio' as const, num, den });
  const group = (v: number, e: ReturnType<typeof ps>) => {
    const b = baseline({ 'hot-key/lock': { queriesPerRequest: [v] } });
    b.groups['hot-key/lock']!.evidence = { queriesPerRequest: [e] };
    return b;
  };

  it('a steady rise is a regression; the same total in one burst second is noise', () => {
    const base = group(0.08, ps([32, 32, 32, 32, 32], [400, 400, 400, 400, 400]));
    const steady = group(0.11, ps([44, 44, 45, 43, 44], [400, 400, 400, 400, 400]));
    const v = compareBaselines(base, steady, rules);
    expect(v.regressions.map((r) => r.metric)).toEqual(['queriesPerRequest']);
    expect(v.regressions[0]!.reason).toMatch(/significant \(p=.*5 vs 5 seconds\)/);
    const burst = group(0.11, ps([140, 20, 20, 20, 20], [400, 400, 400, 400, 400]));
    const w = compareBaselines(base, burst, rules);
    expect(w.pass).toBe(true);
    expect(w.rows[0]!.reason).toMatch(/not significant/);
  });
});
