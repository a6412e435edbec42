/**
 * Uncertainty of every comparison metric: what the units inside one cell are (requests, reads,
 * expiry episodes, seconds) and how repeats of a strategy combine into one interval. The verdict
 * ranks only on these intervals and the gate tests on the same evidence, so a table, a verdict and
 * a gate row never disagree about what is noise. Definitions: docs/measurements.md
 * ("Uncertainty").
 */
import type { CellResult } from '../results/schema.ts';
import { lostIncrementsOf } from './fail-open.ts';
import { type Interval, meanInterval, poissonExact, tQuantile975, wilson } from './intervals.ts';
import type { MetricId } from './metrics.ts';
import type { CellAnalysis } from './types.ts';

/**
 * What one cell knows about a metric's noise.
 * - proportion: x of n units (reads, requests, cache lookups) — Wilson.
 * - rate: value = offset + x / exposure with x a count — exact Poisson on x. A plain count is a
 *   rate with exposure 1 per repeat, so repeats pool into a mean count.
 * - per-second-ratio: value = Σnum / Σden over the seconds of the cell (DB queries over requests).
 *   Seconds are the units, so bursts (a stampede's queries land in one second) widen the
 *   interval, which a Poisson count of queries would not: the ratio estimator's t interval.
 * - two-windows: value = mean(during) / mean(before) of per-second DB queries (DB load in
 *   faults): t interval by the delta method; fewer than 2 seconds on a side gives none.
 * - samples: per-second values of a latency figure (seconds are the units) — t interval of
 *   their spread around the cell's value.
 * - resolution: the figure is measured on a grid (recovery: whole seconds) — ± one step.
 * - at-least: the figure was not reached before the load ended (time to 90% hit ratio); the value
 *   is a lower bound (right-censored). Any censored repeat makes the interval [lo, ∞): the bound
 *   is known, how much longer it would have taken is not.
 */
export type Evidence =
  | { kind: 'proportion'; x: number; n: number }
  | { kind: 'rate'; x: number; exposure: number; offset?: number }
  | { kind: 'per-second-ratio'; num: number[]; den: number[] }
  | { kind: 'two-windows'; during: number[]; before: number[] }
  | { kind: 'samples'; values: number[] }
  | { kind: 'resolution'; step: number }
  | { kind: 'at-least'; step: number };

const count = (x: number | null | undefined): Evidence | undefined =>
  typeof x === 'number' && Number.isFinite(x) && x >= 0 ? { kind: 'rate', x, exposure: 1 } : undefined;

function applied(a: CellAnalysis) {
  return a.failOpen.windows.filter((w) => w.applied);
}

/** Per-second p99 (or p50) values inside [from, to) relative to the series origin. */
function seconds(cell: CellResult, field: 'p99' | 'p50', from?: number, to?: number): number[] {
  const s = cell.series;
  const out: number[] = [];
  const values = s?.[field] ?? [];
  for (let i = 0; i < values.length; i++) {
    const start = s.t0 + i * 1000;
    if (from !== undefined && start + 1000 <= from) continue;
    if (to !== undefined && start >= to) continue;
    if ((s.requests[i] ?? 0) > 0 && Number.isFinite(values[i])) out.push(values[i]!);
  }
  return out;
}

