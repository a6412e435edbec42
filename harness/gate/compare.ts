/**
 * Compares a current run against a baseline, metric by metric, with the rules of rules.ts.
 * Pure: no I/O, so the decision logic is unit-tested on hand-made baselines.
 *
 * A metric the baseline measured and the current run no longer measures is a regression: a
 * strategy that stops reporting rebuilds, or a staleness check that stopped running, must not
 * pass by saying nothing.
 */
import {
  poissonRateGreater,
  smallestMannWhitneyP,
  tSf,
  twoProportionGreater,
} from '../analysis/intervals.ts';
import { formatMetric, METRICS, type MetricId } from '../analysis/metrics.ts';
import { type Evidence, ratioSe } from '../analysis/uncertainty.ts';
import type { Baseline, BaselineGroup } from './baseline.ts';
import type { CountRule, LatencyRule, ProportionRule, RateRule, Rule } from './rules.ts';
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
  /**
   * Scenario × strategy pairs with repeats the validity checks rejected, on either side: their
   * figures describe the machine as much as the code, so the gate cannot call them a pass.
   * One line each ("cannot judge …"); a verdict with any is not a pass.
   */
  unjudged: string[];
  warnings: string[];
}

const nums = (xs: (number | null)[] | undefined) =>
  (xs ?? []).filter((x): x is number => x !== null && Number.isFinite(x));

/** Repeats in a group: the longest per-metric value list. */
const repeatsOf = (g: BaselineGroup) => Math.max(0, ...Object.values(g.metrics).map((xs) => xs?.length ?? 0));

const pct = (x: number) => `${Math.round(x * 100)}%`;

function describeRule(r: Rule): string {
  switch (r.kind) {
    case 'count':
      return `count: ≤ baseline × ${1 + r.maxIncrease} + ${r.slack}`;
    case 'proportion':
      return `proportion: two-proportion test p < ${r.alpha} and beyond baseline ${METRICS[r.metric].better === 'lower' ? '×' : '÷'} ${1 + r.maxIncrease} ${METRICS[r.metric].better === 'lower' ? '+' : '−'} ${r.slack}`;
    case 'rate':
      return `rate: exact Poisson rate test p < ${r.alpha} and ≤ baseline × ${1 + r.maxIncrease} + ${r.slack}`;
    case 'latency':
      return `latency: Mann–Whitney p ≤ ${r.alpha} and ≥ ${pct(r.minEffect)} worse (≥ ${r.minRepeats} repeats)`;
  }
}

type Verdict = Pick<GateRow, 'status' | 'reason'>;

/** The minimum-effect limit shared by count, proportion and rate rules (on medians over repeats). */
function limitOf(
  r: CountRule | ProportionRule | RateRule,
  b: number,
): { limit: number; bad: (c: number) => boolean } {
  const lower = METRICS[r.metric].better === 'lower';
  const limit = lower ? b * (1 + r.maxIncrease) + r.slack : b * (1 - r.maxIncrease) - r.slack;
  return { limit, bad: (c) => (lower ? c > limit : c < limit) };
}

function countRow(r: CountRule, base: number[], cur: number[]): Verdict {
  const b = median(base);
  const c = median(cur);
  const { limit, bad } = limitOf(r, b);
  const fmt = (v: number) => formatMetric(r.metric, v);
  const lower = METRICS[r.metric].better === 'lower';
  return bad(c)
    ? {
        status: 'regression',
        reason: `${METRICS[r.metric].label} ${fmt(c)} ${lower ? '>' : '<'} limit ${fmt(limit)} (baseline ${fmt(b)})`,
      }
    : { status: 'pass', reason: `${fmt(c)} within limit ${fmt(limit)}` };
}

type Units = { x: number; n: number };

/** Per-second ratio units pooled over repeats (the seconds of every repeat), or null. */
function perSecond(ev: (Evidence | null)[] | undefined): { r: number; se: number; n: number } | null {
  if (!ev?.length || !ev.every((e) => e === null || e.kind === 'per-second-ratio')) return null;
  const xs = ev.filter((e): e is Extract<Evidence, { kind: 'per-second-ratio' }> => e !== null);
  if (!xs.length) return null;
  return ratioSe(
    xs.flatMap((e) => e.num),
    xs.flatMap((e) => e.den),
  );
}

