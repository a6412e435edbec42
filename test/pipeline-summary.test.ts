/** The end-of-run summary and the exit code it sets (pure, on a synthetic run). */
import { describe, expect, it } from 'vitest';
import { EXIT_BUDGET_FAILED, EXIT_CELL_FAILED, runSummary } from '../harness/pipeline/summary.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

describe('runSummary', () => {
  const make = () =>
    synthRun({
      scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'redis-outage'].includes(s.name)),
      strategies: ['cache-aside', 'lock', 'cache-aside-fail-closed'],
      seconds: 16,
      historyRate: 40,
    }).results;
  const opts = { reports: ['/r/report.html', '/r/report.md'], resultsFile: '/r/results.json' };

  it('prints the verdict, failed budgets with values, the report and exits 3 on failed budgets', () => {
    const s = runSummary(make(), { ...opts, failOnBudgets: true });
    expect(s.text).toMatch(/^hot-key: Best rebuilds \/ expiry: lock, cache-aside-fail-closed \(1\)/m);
    expect(s.text).toMatch(
      / {2}✘ budget rebuildsPerExpiry — cache-aside: mean rebuilds per expiry of the hot key: \d/,
    );
    expect(s.text).toMatch(
      / {2}✘ budget faultReadErrors — cache-aside-fail-closed: read errors inside fault windows: \d+ > budget/,
    );
    expect(s.text).toMatch(/^report: {2}\/r\/report\.html \(also \/r\/report\.md\)$/m);
    expect(s.exitCode).toBe(EXIT_BUDGET_FAILED);
    expect(s.text).toMatch(/→ exit 3: budgets failed \(--no-fail-on-budgets reports without failing\)\n$/);
  });

  it('reports budgets without failing for the default comparison / --no-fail-on-budgets', () => {
    const s = runSummary(make(), {
      ...opts,
      failOnBudgets: false,
      budgetsNote: 'the default comparison: budgets are findings',
    });
    expect(s.exitCode).toBe(0);
    expect(s.text).toMatch(/✘ budget/);
    expect(s.text).toMatch(
      /→ exit 0: budgets reported, not failed \(the default comparison: budgets are findings\)/,
    );
  });

  it('a failed or untrusted cell exits 1 and is named, whatever the budget setting', () => {
    const r = make();
    r.warnings.push('hot-key__lock__r2 failed: target did not start');
    const s = runSummary(r, { ...opts, failOnBudgets: false });
    expect(s.exitCode).toBe(EXIT_CELL_FAILED);
    expect(s.text).toMatch(/^✘ failed hot-key__lock__r2: target did not start$/m);
    const u = make();
    const cell = u.cells[0]!;
    (cell.analysis as { validity: { trusted: boolean; flags: unknown[] } }).validity = {
      trusted: false,
      flags: [
        { code: 'rate-short', severity: 'error', message: 'achieved 80% of the requested rate', hint: 'x' },
      ],
    };
    const su = runSummary(u, { ...opts, failOnBudgets: true });
    expect(su.exitCode).toBe(EXIT_CELL_FAILED);
    expect(su.text).toMatch(new RegExp(`⚠ untrusted ${cell.id}: achieved 80% of the requested rate`));
  });
});
