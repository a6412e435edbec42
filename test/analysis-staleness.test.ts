import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeCell, analyzeCellRecords, analyzeRun } from '../harness/analysis/index.ts';
import { checkHistory } from '../harness/analysis/staleness.ts';
import type { HistoryRecord } from '../harness/results/schema.ts';
import { synthCell, synthRun } from './fixtures/synthetic.ts';

const w = (key: string, version: number, start: number, end: number, status = 200): HistoryRecord => ({
  op: 'update-user',
  kind: 'write',
  key,
  scheduled: start,
  start,
  end,
  status,
  instance: 0,
  versions: { [key]: version },
});
const r = (
  versions: Record<string, number>,
  start: number,
  end = start + 1,
  status = 200,
): HistoryRecord => ({
  op: Object.keys(versions).length > 1 ? 'read-team-members' : 'read-user',
  kind: 'read',
  key: Object.keys(versions)[0]!,
  scheduled: start,
  start,
  end,
  status,
  instance: 0,
  versions,
});

describe('staleness checker (history-based, DESIGN §5)', () => {
  it('flags a read that returned an older version than a write completed before it started', () => {
    const c = checkHistory([w('user:1', 2, 100, 110), r({ 'user:1': 1 }, 150)], 1000).result();
    expect(c.readsChecked).toBe(1);
    expect(c.staleReads).toBe(1);
    expect(c.age.max).toBe(40);
    expect(c.staleReadRatio).toBe(1);
  });

  it('does not flag a read returning the newest completed version', () => {
    const c = checkHistory([w('user:1', 2, 100, 110), r({ 'user:1': 2 }, 150)], 1000).result();
    expect(c.staleReads).toBe(0);
    expect(c.staleReadRatio).toBe(0);
  });

  it('a read concurrent with the write (started before the write completed) is not stale', () => {
    const c = checkHistory([w('user:1', 2, 100, 200), r({ 'user:1': 1 }, 150, 160)], 1000).result();
    expect(c.staleReads).toBe(0);
    // Ends exactly at the read start: not "completed before" (strict), so not stale either.
    const d = checkHistory([w('user:1', 2, 100, 150), r({ 'user:1': 1 }, 150)], 1000).result();
    expect(d.staleReads).toBe(0);
  });

  it('with several newer writes the age counts from the EARLIEST-completing one', () => {
    const h = [
      w('user:1', 2, 100, 110),
      w('user:1', 3, 200, 210),
      w('user:1', 4, 300, 310),
      r({ 'user:1': 1 }, 400),
    ];
    const c = checkHistory(h, 1000).result();
    expect(c.age.max).toBe(290);
    // Returned v2: the earliest newer write is v3 (end 210).
    const d = checkHistory([...h.slice(0, 3), r({ 'user:1': 2 }, 400)], 1000).result();
    expect(d.age.max).toBe(190);
    // Writes recorded out of order (by start) still index by end time.
    const e = checkHistory(
      [w('user:1', 3, 200, 210), w('user:1', 2, 100, 110), r({ 'user:1': 1 }, 400)],
      1000,
    ).result();
    expect(e.age.max).toBe(290);
  });

  it('keys are independent', () => {
    const c = checkHistory(
      [w('user:1', 5, 0, 10), r({ 'user:2': 1 }, 50), r({ 'user:1': 5 }, 60)],
      1000,
    ).result();
    expect(c.readsChecked).toBe(2);
    expect(c.staleReads).toBe(0);
  });

  it('aggregate reads: each (key, version) pair checked; the read is stale if any pair is, age = worst pair', () => {
    const h = [
      w('user:1', 2, 0, 10),
      w('user:2', 7, 0, 30),
      r({ 'user:1': 2, 'user:2': 7, 'user:3': 1 }, 100), // fresh
      r({ 'user:1': 1, 'user:2': 6, 'user:3': 1 }, 100), // two stale pairs: ages 90 and 70
    ];
    const c = checkHistory(h, 1000).result();
    expect(c.readsChecked).toBe(2);
    expect(c.pairsChecked).toBe(6);
    expect(c.staleReads).toBe(1);
    expect(c.stalePairs).toBe(2);
    expect(c.age.max).toBe(90);
    expect(c.staleByOp['read-team-members']).toBe(1);
  });

  it('failed writes are not writes; failed reads are not checked', () => {
    const c = checkHistory([w('user:1', 2, 0, 10, 500), r({ 'user:1': 1 }, 50)], 1000).result();
    expect(c.writes).toBe(0);
    expect(c.staleReads).toBe(0);
    const d = checkHistory([w('user:1', 2, 0, 10), r({ 'user:1': 1 }, 50, 60, 503)], 1000).result();
    expect(d.readsChecked).toBe(0);
  });

  it('reports reads stale beyond the TTL with examples, oldest first, at most 10', () => {
    const h: HistoryRecord[] = [w('user:1', 2, 0, 10)];
    for (let i = 0; i < 15; i++) h.push(r({ 'user:1': 1 }, 100 + i * 100)); // ages 90..1490
    const c = checkHistory(h, 500).result();
    expect(c.staleReads).toBe(15);
    expect(c.staleBeyondTtl).toBe(10); // ages 590..1490
    expect(c.beyondTtlExamples).toHaveLength(10);
    expect(c.beyondTtlExamples[0]).toMatchObject({
      key: 'user:1',
      returnedVersion: 1,
      newerVersion: 2,
      writeEnd: 10,
      readStart: 1500,
      ageMs: 1490,
    });
    expect(c.age.p50).toBe(790); // nearest rank: 8th of 15 ages 90..1490
  });

  it('streams the history file: a synthetic Redis outage loses invalidations and shows stale reads after the fault', async () => {
    const { cell, history } = synthCell({
      scenario: 'redis-outage',
      strategy: 'cache-aside',
      seconds: 12,
      ttlS: 5,
      historyRate: 200,
      faults: [{ atS: 3, forS: 3, proxy: 'redis', down: true }],
      seed: 3,
    });
    const dir = mkdtempSync(join(tmpdir(), 'cb-hist-'));
    cell.historyFile = 'h.ndjson';
    writeFileSync(join(dir, 'h.ndjson'), `${history.map((h) => JSON.stringify(h)).join('\n')}\n{"torn`);
    const a = await analyzeCell(cell, dir);
    expect(a.staleness).not.toBeNull();
    expect(a.staleness!.readsChecked).toBeGreaterThan(1000);
    expect(a.staleness!.staleAfterFaults).toBeGreaterThan(0);
    expect(a.validity.flags.map((f) => f.code)).toContain('history-malformed');
    // Cross-check against the in-memory checker on the same records.
    expect(a.staleness!.staleReads).toBe(checkHistory(history, cell.ttlMs).staleReads);
  });

  it('a missing history file makes the cell untrusted instead of throwing', async () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside', seconds: 5 });
    const a = await analyzeCell(cell, '/nonexistent-dir');
    expect(a.staleness).toBeNull();
    expect(a.validity.trusted).toBe(false);
    expect(a.validity.flags[0]!.code).toBe('history-missing');
  });
});

