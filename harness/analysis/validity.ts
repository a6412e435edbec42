/**
 * Validity (docs/measurements.md): can this cell's numbers be trusted? Each check is a flag with a human
 * message and a fix hint. Severity 'error' makes the cell untrusted (reports mark it, gates
 * refuse to judge on it); 'warning' is shown but keeps the numbers.
 */
import type { CellResult } from '../results/schema.ts';
import { PG_STAT_TOLERANCE } from './db-load.ts';
import { CONFIRM_SECONDS } from './fail-open.ts';
import type { DbLoadAnalysis, FailOpenAnalysis, ValidityAnalysis, ValidityFlag } from './types.ts';

export const VALIDITY_THRESHOLDS = {
  /** Achieved rate may be this fraction short of the requested rate. */
  rateShortfall: 0.02,
  /** Dropped arrivals above this fraction of scheduled ones make the cell untrusted. */
  droppedError: 0.01,
  /** Driver CPU (fraction of one core) above which the generator is saturated. */
  driverCpu: 0.9,
  /** Scheduling lag p99, ms: warning / error. */
  lagWarnMs: 10,
  lagErrorMs: 100,
  /** Fault applied or removed later than planned by more than this, ms. */
  faultLateMs: 50,
  /**
   * Target-observed source calls vs DB queries (per endpoint) and vs pg_stat_statements: allowed
   * difference = max(absolute, relative × the larger side). Covers loads in flight at the counter
   * reset and at the final snapshot.
   */
  sourceAbs: 3,
  sourceRel: 0.01,
  /** What a strategy reports (ctx.events) vs what the target observed, the same way. */
  selfReportAbs: 5,
  selfReportRel: 0.02,
  /**
   * CPU used by processes outside the run, as a share of the cores, above which latency is not
   * compared. Idle kernel threads and an editor stay near 0.02; a compile or a second benchmark
   * on the same cores is 0.3–1. At 0.15 a 2-core box allows 0.3 cores of other work.
   */
  foreignCpuShare: 0.15,
};

/**
 * Endpoints whose every DB query runs inside a closure the target hands the strategy (one
 * statement per closure call), so their query count must equal their observed closure calls.
 * Writes and counter routes also query outside closures (team lookup, counter existence check).
 * 'background' is work outside any request: refreshes after the read returned, flushes.
 */
export const SELF_CONTAINED_ENDPOINTS = ['read-user', 'read-team-members', 'read-team-report', 'background'];

/** Statements (target/db.ts) that a read's load closure runs: one per source load. */
export const LOAD_STATEMENTS = ['get-user', 'get-user-slow', 'team-members', 'team-report'];

const TAG = /^\/\* cachebench:([a-z0-9-]+) \*\//;

function within(a: number, b: number, abs: number, rel: number): boolean {
  return Math.abs(a - b) <= Math.max(abs, rel * Math.max(a, b));
}

/**
 * Cross-checks of the target's own observations (docs/measurements.md "Cross-checks"): each
 * returns a one-line description of what disagrees, or null. Exported for tests.
 */
export function sourceLoadMismatch(cell: CellResult, th = VALIDITY_THRESHOLDS): string | null {
  const src = cell.target.sources;
  if (!src) return null;
  const out: string[] = [];
  for (const ep of SELF_CONTAINED_ENDPOINTS) {
    const calls = src.callsByEndpoint[ep] ?? 0;
    const failed = src.failedByEndpoint[ep] ?? 0;
    const queries = cell.target.dbQueriesByEndpoint[ep] ?? 0;
    // A call that failed before reaching PostgreSQL (no pooled connection) issued no query.
    const tol = Math.max(th.sourceAbs, th.sourceRel * Math.max(calls, queries));
    if (queries < calls - failed - tol || queries > calls + tol) {
      out.push(`${ep}: ${calls} closure calls observed (${failed} failed) but ${queries} DB queries counted`);
    }
  }
  return out.length ? out.join('; ') : null;
}

export function pgStatLoadMismatch(cell: CellResult, th = VALIDITY_THRESHOLDS): string | null {
  const src = cell.target.sources;
  const pg = cell.pgStatStatements;
  if (!src || !pg) return null;
  // Only when the snapshot lists every statement (it keeps the top rows by calls).
  if (pg.top.reduce((a, r) => a + r.calls, 0) !== pg.calls) return null;
  let pgLoads = 0;
  for (const r of pg.top) {
    const m = TAG.exec(r.query);
    if (m && LOAD_STATEMENTS.includes(m[1]!)) pgLoads += r.calls;
  }
  const okLoads = src.loads - src.loadsFailed;
  const tol = Math.max(th.sourceAbs, th.sourceRel * Math.max(src.loads, pgLoads));
  // pg_stat_statements counts completed statements: at least the loads that succeeded, at most all.
  if (pgLoads < okLoads - tol || pgLoads > src.loads + tol) {
    return `target observed ${src.loads} source loads (${src.loadsFailed} failed) but pg_stat_statements counted ${pgLoads} load statements`;
  }
  return null;
}

