/**
 * The k6 entry script's per-request logic, run under Node with the k6 modules replaced by
 * recorders (k6 itself is never installed here). Checks what reaches the NDJSON: the request
 * point's tags and metadata, metadata cleared after each point, error classification, checks,
 * and the options it exports.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildK6Options, K6_ENTRY } from '../harness/driver/k6.ts';
import type { Scenario } from '../scenarios/types.ts';

interface Added {
  metric: string;
  value: number | boolean;
  tags?: Record<string, string>;
  metadata: Record<string, unknown>;
}
interface FakeResponse {
  status: number;
  body: string | null;
  error: string;
}

// Shared with the module factories below (vi.mock is hoisted above plain declarations).
const k6 = vi.hoisted(() => ({
  added: [] as Added[],
  checks: [] as { name: string; ok: boolean }[],
  requests: [] as { method: string; url: string; body: unknown; params: Record<string, unknown> }[],
  metadata: {} as Record<string, unknown>,
  iteration: 0,
  respond: (_method: string, _url: string): FakeResponse => ({ status: 200, body: '{}', error: '' }),
}));

vi.mock('k6', () => ({
  check: (_v: unknown, sets: Record<string, () => boolean>) => {
    for (const [name, fn] of Object.entries(sets)) k6.checks.push({ name, ok: fn() });
    return true;
  },
  sleep: () => {},
}));
vi.mock('k6/http', () => ({
  default: {
    request: (method: string, url: string, body: unknown, params: Record<string, unknown>) => {
      k6.requests.push({ method, url, body, params });
      return k6.respond(method, url);
    },
  },
}));
vi.mock('k6/execution', () => ({
  default: {
    vu: { idInTest: 1, metrics: { metadata: k6.metadata, tags: {} } },
    get scenario() {
      return { iterationInTest: k6.iteration };
    },
  },
}));
vi.mock('k6/metrics', () => {
  class M {
    name: string;
    constructor(name: string) {
      this.name = name;
    }
    add(value: number | boolean, tags?: Record<string, string>) {
      k6.added.push({ metric: this.name, value, tags, metadata: { ...k6.metadata } });
    }
  }
  return { Trend: M, Rate: M, Gauge: M, Counter: M };
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-k6-entry-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const scenario: Scenario = {
  name: 'entry',
  question: 'q?',
  description: '',
  load: { arrivals: 'poisson', maxInFlight: 32, phases: [{ duration: 5000, rate: 40 }] },
  keys: { type: 'zipf', exponent: 1.1 },
  mix: { 'read-user': 3, 'update-user': 1, 'read-team-members': 1, 'incr-counter': 1 },
  data: { users: 50, teams: 5, counters: 5, reportCostMs: 0, userReadCostMs: 0 },
  cache: {},
  start: 'warm',
  faults: [],
  budgets: { p99: 80 },
};

type Entry = {
  options: unknown;
  setup: () => { t0: number };
  default: () => void;
  handleSummary: (data: unknown) => Record<string, string>;
};
let entry: Entry;

beforeAll(async () => {
  const scenarioPath = path.join(dir, 'scenario.json');
  fs.writeFileSync(scenarioPath, JSON.stringify(scenario));
  const g = globalThis as Record<string, unknown>;
  g.open = (p: string) => fs.readFileSync(p, 'utf8');
  g.__ENV = {
    CACHEBENCH_SCENARIO: scenarioPath,
    CACHEBENCH_TARGETS: 'http://t1:3000/, http://t2:3000',
    CACHEBENCH_SEED: '3',
    CACHEBENCH_REQUEST_TIMEOUT_MS: '2500',
    CACHEBENCH_K6_SUMMARY: path.join(dir, 'k6-summary.json'),
  };
  // A variable specifier: the root tsconfig (Node types) must not type-check the k6 script.
  const spec: string = K6_ENTRY;
  entry = (await import(spec)) as Entry;
});

/** A target that follows the API contract, keyed by path. */
function contractResponse(method: string, url: string): FakeResponse {
  const p = new URL(url).pathname;
  const user = /^\/users\/(\d+)$/.exec(p);
  if (user) {
    return {
      status: 200,
      body: JSON.stringify({
        user: { id: +user[1]! },
        versions: { [`user:${user[1]}`]: method === 'PUT' ? 4 : 3 },
      }),
      error: '',
    };
  }
  const team = /^\/teams\/(\d+)\/members$/.exec(p);
  if (team) {
    return {
      status: 200,
      body: JSON.stringify({ team: { id: +team[1]!, members: [] }, versions: { 'user:1': 3 } }),
      error: '',
    };
  }
  if (/^\/counters\/\d+\/incr$/.test(p)) return { status: 200, body: '{"value":11,"pending":1}', error: '' };
  return { status: 404, body: '{"error":"not found"}', error: '' };
}

