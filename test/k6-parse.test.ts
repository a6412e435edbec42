/**
 * The k6 NDJSON parser on hand-made lines in k6's documented `--out json` format (Metric and
 * Point objects; RFC 3339 nanosecond times; metadata on points).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseK6Ndjson, parseK6Time } from '../harness/driver/k6-parse.ts';
import type { HistoryRecord } from '../harness/results/schema.ts';
import type { Scenario } from '../scenarios/types.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-k6-parse-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2026-11-26T16:00:00Z');
const iso = (ms: number) => {
  // k6 writes nanoseconds and the local offset; use +01:00 to exercise the offset.
  const d = new Date(ms + 3_600_000);
  return `${d.toISOString().slice(0, 19)}.${String(Math.round((ms % 1000) * 1e6)).padStart(9, '0')}+01:00`;
};
const metric = (name: string, type: string, contains: string, thresholds: string[] = []) => ({
  type: 'Metric',
  data: { name, type, contains, thresholds, submetrics: null },
  metric: name,
});
const point = (
  name: string,
  at: number,
  value: number,
  tags: Record<string, string> | null,
  metadata?: object,
) => ({
  type: 'Point',
  data: { time: iso(at), value, tags, ...(metadata ? { metadata } : {}) },
  metric: name,
});

/** One request as the entry script reports it. */
function req(o: {
  at: number;
  latency: number;
  op: string;
  key: string;
  status: number;
  ok?: boolean;
  instance?: number;
  versions?: Record<string, number>;
  value?: number;
  error?: string;
  lag?: number;
}) {
  const scheduled = T0 + o.at;
  const start = scheduled + (o.lag ?? 0);
  const end = scheduled + o.latency;
  const meta: Record<string, string> = {
    key: o.key,
    scheduled: String(scheduled),
    start: String(start),
    end: String(end),
  };
  if (o.versions) meta.versions = JSON.stringify(o.versions);
  if (o.value !== undefined) meta.value = String(o.value);
  if (o.error) meta.error = o.error;
  const kind = o.op.startsWith('update') ? 'write' : o.op.startsWith('incr') ? 'incr' : 'read';
  return [
    point('http_reqs', end, 1, { name: o.op, method: 'GET', status: String(o.status), scenario: 'phase-0' }),
    point('http_req_duration', end, o.latency - (o.lag ?? 0), { name: o.op, status: String(o.status) }),
    point(
      'cachebench_req',
      end,
      o.latency,
      {
        op: o.op,
        kind,
        instance: String(o.instance ?? 0),
        status: String(o.status),
        ok: String(o.ok ?? o.status < 400),
        scenario: 'phase-0',
      },
      meta,
    ),
  ];
}

function write(name: string, objs: unknown[], extra: string[] = []): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, [...objs.map((o) => JSON.stringify(o)), ...extra].join('\n') + '\n');
  return p;
}

const scenario = {
  name: 's',
  load: { arrivals: 'constant', maxInFlight: 4, phases: [{ duration: 3000, rate: 3 }] },
} as unknown as Scenario;

describe('parseK6Time', () => {
  it('keeps sub-millisecond precision and honours the offset', () => {
    expect(parseK6Time('2026-11-26T17:00:00.123456789+01:00')).toBeCloseTo(T0 + 123.456789, 6);
    expect(parseK6Time('2026-11-26T16:00:01Z')).toBe(T0 + 1000);
  });
});

