import { describe, expect, it } from 'vitest';
import {
  analyzeFailOpen,
  FaultWindowAccumulator,
  faultWindows,
  recoveryTime,
} from '../harness/analysis/fail-open.ts';
import { analyzeCellRecords } from '../harness/analysis/index.ts';
import type { CellResult, HistoryRecord } from '../harness/results/schema.ts';
import { synthCell } from './fixtures/synthetic.ts';

/** A cell whose series we overwrite by hand: 20 s, fault recorded at [5.2 s, 9.1 s). */
/** A synthetic 12 s counter-outage cell with a history, with or without a 3 s Redis outage at 4 s. */
function counterOutage(strategy: string, outage: boolean) {
  return synthCell({
    scenario: 'counter-outage',
    strategy,
    counters: true,
    seconds: 12,
    historyRate: 100,
    ...(outage ? { faults: [{ atS: 4, forS: 3, proxy: 'redis' as const, down: true }] } : {}),
  });
}

function handCell(hit: (number | null)[], p99: number[], db?: number[]): CellResult {
  const { cell } = synthCell({ scenario: 'redis-outage', strategy: 'cache-aside', seconds: hit.length });
  const t0 = cell.series.t0;
  cell.series.hitRatio = hit;
  cell.series.p99 = p99;
  cell.series.requests = hit.map(() => 100);
  if (db) cell.series.dbQueries = db;
  cell.faults = [
    {
      spec: { at: 5000, for: 4000, proxy: 'redis', down: true },
      plannedAt: 5000,
      plannedFor: 4000,
      appliedAt: t0 + 5200,
      removedAt: t0 + 9100,
      ok: true,
    },
  ];
  return cell;
}

