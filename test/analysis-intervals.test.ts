import { describe, expect, it } from 'vitest';
import {
  binomialSf,
  meanInterval,
  medianInterval,
  normalSf,
  poissonExact,
  poissonRateGreater,
  repeatsForAlpha,
  smallestMannWhitneyP,
  twoProportionGreater,
  wilson,
} from '../harness/analysis/intervals.ts';
import { combineEstimate } from '../harness/analysis/uncertainty.ts';
import { mannWhitneyGreater } from '../harness/gate/stats.ts';

describe('intervals against published values', () => {
  it('Wilson score interval', () => {
    const w = wilson(5, 100)!;
    expect(w.lo).toBeCloseTo(0.0215, 4);
    expect(w.hi).toBeCloseTo(0.1118, 4);
    const z = wilson(0, 50)!;
    expect(z.lo).toBe(0);
    expect(z.hi).toBeCloseTo(0.0713, 4);
    expect(wilson(0, 0)).toBeNull();
  });

  it('exact Poisson interval (Garwood)', () => {
    const zero = poissonExact(0);
    expect(zero.lo).toBe(0);
    expect(zero.hi).toBeCloseTo(3.689, 3);
    const ten = poissonExact(10);
    expect(ten.lo).toBeCloseTo(4.795, 3);
    expect(ten.hi).toBeCloseTo(18.39, 2);
    const one = poissonExact(1);
    expect(one.lo).toBeCloseTo(0.0253, 4);
    expect(one.hi).toBeCloseTo(5.572, 3);
  });

  it('Student t interval of repeats', () => {
    const m = meanInterval([10, 12, 14])!;
    expect(m.mean).toBe(12);
    expect(m.sd).toBeCloseTo(2, 10);
    expect(m.hi - m.mean).toBeCloseTo((4.303 * 2) / Math.sqrt(3), 3);
    expect(meanInterval([1])).toBeNull();
  });

  it('normal tail, binomial tail', () => {
    expect(normalSf(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalSf(0)).toBeCloseTo(0.5, 6);
    expect(binomialSf(9, 10, 0.5)).toBeCloseTo(11 / 1024, 10);
  });

  it('two-proportion and Poisson rate tests', () => {
    // 1.8 % → 19 % stale reads over 2000 reads each: overwhelming.
    expect(twoProportionGreater(36, 2000, 380, 2000)).toBeLessThan(1e-9);
    // The same proportion is not evidence.
    expect(twoProportionGreater(36, 2000, 36, 2000)).toBeCloseTo(0.5, 6);
    // 0.08 → 0.11 DB queries per request over 20 000 requests each.
    expect(poissonRateGreater(1600, 20000, 2200, 20000)).toBeLessThan(1e-6);
    // Equal rates: conditional binomial upper tail ≈ 0.5+.
    expect(poissonRateGreater(10, 1, 10, 1)).toBeCloseTo(binomialSf(10, 20, 0.5), 12);
    expect(poissonRateGreater(0, 1, 0, 1)).toBe(1);
  });

  it('exact Mann–Whitney: smallest p and the repeats an alpha needs', () => {
    expect(smallestMannWhitneyP(3, 3)).toBeCloseTo(0.05, 12);
    expect(smallestMannWhitneyP(4, 4)).toBeCloseTo(1 / 70, 12);
    expect(smallestMannWhitneyP(5, 5)).toBeCloseTo(1 / 252, 12);
    expect(repeatsForAlpha(0.05)).toBe(3);
    expect(repeatsForAlpha(0.01)).toBe(5);
    // Published table (Mann–Whitney, m = n = 4): P(U >= 15) = 2/70, P(U >= 14) = 4/70.
    expect(mannWhitneyGreater([1, 2, 3, 5], [4, 6, 7, 8]).pValue).toBeCloseTo(2 / 70, 12);
    expect(mannWhitneyGreater([10, 11, 12], [30, 31, 32]).pValue).toBeCloseTo(0.05, 12);
  });
});

describe('median interval (order statistics)', () => {
  it('uses the published ranks: n = 6 → [min, max], 10 → 2nd/9th, 20 → 6th/15th', () => {
    const seq = (n: number) => Array.from({ length: n }, (_, i) => n - i); // unsorted on purpose
    expect(medianInterval(seq(5))).toBeNull();
    const six = medianInterval(seq(6))!;
    expect([six.lo, six.hi, six.median]).toEqual([1, 6, 3.5]);
    expect(six.coverage).toBeCloseTo(1 - 2 / 64, 10);
    const ten = medianInterval(seq(10))!;
    expect([ten.lo, ten.hi]).toEqual([2, 9]);
    expect(ten.coverage).toBeCloseTo(0.9785, 4);
    const twenty = medianInterval(seq(20))!;
    expect([twenty.lo, twenty.hi, twenty.median]).toEqual([6, 15, 10.5]);
    expect(twenty.coverage).toBeCloseTo(0.9586, 4);
  });

  it('is not moved by outliers beyond its ranks', () => {
    const base = [0.88, 0.9, 0.91, 0.89, 0.92, 0.87, 0.9, 0.93, 0.86, 0.9];
    const wild = [...base.slice(0, 8), 0.2, 3];
    expect(medianInterval(wild)!.median).toBeCloseTo(0.9, 10);
    expect(medianInterval(wild)!.lo).toBe(0.87);
    expect(medianInterval(wild)!.hi).toBe(0.93);
  });
});

describe('combineEstimate', () => {
  it('pools proportions over repeats with Wilson', () => {
    const e = combineEstimate(
      [0.05, 0.05],
      [
        { kind: 'proportion', x: 5, n: 100 },
        { kind: 'proportion', x: 5, n: 100 },
      ],
    )!;
    const w = wilson(10, 200)!;
    expect(e.lo).toBeCloseTo(w.lo, 12);
    expect(e.hi).toBeCloseTo(w.hi, 12);
  });

  it('rebuilds per expiry: 1 + Poisson on the extra rebuilds over episodes', () => {
    const e = combineEstimate([2], [{ kind: 'rate', x: 10, exposure: 10, offset: 1 }])!;
    expect(e.lo).toBeCloseTo(1 + 0.4795, 3);
    expect(e.hi).toBeCloseTo(1 + 1.839, 3);
  });

  it('latency of one cell: spread of per-second values; of repeats: t interval', () => {
    const one = combineEstimate([10], [{ kind: 'samples', values: [9, 10, 11] }])!;
    expect(one.hi - 10).toBeCloseTo((4.303 * 1) / Math.sqrt(3), 3);
    const rep = combineEstimate([10, 12, 14], [undefined, undefined, undefined])!;
    expect(rep.basis).toMatch(/3 repeats/);
    expect(combineEstimate([5], [undefined])).toBeNull();
  });

  it('widens pooled counts to the spread between repeats when that is larger', () => {
    const e = combineEstimate(
      [0.01, 0.2, 0.01],
      [
        { kind: 'proportion', x: 10, n: 1000 },
        { kind: 'proportion', x: 200, n: 1000 },
        { kind: 'proportion', x: 10, n: 1000 },
      ],
    )!;
    expect(e.hi).toBeGreaterThan(wilson(220, 3000)!.hi);
  });
});

describe('units that are seconds', () => {
  it('ratio estimator: equal per-second ratios give a zero-width interval; bursts widen it', async () => {
    const { ratioInterval } = await import('../harness/analysis/uncertainty.ts');
    const even = ratioInterval([10, 10, 10, 10], [100, 100, 100, 100])!;
    expect(even.lo).toBeCloseTo(0.1, 12);
    expect(even.hi).toBeCloseTo(0.1, 12);
    // The same 40 queries in one burst second: same ratio, much wider interval.
    const burst = ratioInterval([40, 0, 0, 0], [100, 100, 100, 100])!;
    expect((burst.lo + burst.hi) / 2).toBeCloseTo(0.1, 12);
    // residuals 30, -10, -10, -10: se = sqrt(4/3 · 1200) / 400 = 0.1; half = 3.182 · 0.1
    expect(burst.hi - 0.1).toBeCloseTo(0.3182, 4);
  });

  it('two windows: ratio of means with a delta-method interval; none with fewer than 2 seconds', async () => {
    const { twoWindowInterval } = await import('../harness/analysis/uncertainty.ts');
    const r = twoWindowInterval([200, 200], [100, 100])!;
    expect(r.lo).toBeCloseTo(2, 12);
    expect(r.hi).toBeCloseTo(2, 12);
    expect(twoWindowInterval([200], [100, 100])).toBeNull();
  });

  it('one repeat of a latency is shown but not ranked', () => {
    const e = combineEstimate([10], [{ kind: 'samples', values: [9, 10, 11] }])!;
    expect(e.ranked).toBe(false);
  });
});

describe('Student t tail', () => {
  it('matches the 97.5 % quantile table', async () => {
    const { tSf, logGamma } = await import('../harness/analysis/intervals.ts');
    expect(tSf(12.706, 1)).toBeCloseTo(0.025, 4);
    expect(tSf(2.776, 4)).toBeCloseTo(0.025, 4);
    expect(tSf(2.042, 30)).toBeCloseTo(0.025, 4);
    expect(tSf(0, 3)).toBeCloseTo(0.5, 10);
    expect(tSf(-2.776, 4)).toBeCloseTo(0.975, 4);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 10);
  });
});
