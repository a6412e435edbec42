/** Scenario → k6 options: executors per phase, rates, durations, VUs, thresholds. Pure. */
import { describe, expect, it } from 'vitest';
import { buildK6Options, integerRates, K6_METRICS } from '../harness/driver/k6-options.ts';
import type { Scenario } from '../scenarios/types.ts';

function scenario(over: Partial<Scenario> = {}): Scenario {
  return {
    name: 't',
    question: 'q?',
    description: '',
    load: { arrivals: 'constant', maxInFlight: 256, phases: [{ duration: 20_000, rate: 500 }] },
    keys: { type: 'uniform' },
    mix: { 'read-user': 1 },
    data: { users: 100, teams: 10, counters: 10, reportCostMs: 0, userReadCostMs: 0 },
    cache: {},
    start: 'warm',
    faults: [],
    budgets: {},
    ...over,
  };
}

/** Arrivals k6 will start for a scenario entry: the integral of its rate over its duration. */
function k6Arrivals(s: ReturnType<typeof buildK6Options>['options']['scenarios'][string]): number {
  const unitS = Number.parseInt(s.timeUnit, 10) / 1000;
  if (s.executor === 'constant-arrival-rate')
    return (s.rate / unitS) * (Number.parseInt(s.duration, 10) / 1000);
  let from = s.startRate;
  let sum = 0;
  for (const st of s.stages) {
    sum += (((from + st.target) / 2) * Number.parseInt(st.duration, 10)) / 1000 / unitS;
    from = st.target;
  }
  return sum;
}

describe('buildK6Options', () => {
  it('maps a constant phase to constant-arrival-rate with maxVUs = maxInFlight and budgets to thresholds', () => {
    const r = buildK6Options(
      scenario({ budgets: { p99: 100, errorRate: 0, rebuildsPerExpiry: 1.5, staleBeyondTtl: 0 } }),
    );
    expect(r.options.scenarios).toEqual({
      'phase-0': {
        executor: 'constant-arrival-rate',
        startTime: '0ms',
        gracefulStop: '11000ms',
        preAllocatedVUs: 50,
        maxVUs: 256,
        tags: { phase: '0' },
        rate: 500,
        timeUnit: '1000ms',
        duration: '20000ms',
      },
    });
    expect(r.options.thresholds).toEqual({
      [K6_METRICS.request]: ['p(99)<100'],
      [K6_METRICS.errors]: ['rate<=0'],
    });
    expect(r.unenforcedBudgets.sort()).toEqual(['rebuildsPerExpiry', 'staleBeyondTtl']);
    expect(r.options.systemTags).not.toContain('url');
    expect(r.options.discardResponseBodies).toBe(false);
  });

  it('chains phases by startTime: ramps, pauses, fractional rates in a longer timeUnit', () => {
    const s = scenario({
      load: {
        arrivals: 'constant',
        maxInFlight: 8,
        phases: [
          { duration: 10_000, rate: 2.5 },
          { duration: 5_000, rate: 10, to: 40 },
          { duration: 3_000, rate: 0 },
          { duration: 2_000, rate: 0.125 },
        ],
      },
    });
    const r = buildK6Options(s, { requestTimeoutMs: 2_000 });
    const sc = r.options.scenarios;
    expect(Object.keys(sc)).toEqual(['phase-0', 'phase-1', 'phase-3']);
    expect(sc['phase-0']).toMatchObject({ executor: 'constant-arrival-rate', rate: 25, timeUnit: '10000ms' });
    expect(sc['phase-1']).toMatchObject({
      executor: 'ramping-arrival-rate',
      startTime: '10000ms',
      startRate: 10,
      timeUnit: '1000ms',
      stages: [{ duration: '5000ms', target: 40 }],
      preAllocatedVUs: 4,
      maxVUs: 8,
      gracefulStop: '3000ms',
    });
    expect(sc['phase-3']).toMatchObject({ startTime: '18000ms', rate: 125, timeUnit: '1000000ms' });
    // The same number of arrivals as the scenario asks for, phase by phase.
    const planned = s.load.phases.map((p) => (((p.rate + (p.to ?? p.rate)) / 2) * p.duration) / 1000);
    expect(k6Arrivals(sc['phase-0']!)).toBeCloseTo(planned[0]!, 9);
    expect(k6Arrivals(sc['phase-1']!)).toBeCloseTo(planned[1]!, 9);
    expect(k6Arrivals(sc['phase-3']!)).toBeCloseTo(planned[3]!, 9);
    expect(r.options.thresholds).toEqual({});
  });

  it('says that Poisson arrivals run evenly spaced under k6', () => {
    const r = buildK6Options(
      scenario({ load: { arrivals: 'poisson', maxInFlight: 0, phases: [{ duration: 1000, rate: 10 }] } }),
    );
    expect(r.notes.join(' ')).toMatch(/Poisson/);
    expect(r.options.scenarios['phase-0']).toMatchObject({ maxVUs: 1, preAllocatedVUs: 1 });
  });

  it('caps preAllocatedVUs at maxVUs', () => {
    const r = buildK6Options(
      scenario({ load: { arrivals: 'constant', maxInFlight: 16, phases: [{ duration: 1000, rate: 1000 }] } }),
      {
        preAllocatedVUs: 500,
      },
    );
    expect(r.options.scenarios['phase-0']).toMatchObject({ preAllocatedVUs: 16, maxVUs: 16 });
  });
});

describe('integerRates', () => {
  it('finds the smallest timeUnit with whole rates', () => {
    expect(integerRates([3, 7])).toEqual({ timeUnitMs: 1000, scaled: [3, 7] });
    expect(integerRates([0.5, 2])).toEqual({ timeUnitMs: 10_000, scaled: [5, 20] });
    expect(integerRates([0.25])).toEqual({ timeUnitMs: 100_000, scaled: [25] });
    expect(integerRates([1 / 3])).toEqual({ timeUnitMs: 1_000_000, scaled: [333] });
  });
});
