/** The recovery moment at 100 ms from the request history (pure logic, synthetic histories). */
import { describe, expect, it } from 'vitest';
import { fineRecoveryAt, type WindowHistory } from '../harness/analysis/fail-open.ts';

/** Requests every 10 ms over [from, to); latency and error from the callbacks. */
function requestsOver(
  from: number,
  to: number,
  lat: (t: number) => number,
  err: (t: number) => boolean = () => false,
) {
  const s: number[] = [];
  const l: number[] = [];
  const e: number[] = [];
  for (let t = from; t < to; t += 10) {
    s.push(t);
    l.push(lat(t));
    e.push(err(t) ? 1 : 0);
  }
  return { scheduled: Float64Array.from(s), latency: Float64Array.from(l), error: Float64Array.from(e) };
}

const before = Float64Array.from({ length: 200 }, () => 1);

describe('fineRecoveryAt', () => {
  it('places the moment at the first 100 ms step from which latency is back', () => {
    // Slow (20 ms) until 10 430, then 1 ms again; the series said "back from the second at 11 000".
    const h: WindowHistory = {
      before,
      beforeErrors: 0,
      after: requestsOver(10_000, 13_000, (t) => (t < 10_430 ? 20 : 1)),
    };
    expect(fineRecoveryAt(11_000, 10_000, h)).toBe(10_500);
  });

  it('an error after the latency is back delays it past the error', () => {
    const h: WindowHistory = {
      before,
      beforeErrors: 0,
      after: requestsOver(
        10_000,
        13_000,
        (t) => (t < 10_430 ? 20 : 1),
        (t) => t === 10_750,
      ),
    };
    expect(fineRecoveryAt(11_000, 10_000, h)).toBe(10_800);
  });

  it('never before the window ended, and the whole second when nothing earlier qualifies', () => {
    const fast: WindowHistory = { before, beforeErrors: 0, after: requestsOver(10_250, 13_000, () => 1) };
    expect(fineRecoveryAt(11_000, 10_250, fast)).toBe(10_250);
    const slow: WindowHistory = {
      before,
      beforeErrors: 0,
      after: requestsOver(10_000, 13_000, (t) => (t < 10_995 ? 20 : 1)),
    };
    expect(fineRecoveryAt(11_000, 10_000, slow)).toBe(11_000);
  });
});