export function selfReportMismatch(cell: CellResult, th = VALIDITY_THRESHOLDS): string | null {
  const rep = cell.target.reported;
  const src = cell.target.sources;
  if (!rep || !src) return null;
  const c = cell.target.cache;
  const out: string[] = [];
  // Only claims the strategy made are checked: reporting is optional, silence is not a lie.
  if (rep.rebuilds > 0 && !within(rep.rebuilds, src.loads, th.selfReportAbs, th.selfReportRel)) {
    out.push(`reported ${rep.rebuilds} rebuilds, target observed ${src.loads} source loads`);
  }
  // A strategy may count fewer hits than observed (a lock waiter served from the cache is a miss
  // in its books) but not more than were served from the cache (plus early recomputes it labelled).
  const hitCeiling = c.hits + src.earlyReads;
  if (rep.hits > 0 && rep.hits > hitCeiling + Math.max(th.selfReportAbs, th.selfReportRel * rep.hits)) {
    out.push(
      `reported ${rep.hits} hits, target observed ${c.hits} cache hits (+${src.earlyReads} early recomputes)`,
    );
  }
  if (rep.staleServed > 0 && !within(rep.staleServed, c.staleServed, th.selfReportAbs, th.selfReportRel)) {
    out.push(`reported ${rep.staleServed} stale serves, target observed ${c.staleServed}`);
  }
  if (rep.fallbacks > 0 && !within(rep.fallbacks, c.fallbacks, th.selfReportAbs, th.selfReportRel)) {
    out.push(`reported ${rep.fallbacks} fallbacks, target observed ${c.fallbacks}`);
  }
  return out.length ? out.join('; ') : null;
}

