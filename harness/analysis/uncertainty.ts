/**
 * Uncertainty of every comparison metric: what the units inside one cell are (requests, reads,
 * expiry episodes, seconds) and how repeats of a strategy combine into one interval. The verdict
 * ranks only on these intervals and the gate tests on the same evidence, so a table, a verdict and
 * a gate row never disagree about what is noise. Definitions: docs/measurements.md
 * ("Uncertainty").
 */
import type { CellResult } from '../results/schema.ts';
import { type Interval, meanInterval, poissonExact, tQuantile975, wilson } from './intervals.ts';
import type { MetricId } from './metrics.ts';
import type { CellAnalysis } from './types.ts';

/**
 * What one cell knows about a metric's noise.
 * - proportion: x of n units (reads, requests, cache lookups) — Wilson.
 * - rate: value = offset + x / exposure with x a count — exact Poisson on x. A plain count is a
 *   rate with exposure 1 per repeat, so repeats pool into a mean count.
 * - count-ratio: value = a / b of two Poisson counts (DB queries during ÷ before a fault) —
 *   Wilson on a / (a + b), mapped back to the ratio.
 * - samples: per-second values of a latency figure (seconds are the units) — t interval of
 *   their spread around the cell's value.
 * - resolution: the figure is measured on a grid (recovery: whole seconds) — ± one step.
 */
export type Evidence =
  | { kind: 'proportion'; x: number; n: number }
  | { kind: 'rate'; x: number; exposure: number; offset?: number }
  | { kind: 'count-ratio'; a: number; b: number }
  | { kind: 'samples'; values: number[] }
  | { kind: 'resolution'; step: number };

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
  const db = a.dbLoad;
  if (db.httpRequests > 0)
    e.queriesPerRequest = { kind: 'rate', x: db.totalQueries, exposure: db.httpRequests };
  e.dbPeak = count(db.peakPerSecond);
  if (cell.load?.completed > 0)
    e.errorRate = { kind: 'proportion', x: cell.load.errors, n: cell.load.completed };
  const lookups = a.cacheHealth.hits + a.cacheHealth.misses;
  if (lookups > 0) e.hitRatio = { kind: 'proportion', x: a.cacheHealth.hits, n: lookups };
  const p99s = seconds(cell, 'p99');
  if (p99s.length >= 2) e.p99 = { kind: 'samples', values: p99s };
  const p50s = seconds(cell, 'p50');
  if (p50s.length >= 2) e.p50 = { kind: 'samples', values: p50s };

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
    e.rebuildsPerExpiryAllKeys = {
      kind: 'rate',
      x: Math.max(0, st.rebuilds - st.fallbackLoads - st.episodes),
      exposure: st.episodes,
      offset: 1,
    };
    e.maxRebuildsPerExpiry = count(st.maxRebuildsPerExpiry);
    e.maxConcurrentRebuilds = count(st.maxConcurrentPerKey);
    e.dbPeakAroundExpiries = count(st.dbPeakAroundExpiries);
  }

  const s = a.staleness;
  if (s && s.readsChecked > 0) {
    e.staleReadRatio = { kind: 'proportion', x: s.staleReads, n: s.readsChecked };
    e.staleBeyondTtl = count(s.staleBeyondTtl);
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
    if (dbWorst?.durationMs) {
      // Queries during the window and in the same-length window before it: two Poisson counts.
      const secs = dbWorst.durationMs / 1000;
      e.faultDbMultiplier = {
        kind: 'count-ratio',
        a: Math.round(dbWorst.dbRateDuring! * secs),
        b: Math.round(dbWorst.dbRateBefore! * secs),
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
    e.lostIncrements = count(Math.max(wb.lost, wb.historyLostLowerBound ?? 0));
    if (wb.increments > 0) e.dbWritesPerIncrement = { kind: 'rate', x: wb.dbWrites, exposure: wb.increments };
  }
  for (const k of Object.keys(e) as MetricId[]) if (e[k] === undefined) delete e[k];
  return e;
}

export interface Estimate extends Interval {
  value: number;
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
  if (same && kind === 'count-ratio') {
    const r = ev as Extract<Evidence, { kind: 'count-ratio' }>[];
    const a = r.reduce((s, e) => s + e.a, 0);
    const b = r.reduce((s, e) => s + e.b, 0);
    const w = b > 0 ? wilson(a, a + b) : null;
    if (w) {
      const toRatio = (p: number) => (p >= 1 ? Number.POSITIVE_INFINITY : p / (1 - p));
      const i = { lo: toRatio(w.lo), hi: toRatio(w.hi) };
      return { value, ...unionWith(i, between), basis: `Wilson on ${a} vs ${b} queries${reps}` };
    }
  }
  if (v.length >= 2) {
    const m = meanInterval(v)!;
    return { value, lo: m.lo, hi: m.hi, basis: `t interval over ${v.length} repeats` };
  }
  if (same && kind === 'samples') {
    const s = (ev[0] as Extract<Evidence, { kind: 'samples' }>).values;
    const m = meanInterval(s)!;
    const half = (tQuantile975(s.length - 1) * m.sd) / Math.sqrt(s.length);
    return { value, lo: value - half, hi: value + half, basis: `spread of ${s.length} per-second values` };
  }
  if (same && kind === 'resolution') {
    const step = (ev[0] as Extract<Evidence, { kind: 'resolution' }>).step;
    return { value, lo: Math.max(0, value - step), hi: value + step, basis: `± ${step} s resolution` };
  }
  return null;
}
