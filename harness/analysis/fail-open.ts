/**
 * Fail-open behaviour per fault window (docs/measurements.md). Windows are cut at the RECORDED
 * appliedAt / removedAt (what Toxiproxy acknowledged), never at the planned offsets.
 *
 * - Requests belong to a window by their *scheduled* time; latency = end − scheduled.
 * - An error is any response that is not 2xx (including network errors, status 0), except a 404 on a
 *   user operation when the mix deletes users (an answer, as the drivers count it).
 * - "before" = the same-length window right before appliedAt (clipped at load start and at the
 *   previous window's end).
 * - DB multiplier = DB queries per second during / before, from series.dbQueries with partly
 *   covered seconds weighted by overlap.
 * - Recovery: reference values come from the whole seconds of the before-window (at least
 *   MIN_PRE_SECONDS, at most MAX_PRE_SECONDS): pre hit ratio = mean of series.hitRatio, pre p99 =
 *   the 90th percentile (nearest rank) of the per-second series.p99 values — so expiry spikes
 *   that were routine before the fault are routine after it, while one outlier second among ten
 *   does not set the bar. A second after the fault is "back" when hitRatio >= 0.9 × pre and
 *   p99 <= pre + max(10% of pre, 1 ms) — being better than before counts as back; the 1 ms
 *   floor keeps sub-millisecond jitter from reading as "not recovered". Recovered = the first
 *   second, among those starting at or after removedAt, from which CONFIRM_SECONDS (3)
 *   consecutive seconds are back; recovery time = that second's start − removedAt (1 s
 *   resolution). If the load ends before 3 seconds can be observed but every second from some
 *   point to the end is back, that point counts, with recoveryConfirmedSeconds < 3 and a
 *   validity warning; otherwise the window did not recover (recoveryMs null).
 */
import type { CellResult, FaultRecord, HistoryRecord } from '../results/schema.ts';
import { isOk } from './history.ts';
import type { StalenessChecker } from './staleness.ts';
import {
  FloatList,
  mean,
  percentileSorted,
  percentiles,
  ratio,
  seriesCoverageMs,
  seriesSumOver,
} from './stats.ts';
import type { FailOpenAnalysis, FaultWindowAnalysis, Percentiles, WriteBehindAnalysis } from './types.ts';

export const RECOVERY_TOLERANCE = 0.1;
export const P99_ABS_TOLERANCE_MS = 1;
export const CONFIRM_SECONDS = 3;
export const MIN_PRE_SECONDS = 3;
export const MAX_PRE_SECONDS = 10;

export interface WindowSpec {
  index: number;
  label: string;
  applied: boolean;
  appliedAt: number | null;
  removedAt: number | null;
  /** [from, to) used to cut the window; removedAt or the load end when never removed. */
  from: number;
  to: number;
  beforeFrom: number;
}

export function faultLabel(f: FaultRecord): string {
  const s = f.spec as {
    process?: string;
    proxy?: string;
    down?: boolean;
    toxic?: { type?: string; attributes?: Record<string, unknown> };
  };
  if (s.process === 'slot-migration') return slotMigrationLabel(f);
  if (s.process) return s.process;
  const what = s.down ? 'down' : s.toxic?.type ? `${s.toxic.type}${attrs(s.toxic.attributes)}` : 'fault';
  return `${s.proxy ?? '?'} ${what}`;
}

/** "slot-migration: 12 of 16 slots moved, 340 keys" (the slots asked for, and what moved). */
function slotMigrationLabel(f: FaultRecord): string {
  // Results from before `slots` existed moved up to 16, the default then and now.
  const asked = (f.spec as { slots?: number }).slots ?? f.observed?.slotsRequested ?? 16;
  const o = f.observed ?? {};
  if (o.slotsMoved === undefined) return `slot-migration: ${asked} slots asked, none moved`;
  return `slot-migration: ${o.slotsMoved} of ${asked} slots moved, ${o.keysMoved ?? 0} keys`;
}

