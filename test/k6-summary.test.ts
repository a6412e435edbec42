/**
 * handleSummary (scenarios/k6/entry.ts → summaryOutputs): k6's end-of-test summary is kept as JSON
 * at the path the driver gives, with a one-line pointer on stdout that names failed thresholds.
 * A pure function of k6's summary data; k6 itself is never installed here.
 */
import { describe, expect, it } from 'vitest';
import { K6_SUMMARY_FILE, type K6SummaryData, summaryOutputs } from '../scenarios/k6/summary.ts';

const data: K6SummaryData = {
  root_group: { name: '', checks: [] },
  options: { summaryTrendStats: ['avg', 'p(99)'] },
  state: { isStdOutTTY: false, testRunDurationMs: 12_345 },
  metrics: {
    http_reqs: { type: 'counter', contains: 'default', values: { count: 1200, rate: 100 } },
    cachebench_req: {
      type: 'trend',
      contains: 'time',
      values: { avg: 3.2, 'p(99)': 41 },
      thresholds: { 'p(99)<50': { ok: true } },
    },
    cachebench_errors: {
      type: 'rate',
      contains: 'default',
      values: { rate: 0.02 },
      thresholds: { 'rate<0.01': { ok: false } },
    },
  },
};

describe('k6 handleSummary', () => {
  it("writes k6's summary data, unchanged, to the given path", () => {
    const out = summaryOutputs(data, '/runs/x/cells/hot-key/lock/1/k6-summary.json');
    expect(Object.keys(out).sort()).toEqual(['/runs/x/cells/hot-key/lock/1/k6-summary.json', 'stdout']);
    expect(JSON.parse(out['/runs/x/cells/hot-key/lock/1/k6-summary.json']!)).toEqual(data);
  });

  it('names failed thresholds and the duration on stdout', () => {
    const out = summaryOutputs(data, '/tmp/s.json');
    expect(out.stdout).toBe(
      'k6 summary: /tmp/s.json (12.3 s); thresholds failed: cachebench_errors: rate<0.01\n',
    );
    const passing = structuredClone(data);
    passing.metrics.cachebench_errors!.thresholds = { 'rate<0.01': { ok: true } };
    expect(summaryOutputs(passing, '/tmp/s.json').stdout).toBe('k6 summary: /tmp/s.json (12.3 s)\n');
  });

  it('by hand (no CACHEBENCH_K6_SUMMARY): k6-summary.json in the working directory', () => {
    expect(Object.keys(summaryOutputs(data, undefined))).toContain(K6_SUMMARY_FILE);
    expect(Object.keys(summaryOutputs(data, ''))).toContain(K6_SUMMARY_FILE);
  });
});
