/**
 * Compares a current run against a baseline, metric by metric, with the rules of rules.ts.
 * Pure: no I/O, so the decision logic is unit-tested on hand-made baselines.
 */
import { formatMetric, METRICS, type MetricId } from '../analysis/metrics.ts';
import type { Baseline } from './baseline.ts';
import type { CountRule, LatencyRule, Rule } from './rules.ts';
import { mannWhitneyGreater, median } from './stats.ts';

export type RowStatus = 'pass' | 'regression' | 'skipped';

export interface GateRow {
  scenario: string;
  strategy: string;
  metric: MetricId;
  label: string;
  rule: string;
  baseline: string;
  current: string;
  status: RowStatus;
  reason: string;
}

export interface GateVerdict {
  pass: boolean;
  rows: GateRow[];
  regressions: GateRow[];
  warnings: string[];
}

const nums = (xs: (number | null)[] | undefined) =>
  (xs ?? []).filter((x): x is number => x !== null && Number.isFinite(x));

function describeRule(r: Rule): string {
  return r.kind === 'count'
    ? `count: ≤ baseline × ${1 + r.maxIncrease} + ${r.slack}`
    : `latency: Mann–Whitney p < ${r.alpha} and ≥ ${Math.round(r.minEffect * 100)}% worse (≥ ${r.minRepeats} repeats)`;
}

function countRow(r: CountRule, base: number[], cur: number[]): Pick<GateRow, 'status' | 'reason'> {
  const b = median(base);
  const c = median(cur);
  const better = METRICS[r.metric].better;
  // "Lower is better" metrics regress upwards; "higher is better" ones downwards.
  const limit = better === 'lower' ? b * (1 + r.maxIncrease) + r.slack : b * (1 - r.maxIncrease) - r.slack;
  const bad = better === 'lower' ? c > limit : c < limit;
  const fmt = (v: number) => formatMetric(r.metric, v);
  return bad
    ? {
        status: 'regression',
        reason: `${METRICS[r.metric].label} ${fmt(c)} ${better === 'lower' ? '>' : '<'} limit ${fmt(limit)} (baseline ${fmt(b)})`,
      }
    : { status: 'pass', reason: `${fmt(c)} within limit ${fmt(limit)}` };
}

function latencyRow(r: LatencyRule, base: number[], cur: number[]): Pick<GateRow, 'status' | 'reason'> {
  if (base.length < r.minRepeats || cur.length < r.minRepeats) {
    return {
      status: 'skipped',
      reason: `needs ≥ ${r.minRepeats} repeats a side (have ${base.length} and ${cur.length}); run with --repeats ${r.minRepeats}`,
    };
  }
  const b = median(base);
  const c = median(cur);
  const effect = b > 0 ? c / b - 1 : 0;
  const t = mannWhitneyGreater(base, cur);
  const confidence = `${((1 - t.pValue) * 100).toFixed(1)}% confidence (p=${t.pValue.toFixed(3)}${t.exact ? ', exact' : ''})`;
  if (t.pValue < r.alpha && effect >= r.minEffect) {
    return {
      status: 'regression',
      reason: `median ${formatMetric(r.metric, c)} vs ${formatMetric(r.metric, b)} (+${(effect * 100).toFixed(0)}%), slower with ${confidence}`,
    };
  }
  return {
    status: 'pass',
    reason: `median ${formatMetric(r.metric, c)} vs ${formatMetric(r.metric, b)} (${effect >= 0 ? '+' : ''}${(effect * 100).toFixed(0)}%); ${t.pValue < r.alpha ? `below the ${Math.round(r.minEffect * 100)}% minimum effect` : `not significant, ${confidence}`}`,
  };
}

export function compareBaselines(baseline: Baseline, current: Baseline, rules: Rule[]): GateVerdict {
  const rows: GateRow[] = [];
  const warnings: string[] = [];
  if (baseline.source.profile !== current.source.profile) {
    warnings.push(
      `profiles differ: baseline ${baseline.source.profile}, current ${current.source.profile} — counts may not be comparable`,
    );
  }
  if (baseline.source.instances !== current.source.instances) {
    warnings.push(
      `instance counts differ: baseline ${baseline.source.instances}, current ${current.source.instances}`,
    );
  }
  for (const [key, cur] of Object.entries(current.groups)) {
    const base = baseline.groups[key];
    if (!base) {
      warnings.push(`${key}: not in the baseline (not gated)`);
      continue;
    }
    if (cur.untrusted > 0)
      warnings.push(`${key}: ${cur.untrusted} repeat(s) flagged untrusted by the validity checks`);
    for (const rule of rules) {
      const b = nums(base.metrics[rule.metric]);
      const c = nums(cur.metrics[rule.metric]);
      const common = {
        scenario: cur.scenario,
        strategy: cur.strategy,
        metric: rule.metric,
        label: METRICS[rule.metric].label,
        rule: describeRule(rule),
      };
      if (b.length === 0 || c.length === 0) continue; // the metric does not apply to this cell
      const verdict = rule.kind === 'count' ? countRow(rule, b, c) : latencyRow(rule, b, c);
      rows.push({
        ...common,
        baseline: b.map((v) => formatMetric(rule.metric, v)).join(', '),
        current: c.map((v) => formatMetric(rule.metric, v)).join(', '),
        ...verdict,
      });
    }
  }
  for (const key of Object.keys(baseline.groups)) {
    if (!current.groups[key]) warnings.push(`${key}: in the baseline but missing from the current run`);
  }
  const regressions = rows.filter((r) => r.status === 'regression');
  return { pass: regressions.length === 0, rows, regressions, warnings };
}
