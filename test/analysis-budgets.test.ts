import { describe, expect, it } from 'vitest';
import { budgetMetric, checkBudgets } from '../harness/analysis/budgets.ts';
import { analyzeCellRecords } from '../harness/analysis/index.ts';
import { cellMetrics } from '../harness/analysis/metrics.ts';
import { parseScenarioYaml } from '../scenarios/load.ts';
import { synthCell } from './fixtures/synthetic.ts';

describe('budget checks', () => {
  it('pass iff value <= limit; the message names metric, value and budget', () => {
    const { cell, history } = synthCell({
      scenario: 'hot-key',
      strategy: 'cache-aside',
      budgets: { p99: 1, errorRate: 0 },
    });
    const a = analyzeCellRecords(cell, history);
    const [p99, err] = checkBudgets(cell, a);
    expect(p99).toMatchObject({ budget: 'p99', limit: 1, value: a.latency.p99, passed: false });
    expect(p99!.message).toMatch(/^p99 latency \(ms, from schedule\): \d+\.\d ms > budget 1\.0 ms$/);
    expect(err).toMatchObject({ budget: 'errorRate', value: 0, passed: true });
  });

  it('an unmeasurable value fails, except where the budget does not apply', () => {
    const { cell, history } = synthCell({
      scenario: 'redis-outage',
      strategy: 'no-cache',
      seconds: 8, // the fault ends at 7 s: too little time left to confirm recovery
      faults: [{ atS: 3, forS: 4, proxy: 'redis', down: true }],
      budgets: { recoverySeconds: 5, rebuildsPerExpiry: 1.5, staleBeyondTtl: 0 },
    });
    const a = analyzeCellRecords(cell, history);
    const byName = Object.fromEntries(checkBudgets(cell, a).map((b) => [b.budget, b]));
    expect(byName.recoverySeconds).toMatchObject({ value: null, passed: false });
    expect(byName.recoverySeconds!.message).toContain('did not recover before the load ended');
    expect(byName.rebuildsPerExpiry).toMatchObject({ value: null, passed: true }); // no-cache: no rebuilds
    expect(byName.staleBeyondTtl).toMatchObject({ value: 0, passed: true });
    // Without the history, staleness is not measured: the budget fails instead of passing silently.
    const noHist = { ...a, staleness: null };
    expect(checkBudgets(cell, noHist).find((b) => b.budget === 'staleBeyondTtl')).toMatchObject({
      value: null,
      passed: false,
    });
  });

  it('reads every value from cellMetrics, so a budget and the tables agree (lost increments computed once)', () => {
    const { cell, history } = synthCell({
      scenario: 'counter-outage',
      strategy: 'write-behind',
      counters: true,
      faults: [{ atS: 3, forS: 4, proxy: 'redis', down: true }],
      budgets: { lostIncrements: 0, faultReadErrors: 0, queriesPerRequest: 5, recoverySeconds: 30 },
    });
    const a = analyzeCellRecords(cell, history);
    const m = cellMetrics(a);
    const byName = Object.fromEntries(checkBudgets(cell, a).map((b) => [b.budget, b]));
    expect(m.lostIncrements).toBeGreaterThan(0);
    expect(byName.lostIncrements).toMatchObject({ value: m.lostIncrements, passed: false });
    expect(byName.faultReadErrors).toMatchObject({ value: m.faultReadErrors });
    expect(byName.queriesPerRequest).toMatchObject({ value: m.queriesPerRequest, passed: true });
    expect(byName.recoverySeconds!.value).toBe(m.recoverySeconds);
  });

  it('keeps the budget keys of older files as aliases of the metric ids', () => {
    expect(budgetMetric('p99Ms')).toBe('p99');
    expect(budgetMetric('dbQueriesPerRequest')).toBe('queriesPerRequest');
    expect(budgetMetric('readErrorsDuringFaults')).toBe('faultReadErrors');
    expect(budgetMetric('p99')).toBe('p99');
    expect(budgetMetric('nonsense')).toBeUndefined();
    // A results.json written before the rename carries the old keys in scenario_spec: still checked,
    // under the key the file used, with the same verdict as the metric id would give.
    const { cell, history } = synthCell({ scenario: 'steady-read', strategy: 'no-cache', budgets: {} });
    const a = analyzeCellRecords(cell, history);
    const old = structuredClone(cell);
    (old.scenario_spec.budgets as Record<string, number>) = { p99Ms: 1, dbQueriesPerRequest: 0.01 };
    const now = structuredClone(cell);
    now.scenario_spec.budgets = { p99: 1, queriesPerRequest: 0.01 };
    const strip = (b: { budget: string }) => ({ ...b, budget: '' });
    const oldChecks = checkBudgets(old, a);
    expect(oldChecks.map((b) => b.budget)).toEqual(['p99Ms', 'dbQueriesPerRequest']);
    expect(oldChecks.map(strip)).toEqual(checkBudgets(now, a).map(strip));
    expect(oldChecks.every((b) => !b.passed)).toBe(true);
  });

  it('a scenario file may use the old keys; loading renames them, and both names at once is an error', () => {
    const base = `name: t\nquestion: q?\nload: {phases: [{duration: 1s, rate: 10}]}\nkeys: {type: uniform}\nmix: {read-user: 1}\n`;
    const s = parseScenarioYaml(
      `${base}budgets: {p99Ms: 80, readErrorsDuringFaults: 0, errorRate: 0}\n`,
      't.yaml',
    );
    expect(s.budgets).toEqual({ p99: 80, faultReadErrors: 0, errorRate: 0 });
    expect(() => parseScenarioYaml(`${base}budgets: {p99Ms: 80, p99: 90}\n`, 't.yaml')).toThrow(
      /budgets\.(p99Ms|p99).*another name for p99; give only one of them/,
    );
    expect(() => parseScenarioYaml(`${base}budgets: {p99Millis: 80}\n`, 't.yaml')).toThrow(
      /unknown field; allowed: p99, /,
    );
  });
});
