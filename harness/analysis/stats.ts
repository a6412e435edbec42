/** Small numeric helpers shared by the analysis modules. Percentiles are exact (nearest rank). */
import type { Percentiles } from './types.ts';

/** Nearest-rank percentile of an ascending-sorted array; null when empty. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1] ?? null;
}

export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 0.5),
    p95: percentileSorted(sorted, 0.95),
    p99: percentileSorted(sorted, 0.99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? null) : null,
  };
}

export function median(values: readonly number[]): number | null {
  return percentileSorted(Float64Array.from(values).sort(), 0.5);
}

export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

export function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

export function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

/** Growable Float64 buffer: staleness can collect a million ages without boxing. */
export class FloatList {
  buf = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Sum of a per-second series over [from, to) (epoch ms), weighting partly covered seconds by
 * their overlap, so a window that starts mid-second is not rounded to whole seconds.
 */
export function seriesSumOver(values: readonly number[], t0: number, from: number, to: number): number {
  if (to <= from) return 0;
  const first = Math.max(0, Math.floor((from - t0) / 1000));
  const last = Math.min(values.length - 1, Math.ceil((to - t0) / 1000) - 1);
  let s = 0;
  for (let i = first; i <= last; i++) {
    const bStart = t0 + i * 1000;
    const overlap = Math.min(to, bStart + 1000) - Math.max(from, bStart);
    if (overlap > 0) s += (values[i] ?? 0) * (overlap / 1000);
  }
  return s;
}

/** Seconds of series coverage inside [from, to). */
export function seriesCoverageMs(length: number, t0: number, from: number, to: number): number {
  const a = Math.max(from, t0);
  const b = Math.min(to, t0 + length * 1000);
  return Math.max(0, b - a);
}