/** Pooled units over repeats, or null when a repeat lacks them (old baseline, other kind). */
function pooled(ev: (Evidence | null)[] | undefined, kind: 'proportion' | 'rate'): Units | null {
  if (!ev?.length) return null;
  let x = 0;
  let n = 0;
  for (const e of ev) {
    if (!e) continue;
    if (e.kind !== kind) return null;
    x += e.x;
    n += e.kind === 'proportion' ? e.n : e.exposure;
  }
  return n > 0 ? { x, n } : null;
}

function testedRow(
  r: ProportionRule | RateRule,
  base: number[],
  cur: number[],
  bEv: (Evidence | null)[] | undefined,
  cEv: (Evidence | null)[] | undefined,
): Verdict {
  const b = median(base);
  const c = median(cur);
  const { limit, bad } = limitOf(r, b);
  const fmt = (v: number) => formatMetric(r.metric, v);
  const lower = METRICS[r.metric].better === 'lower';
  const beyond = bad(c);
  const limitText = `${fmt(c)} ${beyond ? (lower ? '>' : '<') : 'within'} limit ${fmt(limit)} (baseline ${fmt(b)})`;
  const bs = perSecond(bEv);
  const cs = perSecond(cEv);
  if (r.kind === 'rate' && bs && cs) {
    // Seconds as units: Welch-style t on the two ratio estimates, df = fewer seconds − 1.
    const se = Math.sqrt(bs.se ** 2 + cs.se ** 2);
    const t = se > 0 ? (lower ? cs.r - bs.r : bs.r - cs.r) / se : 0;
    const p = se > 0 ? tSf(t, Math.min(bs.n, cs.n) - 1) : 1;
    const units = `${cs.n} vs ${bs.n} seconds`;
    if (p < r.alpha && beyond)
      return {
        status: 'regression',
        reason: `${limitText}; significant (p=${p.toExponential(1)}, ${units})`,
      };
    return {
      status: 'pass',
      reason: `${limitText}; ${p < r.alpha ? `significant (p=${p.toExponential(1)}) but below the minimum effect` : `not significant (p=${p < 0.001 ? p.toExponential(1) : p.toFixed(3)}, ${units})`}`,
    };
  }
  const bu = pooled(bEv, r.kind);
  const cu = pooled(cEv, r.kind);
  if (!bu || !cu) {
    // A baseline without units (written before they were stored): the limit alone decides.
    return beyond
      ? { status: 'regression', reason: `${limitText}; no units to test (old baseline): limit only` }
      : { status: 'pass', reason: `${limitText}; no units to test (old baseline): limit only` };
  }
  // "Worse" is upwards for lower-is-better metrics, downwards otherwise: swap the sides.
  const p =
    r.kind === 'proportion'
      ? lower
        ? twoProportionGreater(bu.x, bu.n, cu.x, cu.n)
        : twoProportionGreater(cu.x, cu.n, bu.x, bu.n)
      : lower
        ? poissonRateGreater(bu.x, bu.n, cu.x, cu.n)
        : poissonRateGreater(cu.x, cu.n, bu.x, bu.n);
  const units = `${cu.x}/${cu.n} vs ${bu.x}/${bu.n}`;
  const sig = p < r.alpha;
  if (sig && beyond)
    return { status: 'regression', reason: `${limitText}; significant (p=${p.toExponential(1)}, ${units})` };
  return {
    status: 'pass',
    reason: `${limitText}; ${sig ? `significant (p=${p.toExponential(1)}) but below the minimum effect` : `not significant (p=${p < 0.001 ? p.toExponential(1) : p.toFixed(3)}, ${units})`}`,
  };
}