describe('parseK6Ndjson', () => {
  it('turns the entry script output into LoadStats, per-second series and history', async () => {
    const file = write(
      'run.ndjson',
      [
        metric('vus', 'gauge', 'default'),
        metric('cachebench_load_start', 'gauge', 'default'),
        metric('http_reqs', 'counter', 'default'),
        metric('http_req_duration', 'trend', 'time'),
        metric('dropped_iterations', 'counter', 'default'),
        metric('cachebench_req', 'trend', 'time', ['p(99)<100']),
        metric('cachebench_errors', 'rate', 'default', ['rate<=0']),
        metric('checks', 'rate', 'default'),
        point('cachebench_load_start', T0 - 5, T0, { group: '::setup' }),
        point('vus', T0 + 100, 3, null),
        ...req({
          at: 0,
          latency: 4,
          op: 'read-user',
          key: 'user:1',
          status: 200,
          versions: { 'user:1': 3 },
          lag: 1,
        }),
        ...req({
          at: 333,
          latency: 8,
          op: 'read-user',
          key: 'user:1',
          status: 200,
          versions: { 'user:1': 3 },
        }),
        ...req({
          at: 1000,
          latency: 20,
          op: 'update-user',
          key: 'user:2',
          status: 200,
          versions: { 'user:2': 5 },
        }),
        ...req({
          at: 1333,
          latency: 30,
          op: 'read-user',
          key: 'user:1',
          status: 503,
          error: 'redis down',
          instance: 1,
        }),
        ...req({ at: 2000, latency: 2, op: 'incr-counter', key: 'counter:3', status: 200, value: 1 }),
        // 2xx that broke the contract: the entry script flags it ok=false.
        ...req({
          at: 2333,
          latency: 6,
          op: 'read-user',
          key: 'user:9',
          status: 200,
          ok: false,
          error: 'versions["user:9"] missing',
        }),
        point('dropped_iterations', T0 + 1666, 1, { scenario: 'phase-0' }),
        point('dropped_iterations', T0 + 1700, 1, { scenario: 'phase-0' }),
        point('dropped_iterations', T0 + 2666, 1, { scenario: 'phase-0' }),
        point('vus', T0 + 1700, 4, null),
        point('checks', T0 + 10, 1, { check: 'status is 2xx' }),
        point('checks', T0 + 1340, 0, { check: 'status is 2xx' }),
        point('checks', T0 + 2340, 0, { check: 'body carries versions/value' }),
      ],
      ['not json at all'],
    );
    const history: HistoryRecord[] = [];
    const r = await parseK6Ndjson(file, { scenario, onHistory: (h) => history.push(h) });

    expect(r.source).toBe('cachebench');
    expect(r.loadStartedAt).toBe(T0);
    expect(r.skippedLines).toBe(1);
    expect(r.httpReqs).toBe(6);
    expect(r.peakVUs).toBe(4);
    expect(r.metrics.cachebench_req?.thresholds).toEqual(['p(99)<100']);
    expect(r.checks).toEqual({
      'status is 2xx': { passes: 1, fails: 1 },
      'body carries versions/value': { passes: 0, fails: 1 },
    });
    expect(r.warnings).toEqual([]);

    const l = r.load;
    expect(l.requestedRate).toBe(3);
    expect(l).toMatchObject({ sent: 6, completed: 6, dropped: 3, scheduled: 9, errors: 2, durationMs: 3000 });
    expect(l.achievedRate).toBe(2);
    expect(l.overall.latency.max).toBeCloseTo(30, 1);
    expect(l.overall.statuses).toEqual({ '200': 5, '503': 1 });
    expect(l.perOp['read-user']).toMatchObject({ count: 4, errors: 2 });
    expect(l.perOp['update-user']?.count).toBe(1);
    expect(l.schedulingLag.max).toBeCloseTo(1, 1);

    expect(r.series.t0).toBe(T0);
    expect(r.series.requests).toEqual([2, 2, 2]);
    expect(r.series.errors).toEqual([0, 1, 1]);
    expect(r.series.dropped).toEqual([0, 2, 1]);
    expect(r.series.p99[1]).toBeCloseTo(30, 1);
    expect(r.series.p50[0]).toBeCloseTo(4, 1);

    expect(r.hottestKeys[0]).toEqual({ key: 'user:1', requests: 3 });
    expect(history).toHaveLength(6);
    expect(history[0]).toEqual({
      op: 'read-user',
      kind: 'read',
      key: 'user:1',
      scheduled: T0,
      start: T0 + 1,
      end: T0 + 4,
      status: 200,
      instance: 0,
      versions: { 'user:1': 3 },
    });
    expect(history[2]).toMatchObject({ op: 'update-user', kind: 'write', versions: { 'user:2': 5 } });
    expect(history[3]).toMatchObject({ status: 503, instance: 1, error: 'redis down' });
    expect(history[4]).toMatchObject({ kind: 'incr', value: 1 });
    expect(history[5]).toMatchObject({ status: 200, error: 'versions["user:9"] missing' });
  });

  it('falls back to http_req_duration for other scripts, without history, and says so', async () => {
    const file = write('plain.ndjson', [
      metric('http_req_duration', 'trend', 'time'),
      point('http_req_duration', T0 + 10, 10, { name: 'http://x/a', status: '200' }),
      point('http_req_duration', T0 + 1020, 20, { name: 'http://x/a', status: '500' }),
      point('http_req_duration', T0 + 1030, 5, {
        status: '0',
        url: 'http://x/b',
        error: 'dial: connection refused',
      }),
    ]);
    const history: HistoryRecord[] = [];
    const r = await parseK6Ndjson(file, { onHistory: (h) => history.push(h) });
    expect(r.source).toBe('http');
    expect(history).toEqual([]);
    expect(r.warnings[0]).toMatch(/http_req_duration/);
    expect(r.load).toMatchObject({ sent: 3, errors: 2, dropped: 0 });
    expect(r.load.perOp['http://x/a']?.count).toBe(2);
    expect(r.load.perOp['http://x/b']?.statuses).toEqual({ '0': 1 });
    expect(r.series.t0).toBe(T0);
    expect(r.series.requests).toEqual([1, 2]);
  });

  it('warns when request points carry no metadata and keeps them out of the history', async () => {
    const file = write('nometa.ndjson', [
      point('cachebench_load_start', T0, T0, null),
      point('cachebench_req', T0 + 12, 12, {
        op: 'read-user',
        kind: 'read',
        status: '200',
        ok: 'true',
        instance: '0',
      }),
    ]);
    const history: HistoryRecord[] = [];
    const r = await parseK6Ndjson(file, { onHistory: (h) => history.push(h) });
    expect(r.load.sent).toBe(1);
    expect(r.load.overall.latency.max).toBeCloseTo(12, 1);
    expect(history).toEqual([]);
    expect(r.warnings[0]).toMatch(/lack metadata/);
  });
});