export interface ValidityInputs {
  dbLoad: DbLoadAnalysis;
  failOpen?: FailOpenAnalysis;
  /** Set when the history file could not be read. */
  historyError?: string;
  historyMalformed?: number;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function analyzeValidity(
  cell: CellResult,
  inputs: ValidityInputs,
  th = VALIDITY_THRESHOLDS,
): ValidityAnalysis {
  const flags: ValidityFlag[] = [];
  const add = (code: string, severity: ValidityFlag['severity'], message: string, hint: string) =>
    flags.push({ code, severity, message, hint });
  const l = cell.load;

  if (cell.status !== 'ok') {
    add(
      'cell-failed',
      'error',
      `cell ${cell.status}${cell.error ? `: ${cell.error}` : ''}`,
      'see the run log for this cell; rerun it once the cause is fixed',
    );
  }
  if (l.requestedRate > 0 && l.achievedRate < l.requestedRate * (1 - th.rateShortfall)) {
    add(
      'rate-short',
      'error',
      `achieved ${l.achievedRate.toFixed(1)} req/s of ${l.requestedRate.toFixed(1)} requested (${pct(1 - l.achievedRate / l.requestedRate)} short)`,
      'lower the arrival rate (--profile quick or a smaller rate), raise maxInFlight, or run the driver on a less loaded machine',
    );
  }
  if (l.dropped > 0) {
    const frac = l.scheduled > 0 ? l.dropped / l.scheduled : 1;
    add(
      'dropped',
      frac > th.droppedError ? 'error' : 'warning',
      `${l.dropped} arrivals dropped at the in-flight cap (${pct(frac)} of ${l.scheduled} scheduled)`,
      'the target could not keep up or maxInFlight is too low: raise load.maxInFlight or lower the rate; during a fault this may be the finding itself',
    );
  }
  // Every sent request ends as an answer or an error (a timeout is one): one that did neither
  // is missing from every figure, and the driver lost track of it.
  const unanswered = l.sent - l.completed;
  if (unanswered > 0) {
    add(
      'unanswered',
      'error',
      `${unanswered} of ${l.sent} sent requests were neither answered nor failed by the end of the load`,
      'a load driver bug or a connection that swallowed requests: run with CACHEBENCH_DRIVER_DEBUG=1 and report it',
    );
  }
  if (l.driverCpu > th.driverCpu) {
    add(
      'driver-cpu',
      'error',
      `load generator used ${pct(l.driverCpu)} of a core: it, not the target, may be the bottleneck`,
      'lower the rate, use --driver k6, or give the driver its own cores',
    );
  }
  const lag = l.schedulingLag.p99;
  if (lag > th.lagWarnMs) {
    add(
      'scheduling-lag',
      lag > th.lagErrorMs ? 'error' : 'warning',
      `scheduling lag p99 ${lag.toFixed(1)} ms (sends left late; latency is still measured from the schedule)`,
      'the driver event loop is busy: lower the rate or the number of strategies run in parallel',
    );
  }
  cell.faults.forEach((f, i) => {
    const planned = cell.loadStartedAt + f.plannedAt;
    const label = `fault #${i + 1}`;
    if (!f.ok || typeof f.appliedAt !== 'number') {
      add(
        'fault-not-applied',
        'error',
        `${label} was not applied${f.error ? `: ${f.error}` : ''}`,
        'check that Toxiproxy is reachable and the proxy name exists (cachebench doctor)',
      );
      return;
    }
    // A busy harness applies or removes a fault late: windows use the recorded times, so late is
    // a warning past the threshold, not an error.
    const late = (code: string, ms: number, what: 'applied' | 'removed', fix: string) => {
      const due = what === 'applied' ? 'time' : 'end';
      if (ms > th.faultLateMs)
        add(code, 'warning', `${label} ${what} ${ms.toFixed(0)} ms after its planned ${due}`, fix);
    };
    late(
      'fault-late',
      f.appliedAt - planned,
      'applied',
      'the harness was busy: windows use the recorded times, but a late fault shortens the observed window',
    );
    if (typeof f.removedAt !== 'number') {
      add(
        'fault-not-removed',
        'warning',
        `${label} has no recorded removal time; its window runs to the end of the load`,
        'check the Toxiproxy logs; recovery cannot be measured for this fault',
      );
    } else {
      late(
        'fault-removed-late',
        f.removedAt - (planned + f.plannedFor),
        'removed',
        'the harness was busy; windows use the recorded times',
      );
    }
  });
  for (const w of inputs.failOpen?.windows ?? []) {
    if (!w.applied || w.recoveryConfirmedSeconds >= CONFIRM_SECONDS) continue;
    const tail = w.tailMs === null ? '?' : (w.tailMs / 1000).toFixed(1);
    if (w.recovered || (w.tailMs !== null && w.tailMs < CONFIRM_SECONDS * 1000)) {
      add(
        'recovery-unconfirmed',
        'warning',
        w.recovered && w.recoveryMs !== null
          ? `fault #${w.index + 1}: back ${(w.recoveryMs / 1000).toFixed(1)} s after it ended, but the load stopped ${tail} s after it, so recovery was confirmed over only ${w.recoveryConfirmedSeconds} s (${CONFIRM_SECONDS} s wanted)`
          : `fault #${w.index + 1}: the load stopped ${tail} s after it, so recovery could not be observed (${CONFIRM_SECONDS} s wanted)`,
        `leave at least the recovery time + ${CONFIRM_SECONDS} s of load after the last fault (longer phase or --profile standard)`,
      );
    }
  }
  const db = inputs.dbLoad;
  if (db.pgStatMismatch && db.pgStatRelativeDiff !== null) {
    add(
      'pg-stat-mismatch',
      'warning',
      `target counted ${db.totalQueries} DB queries, pg_stat_statements ${db.pgStatCalls} (${pct(db.pgStatRelativeDiff)} apart, tolerance ${pct(PG_STAT_TOLERANCE)})`,
      'a query path bypasses the counting pool wrapper, or pg_stat_statements was not reset before the cell',
    );
  }
  const sourceDiff = sourceLoadMismatch(cell, th);
  if (sourceDiff) {
    add(
      'source-load-mismatch',
      'error',
      `target closure calls vs DB queries disagree: ${sourceDiff}`,
      'a query path bypasses the closures the target hands the strategy, or counters were not reset together',
    );
  }
  const pgDiff = pgStatLoadMismatch(cell, th);
  if (pgDiff) {
    add(
      'pg-stat-load-mismatch',
      'error',
      pgDiff,
      'source loads are not what reached PostgreSQL: check that pg_stat_statements was reset with the target counters',
    );
  }
  const reportDiff = selfReportMismatch(cell, th);
  if (reportDiff) {
    add(
      'self-report-mismatch',
      'error',
      `the strategy's own events disagree with what the target observed: ${reportDiff}`,
      "the figures use the target's observations; fix the strategy's ctx.events calls or stop making them",
    );
  }
  if (inputs.historyError) {
    add(
      'history-missing',
      'error',
      `history not readable: ${inputs.historyError}`,
      'staleness and fault-window figures need the history file; rerun the cell',
    );
  } else if (inputs.historyMalformed) {
    add(
      'history-malformed',
      'warning',
      `${inputs.historyMalformed} malformed history line(s) skipped`,
      'usually a torn last line after a crash; if many, the driver wrote concurrently to the file',
    );
  }
  const busy = machineBusy(cell, th);
  if (busy) {
    add(
      'machine-busy',
      'warning',
      busy,
      'latency is not compared for this cell (verdicts do not rank it, the gate cannot judge it); counts stand. Rerun when the machine is quiet',
    );
  }
  return { trusted: !flags.some((f) => f.severity === 'error'), latencyTrusted: !busy, flags };
}

/**
 * Other processes used more than `foreignCpuShare` of the machine's cores during the load
 * (harness/pipeline/machine-load.ts): a one-line description, else null.
 */
export function machineBusy(cell: CellResult, th = VALIDITY_THRESHOLDS): string | null {
  const m = cell.machine;
  if (!m || m.foreignCores <= th.foreignCpuShare * m.cpus) return null;
  return `other processes used ${m.foreignCores.toFixed(2)} of ${m.cpus} cores during the load (the run's own: ${m.ownCores.toFixed(2)}; limit ${(th.foreignCpuShare * m.cpus).toFixed(2)})`;
}