/** The evidence of every metric that has a unit inside the cell. */
export function cellEvidence(cell: CellResult, a: CellAnalysis): Partial<Record<MetricId, Evidence>> {
  const e: Partial<Record<MetricId, Evidence>> = {};
  // Maxima (peak DB queries/s, max concurrent rebuilds, largest episode) have no units inside a
  // cell: one run to the next they move with arrivals around each expiry, so only repeats rank them.
  const num: number[] = [];
  const den: number[] = [];
  (cell.series?.requests ?? []).forEach((r, i) => {
    if (r > 0) {
      num.push(cell.series.dbQueries[i] ?? 0);
      den.push(r);
    }
  });
  if (num.length >= 2) e.queriesPerRequest = { kind: 'per-second-ratio', num, den };
  if (cell.load?.completed > 0)
    e.errorRate = { kind: 'proportion', x: cell.load.errors, n: cell.load.completed };
  const lookups = a.cacheHealth.hits + a.cacheHealth.misses;
  if (lookups > 0) e.hitRatio = { kind: 'proportion', x: a.cacheHealth.hits, n: lookups };
  const p99s = seconds(cell, 'p99');
  if (p99s.length >= 2) e.p99 = { kind: 'samples', values: p99s };
  const p50s = seconds(cell, 'p50');
  if (p50s.length >= 2) e.p50 = { kind: 'samples', values: p50s };

  const h = a.cacheHealth;
  if (typeof h.secondsTo90HitRatio === 'number')
    e.timeTo90HitRatio = { kind: h.secondsTo90HitRatioCensored ? 'at-least' : 'resolution', step: 1 };

  const st = a.stampede;
  if (st.episodes > 0 && st.applies !== false) {
    // Every episode has at least one rebuild; the extra rebuilds are the counted events. The hot
    // key's episodes = its rebuilds ÷ its mean episode size.
    const hotRebuilds = st.hotKey ? (cell.rebuilds ?? []).filter((r) => r.key === st.hotKey).length : 0;
    const rpe = st.rebuildsPerExpiry;
    if (hotRebuilds > 0 && rpe !== null && rpe >= 1) {
      const episodes = Math.max(1, Math.round(hotRebuilds / rpe));
      e.rebuildsPerExpiry = {
        kind: 'rate',
        x: Math.max(0, hotRebuilds - episodes),
        exposure: episodes,
        offset: 1,
      };
    }
    if (st.overlappingRebuilds !== undefined) e.duplicateRebuilds = count(st.overlappingRebuilds);
    e.rebuildsPerExpiryAllKeys = {
      kind: 'rate',
      x: Math.max(0, st.rebuilds - st.fallbackLoads - st.episodes),
      exposure: st.episodes,
      offset: 1,
    };
  }

  const s = a.staleness;
  if (s && s.readsChecked > 0) {
    e.staleReadRatio = { kind: 'proportion', x: s.staleReads, n: s.readsChecked };
    e.staleBeyondTtl = count(s.staleBeyondTtl);
    if (s.deletes) e.servedAfterDelete = count(s.servedAfterDelete ?? 0);
  }

  const w = applied(a);
  if (w.length) {
    const req = w.reduce((t, x) => t + x.requests, 0);
    if (req > 0) e.faultErrorRate = { kind: 'proportion', x: w.reduce((t, x) => t + x.errors, 0), n: req };
    e.staleAfterRecovery = count(w.reduce((t, x) => t + x.staleReadsAfterRecovery, 0));
    e.recoverySeconds = { kind: 'resolution', step: 1 };
    const dbWorst = [...w]
      .filter((x) => x.dbMultiplier !== null && x.dbRateBefore !== null && x.dbRateDuring !== null)
      .sort((x, y) => y.dbMultiplier! - x.dbMultiplier!)[0];
    if (dbWorst?.appliedAt && dbWorst.durationMs) {
      // Whole seconds of the series inside the window and inside the same-length window before it.
      const inside = (from: number, to: number) => {
        const out: number[] = [];
        (cell.series?.dbQueries ?? []).forEach((q, i) => {
          const start = cell.series.t0 + i * 1000;
          if (start >= from && start + 1000 <= to) out.push(q);
        });
        return out;
      };
      const from = dbWorst.appliedAt;
      const to = from + dbWorst.durationMs;
      e.faultDbMultiplier = {
        kind: 'two-windows',
        during: inside(from, to),
        before: inside(from - dbWorst.durationMs, from),
      };
    }
    const worst = [...w].sort((x, y) => (y.latency.p99 ?? -1) - (x.latency.p99 ?? -1))[0]!;
    if (worst.appliedAt !== null) {
      const v = seconds(cell, 'p99', worst.appliedAt, worst.removedAt ?? undefined);
      if (v.length >= 2) e.faultP99 = { kind: 'samples', values: v };
    }
  }
  const wb = a.failOpen.writeBehind;
  if (wb) {
    // The same figure the metric shows (the reconciliation when there is one), so the interval
    // is built around its own point value.
    e.lostIncrements = count(lostIncrementsOf(wb));
    if (wb.increments > 0) e.dbWritesPerIncrement = { kind: 'rate', x: wb.dbWrites, exposure: wb.increments };
  }
  for (const k of Object.keys(e) as MetricId[]) if (e[k] === undefined) delete e[k];
  return e;
}

