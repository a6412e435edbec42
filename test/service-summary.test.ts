import { describe, expect, it } from 'vitest';
import type { RunResults } from '../harness/results/schema.ts';
import { serviceSummary } from '../harness/service/summary.ts';

// Pure: the comparison table of a service run from a synthetic results file.
function results(faults: unknown[]): RunResults {
  const service = {
    blackBox: {
      rebuildsPerExpiry: 10,
      staleReads: 3,
      dbQueriesPerRequest: 0.1,
      faultErrorRate: null,
      hitRatio: null,
    },
    probe: null,
    keyspaceEvents: { set: 30, expired: 3 },
    dbQueriesByOperation: {},
    notMeasured: { 'cacheHealth.hitRatio': 'no probe: hits are not visible from outside' },
  };
  const cell = { scenario: 'hot-key', strategy: 'aside', repeat: 1, faults, service };
  return {
    run: { target: { kind: 'service', name: 'demo', profile: 'p.yaml', profileHash: 'x' }, profile: 'quick' },
    cells: [cell],
  } as unknown as RunResults;
}

describe('service summary', () => {
  it('says a fault error rate is missing because the scenario has no fault, not because it was not measured', () => {
    const md = serviceSummary(results([]));
    expect(md).toMatch(/\| fault error rate \| no fault in scenario \|/);
    expect(md).toMatch(/\| hit ratio \| not measured \|/);
  });

  it('says not measured when the scenario had a fault and no rate came out', () => {
    const md = serviceSummary(results([{ kind: 'redis-down' }]));
    expect(md).toMatch(/\| fault error rate \| not measured \|/);
  });
});
