/**
 * The k6 entry script: runs any cachebench scenario with k6 (>= 0.57 runs this .ts directly).
 * Normally started by harness/driver/k6.ts; by hand:
 *
 *   k6 run --out json=k6.ndjson \
 *     -e CACHEBENCH_SCENARIO=/abs/path/scenario.json   # resolved scenario (ms durations, profile applied)
 *     -e CACHEBENCH_TARGETS=http://127.0.0.1:3000      # comma-separated target instances
 *     -e CACHEBENCH_SEED=1 scenarios/k6/entry.ts
 *
 * Optional: CACHEBENCH_K6_OPTIONS (path of options JSON written by the harness; otherwise built
 * here from the scenario by the same function), CACHEBENCH_START_AT (epoch ms the load starts at),
 * CACHEBENCH_REQUEST_TIMEOUT_MS (default 10000), CACHEBENCH_K6_SUMMARY (where k6's own end-of-test
 * summary JSON goes; default k6-summary.json — see handleSummary below). K6_WEB_DASHBOARD=true
 * (k6's own live dashboard; README "k6") works alongside.
 *
 * Every request emits one `cachebench_req` point: tags op/kind/instance/status/ok (few values,
 * so k6 keeps few time series) and, as non-indexed metadata, the key, the versions the response
 * reflected and the scheduled/start/end times — one HistoryRecord per point for the analysis.
 */
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Gauge, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { buildK6Options, K6_METRICS } from '../../harness/driver/k6-options.ts';
import type { Scenario } from '../types.ts';
import { createRequestGenerator, isErrorStatus, type PlannedRequest, parseResponse } from '../workload.ts';
import { checkResponse } from './checks.ts';
import { type K6SummaryData, summaryOutputs } from './summary.ts';

function required(name: string): string {
  const v = __ENV[name];
  if (!v) throw new Error(`${name} is not set: pass -e ${name}=… (see the header of scenarios/k6/entry.ts)`);
  return v;
}

function intEnv(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`${name}='${raw}' is not a number`);
  return Math.floor(v);
}

// --- init context: runs once per VU (and once to read `options`).
const scenario = JSON.parse(open(required('CACHEBENCH_SCENARIO'))) as Scenario;
const targets = required('CACHEBENCH_TARGETS')
  .split(',')
  .map((u) => u.trim().replace(/\/+$/, ''))
  .filter((u) => u.length > 0);
if (targets.length === 0) throw new Error('CACHEBENCH_TARGETS lists no URL');
const seed = intEnv('CACHEBENCH_SEED', 1);
const requestTimeoutMs = intEnv('CACHEBENCH_REQUEST_TIMEOUT_MS', 10_000);
const startAt = intEnv('CACHEBENCH_START_AT', 0);
const optionsPath = __ENV.CACHEBENCH_K6_OPTIONS;

// Typed as k6's Options: the type check proves buildK6Options produces what k6 accepts.
const builtOptions: Options = buildK6Options(scenario, { requestTimeoutMs }).options;
export const options: Options = optionsPath ? (JSON.parse(open(optionsPath)) as Options) : builtOptions;

const requestMetric = new Trend(K6_METRICS.request, true);
const errorMetric = new Rate(K6_METRICS.errors);
const loadStartMetric = new Gauge(K6_METRICS.loadStart);

/** Runs once before any scenario: holds the start until the harness's planned instant. */
export function setup(): { t0: number } {
  const wait = startAt - Date.now();
  if (wait > 0) sleep(wait / 1000);
  const t0 = Date.now();
  loadStartMetric.add(t0);
  return { t0 };
}

// One request stream per VU, seeded by the run seed and the VU: same distribution and mix as the
// built-in driver; which VU runs which arrival is up to k6, so the exact sequence is not shared.
let nextRequest: (() => PlannedRequest) | undefined;

function parseBody(text: unknown): unknown {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export default function (): void {
  // The arrival-rate executor starts this iteration at its scheduled instant (or drops it when no
  // VU is free): the iteration start is the closest observable stand-in for the scheduled time.
  const scheduled = Date.now();
  if (!nextRequest)
    nextRequest = createRequestGenerator(scenario, (seed * 7919 + exec.vu.idInTest * 104729) | 0);
  const plan = nextRequest();
  const instance = exec.scenario.iterationInTest % targets.length;
  const url = `${targets[instance]}${plan.path}`;

  const start = Date.now();
  const res = http.request(plan.method, url, plan.body ?? null, {
    headers: plan.body ? { 'content-type': 'application/json' } : {},
    // `name` groups every URL of an op into one series (URLs carry keys: unbounded cardinality).
    tags: { name: plan.op },
    timeout: `${requestTimeoutMs}ms`,
    responseType: 'text',
  });
  const end = Date.now();

  const body = parseBody(res.body);
  const verdict = checkResponse(plan, res.status, body);
  const info = parseResponse(plan.op, res.status, body);
  // Same rule as the built-in driver (no response or >= 400), plus a 2xx that breaks the contract.
  const isError = isErrorStatus(plan, res.status) || (verdict.statusOk && !verdict.bodyOk);
  let error: string | undefined;
  if (res.status === 0) error = res.error || 'no response';
  else if (res.status >= 400) {
    const e = (body as { error?: unknown } | undefined)?.error;
    error = typeof e === 'string' ? e : `HTTP ${res.status}`;
  } else if (isError) error = verdict.problem;

  // Metadata is per VU and sticks to every later sample: set it just for this one point.
  const meta = exec.vu.metrics.metadata;
  meta.key = plan.key;
  meta.scheduled = scheduled;
  meta.start = start;
  meta.end = end;
  if (info.versions) meta.versions = JSON.stringify(info.versions);
  const value = info.value ?? plan.value;
  if (value !== undefined) meta.value = value;
  if (error !== undefined) meta.error = error;
  requestMetric.add(end - scheduled, {
    op: plan.op,
    kind: plan.kind,
    instance: String(instance),
    status: String(res.status),
    ok: isError ? 'false' : 'true',
  });
  for (const k of ['key', 'scheduled', 'start', 'end', 'versions', 'value', 'error']) delete meta[k];

  errorMetric.add(isError, { op: plan.op });
  // Checks test the contract, not just the status: a 200 without versions fails.
  check(res, { 'status is 2xx': () => verdict.statusOk });
  if (verdict.statusOk) check(res, { 'body carries versions/value': () => verdict.bodyOk });
}

/**
 * k6 calls this once at the end with its summary: kept as JSON (the harness puts it next to the
 * cell's k6.ndjson) instead of the text summary k6 would print and the harness would discard.
 */
export function handleSummary(data: K6SummaryData): Record<string, string> {
  return summaryOutputs(data, __ENV.CACHEBENCH_K6_SUMMARY);
}