export interface Estimate extends Interval {
  value: number;
  /**
   * false: shown in the tables but not ranked by the verdict. Latency of a single repeat: the
   * spread of its seconds says nothing about machine drift between cells, which on a shared
   * machine moves p99 by tens of percent (the issue-12 seed pairs).
   */
  ranked?: boolean;
  /** How the interval was obtained, for the reader: "Wilson over 4210 reads", "3 repeats". */
  basis: string;
}

function unionWith(i: Interval, j: Interval | null): Interval {
  return j ? { lo: Math.min(i.lo, j.lo), hi: Math.max(i.hi, j.hi) } : i;
}

/**
 * One interval for a strategy's metric from its repeats: the pooled within-cell evidence, widened
 * to the spread between repeats when there are at least 3 (repeats catch what the units inside a
 * cell cannot: machine drift, an unlucky arrival pattern around an expiry). Latency-like figures
 * with 2+ repeats use the repeats only. Null when no interval can be given (one repeat of a figure
 * without units).
 */
export function combineEstimate(
  values: readonly (number | null)[],
  evidence: readonly (Evidence | undefined)[],
): Estimate | null {
  const e = estimate(values, evidence);
  // Every comparison metric is non-negative; a t interval must not say otherwise.
  return e ? { ...e, lo: Math.max(0, e.lo) } : null;
}

function estimate(
  values: readonly (number | null)[],
  evidence: readonly (Evidence | undefined)[],
): Estimate | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  const value = v.reduce((s, x) => s + x, 0) / v.length;
  const ev = evidence.filter((x): x is Evidence => x !== undefined);
  const between = v.length >= 3 ? meanInterval(v) : null;
  const kind = ev.length === v.length && ev.length > 0 ? ev[0]!.kind : null;
  const same = kind !== null && ev.every((x) => x.kind === kind);
  const reps = v.length > 1 ? ` and ${v.length} repeats` : '';
  const censored = ev.filter((x) => x.kind === 'at-least').length;
  if (censored > 0 && ev.length === v.length) {
    // Observed repeats reach down one grid step; censored ones no lower than their bound.
    const lo = Math.min(
      ...v.map((x, i) => {
        const e = ev[i]!;
        return e.kind === 'at-least' ? x : e.kind === 'resolution' ? x - e.step : x;
      }),
    );
    return {
      value,
      lo: Math.max(0, lo),
      hi: Number.POSITIVE_INFINITY,
      basis: `right-censored: ${censored} of ${v.length} ${v.length === 1 ? 'cell' : 'repeats'} did not reach it before the load ended`,
    };
  }
  if (same && kind === 'proportion') {
    const p = ev as Extract<Evidence, { kind: 'proportion' }>[];
    const x = p.reduce((s, e) => s + e.x, 0);
    const n = p.reduce((s, e) => s + e.n, 0);
    const w = wilson(x, n)!;
    return { value, ...unionWith(w, between), basis: `Wilson, ${x}/${n}${reps}` };
  }
  if (same && kind === 'rate') {
    const r = ev as Extract<Evidence, { kind: 'rate' }>[];
    const x = r.reduce((s, e) => s + e.x, 0);
    const exp = r.reduce((s, e) => s + e.exposure, 0);
    const off = r[0]!.offset ?? 0;
    const ci = poissonExact(Math.round(x));
    const i = { lo: off + ci.lo / exp, hi: off + ci.hi / exp };
    return { value, ...unionWith(i, between), basis: `exact Poisson on ${Math.round(x)} events${reps}` };
  }
  if (same && kind === 'per-second-ratio') {
    const r = ev as Extract<Evidence, { kind: 'per-second-ratio' }>[];
    const num = r.flatMap((e) => e.num);
    const den = r.flatMap((e) => e.den);
    const ci = ratioInterval(num, den);
    if (ci) return { value, ...unionWith(ci, between), basis: `ratio over ${num.length} seconds${reps}` };
  }
  if (same && kind === 'two-windows' && v.length === 1) {
    const w = ev[0] as Extract<Evidence, { kind: 'two-windows' }>;
    const ci = twoWindowInterval(w.during, w.before);
    if (ci) return { value, ...ci, basis: `${w.during.length} vs ${w.before.length} seconds` };
    return null;
  }
  if (v.length >= 2) {
    const m = meanInterval(v)!;
    return { value, lo: m.lo, hi: m.hi, basis: `t interval over ${v.length} repeats` };
  }
  if (same && kind === 'samples') {
    const s = (ev[0] as Extract<Evidence, { kind: 'samples' }>).values;
    const m = meanInterval(s)!;
    const half = (tQuantile975(s.length - 1) * m.sd) / Math.sqrt(s.length);
    return {
      value,
      lo: value - half,
      hi: value + half,
      ranked: false,
      basis: `spread of ${s.length} per-second values (one repeat: not ranked)`,
    };
  }
  if (same && kind === 'resolution') {
    const step = (ev[0] as Extract<Evidence, { kind: 'resolution' }>).step;
    return { value, lo: Math.max(0, value - step), hi: value + step, basis: `± ${step} s resolution` };
  }
  return null;
}

