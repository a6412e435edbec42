import { describe, expect, it } from 'vitest';
import { analyzeRun } from '../harness/analysis/index.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

describe('analyzeRun', () => {
  const { results } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'redis-outage', 'steady-read'].includes(s.name)),
    strategies: ['no-cache', 'cache-aside', 'lock', 'cache-aside-fail-closed'],
    seconds: 16,
    historyRate: 40,
    repeats: 2,
  });
  const run = analyzeRun(results);

  it('builds one comparison table per scenario with means over repeats and values relative to the baseline', () => {
    expect(run.scenarios.map((s) => s.scenario)).toEqual(['steady-read', 'hot-key', 'redis-outage']);
    const hot = run.scenarios.find((s) => s.scenario === 'hot-key')!;
    expect(hot.baselineStrategy).toBe('cache-aside');
    const ca = hot.rows.find((r) => r.strategy === 'cache-aside')!;
    const lock = hot.rows.find((r) => r.strategy === 'lock')!;
    const nc = hot.rows.find((r) => r.strategy === 'no-cache')!;
    expect(ca.repeats).toBe(2);
    expect(ca.relative.p99).toBe(1);
    expect(lock.metrics.rebuildsPerExpiry).toBe(1);
    expect(lock.relative.rebuildsPerExpiry).toBeCloseTo(1 / ca.metrics.rebuildsPerExpiry!, 9);
    expect(nc.metrics.queriesPerRequest).toBe(1);
    expect(nc.metrics.dbReduction).toBe(0);
    expect(ca.metrics.dbReduction!).toBeGreaterThan(0.8);
  });

  it('answers the question from the numbers', () => {
    const hot = run.scenarios.find((s) => s.scenario === 'hot-key')!;
    expect(hot.question).toBe('How many rebuilds hit the database per expiry of a hot key?');
    expect(hot.focus[0]).toBe('rebuildsPerExpiry');
    // The fixture gives fail-closed single rebuilds too; cache-aside stampedes (3–8 per expiry).
    expect(hot.verdict).toMatch(
      /^Best rebuilds \/ expiry: lock, cache-aside-fail-closed \(1\); significantly worse: cache-aside \(worst cache-aside \d\.\d+ \[/,
    );
    const outage = run.scenarios.find((s) => s.scenario === 'redis-outage')!;
    expect(outage.verdict).toMatch(
      /^Best errors in faults: no-cache, cache-aside, lock \(0\.00%\); significantly worse: cache-aside-fail-closed/,
    );
    // Correctness first: fail-closed fails requests, so it is not ranked on anything else.
    expect(outage.claims!.filter((c) => c.strategies.includes('cache-aside-fail-closed'))).toEqual([]);
    expect(outage.primary).toContain('faultErrorRate');
    const row = outage.rows.find((r) => r.strategy === 'cache-aside')!;
    expect(row.intervals!.faultErrorRate!.lo).toBe(0);
  });

  it('checks budgets per cell: fail-closed breaks the read-error budget, no-cache the DB budget', () => {
    const failed = run.budgets.filter((b) => !b.passed);
    expect(run.budgetsFailed).toBe(failed.length);
    const readErr = run.budgets.filter((b) => b.budget === 'faultReadErrors');
    expect(readErr).toHaveLength(8);
    expect(readErr.filter((b) => !b.passed).map((b) => b.strategy)).toEqual([
      'cache-aside-fail-closed',
      'cache-aside-fail-closed',
    ]);
    const dbq = run.budgets.filter((b) => b.budget === 'queriesPerRequest' && !b.passed);
    expect(dbq.every((b) => b.strategy === 'no-cache')).toBe(true);
    const rpe = run.budgets.filter((b) => b.budget === 'rebuildsPerExpiry');
    expect(rpe.find((b) => b.strategy === 'no-cache')!.passed).toBe(true); // no rebuilds at all
    expect(rpe.filter((b) => b.strategy === 'lock').every((b) => b.passed)).toBe(true);
    for (const b of failed) expect(b.message).toMatch(/budget/);
  });

  it('lists untrusted cells and keeps them out of the verdict ranking', () => {
    const { results: r2 } = synthRun({
      scenarios: CATALOG_LIKE.filter((s) => s.name === 'hot-key'),
      strategies: ['cache-aside', 'lock'],
      seconds: 10,
      saturated: ['lock'],
    });
    const a = analyzeRun(r2);
    expect(a.untrustedCells.map((c) => c.cellId)).toEqual(['hot-key/lock/1']);
    expect(a.scenarios[0]!.verdict).toMatch(/Not ranked \(untrusted numbers\): lock\.$/);
    expect(a.scenarios[0]!.verdict).not.toMatch(/^Lock keeps/);
  });

  it('a cell without stored analysis still gets the history-free figures and a run warning', () => {
    const copy = structuredClone(results);
    delete copy.cells[0]!.analysis;
    const a = analyzeRun(copy);
    expect(a.warnings.some((w) => w.includes('no stored analysis'))).toBe(true);
    expect(a.untrustedCells.some((c) => c.cellId === copy.cells[0]!.id)).toBe(true);
  });
});
