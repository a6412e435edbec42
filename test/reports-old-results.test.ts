/**
 * A results.json written by cachebench before the results contract was typed and budgets were
 * keyed by metric id (a real quick hot-key × cache-aside run, history file not kept). It must
 * still load and render: the stored cell analysis is used, the old budget keys are checked under
 * the names the file used.
 */
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeResults } from '../harness/analysis/index.ts';
import { cellMetrics } from '../harness/analysis/metrics.ts';
import { readResults } from '../harness/pipeline/results-store.ts';
import { writeReports } from '../reports/index.ts';

const FIXTURE = new URL('./fixtures/results-v1-before-metric-budgets.json', import.meta.url);

describe('an older results.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-old-'));
  copyFileSync(FIXTURE, join(dir, 'results.json'));
  const { results } = readResults(dir);
  const cell = results.cells[0]!;

  it('uses the stored analysis and checks the old budget keys as aliases of the metric ids', () => {
    expect(Object.keys(cell.scenario_spec.budgets)).toEqual(['p99Ms', 'errorRate', 'rebuildsPerExpiry']);
    const analysis = analyzeResults(results);
    expect(analysis.cell(cell)).toBe(cell.analysis);
    expect(analysis.run.warnings).toEqual([]);
    const m = cellMetrics(cell.analysis!);
    const byKey = Object.fromEntries(analysis.run.budgets.map((b) => [b.budget, b]));
    expect(byKey.p99Ms).toMatchObject({ value: m.p99, limit: 100, passed: m.p99! <= 100 });
    expect(byKey.p99Ms!.message).toMatch(
      /^p99 latency \(ms, from schedule\): \d+\.\d ms <= budget 100\.0 ms$/,
    );
    expect(byKey.rebuildsPerExpiry).toMatchObject({ value: m.rebuildsPerExpiry, passed: false });
    expect(analysis.run.budgetsFailed).toBe(1);
  });

  it('renders every format', async () => {
    const files = await writeReports(dir, results);
    expect(files).toHaveLength(4);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<td class="l mono">p99Ms</td>');
    expect(html).toContain('hot-key');
    // One scenario: the stampede timeline, six per-second charts and latency by operation.
    expect(html.match(/<svg[\s>]/g)).toHaveLength(8);
    expect(html).toContain('Stampede timeline');
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('budgets: **2/3 passed**');
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toContain('tests="3" failures="1"');
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.cells[0].metrics.rebuildsPerExpiry).toBe(cell.analysis!.stampede.rebuildsPerExpiry);
  });
});
