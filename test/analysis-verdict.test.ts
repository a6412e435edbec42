import { describe, expect, it } from 'vitest';
import { poissonExact, wilson } from '../harness/analysis/intervals.ts';
import type { StrategyRow } from '../harness/analysis/types.ts';
import type { Estimate } from '../harness/analysis/uncertainty.ts';
import { primaryMetrics, verdict, worseThan } from '../harness/analysis/verdict.ts';

const est = (value: number, lo: number, hi: number): Estimate => ({ value, lo, hi, basis: 'test' });
const prop = (x: number, n: number): Estimate => ({ value: x / n, ...wilson(x, n)!, basis: 'test' });
const cnt = (x: number): Estimate => ({ value: x, ...poissonExact(x), basis: 'test' });

const row = (strategy: string, m: Record<string, Estimate | null>, trusted = true): StrategyRow => ({
  strategy,
  repeats: 1,
  trusted,
  metrics: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v ? v.value : null])),
  relative: {},
  intervals: m,
});

describe('verdict: significance and minimum effect', () => {
  it('names overlapping strategies as no significant difference, with the range', () => {
    const rows = [
      row('jitter', { p99: est(38.7, 37.5, 39.9) }),
      row('write-through', { p99: est(38.5, 37.3, 39.7) }),
      row('cache-aside', { p99: est(38.6, 37.4, 39.8) }),
    ];
    const v = verdict(rows, ['p99']);
    expect(v.text).toMatch(
      /^No significant difference in p99 latency among write-through, cache-aside, jitter: 38\.5 ms to 38\.7 ms/,
    );
    expect(v.claims).toEqual([
      {
        metric: 'p99',
        kind: 'no-difference',
        strategies: ['write-through', 'cache-aside', 'jitter'],
        than: [],
      },
    ]);
  });

  it('does not rank a separated difference below the minimum effect', () => {
    // 10.0 vs 10.5 ms: intervals apart, but under the 1 ms / 10 % minimum effect for latencies.
    expect(worseThan('p99', est(10, 9.9, 10.1), est(10.5, 10.4, 10.6))).toBe(false);
    expect(worseThan('p99', est(10, 9.9, 10.1), est(13, 12.9, 13.1))).toBe(true);
    // A large effect with overlapping intervals is not significant.
    expect(worseThan('p99', est(10, 5, 20), est(15, 12, 25))).toBe(false);
  });

  it('ranks the significant ones and names who is worse', () => {
    const rows = [
      row('no-cache', { dbPeak: cnt(501) }),
      row('cache-aside', { dbPeak: cnt(102) }),
      row('jitter', { dbPeak: cnt(59) }),
      row('lock', { dbPeak: cnt(62) }),
    ];
    const v = verdict(rows, ['dbPeak'], 'no-cache');
    expect(v.text).toMatch(
      /^Best peak DB queries\/s: jitter, lock \(59\/s to 62\/s\); significantly worse: cache-aside/,
    );
    expect(v.text).toMatch(/Not ranked: no-cache \(the reference\)\.$/);
    expect(v.claims[0]).toEqual({
      metric: 'dbPeak',
      kind: 'best',
      strategies: ['jitter', 'lock'],
      than: ['cache-aside'],
    });
  });

  it('leaves untrusted rows out and says so', () => {
    const rows = [
      row('a', { p99: est(5, 4.8, 5.2) }),
      row('b', { p99: est(20, 19, 21) }),
      row('c', { p99: est(1, 0.9, 1.1) }, false),
    ];
    const v = verdict(rows, ['p99']);
    expect(v.text).toMatch(/^Best p99 latency: a /);
    expect(v.text).toMatch(/Not ranked \(untrusted numbers\): c\.$/);
  });

  it('does not rank latency of a row that ran on a busy machine, but still ranks its counts', () => {
    const busy = {
      ...row('b', { p99: est(20, 19, 21), hitRatio: prop(500, 1000) }),
      latencyTrusted: false,
    };
    const rows = [row('a', { p99: est(5, 4.8, 5.2), hitRatio: prop(900, 1000) }), busy];
    const v = verdict(rows, ['p99', 'hitRatio']);
    expect(v.claims.map((c) => c.metric)).toEqual(['hitRatio']);
    expect(v.text).toMatch(/not ranked: p99 latency \(b\) — other processes were busy on the machine/);
    expect(v.text).toMatch(/^Best hit ratio: a /);
  });
});

describe('verdict: correctness first', () => {
  // write-race as measured: a module that never invalidates has 19 % stale reads and none beyond the TTL.
  const rows = [
    row('cache-aside', { staleReadRatio: prop(36, 2000), staleBeyondTtl: cnt(2) }),
    row('lease', { staleReadRatio: prop(30, 2000), staleBeyondTtl: cnt(0) }),
    row('never-invalidates', { staleReadRatio: prop(380, 2000), staleBeyondTtl: cnt(0) }),
  ];
  const primary = primaryMetrics('write-race', false);

  it('never names a strategy materially worse on a primary metric best on another', () => {
    const v = verdict(rows, ['staleBeyondTtl', 'staleReadRatio', 'staleAgeP99'], undefined, primary);
    expect(v.text).toMatch(/^Best stale reads: lease, cache-aside .*significantly worse: never-invalidates/);
    const beyond = v.claims.find((c) => c.metric === 'staleBeyondTtl')!;
    expect(beyond.strategies).not.toContain('never-invalidates');
    expect(v.text).not.toMatch(/best stale beyond TTL: never-invalidates/);
  });

  it('a scenario file can declare its own primary metrics; unknown ids are ignored', () => {
    expect(primaryMetrics('mine', false, ['hitRatio', 'nope'])).toEqual(['hitRatio']);
    expect(primaryMetrics('mine', false)).toEqual(['errorRate', 'staleReadRatio', 'staleBeyondTtl']);
    expect(primaryMetrics('write-race', false)).toContain('staleReadRatio');
  });

  it('adds the low-power note only when something could not be separated', () => {
    const same = [row('a', { p99: est(5, 4, 6) }), row('b', { p99: est(5.2, 4, 6) })];
    expect(verdict(same, ['p99'], undefined, [], { lowPower: 'Quick profile.' }).text).toMatch(
      /Quick profile\.$/,
    );
    const apart = [row('a', { p99: est(5, 4.9, 5.1) }), row('b', { p99: est(50, 49, 51) })];
    expect(verdict(apart, ['p99'], undefined, [], { lowPower: 'Quick profile.' }).text).not.toMatch(/Quick/);
  });
});