describe('staleness per endpoint TTL and after deletes', () => {
  const read = (op: string, versions: Record<string, number>, start: number): HistoryRecord => ({
    ...r(versions, start),
    op,
  });
  const del = (key: string, tombstone: number, start: number, end: number, status = 200): HistoryRecord => ({
    ...w(key, tombstone, start, end, status),
    op: 'delete-user',
  });

  it('judges "beyond TTL" against the TTL of the read’s own endpoint', () => {
    const h = [
      w('user:1', 2, 0, 10),
      // Both 500 ms old: beyond the report's 200 ms, within the user's 1 s.
      read('read-user', { 'user:1': 1 }, 510),
      read('read-team-report', { 'user:1': 1, 'user:2': 1 }, 510),
      // 3 s old: beyond the default 2 s that team-members falls back to.
      read('read-team-members', { 'user:1': 1 }, 3010),
    ];
    const s = checkHistory(h, 2_000, { user: 1_000, 'team-report': 200 }).result();
    expect(s.staleReads).toBe(3);
    expect(s.staleBeyondTtl).toBe(2);
    expect(s.beyondTtlExamples.map((x) => [x.op, x.ttlMs])).toEqual([
      ['read-team-members', 2_000],
      ['read-team-report', 200],
    ]);
    expect(s.ttlByOp).toEqual({ 'read-user': 1_000, 'read-team-members': 2_000, 'read-team-report': 200 });
    // One TTL for everything: none of them is beyond 5 s.
    expect(checkHistory(h, 5_000).result().staleBeyondTtl).toBe(0);
  });

  it('counts a read returning a deleted entity after its delete completed as served after delete', () => {
    const h = [
      del('user:7', 4, 100, 120),
      read('read-user', { 'user:7': 3 }, 115), // started before the delete completed: not stale
      read('read-team-members', { 'user:6': 1, 'user:7': 3 }, 121), // still lists the deleted user
      read('read-user', { 'user:7': 3 }, 300),
      read('read-team-members', { 'user:6': 1 }, 300), // the list without it: fine
      del('user:7', 4, 400, 410, 404), // a failed delete is no delete
      w('user:8', 2, 500, 510),
      read('read-user', { 'user:8': 1 }, 600), // stale, but nothing was deleted
    ];
    const s = checkHistory(h, 1_000).result();
    expect(s.deletes).toBe(1);
    expect(s.servedAfterDelete).toBe(2);
    expect(s.servedAfterDeleteByOp).toEqual({ 'read-team-members': 1, 'read-user': 1 });
    expect(s.staleReads).toBe(3);
  });
});

