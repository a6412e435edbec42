import { describe, expect, it } from 'vitest';
import { checkBudgets } from '../harness/analysis/budgets.ts';
import { analyzeCellRecords } from '../harness/analysis/index.ts';
import { synthCell } from './fixtures/synthetic.ts';

describe('budget checks', () => {
  it('pass iff value <= limit; the message names metric, value and budget', () => {
    const { cell, history } = synthCell({
      scenario: 'hot-key',
      strategy: 'cache-aside',
      budgets: { p99Ms: 1, errorRate: 0 },
    });
    const a = analyzeCellRecords(cell, history);
    const [p99, err] = checkBudgets(cell, a);
    expect(p99).toMatchObject({ budget: 'p99Ms', limit: 1, value: a.latency.p99, passed: false });
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
});