/** Σnum / Σden and its standard error with the seconds as clusters (linearization). */
export function ratioSe(
  num: readonly number[],
  den: readonly number[],
): { r: number; se: number; n: number } | null {
  const n = num.length;
  if (n < 2) return null;
  const sn = num.reduce((s, x) => s + x, 0);
  const sd = den.reduce((s, x) => s + x, 0);
  if (sd <= 0) return null;
  const r = sn / sd;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (num[i]! - r * den[i]!) ** 2;
  return { r, se: Math.sqrt((n / (n - 1)) * ss) / sd, n };
}

/** Ratio-estimator interval of Σnum / Σden with the seconds as clusters. */
export function ratioInterval(num: readonly number[], den: readonly number[]): Interval | null {
  const e = ratioSe(num, den);
  if (!e) return null;
  const half = tQuantile975(e.n - 1) * e.se;
  return { lo: e.r - half, hi: e.r + half };
}

/** mean(during) / mean(before) with a delta-method t interval; null without 2 seconds a side. */
export function twoWindowInterval(during: readonly number[], before: readonly number[]): Interval | null {
  const d = meanInterval(during);
  const b = meanInterval(before);
  if (!d || !b || b.mean <= 0) return null;
  const r = d.mean / b.mean;
  const rel = Math.sqrt((d.mean > 0 ? d.sd ** 2 / (d.n * d.mean ** 2) : 0) + b.sd ** 2 / (b.n * b.mean ** 2));
  const half = tQuantile975(Math.min(d.n, b.n) - 1) * r * rel;
  return { lo: r - half, hi: r + half };
}

/**
 * The units the gate tests: proportions, Poisson rates, and per-second ratios (DB queries per
 * request, whose queries come in bursts: seconds are the units, as for the tables).
 */
export function gateUnits(cell: CellResult, a: CellAnalysis): Partial<Record<MetricId, Evidence>> {
  const out: Partial<Record<MetricId, Evidence>> = {};
  for (const [k, e] of Object.entries(cellEvidence(cell, a)) as [MetricId, Evidence][])
    if (e.kind === 'proportion' || e.kind === 'rate' || e.kind === 'per-second-ratio') out[k] = e;
  return out;
}
