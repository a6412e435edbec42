import { describe, expect, it } from 'vitest';
import type { ScenarioAnalysis, StrategyRow } from '../harness/analysis/types.ts';
import { columnsFor, relativeColumn } from '../reports/common.ts';

const row = (
  strategy: string,
  metrics: Record<string, number | null>,
  relative: Record<string, number | null>,
): StrategyRow => ({ strategy, repeats: 1, trusted: true, metrics, relative });

const scenario = (rows: StrategyRow[]): ScenarioAnalysis => ({
  scenario: 'hot-key',
  question: 'q',
  baselineStrategy: 'no-cache',
  rows,
  focus: ['rebuildsPerExpiry', 'maxConcurrentRebuilds', 'p99'],
  verdict: '',
});

describe('relative-to-baseline column', () => {
  it('skips focus metrics the baseline has no value for (no-cache has no rebuilds)', () => {
    const s = scenario([
      row('no-cache', { rebuildsPerExpiry: null, maxConcurrentRebuilds: null, p99: 42 }, { p99: 1 }),
      row(
        'lock',
        { rebuildsPerExpiry: 1, maxConcurrentRebuilds: 1, p99: 38 },
        { rebuildsPerExpiry: null, maxConcurrentRebuilds: null, p99: 38 / 42 },
      ),
    ]);
    expect(relativeColumn(s, columnsFor(s))).toBe('p99');
  });

  it('keeps the first focus metric when it has ratios', () => {
    const s = scenario([
      row('no-cache', { rebuildsPerExpiry: 4, p99: 42 }, { rebuildsPerExpiry: 1, p99: 1 }),
      row('lock', { rebuildsPerExpiry: 1, p99: 38 }, { rebuildsPerExpiry: 0.25, p99: 38 / 42 }),
    ]);
    expect(relativeColumn(s, columnsFor(s))).toBe('rebuildsPerExpiry');
  });
});
