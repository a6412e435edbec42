/**
 * HDR histograms of latencies in microseconds (integers keep full resolution below 1 ms), with
 * summaries in milliseconds as results.json wants them.
 */
import { createRequire } from 'node:module';
import type { Int32Histogram, PackedHistogram } from 'hdr-histogram-js';
import type { LatencySummary } from '../results/schema.ts';

// The two pure-JS classes only: the package index also loads the WebAssembly build (an embedded
// base64 module) and the log codecs, about 18 MB of RSS in the load driver's process.
const requireCjs = createRequire(import.meta.url);
const Int32: typeof Int32Histogram = requireCjs('hdr-histogram-js/dist/Int32Histogram.js').default;
const Packed: typeof PackedHistogram = requireCjs('hdr-histogram-js/dist/PackedHistogram.js').default;

export type Histogram = Int32Histogram | PackedHistogram;

/** `packed` suits the many small per-second histograms; 32-bit buckets the few big ones. */
export function createHistogram(kind: 'dense' | 'packed' = 'dense'): Histogram {
  const h = new (kind === 'packed' ? Packed : Int32)(1, 120_000_000, 3);
  h.autoResize = true;
  return h;
}

/** Records a duration given in ms (clamped at 0). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(0, Math.round(ms * 1000)));
}

const round3 = (v: number) => Math.round(v) / 1000;

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    mean: round3(h.mean),
    p50: round3(h.getValueAtPercentile(50)),
    p90: round3(h.getValueAtPercentile(90)),
    p95: round3(h.getValueAtPercentile(95)),
    p99: round3(h.getValueAtPercentile(99)),
    p999: round3(h.getValueAtPercentile(99.9)),
    max: round3(h.maxValue),
  };
}

export function percentileMs(h: Histogram, p: number): number {
  return h.totalCount === 0 ? 0 : round3(h.getValueAtPercentile(p));
}