function latencyRow(r: LatencyRule, base: number[], cur: number[]): Verdict {
  if (base.length < r.minRepeats || cur.length < r.minRepeats) {
    return {
      status: 'skipped',
      reason: `needs ≥ ${r.minRepeats} repeats a side (have ${base.length} and ${cur.length}); run with --repeats ${r.minRepeats}`,
    };
  }
  // The exact test cannot go below 1 / C(m+n, m): with too few repeats no regression could fail.
  const floor = smallestMannWhitneyP(base.length, cur.length);
  if (floor > r.alpha) {
    let k = Math.max(base.length, cur.length);
    while (smallestMannWhitneyP(k, k) > r.alpha) k++;
    return {
      status: 'skipped',
      reason: `with ${base.length} and ${cur.length} repeats the smallest possible p is ${floor.toFixed(3)} > alpha ${r.alpha}; run with --repeats ${k}`,
    };
  }
  const b = median(base);
  const c = median(cur);
  const effect = b > 0 ? c / b - 1 : 0;
  const t = mannWhitneyGreater(base, cur);
  const confidence = `p=${t.pValue.toFixed(3)}${t.exact ? ', exact' : ''}`;
  if (t.pValue <= r.alpha && effect >= r.minEffect) {
    return {
      status: 'regression',
      reason: `median ${formatMetric(r.metric, c)} vs ${formatMetric(r.metric, b)} (+${(effect * 100).toFixed(0)}%), slower (${confidence} ≤ ${r.alpha})`,
    };
  }
  return {
    status: 'pass',
    reason: `median ${formatMetric(r.metric, c)} vs ${formatMetric(r.metric, b)} (${effect >= 0 ? '+' : ''}${(effect * 100).toFixed(0)}%); ${t.pValue <= r.alpha ? `below the ${pct(r.minEffect)} minimum effect` : `not significant (${confidence} > ${r.alpha})`}`,
  };
}

function ruleRow(r: Rule, base: BaselineGroup, cur: BaselineGroup, b: number[], c: number[]): Verdict {
  switch (r.kind) {
    case 'count':
      return countRow(r, b, c);
    case 'latency':
      return latencyRow(r, b, c);
    default:
      return testedRow(r, b, c, base.evidence?.[r.metric], cur.evidence?.[r.metric]);
  }
}

export function compareBaselines(baseline: Baseline, current: Baseline, rules: Rule[]): GateVerdict {
  const rows: GateRow[] = [];
  const warnings: string[] = [];
  const unjudged: string[] = [];
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
    const sides = [
      cur.untrusted > 0 ? `${cur.untrusted} of ${repeatsOf(cur)} current repeat(s)` : '',
      base.untrusted > 0 ? `${base.untrusted} of ${repeatsOf(base)} baseline repeat(s)` : '',
    ].filter(Boolean);
    const busy = [
      cur.latencyUntrusted ? `${cur.latencyUntrusted} of ${repeatsOf(cur)} current` : '',
      base.latencyUntrusted ? `${base.latencyUntrusted} of ${repeatsOf(base)} baseline` : '',
    ].filter(Boolean);
    const busyReason = busy.length
      ? `cannot judge: other processes were busy on the machine during ${busy.join(' and ')} repeat(s) (validity flag machine-busy); latency compares machines, not code`
      : '';
    let busyUnjudged = false;
    if (sides.length > 0)
      unjudged.push(
        `${key}: cannot judge — ${sides.join(' and ')} flagged untrusted by the validity checks (rerun on a quieter machine)`,
      );
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
      if (b.length === 0) continue; // the metric does not apply to this cell
      const shown = (xs: number[]) => xs.map((v) => formatMetric(rule.metric, v)).join(', ');
      if (c.length === 0) {
        rows.push({
          ...common,
          baseline: shown(b),
          current: '–',
          status: 'regression',
          reason: `${METRICS[rule.metric].label}: no longer measured (baseline had ${b.length} value${b.length === 1 ? '' : 's'}, the current run none)`,
        });
        continue;
      }
      const judged = ruleRow(rule, base, cur, b, c);
      // A latency rule that could have been judged (enough repeats) but ran on a busy machine:
      // neither its pass nor its regression means anything.
      if (
        busyReason &&
        rule.kind === 'latency' &&
        METRICS[rule.metric].latency &&
        judged.status !== 'skipped'
      ) {
        rows.push({
          ...common,
          baseline: shown(b),
          current: shown(c),
          status: 'skipped',
          reason: busyReason,
        });
        if (!busyUnjudged)
          unjudged.push(`${key}: ${busyReason.replace('cannot judge:', 'cannot judge latency —')}`);
        busyUnjudged = true;
        continue;
      }
      rows.push({ ...common, baseline: shown(b), current: shown(c), ...judged });
    }
  }
  for (const key of Object.keys(baseline.groups)) {
    if (!current.groups[key]) warnings.push(`${key}: in the baseline but missing from the current run`);
  }
  const regressions = rows.filter((r) => r.status === 'regression');
  return { pass: regressions.length === 0 && unjudged.length === 0, rows, regressions, unjudged, warnings };
}