describe('served after delete in the run analysis', () => {
  it('the verdict names a strategy that keeps serving deleted users from lists as worse', () => {
    const { results, histories } = synthRun({
      scenarios: [{ name: 'delete-race', budgets: { servedAfterDelete: 0 } }],
      strategies: ['cache-aside', 'forgets'],
      seconds: 10,
    });
    for (const cell of results.cells) {
      const h = [...histories.get(cell.id)!];
      // 30 deletes of users the synthetic history never touches; each followed by 3 list reads.
      for (let i = 0; i < 30; i++) {
        const key = `user:${900_000 + i}`;
        const t = cell.loadStartedAt + 200 + i * 300;
        h.push({ ...w(key, 2, t, t + 5), op: 'delete-user' });
        for (let k = 1; k <= 3; k++) {
          const versions = cell.strategy === 'forgets' ? { 'user:1': 1, [key]: 1 } : { 'user:1': 1 };
          h.push({ ...r(versions, t + 5 + k * 20), op: 'read-team-members', key: 'team:1' });
        }
      }
      h.sort((a, b) => a.start - b.start);
      cell.analysis = analyzeCellRecords(cell, h);
    }
    const run = analyzeRun(results);
    const sc = run.scenarios.find((s) => s.scenario === 'delete-race')!;
    const row = (name: string) => sc.rows.find((x) => x.strategy === name)!;
    expect(row('cache-aside').metrics.servedAfterDelete).toBe(0);
    expect(row('forgets').metrics.servedAfterDelete).toBe(90);
    expect(sc.primary?.[0]).toBe('servedAfterDelete');
    expect(sc.verdict).toMatch(
      /^Best served after delete: cache-aside \(0 [^)]*\); significantly worse: forgets \(worst forgets 90 /,
    );
    const failed = run.budgets.filter((b) => !b.passed && b.budget === 'servedAfterDelete');
    expect(failed.map((b) => b.strategy)).toEqual(['forgets']);
  });
});
