import { describe, expect, it } from 'vitest';
import type { StrategyRow } from '../harness/analysis/types.ts';
import { verdict } from '../harness/analysis/verdict.ts';

const row = (strategy: string, metrics: Record<string, number | null>, trusted = true): StrategyRow => ({
  strategy,
  repeats: 1,
  trusted,
  metrics,
  relative: {},
});

describe('verdict', () => {
  const rows = [
    row('no-cache', { dbPeak: 501, p99: 10.6 }),
    row('cache-aside', { dbPeak: 102, p99: 8.0 }),
    row('jitter', { dbPeak: 59, p99: 7.9 }),
  ];

  it('contrasts cache strategies with each other, not with the no-cache reference', () => {
    const v = verdict(rows, ['dbPeak', 'p99'], 'no-cache');
    expect(v).toMatch(/^Jitter keeps peak DB queries\/s at 59\/s where cache-aside reaches 102\/s/);
    expect(v).toMatch(
      /; best p99 latency: jitter \(7\.90 ms; worst 8\.00 ms\)\. Not ranked: no-cache \(the reference\)\.$/,
    );
    expect(v).not.toMatch(/501/);
  });

  it('ranks the reference when fewer than two other strategies remain', () => {
    const v = verdict(rows.slice(0, 2), ['dbPeak'], 'no-cache');
    expect(v).toMatch(/^Cache-aside keeps peak DB queries\/s at 102\/s where no-cache reaches 501\/s\.$/);
  });

  it('says "keep … at" when every ranked strategy has the same value', () => {
    const same = [
      row('no-cache', { faultErrorRate: 0 }),
      row('a', { faultErrorRate: 0 }),
      row('b', { faultErrorRate: 0 }),
    ];
    expect(verdict(same, ['faultErrorRate'], 'no-cache')).toMatch(
      /^All 2 ranked strategies keep .* at 0\.00%\./,
    );
    expect(verdict(same, ['faultErrorRate'])).toMatch(/^All strategies keep .* at 0\.00%\.$/);
  });
});

describe('verdict: secondary metrics', () => {
  it('states a secondary metric that is the same for everyone instead of dropping it', () => {
    const rows = [
      row('a', { faultErrorRate: 0, recoverySeconds: 1 }),
      row('b', { faultErrorRate: 0.5, recoverySeconds: 1 }),
    ];
    expect(verdict(rows, ['faultErrorRate', 'recoverySeconds'])).toMatch(/; recovery 1\.0 s for all\.$/);
  });

  it('names who a secondary metric applies to when only some strategies have it', () => {
    const rows = [
      row('a', { faultErrorRate: 0, flushWritesPerBufferedIncrement: null }),
      row('write-behind', { faultErrorRate: 0.5, flushWritesPerBufferedIncrement: 0.05 }),
    ];
    expect(verdict(rows, ['faultErrorRate', 'flushWritesPerBufferedIncrement'])).toMatch(
      /; flush writes \/ buffered increment 0\.05 for write-behind\.$/,
    );
  });
});
