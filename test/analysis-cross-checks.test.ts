/**
 * The cross-checks of target-observed figures (docs/measurements.md "Cross-checks of the
 * observed figures"), as pure logic: tolerances at their edges, silence is not a lie, a lock
 * waiter counted as a miss by the strategy is not a lie either, inflated hits are.
 */
import { describe, expect, it } from 'vitest';
import { analyzeDbLoad } from '../harness/analysis/db-load.ts';
import {
  analyzeValidity,
  pgStatLoadMismatch,
  selfReportMismatch,
  sourceLoadMismatch,
} from '../harness/analysis/validity.ts';
import type { CellResult } from '../harness/results/schema.ts';
import { synthCell } from './fixtures/synthetic.ts';

/** A cell whose target saw 1000 reads of read-user: 900 hits, 100 loads (one query each). */
function cell(): CellResult {
  const { cell: c } = synthCell({ scenario: 'hot-key', strategy: 'cache-aside', seconds: 3 });
  c.target.dbQueriesByEndpoint = { 'read-user': 100 };
  c.target.dbQueries = 100;
  c.target.cache = { ...c.target.cache, hits: 900, misses: 100, staleServed: 0, fallbacks: 0 };
  c.target.sources = {
    loads: 100,
    loadsFailed: 0,
    loadsBackground: 0,
    callsByEndpoint: { 'read-user': 100 },
    failedByEndpoint: {},
    reads: 1000,
    earlyReads: 0,
  };
  c.target.reported = { hits: 900, misses: 100, staleServed: 0, fallbacks: 0, rebuilds: 100 };
  c.pgStatStatements = {
    calls: 100,
    totalExecMs: 10,
    top: [{ query: '/* cachebench:get-user */ SELECT id FROM users WHERE id = $1', calls: 100, meanMs: 0.1 }],
  };
  return c;
}

describe('cross-checks of observed source loads', () => {
  it('an honest cell raises none', () => {
    const c = cell();
    expect([sourceLoadMismatch(c), pgStatLoadMismatch(c), selfReportMismatch(c)]).toEqual([null, null, null]);
    expect(analyzeValidity(c, { dbLoad: analyzeDbLoad(c) }).flags.map((f) => f.code)).not.toContain(
      'self-report-mismatch',
    );
  });

  it('loads vs DB queries: within max(3, 1%) passes, beyond fails; failed calls may lack a query', () => {
    const c = cell();
    c.target.dbQueriesByEndpoint['read-user'] = 103;
    expect(sourceLoadMismatch(c)).toBeNull();
    c.target.dbQueriesByEndpoint['read-user'] = 104;
    expect(sourceLoadMismatch(c)).toBe(
      'read-user: 100 closure calls observed (0 failed) but 104 DB queries counted',
    );
    c.target.dbQueriesByEndpoint['read-user'] = 80;
    c.target.sources!.failedByEndpoint = { 'read-user': 20 };
    expect(sourceLoadMismatch(c)).toBeNull();
    // Queries on a background endpoint with no observed call: something bypassed the closures.
    c.target.dbQueriesByEndpoint.background = 50;
    expect(sourceLoadMismatch(c)).toContain(
      'background: 0 closure calls observed (0 failed) but 50 DB queries',
    );
  });

  it('loads vs pg_stat_statements: only load statements count; skipped when the snapshot is partial', () => {
    const c = cell();
    c.pgStatStatements!.top.push({
      query: '/* cachebench:update-user */ UPDATE users',
      calls: 40,
      meanMs: 1,
    });
    c.pgStatStatements!.calls = 140;
    expect(pgStatLoadMismatch(c)).toBeNull();
    c.pgStatStatements!.top[0]!.calls = 60;
    c.pgStatStatements!.calls = 100;
    expect(pgStatLoadMismatch(c)).toBe(
      'target observed 100 source loads (0 failed) but pg_stat_statements counted 60 load statements',
    );
    c.pgStatStatements!.calls = 500; // rows left out of the snapshot: no basis for a verdict
    expect(pgStatLoadMismatch(c)).toBeNull();
  });

  it('self-report: silence passes, fewer hits passes, more hits or other rebuild counts fail', () => {
    const c = cell();
    c.target.reported = { hits: 0, misses: 0, staleServed: 0, fallbacks: 0, rebuilds: 0 };
    expect(selfReportMismatch(c)).toBeNull();
    // A lock waiter served from Redis: a miss in the strategy's books, a hit for the target.
    c.target.reported = { hits: 850, misses: 150, staleServed: 0, fallbacks: 0, rebuilds: 100 };
    expect(selfReportMismatch(c)).toBeNull();
    c.target.reported = { hits: 990, misses: 10, staleServed: 0, fallbacks: 0, rebuilds: 10 };
    expect(selfReportMismatch(c)).toBe(
      'reported 10 rebuilds, target observed 100 source loads; reported 990 hits, target observed 900 cache hits (+0 early recomputes)',
    );
    // xfetch's early recomputes are hits in its books and misses for the target.
    c.target.reported = { hits: 990, misses: 10, staleServed: 0, fallbacks: 0, rebuilds: 100 };
    c.target.sources!.earlyReads = 90;
    expect(selfReportMismatch(c)).toBeNull();
    const v = analyzeValidity(
      { ...c, target: { ...c.target, reported: { ...c.target.reported, rebuilds: 1 } } },
      { dbLoad: analyzeDbLoad(c) },
    );
    expect(v.trusted).toBe(false);
    expect(v.flags.find((f) => f.code === 'self-report-mismatch')?.message).toContain(
      'reported 1 rebuilds, target observed 100 source loads',
    );
  });

  it('results from before the target observed loads carry no sources: no cross-check, no flag', () => {
    const c = cell();
    delete c.target.sources;
    delete c.target.reported;
    expect([sourceLoadMismatch(c), pgStatLoadMismatch(c), selfReportMismatch(c)]).toEqual([null, null, null]);
  });
});
