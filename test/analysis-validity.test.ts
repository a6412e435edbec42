import { describe, expect, it } from 'vitest';
import { analyzeDbLoad } from '../harness/analysis/db-load.ts';
import { analyzeValidity } from '../harness/analysis/validity.ts';
import type { CellResult } from '../harness/results/schema.ts';
import { synthCell } from './fixtures/synthetic.ts';

function codes(cell: CellResult) {
  const v = analyzeValidity(cell, { dbLoad: analyzeDbLoad(cell) });
  return { trusted: v.trusted, codes: v.flags.map((f) => `${f.code}:${f.severity}`), flags: v.flags };
}

describe('validity flags', () => {
  it('a clean cell is trusted with no flags', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside' });
    expect(codes(cell)).toMatchObject({ trusted: true, codes: [] });
  });

  it('rate shortfall > 2%, driver CPU > 0.9 and a huge scheduling lag make the cell untrusted', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside', saturated: true });
    const r = codes(cell);
    expect(r.trusted).toBe(false);
    expect(r.codes).toEqual(['rate-short:error', 'driver-cpu:error', 'scheduling-lag:error']);
    for (const f of r.flags) {
      expect(f.message.length).toBeGreaterThan(10);
      expect(f.hint.length).toBeGreaterThan(10);
    }
  });

  it('a 1.9% shortfall passes; 2.1% does not', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside' });
    cell.load.requestedRate = 100;
    cell.load.achievedRate = 98.1;
    expect(codes(cell).codes).toEqual([]);
    cell.load.achievedRate = 97.9;
    expect(codes(cell).codes).toEqual(['rate-short:error']);
  });

  it('a sent request that was neither answered nor failed makes the cell untrusted', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside' });
    expect(cell.load.completed).toBe(cell.load.sent);
    cell.load.completed = cell.load.sent - 1;
    const r = codes(cell);
    expect(r).toMatchObject({ trusted: false, codes: ['unanswered:error'] });
  });

  it('dropped arrivals: a few warn, more than 1% is an error', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside' });
    cell.load.dropped = 3;
    expect(codes(cell).codes).toEqual(['dropped:warning']);
    cell.load.dropped = Math.ceil(cell.load.scheduled * 0.02);
    expect(codes(cell)).toMatchObject({ trusted: false, codes: ['dropped:error'] });
  });

  it('faults not applied, applied late, removed late', () => {
    const { cell } = synthCell({
      scenario: 's',
      strategy: 'cache-aside',
      faults: [
        { atS: 2, forS: 2, proxy: 'redis', down: true, notApplied: true },
        { atS: 8, forS: 2, proxy: 'redis', down: true },
      ],
    });
    cell.faults[1]!.appliedAt = cell.loadStartedAt + 8000 + 80;
    cell.faults[1]!.removedAt = cell.loadStartedAt + 10000 + 120;
    expect(codes(cell).codes).toEqual([
      'fault-not-applied:error',
      'fault-late:warning',
      'fault-removed-late:warning',
    ]);
  });

  it('pg_stat_statements differing from the target count by more than 0.5% is flagged', () => {
    const { cell } = synthCell({ scenario: 's', strategy: 'cache-aside' });
    cell.pgStatStatements!.calls = Math.round(cell.target.dbQueries * 1.004);
    expect(codes(cell).codes).toEqual([]);
    cell.pgStatStatements!.calls = Math.round(cell.target.dbQueries * 1.01);
    expect(codes(cell).codes).toEqual(['pg-stat-mismatch:warning']);
    expect(analyzeDbLoad(cell).pgStatRelativeDiff).toBeCloseTo(0.01, 3);
  });
});