function iterate(n: number): void {
  for (let i = 0; i < n; i++) {
    entry.default();
    k6.iteration++;
  }
}

describe('scenarios/k6/entry.ts', () => {
  it('exports the options buildK6Options makes from the scenario', () => {
    expect(entry.options).toEqual(buildK6Options(scenario, { requestTimeoutMs: 2500 }).options);
  });

  it("handleSummary keeps k6's summary at CACHEBENCH_K6_SUMMARY", () => {
    const data = { metrics: { http_reqs: { type: 'counter', values: { count: 3 } } } };
    const out = entry.handleSummary(data);
    expect(JSON.parse(out[path.join(dir, 'k6-summary.json')]!)).toEqual(data);
  });

  it('setup() reports the load start as a gauge point', () => {
    const before = Date.now();
    const { t0 } = entry.setup();
    expect(t0).toBeGreaterThanOrEqual(before);
    expect(k6.added.at(-1)).toMatchObject({ metric: 'cachebench_load_start', value: t0 });
  });

  it('issues planned requests round-robin and records one point per request with metadata', () => {
    k6.added.length = 0;
    k6.respond = contractResponse;
    iterate(60);
    expect(k6.requests).toHaveLength(60);
    expect(k6.requests[0]!.url.startsWith('http://t1:3000/')).toBe(true);
    expect(k6.requests[1]!.url.startsWith('http://t2:3000/')).toBe(true);
    for (const r of k6.requests) {
      expect(r.params.tags).toEqual({
        name: expect.stringMatching(/^(read-user|update-user|read-team-members|incr-counter)$/),
      });
      expect(r.params.timeout).toBe('2500ms');
    }
    const points = k6.added.filter((a) => a.metric === 'cachebench_req');
    expect(points).toHaveLength(60);
    const ops = new Set(points.map((p) => p.tags?.op));
    expect([...ops].sort()).toEqual(['incr-counter', 'read-team-members', 'read-user', 'update-user']);
    for (const p of points) {
      expect(p.tags).toMatchObject({ status: '200', ok: 'true' });
      expect(p.metadata.key).toMatch(/^(user|team|counter):\d+$/);
      expect(Number(p.metadata.end)).toBeGreaterThanOrEqual(Number(p.metadata.start));
      expect(Number(p.metadata.start)).toBeGreaterThanOrEqual(Number(p.metadata.scheduled));
      if (p.tags?.op === 'read-user') {
        expect(JSON.parse(String(p.metadata.versions))).toEqual({ [String(p.metadata.key)]: 3 });
      }
      if (p.tags?.op === 'update-user') expect(p.tags.kind).toBe('write');
      if (p.tags?.op === 'incr-counter') expect(p.metadata.value).toBe(1);
    }
    // Metadata is per VU and sticky in k6: nothing may leak into later samples.
    expect(k6.metadata).toEqual({});
    for (const a of k6.added.filter((x) => x.metric === 'cachebench_errors')) expect(a.metadata).toEqual({});
    expect(k6.checks.every((c) => c.ok)).toBe(true);
  });

  it('flags a 200 without versions, a 5xx and no response as errors, with the reason', () => {
    k6.added.length = 0;
    k6.checks.length = 0;
    const cases: FakeResponse[] = [
      { status: 200, body: '{"user":{}}', error: '' },
      { status: 503, body: '{"error":"redis unavailable"}', error: '' },
      { status: 0, body: null, error: 'dial tcp: connection refused' },
    ];
    let i = 0;
    k6.respond = (method, url) => {
      const c = cases[i++ % cases.length]!;
      // Non-user ops keep following the contract so only the cases above misbehave.
      return /\/users\//.test(url) ? c : contractResponse(method, url);
    };
    iterate(40);
    const bad = k6.added.filter((a) => a.metric === 'cachebench_req' && a.tags?.ok === 'false');
    const reasons = new Set(bad.map((b) => String(b.metadata.error)));
    expect(reasons.has('redis unavailable')).toBe(true);
    expect(reasons.has('dial tcp: connection refused')).toBe(true);
    expect([...reasons].some((r) => /^versions\["user:\d+"\] missing$/.test(r))).toBe(true);
    const errorRate = k6.added.filter((a) => a.metric === 'cachebench_errors');
    expect(errorRate.filter((e) => e.value === true)).toHaveLength(bad.length);
    expect(k6.checks.some((c) => c.name === 'body carries versions/value' && !c.ok)).toBe(true);
    expect(k6.checks.some((c) => c.name === 'status is 2xx' && !c.ok)).toBe(true);
    expect(k6.metadata).toEqual({});
  });
});