function attrs(a: Record<string, unknown> | undefined): string {
  if (!a) return '';
  const parts = Object.entries(a).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function loadEnd(cell: CellResult): number {
  return cell.loadStartedAt + cell.load.durationMs;
}

export function faultWindows(cell: CellResult): WindowSpec[] {
  const specs: WindowSpec[] = [];
  let prevEnd = cell.loadStartedAt;
  const sorted = cell.faults
    .map((f, index) => ({ f, index }))
    .sort((a, b) => (a.f.appliedAt ?? a.f.plannedAt) - (b.f.appliedAt ?? b.f.plannedAt));
  for (const { f, index } of sorted) {
    const applied = f.ok && typeof f.appliedAt === 'number';
    const from = applied ? f.appliedAt! : Number.NaN;
    const to = applied ? (typeof f.removedAt === 'number' ? f.removedAt : loadEnd(cell)) : Number.NaN;
    const beforeFrom = applied ? Math.max(prevEnd, from - (to - from)) : Number.NaN;
    specs.push({
      index,
      label: faultLabel(f),
      applied,
      appliedAt: applied ? f.appliedAt! : null,
      removedAt: typeof f.removedAt === 'number' ? f.removedAt : null,
      from,
      to,
      beforeFrom,
    });
    if (applied) prevEnd = Math.max(prevEnd, to);
  }
  return specs.sort((a, b) => a.index - b.index);
}

interface WindowAcc {
  during: FloatList;
  before: FloatList;
  /** Requests scheduled after the window ended: scheduled time, latency, 1 = error. */
  after: { scheduled: FloatList; latency: FloatList; error: FloatList };
  errors: number;
  readErrors: number;
  beforeErrors: number;
}

interface CounterOps {
  incs: [number, number, number][];
  reads: [number, number, number][];
}

/** Collects, in one streaming pass over the history, what the fault windows need. */
export class FaultWindowAccumulator {
  readonly acc: WindowAcc[];
  readonly counters = new Map<string, CounterOps>();
  incrRecords = 0;
  incrAcked = 0;
  readonly windows: readonly WindowSpec[];
  /**
   * The mix deletes users: a 404 on a user operation is an answer (the user was deleted earlier),
   * not an error — the rule both drivers use for the load figures (scenarios/workload.ts).
   */
  private readonly userNotFoundOk: boolean;

  constructor(windows: readonly WindowSpec[], opts: { userNotFoundOk?: boolean } = {}) {
    this.windows = windows;
    this.userNotFoundOk = opts.userNotFoundOk === true;
    this.acc = windows.map(() => ({
      during: new FloatList(),
      before: new FloatList(),
      after: { scheduled: new FloatList(), latency: new FloatList(), error: new FloatList() },
      errors: 0,
      readErrors: 0,
      beforeErrors: 0,
    }));
  }

  add(rec: HistoryRecord): void {
    const t = rec.scheduled;
    const ok = isOk(rec) || (this.userNotFoundOk && rec.status === 404 && rec.key.startsWith('user:'));
    for (let i = 0; i < this.windows.length; i++) {
      const w = this.windows[i]!;
      if (!w.applied) continue;
      const a = this.acc[i]!;
      if (t >= w.from && t < w.to) {
        a.during.push(rec.end - rec.scheduled);
        if (!ok) {
          a.errors++;
          if (rec.kind === 'read') a.readErrors++;
        }
      } else if (t >= w.beforeFrom && t < w.from) {
        a.before.push(rec.end - rec.scheduled);
        if (!ok) a.beforeErrors++;
      } else if (t >= w.to) {
        a.after.scheduled.push(t);
        a.after.latency.push(rec.end - rec.scheduled);
        a.after.error.push(ok ? 0 : 1);
      }
    }
    if (rec.op === 'incr-counter' || rec.op === 'read-counter') this.addCounter(rec, ok);
  }

  private addCounter(rec: HistoryRecord, ok: boolean): void {
    if (rec.kind === 'incr') {
      this.incrRecords++;
      if (ok) this.incrAcked += typeof rec.value === 'number' ? rec.value : 1;
    }
    if (!ok || typeof rec.value !== 'number') return;
    let c = this.counters.get(rec.key);
    if (!c) {
      c = { incs: [], reads: [] };
      this.counters.set(rec.key, c);
    }
    (rec.kind === 'incr' ? c.incs : c.reads).push([rec.start, rec.end, rec.value]);
  }

  /**
   * Lower bound of acknowledged increments missing from the counters: per counter, with F the
   * first successful read (by start) and L a later one, every increment acknowledged strictly
   * between F's end and L's start must be in L's value: missing(L) = F + Σ those − L. Increments
   * concurrent with F or L are left out, so the bound never accuses a correct store. L is taken
   * only from reads that started after the last fault window closed (during a Redis outage a
   * write-behind read cannot see the increments buffered in Redis: invisible, not lost), and the
   * per-counter figure is the minimum over the last 3 such reads (a read racing a flush shows a
   * transient gap; a lost increment is missing from every later read).
   */
  lostLowerBound(): { lost: number; counters: number } | null {
    const faultEnd = this.windows.reduce(
      (m, w) => (w.applied ? Math.max(m, w.to) : m),
      Number.NEGATIVE_INFINITY,
    );
    let lost = 0;
    let counters = 0;
    for (const c of this.counters.values()) {
      c.reads.sort((a, b) => a[0] - b[0]);
      const f = c.reads[0];
      const after = c.reads.filter((r) => r[0] >= faultEnd && r !== f).slice(-3);
      if (!f || after.length === 0) continue;
      let missing = Number.POSITIVE_INFINITY;
      for (const l of after) {
        let between = 0;
        for (const [s, e, v] of c.incs) if (s >= f[1] && e <= l[0]) between += v;
        missing = Math.min(missing, Math.max(0, f[2] + between - l[2]));
      }
      counters++;
      lost += missing;
    }
    return counters ? { lost, counters } : null;
  }
}

export interface RecoveryResult {
  preHitRatio: number | null;
  preP99: number | null;
  recovered: boolean;
  recoveryMs: number | null;
  /** 100 when the history placed the moment inside the second before; 1000 = whole seconds. */
  resolutionMs: number;
  /** The whole-second figure the history refined (equal to recoveryMs at 1 s resolution). */
  wholeSecondMs: number | null;
  /** Consecutive back seconds that confirmed the recovery: CONFIRM_SECONDS, fewer at the load end, 0. */
  confirmedSeconds: number;
}

export const FINE_STEP_MS = 100;

/** What the history tells about the requests around a window, for the fine recovery moment. */
export interface WindowHistory {
  /** Latencies of the requests scheduled in the before-window, and how many of them failed. */
  before: Float64Array;
  beforeErrors: number;
  after: { scheduled: Float64Array; latency: Float64Array; error: Float64Array };
}

/**
 * The recovery moment at FINE_STEP_MS resolution. The series found the first whole second S from
 * which hit ratio and p99 stay back; the moment lies in [S − 1 s, S] (never before the window
 * ended). It is the first 100 ms step b there from which every request scheduled in
 * [b, S + 1 s) — what the clients saw — is back: no more errors than the before-window's rate
 * allows, and their p99 within max(10%, 1 ms) of the before-window's p99. The hit ratio has no
 * finer clock than the series' seconds, so within that last second latency and errors place it.
 */
export function fineRecoveryAt(secondStart: number, windowEnd: number, h: WindowHistory): number {
  const pre = Float64Array.from(h.before).sort();
  const preP99 = percentileSorted(pre, 0.99);
  const preErrRate = pre.length > 0 ? h.beforeErrors / pre.length : 0;
  const until = secondStart + 1000;
  const { scheduled, latency, error } = h.after;
  // Candidates: the window end (or the second before S), then the 100 ms steps up to S.
  const candidates = [Math.max(windowEnd, secondStart - 1000)];
  for (let c = secondStart - 1000 + FINE_STEP_MS; c < secondStart; c += FINE_STEP_MS) {
    if (c > candidates[0]!) candidates.push(c);
  }
  for (const b of candidates) {
    const lat: number[] = [];
    let errs = 0;
    for (let i = 0; i < scheduled.length; i++) {
      const t = scheduled[i]!;
      if (t < b || t >= until) continue;
      lat.push(latency[i]!);
      errs += error[i]!;
    }
    if (lat.length === 0) continue;
    if (errs > Math.floor(preErrRate * lat.length)) continue;
    if (preP99 !== null) {
      const p99 = percentileSorted(Float64Array.from(lat).sort(), 0.99)!;
      if (p99 > preP99 + Math.max(preP99 * RECOVERY_TOLERANCE, P99_ABS_TOLERANCE_MS)) continue;
    }
    return b;
  }
  return secondStart;
}

/**
 * Recovery of hit ratio and p99 after a window, from the per-second series (see header); with
 * the window's history, the moment is refined to FINE_STEP_MS (fineRecoveryAt).
 */
export function recoveryTime(
  cell: CellResult,
  w: Pick<WindowSpec, 'from' | 'to' | 'beforeFrom'>,
  history?: WindowHistory,
): RecoveryResult {
  const at = (secondStart: number) => {
    const wholeSecondMs = secondStart - w.to;
    if (!history) return { recoveryMs: wholeSecondMs, wholeSecondMs, resolutionMs: 1000 };
    return {
      recoveryMs: Math.max(0, fineRecoveryAt(secondStart, w.to, history) - w.to),
      wholeSecondMs,
      resolutionMs: FINE_STEP_MS,
    };
  };
  const { t0, hitRatio, p99, requests } = cell.series;
  const n = p99.length;
  // Whole seconds of the pre-window, widened to MIN_PRE_SECONDS, capped at MAX_PRE_SECONDS.
  const lastPre = Math.floor((w.from - t0) / 1000) - 1; // last bucket that ends at or before `from`
  const want = Math.min(
    MAX_PRE_SECONDS,
    Math.max(MIN_PRE_SECONDS, Math.floor((w.from - w.beforeFrom) / 1000)),
  );
  const hits: number[] = [];
  const p99s: number[] = [];
  for (let i = Math.max(0, lastPre - want + 1); i <= lastPre && i < n; i++) {
    const h = hitRatio[i];
    if (h !== null && h !== undefined) hits.push(h);
    if ((requests[i] ?? 0) > 0) p99s.push(p99[i]!);
  }
  const preHit = mean(hits);
  const preP99 = percentileSorted(Float64Array.from(p99s).sort(), 0.9);
  const back = (i: number): boolean => {
    if ((requests[i] ?? 0) === 0) return false;
    if (preHit !== null) {
      const h = hitRatio[i];
      if (h === null || h === undefined || h < preHit * (1 - RECOVERY_TOLERANCE)) return false;
    }
    if (preP99 !== null) {
      const tol = Math.max(preP99 * RECOVERY_TOLERANCE, P99_ABS_TOLERANCE_MS);
      if (p99[i]! > preP99 + tol) return false;
    }
    return true;
  };
  const first = Math.max(0, Math.ceil((w.to - t0) / 1000));
  let run = 0;
  for (let i = first; i < n; i++) {
    run = back(i) ? run + 1 : 0;
    if (run === CONFIRM_SECONDS) {
      const start = i - CONFIRM_SECONDS + 1;
      return {
        preHitRatio: preHit,
        preP99,
        recovered: true,
        ...at(t0 + start * 1000),
        confirmedSeconds: CONFIRM_SECONDS,
      };
    }
  }
  // The load ended before CONFIRM_SECONDS could be observed: if every second from some point to
  // the end is back, report that point, with the shorter confirmation (validity warns about it).
  if (run > 0) {
    return {
      preHitRatio: preHit,
      preP99,
      recovered: true,
      ...at(t0 + (n - run) * 1000),
      confirmedSeconds: run,
    };
  }
  return {
    preHitRatio: preHit,
    preP99,
    recovered: false,
    recoveryMs: null,
    wholeSecondMs: null,
    resolutionMs: history ? FINE_STEP_MS : 1000,
    confirmedSeconds: 0,
  };
}

const EMPTY: Percentiles = { count: 0, p50: null, p95: null, p99: null, max: null };

export function analyzeFailOpen(
  cell: CellResult,
  acc: FaultWindowAccumulator | null,
  stale: StalenessChecker | null,
): FailOpenAnalysis {
  const specs = acc ? acc.windows : faultWindows(cell);
  const { t0, dbQueries } = cell.series;
  const windows: FaultWindowAnalysis[] = specs.map((w, i) => {
    const a = acc?.acc[i];
    if (!w.applied) {
      return {
        index: w.index,
        label: w.label,
        applied: false,
        appliedAt: null,
        removedAt: w.removedAt,
        durationMs: null,
        requests: 0,
        errors: 0,
        errorRate: null,
        readErrors: 0,
        latency: EMPTY,
        before: { requests: 0, errorRate: null, latency: EMPTY },
        dbRateBefore: null,
        dbRateDuring: null,
        dbMultiplier: null,
        preHitRatio: null,
        preP99: null,
        recovered: false,
        recoveryMs: null,
        recoveryResolutionMs: null,
        recoveryWholeSecondMs: null,
        recoveryConfirmedSeconds: 0,
        tailMs: null,
        staleReadsAfterEnd: 0,
        staleReadsAfterRecovery: 0,
      };
    }
    const covDuring = seriesCoverageMs(dbQueries.length, t0, w.from, w.to);
    const covBefore = seriesCoverageMs(dbQueries.length, t0, w.beforeFrom, w.from);
    const during = covDuring > 0 ? seriesSumOver(dbQueries, t0, w.from, w.to) / (covDuring / 1000) : null;
    const before =
      covBefore > 0 ? seriesSumOver(dbQueries, t0, w.beforeFrom, w.from) / (covBefore / 1000) : null;
    const rec = recoveryTime(
      cell,
      w,
      a
        ? {
            before: a.before.view(),
            beforeErrors: a.beforeErrors,
            after: {
              scheduled: a.after.scheduled.view(),
              latency: a.after.latency.view(),
              error: a.after.error.view(),
            },
          }
        : undefined,
    );
    const next = specs
      .filter((o) => o.applied && o.from >= w.to)
      .reduce((m, o) => Math.min(m, o.from), Infinity);
    const requests = a ? a.during.length : 0;
    const beforeReq = a ? a.before.length : 0;
    return {
      index: w.index,
      label: w.label,
      applied: true,
      appliedAt: w.appliedAt,
      removedAt: w.removedAt,
      durationMs: w.to - w.from,
      requests,
      errors: a?.errors ?? 0,
      errorRate: a ? ratio(a.errors, requests) : null,
      readErrors: a?.readErrors ?? 0,
      latency: a ? percentiles(a.during.view()) : EMPTY,
      before: {
        requests: beforeReq,
        errorRate: a ? ratio(a.beforeErrors, beforeReq) : null,
        latency: a ? percentiles(a.before.view()) : EMPTY,
      },
      dbRateBefore: before,
      dbRateDuring: during,
      dbMultiplier: during !== null && before ? during / before : null,
      preHitRatio: rec.preHitRatio,
      preP99: rec.preP99,
      recovered: rec.recovered,
      recoveryMs: rec.recoveryMs,
      recoveryResolutionMs: rec.resolutionMs,
      recoveryWholeSecondMs: rec.wholeSecondMs,
      recoveryConfirmedSeconds: rec.confirmedSeconds,
      tailMs: loadEnd(cell) - w.to,
      staleReadsAfterEnd: stale ? stale.staleBetween(w.to, next) : 0,
      staleReadsAfterRecovery:
        stale && rec.recoveryMs !== null ? stale.staleBetween(w.to + rec.recoveryMs, next) : 0,
    };
  });
  const applied = windows.filter((w) => w.applied);
  const recovered = applied.filter((w) => w.recoveryMs !== null).map((w) => w.recoveryMs!);
  return {
    windows,
    errorsDuringFaults: applied.reduce((s, w) => s + w.errors, 0),
    readErrorsDuringFaults: applied.reduce((s, w) => s + w.readErrors, 0),
    maxRecoveryMs: recovered.length ? Math.max(...recovered) : null,
    allRecovered: applied.every((w) => w.recovered),
    writeBehind: writeBehind(cell, acc),
  };
}

function writeBehind(cell: CellResult, acc: FaultWindowAccumulator | null): WriteBehindAnalysis | null {
  const wb = cell.target.writeBehind;
  const hist = acc?.lostLowerBound() ?? null;
  if (wb.increments === 0 && !acc?.incrRecords) return null;
  // The denominator is every acknowledged increment, from the history when there is one. The
  // target's `increments` are only the buffered ones: dividing all DB writes (which include the
  // direct writes of increments Redis never received) by them overstated write-behind's DB writes
  // per increment during an outage (0.85 instead of 0.47 on a quick counter-outage run).
  const direct = wb.direct ?? 0;
  const increments = acc?.incrRecords ? acc.incrAcked : wb.increments + direct;
  return {
    increments,
    buffered: wb.increments,
    direct,
    flushed: wb.flushed,
    lost: wb.lost,
    dbWrites: wb.dbWrites,
    dbWritesPerIncrement: ratio(wb.dbWrites, increments),
    flushWritesPerBufferedIncrement:
      wb.increments > 0 && wb.flushWrites !== undefined ? wb.flushWrites / wb.increments : null,
    historyLostLowerBound: hist ? hist.lost : null,
    countersChecked: hist ? hist.counters : 0,
    reconciled: reconcile(cell, acc),
  };
}

/** Lost increments by reconciliation: the driver's acknowledgements against the database. */
function reconcile(cell: CellResult, acc: FaultWindowAccumulator | null): WriteBehindAnalysis['reconciled'] {
  const t = cell.counterTotals;
  if (!t || !acc?.incrRecords) return null;
  const committed = t.afterFinalFlush - t.atLoadStart;
  return { acknowledged: acc.incrAcked, committed, lost: acc.incrAcked - committed };
}

/**
 * The lost-increments figure budgets and reports use: the reconciliation when the cell has one;
 * for older results, the target's count or the history bound, whichever is larger.
 */
export function lostIncrementsOf(wb: WriteBehindAnalysis): number {
  if (wb.reconciled) return wb.reconciled.lost;
  return Math.max(wb.lost, wb.historyLostLowerBound ?? 0);
}
