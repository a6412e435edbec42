/**
 * Scenario → k6 options. Pure, and importing only types, because two very different runtimes
 * load it: the harness (Node) and the k6 entry script (k6 strips the types; no Node API there).
 *
 * Mapping, phase by phase (each phase is one k6 scenario starting where the previous one ends):
 *   { rate }            → constant-arrival-rate
 *   { rate, to }        → ramping-arrival-rate, one linear stage from `rate` to `to`
 *   { rate: 0 } (pause) → no scenario: no arrivals
 * `maxInFlight` becomes maxVUs: a k6 VU has one request in flight at a time, so when all VUs are
 * busy an arrival is dropped and counted in `dropped_iterations` (the open-model rule: counted,
 * never hidden, never delayed). Budgets k6 can evaluate become thresholds; the rest stay with the
 * harness's analysis.
 */
import type { Budgets, LoadPhase, Scenario } from '../../scenarios/types.ts';

/** The custom metrics the entry script emits (names shared with the NDJSON parser). */
export const K6_METRICS = {
  /** Trend (time): one point per request, value = end − scheduled ms; tags op/kind/instance/status/ok. */
  request: 'cachebench_req',
  /** Rate: 1 for an error (status 0 or >= 400, or a 2xx body without the versions it must carry). */
  errors: 'cachebench_errors',
  /** Gauge: epoch ms at which the load started (emitted once, from setup()). */
  loadStart: 'cachebench_load_start',
} as const;

export interface K6OptionsInput {
  /** VUs created before the load starts, per phase; default from the peak rate, capped by maxVUs. */
  preAllocatedVUs?: number;
  /** How long in-flight requests may finish after a phase ends; default requestTimeoutMs + 1 s. */
  gracefulStopMs?: number;
  /** Per-request timeout (CACHEBENCH_REQUEST_TIMEOUT_MS for the entry script), default 10 s. */
  requestTimeoutMs?: number;
}

/** The subset of k6's Options this driver produces (entry.ts checks it against @types/k6). */
interface K6ScenarioBase {
  startTime: string;
  gracefulStop: string;
  timeUnit: string;
  preAllocatedVUs: number;
  maxVUs: number;
  tags: Record<string, string>;
}
export interface K6ConstantArrival extends K6ScenarioBase {
  executor: 'constant-arrival-rate';
  rate: number;
  duration: string;
}
export interface K6RampingArrival extends K6ScenarioBase {
  executor: 'ramping-arrival-rate';
  startRate: number;
  stages: { duration: string; target: number }[];
}
export type K6ArrivalScenario = K6ConstantArrival | K6RampingArrival;

export interface K6Options {
  scenarios: Record<string, K6ArrivalScenario>;
  thresholds: Record<string, string[]>;
  systemTags: string[];
  discardResponseBodies: false;
  setupTimeout: string;
  teardownTimeout: string;
  userAgent: string;
}

export interface K6OptionsResult {
  options: K6Options;
  /** Budgets k6 cannot observe (server-side counts, staleness…): left to the harness's gate. */
  unenforcedBudgets: (keyof Budgets)[];
  /** Approximations a report should mention (e.g. Poisson arrivals run evenly spaced). */
  notes: string[];
}

const ms = (v: number) => `${Math.max(0, Math.round(v))}ms`;

/**
 * k6 rates are integers per `timeUnit`. Picks the smallest unit (1 s, 10 s, 100 s, 1000 s) in
 * which every rate of the phase is a whole number, so 2.5/s becomes 25 per 10 s — the same
 * evenly spaced arrivals, not a rounded rate. Rates finer than 0.001/s are rounded.
 */
export function integerRates(rates: number[]): { timeUnitMs: number; scaled: number[] } {
  for (const factor of [1, 10, 100, 1000]) {
    const scaled = rates.map((r) => r * factor);
    if (scaled.every((v) => Math.abs(v - Math.round(v)) < 1e-9)) {
      return { timeUnitMs: 1000 * factor, scaled: scaled.map((v) => Math.round(v)) };
    }
  }
  return { timeUnitMs: 1_000_000, scaled: rates.map((r) => Math.round(r * 1000)) };
}

function peakRate(p: LoadPhase): number {
  return Math.max(p.rate, p.to ?? p.rate);
}

export function buildK6Options(scenario: Scenario, input: K6OptionsInput = {}): K6OptionsResult {
  const load = scenario.load;
  const maxVUs = Math.max(1, Math.floor(load.maxInFlight));
  const requestTimeoutMs = input.requestTimeoutMs ?? 10_000;
  const gracefulStop = ms(input.gracefulStopMs ?? requestTimeoutMs + 1_000);
  const notes: string[] = [];
  if (load.arrivals === 'poisson') {
    notes.push(
      'k6 arrival-rate executors space arrivals evenly: the scenario asks for Poisson arrivals, the k6 driver runs them at the same mean rate with constant spacing',
    );
  }

  const scenarios: Record<string, K6ArrivalScenario> = {};
  let offset = 0;
  load.phases.forEach((phase, i) => {
    const start = offset;
    offset += phase.duration;
    const to = phase.to ?? phase.rate;
    if (phase.duration <= 0 || (phase.rate <= 0 && to <= 0)) return;
    // Enough VUs for ~100 ms of arrivals up front: initialising VUs mid-test stalls k6.
    const pre = Math.min(maxVUs, input.preAllocatedVUs ?? Math.max(2, Math.ceil(peakRate(phase) * 0.1)));
    const base = {
      startTime: ms(start),
      gracefulStop,
      preAllocatedVUs: pre,
      maxVUs,
      tags: { phase: String(i) },
    };
    const name = `phase-${i}`;
    if (to === phase.rate) {
      const { timeUnitMs, scaled } = integerRates([phase.rate]);
      scenarios[name] = {
        executor: 'constant-arrival-rate',
        ...base,
        rate: scaled[0]!,
        timeUnit: ms(timeUnitMs),
        duration: ms(phase.duration),
      };
    } else {
      const { timeUnitMs, scaled } = integerRates([phase.rate, to]);
      scenarios[name] = {
        executor: 'ramping-arrival-rate',
        ...base,
        startRate: scaled[0]!,
        timeUnit: ms(timeUnitMs),
        stages: [{ duration: ms(phase.duration), target: scaled[1]! }],
      };
    }
  });

  const thresholds: Record<string, string[]> = {};
  const b = scenario.budgets;
  if (b.p99 !== undefined) thresholds[K6_METRICS.request] = [`p(99)<${b.p99}`];
  if (b.errorRate !== undefined) thresholds[K6_METRICS.errors] = [`rate<=${b.errorRate}`];
  const unenforcedBudgets = (Object.keys(b) as (keyof Budgets)[]).filter(
    (k) => b[k] !== undefined && k !== 'p99' && k !== 'errorRate',
  );
  if (b.p99 !== undefined) {
    notes.push(
      'the k6 p99 threshold is over the whole run and measures from the iteration start (k6 drops rather than delays late arrivals)',
    );
  }

  return {
    options: {
      scenarios,
      thresholds,
      // The URL tag would make a time series per key: `name` (set to the op) groups requests.
      systemTags: [
        'status',
        'method',
        'name',
        'scenario',
        'expected_response',
        'error',
        'error_code',
        'check',
      ],
      discardResponseBodies: false,
      // setup() waits for CACHEBENCH_START_AT so the load starts when the harness planned it.
      setupTimeout: '120s',
      teardownTimeout: '10s',
      userAgent: 'cachebench-k6',
    },
    unenforcedBudgets,
    notes,
  };
}
