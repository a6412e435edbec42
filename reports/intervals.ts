/**
 * The 95 % interval shown under each comparison value (harness/analysis/uncertainty.ts). Kept in
 * its own module so the table renderers only call it: `value [lo, hi]`.
 */
import { formatMetric, type MetricId } from '../harness/analysis/metrics.ts';
import type { StrategyRow } from '../harness/analysis/types.ts';
import { escapeHtml } from './common.ts';

export const INTERVAL_NOTE =
  '[lo, hi] under a value is its 95% interval: from the units inside the cell (reads, requests, expiry episodes, seconds) and the spread between repeats; the verdict ranks two strategies only when their intervals are apart and the difference exceeds the minimum effect (docs/measurements.md, "Uncertainty").';

export function intervalText(id: MetricId, r: StrategyRow): string {
  const est = r.intervals?.[id];
  if (!est || r.metrics[id] === null || r.metrics[id] === undefined) return '';
  return `[${formatMetric(id, est.lo)}, ${formatMetric(id, est.hi)}]`;
}

/** "≥ " when the value is a lower bound: a right-censored interval (open to ∞). */
function atLeast(id: MetricId, r: StrategyRow): string {
  return r.intervals?.[id]?.hi === Number.POSITIVE_INFINITY ? '≥ ' : '';
}

/** Markdown cell: "1.81% [1.40%, 2.30%]". */
export function mdValue(id: MetricId, r: StrategyRow): string {
  const ci = intervalText(id, r);
  return `${atLeast(id, r)}${formatMetric(id, r.metrics[id])}${ci ? ` ${ci}` : ''}`;
}

/** HTML cell content: the value, then the interval on its own small line. */
export function htmlValue(id: MetricId, r: StrategyRow): string {
  const ci = intervalText(id, r);
  return `${escapeHtml(atLeast(id, r) + formatMetric(id, r.metrics[id]))}${ci ? `<span class="ci">${escapeHtml(ci)}</span>` : ''}`;
}
