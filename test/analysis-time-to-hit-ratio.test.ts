/** Time to 90% hit ratio (docs/measurements.md): from the load start, or from the first fault. */
import { describe, expect, it } from 'vitest';
import { analyzeCacheHealth, secondsToHitRatio, timeToHitRatio } from '../harness/analysis/cache-health.ts';
import { combineEstimate } from '../harness/analysis/uncertainty.ts';
import { formatEstimate, worseThan } from '../harness/analysis/verdict.ts';
import { synthCell } from './fixtures/synthetic.ts';

function cellWith(hitRatio: (number | null)[], faultAt?: number) {
  const { cell } = synthCell({ scenario: 'cold-start', strategy: 'cache-aside', seconds: hitRatio.length });
  cell.series.hitRatio = hitRatio;
  cell.faults = [];
  if (faultAt !== undefined)
    cell.faults.push({
      spec: { at: 0, for: 1000, process: 'redis-flushall' },
      plannedAt: 0,
      plannedFor: 1000,
      appliedAt: cell.series.t0 + faultAt,
      removedAt: cell.series.t0 + faultAt + 1000,
      ok: true,
    });
  return cell;
}

describe('secondsToHitRatio', () => {
  it('cold start: the end of the first second from which the level holds 3 s, counted from the load start', () => {
    expect(secondsToHitRatio(cellWith([0.2, 0.7, 0.89, 0.93, 0.95, 0.91]), 0.9)).toBe(4);
    expect(secondsToHitRatio(cellWith([0.95, 0.96, 0.97, 0.5]), 0.9)).toBe(1);
  });

  it('a lone good second does not count; never held (or held only at the very end): null', () => {
    expect(secondsToHitRatio(cellWith([0.5, 1, 0.6, 0.92, 0.93, 0.94]), 0.9)).toBe(4);
    expect(secondsToHitRatio(cellWith([0.1, 0.5, 0.8, 0.85]), 0.9)).toBeNull();
    expect(secondsToHitRatio(cellWith([0.5, 0.6, 0.95, 0.95]), 0.9)).toBeNull();
    expect(secondsToHitRatio(cellWith([null, 0.95, 0.95, 0.95]), 0.9)).toBe(2);
  });

  it('with a fault: counted from its apply, from the first whole second after it', () => {
    // Flushed at 5.4 s: second 5 still mostly warm (not counted), second 6 at 40%, 7 on at ≥ 92%.
    const c = cellWith([0.97, 0.97, 0.97, 0.97, 0.97, 0.95, 0.4, 0.92, 0.97, 0.96], 5400);
    expect(secondsToHitRatio(c, 0.9)).toBeCloseTo(2.6, 6);
  });
});

describe('timeToHitRatio: never reached is right-censored, not missing', () => {
  it('the value is a lower bound: the end of the first bucket whose hold would reach past the load', () => {
    // 6 buckets, never 3 good in a row: a run could still start at bucket 4 (holding 4, 5, 6…).
    expect(timeToHitRatio(cellWith([0.1, 0.5, 0.8, 0.85, 0.95, 0.95]), 0.9)).toEqual({
      seconds: 5,
      censored: true,
    });
    // From a fault at 2.5 s: first countable bucket 3; bound = end of bucket 4 − 2.5 s.
    expect(timeToHitRatio(cellWith([1, 1, 1, 0.2, 0.3, 0.4], 2500), 0.9)).toEqual({
      seconds: 2.5,
      censored: true,
    });
    expect(timeToHitRatio(cellWith([0.2, 0.7, 0.89, 0.93, 0.95, 0.91]), 0.9)).toEqual({
      seconds: 4,
      censored: false,
    });
  });

  it('the cache-health analysis carries the bound and the flag; the metric shows it as "≥"', () => {
    const c = cellWith([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    const h = analyzeCacheHealth(c);
    expect(h.secondsTo90HitRatio).toBe(7);
    expect(h.secondsTo90HitRatioCensored).toBe(true);
  });
});

describe('a censored time in the uncertainty the verdicts use', () => {
  it('any censored repeat opens the interval to ∞; observed repeats reach one step down', () => {
    const one = combineEstimate([7], [{ kind: 'at-least', step: 1 }])!;
    expect([one.value, one.lo, one.hi]).toEqual([7, 7, Number.POSITIVE_INFINITY]);
    expect(formatEstimate('timeTo90HitRatio', one)).toBe('≥ 7.0 s [7.0 s, ∞]');
    const mixed = combineEstimate(
      [3, 7],
      [
        { kind: 'resolution', step: 1 },
        { kind: 'at-least', step: 1 },
      ],
    )!;
    expect([mixed.value, mixed.lo, mixed.hi]).toEqual([5, 2, Number.POSITIVE_INFINITY]);
    // Reached in 2 s (± 1) against never within 7 s: apart, so a verdict can rank them.
    const fast = combineEstimate([2], [{ kind: 'resolution', step: 1 }])!;
    expect(worseThan('timeTo90HitRatio', fast, one)).toBe(true);
    expect(worseThan('timeTo90HitRatio', one, fast)).toBe(false);
  });
});