describe('recovery time', () => {
  it('is the first second after the fault from which hit ratio and p99 stay within 10% for 3 s', () => {
    //          0    1    2    3    4    5     6     7     8     9    10   11   12   13   14   15   16   17   18   19
    const hit = [
      0.9,
      0.9,
      0.9,
      0.9,
      0.9,
      0.5,
      null,
      null,
      null,
      0.3,
      0.6,
      0.85,
      0.9,
      0.7,
      0.9,
      0.9,
      0.9,
      0.9,
      0.9,
      0.9,
    ];
    const p99 = [5, 5, 5, 5, 5, 9, 9, 9, 9, 20, 8, 5.4, 5, 5, 5, 5, 5.2, 5, 5, 5];
    const cell = handCell(hit, p99);
    const [w] = faultWindows(cell);
    const r = recoveryTime(cell, w!);
    expect(r.preHitRatio).toBeCloseTo(0.9);
    expect(r.preP99).toBe(5);
    // Second 11: hit 0.85 >= 0.81, p99 5.4 <= 6 → back; 12 back; 13 hit 0.7 → not; 14,15,16 back.
    expect(r.recovered).toBe(true);
    expect(r.recoveryMs).toBeCloseTo(14_000 - 9100, 6);
  });

  it('a p99 regression also delays recovery; an unrecovered tail reports null', () => {
    const hit = Array.from({ length: 16 }, (_, i) => (i >= 5 && i < 9 ? null : 0.9));
    const p99 = Array.from({ length: 16 }, (_, i) => (i < 5 ? 5 : i < 13 ? 30 : 5));
    const cell = handCell(hit, p99);
    const r = recoveryTime(cell, faultWindows(cell)[0]!);
    expect(r.recoveryMs).toBeCloseTo(13_000 - 9100, 6);
    expect(r.confirmedSeconds).toBe(3);
    // The load ends 1 s into the good stretch: recovered, but confirmed over 1 s only.
    const short = handCell(hit.slice(0, 14), p99.slice(0, 14));
    const r2 = recoveryTime(short, faultWindows(short)[0]!);
    expect(r2).toMatchObject({ recovered: true, confirmedSeconds: 1 });
    expect(r2.recoveryMs).toBeCloseTo(13_000 - 9100, 6);
    // The load ends while p99 is still high: not recovered.
    const never = handCell(hit.slice(0, 13), p99.slice(0, 13));
    const r3 = recoveryTime(never, faultWindows(never)[0]!);
    expect(r3).toMatchObject({ recovered: false, recoveryMs: null, confirmedSeconds: 0 });
    // And validity says why the figure is weak.
    const a = analyzeCellRecords(short, []);
    const flag = a.validity.flags.find((f) => f.code === 'recovery-unconfirmed')!;
    expect(flag.message).toMatch(
      /^fault #1: back \d+\.\d s after it ended, but the load stopped \d+\.\d s after it, so recovery was confirmed over only [12] s \(3 s wanted\)$/,
    );
    expect(a.validity.trusted).toBe(true);
  });

  it('expiry spikes that were routine before the fault do not count as "not recovered"', () => {
    const hit = Array.from({ length: 20 }, (_, i) => (i >= 5 && i < 9 ? null : 0.9));
    const p99 = Array.from({ length: 20 }, (_, i) => (i >= 5 && i < 9 ? 50 : i % 2 ? 30 : 5));
    const cell = handCell(hit, p99);
    const r = recoveryTime(cell, faultWindows(cell)[0]!);
    expect(r.preP99).toBe(30);
    expect(r.recoveryMs).toBeCloseTo(10_000 - 9100, 6);
  });

  it('DB multiplier compares the window with the same-length window before it', () => {
    const hit = Array.from({ length: 20 }, () => 0.9);
    const p99 = Array.from({ length: 20 }, () => 5);
    const db = Array.from({ length: 20 }, (_, i) => (i >= 5 && i <= 9 ? 1000 : 100));
    const cell = handCell(hit, p99, db);
    const a = analyzeFailOpen(cell, null, null);
    // During [5.2, 9.1): all buckets at 1000/s. Before [1.3, 5.2): buckets 1..4 at 100, 0.2 s of bucket 5 at 1000.
    expect(a.windows[0]!.dbRateDuring).toBeCloseTo(1000, 6);
    expect(a.windows[0]!.dbRateBefore).toBeCloseTo((3.7 * 100 + 0.2 * 1000) / 3.9, 6);
    expect(a.windows[0]!.dbMultiplier).toBeCloseTo(1000 / ((3.7 * 100 + 0.2 * 1000) / 3.9), 6);
  });

  it('error rate and latency inside the recorded window come from the history (end − scheduled)', () => {
    const cell = handCell(
      Array.from({ length: 20 }, () => 0.9),
      Array.from({ length: 20 }, () => 5),
    );
    const t0 = cell.series.t0;
    const rec = (
      s: number,
      lat: number,
      status: number,
      kind: HistoryRecord['kind'] = 'read',
    ): HistoryRecord => ({
      op: 'read-user',
      kind,
      key: 'user:1',
      scheduled: t0 + s,
      start: t0 + s + 1,
      end: t0 + s + lat,
      status,
      instance: 0,
    });
    const acc = new FaultWindowAccumulator(faultWindows(cell));
    // Planned start was 5000, recorded 5200: a request at 5100 is BEFORE the window.
    [
      rec(5100, 3, 200),
      rec(5300, 50, 200),
      rec(6000, 70, 503),
      rec(7000, 60, 200),
      rec(9050, 40, 0, 'write'),
    ].forEach((r) => {
      acc.add(r);
    });
    [rec(2000, 2, 200), rec(3000, 4, 200)].forEach((r) => {
      acc.add(r);
    });
    const w = analyzeFailOpen(cell, acc, null).windows[0]!;
    expect(w.requests).toBe(4);
    expect(w.errors).toBe(2);
    expect(w.readErrors).toBe(1);
    expect(w.errorRate).toBe(0.5);
    expect(w.latency.p50).toBe(50);
    expect(w.latency.max).toBe(70);
    expect(w.before.requests).toBe(3);
    expect(w.before.errorRate).toBe(0);
  });

  it('write-behind bound: increments invisible during the outage are not lost; missing after it they are', () => {
    const cell = handCell(
      Array.from({ length: 20 }, () => 0.9),
      Array.from({ length: 20 }, () => 5),
    );
    const t0 = cell.loadStartedAt;
    const op = (kind: 'incr' | 'read', at: number, value: number): HistoryRecord => ({
      op: kind === 'incr' ? 'incr-counter' : 'read-counter',
      kind,
      key: 'counter:1',
      scheduled: t0 + at,
      start: t0 + at,
      end: t0 + at + 2,
      status: 200,
      instance: 0,
      value,
    });
    const run = (records: HistoryRecord[]) => {
      const acc = new FaultWindowAccumulator(faultWindows(cell));
      for (const r of records) acc.add(r);
      return acc.lostLowerBound();
    };
    const base = [op('read', 1000, 10), op('incr', 2000, 1), op('incr', 3000, 1), op('incr', 6000, 1)];
    // Last read inside the fault window [5.2 s, 9.1 s) shows 11: buffered increments invisible, not lost.
    expect(run([...base, op('read', 7000, 11)])).toBeNull();
    // After the fault: 13 is complete; 12 misses one; a later complete read clears a transient gap.
    expect(run([...base, op('read', 12000, 13)])).toEqual({ lost: 0, counters: 1 });
    expect(run([...base, op('read', 12000, 12)])).toEqual({ lost: 1, counters: 1 });
    expect(run([...base, op('read', 12000, 12), op('read', 13000, 13)])).toEqual({ lost: 0, counters: 1 });
  });

  it('write-behind: increments acknowledged during an outage and missing from later reads are counted', () => {
    const { cell, history } = counterOutage('write-behind', true);
    const a = analyzeCellRecords(cell, history);
    const lost = history.filter(
      (h) =>
        h.kind === 'incr' && cell.faults[0]!.appliedAt! <= h.start && h.start < cell.faults[0]!.removedAt!,
    ).length;
    expect(a.failOpen.writeBehind).not.toBeNull();
    expect(a.failOpen.writeBehind!.historyLostLowerBound).toBeGreaterThan(0);
    expect(a.failOpen.writeBehind!.historyLostLowerBound).toBeLessThanOrEqual(lost);
    const noCache = counterOutage('no-cache', false);
    const direct = analyzeCellRecords(noCache.cell, noCache.history);
    expect(direct.failOpen.writeBehind!.historyLostLowerBound).toBe(0);
  });

  it('write-behind: DB writes per increment divides every counter DB write by every acknowledged increment', () => {
    const { cell, history } = counterOutage('write-behind', true);
    const acked = history
      .filter((h) => h.kind === 'incr' && h.status === 200)
      .reduce((s, h) => s + (h.value ?? 1), 0);
    expect(acked).toBeGreaterThan(100);
    // The shape of a real quick counter-outage run: a third of the increments went straight to
    // the DB while Redis was down, the rest were buffered and flushed in 16 writes.
    const direct = Math.round(acked / 3);
    cell.target.writeBehind = {
      increments: acked - direct,
      flushed: acked - direct,
      lost: 0,
      direct,
      flushWrites: 16,
      dbWrites: direct + 16,
    };
    const wb = analyzeCellRecords(cell, history).failOpen.writeBehind!;
    expect(wb.increments).toBe(acked);
    expect(wb.buffered).toBe(acked - direct);
    expect(wb.dbWritesPerIncrement).toBeCloseTo((direct + 16) / acked, 9);
    expect(wb.flushWritesPerBufferedIncrement).toBeCloseTo(16 / (acked - direct), 9);
    // An older results file without the split still gets a ratio over the acknowledged increments.
    delete cell.target.writeBehind.direct;
    delete cell.target.writeBehind.flushWrites;
    const old = analyzeCellRecords(cell, history).failOpen.writeBehind!;
    expect(old.dbWritesPerIncrement).toBeCloseTo((direct + 16) / acked, 9);
    expect(old.flushWritesPerBufferedIncrement).toBeNull();
  });
});
