/** Time to 90% hit ratio (docs/measurements.md): from the load start, or from the first fault. */
import { describe, expect, it } from 'vitest';
import { secondsToHitRatio } from '../harness/analysis/cache-health.ts';
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
