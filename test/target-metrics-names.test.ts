/**
 * The target's /metrics follows the Prometheus naming conventions (docs/observability/README.md,
 * "Metric names"), scraped from a real target on real PostgreSQL + Redis: every cachebench_ family
 * is in base units (seconds, bytes) with `_total` on counters, the default process metrics carry
 * their standard unprefixed names (so stock Node.js dashboards work), and the DB time counter
 * really is in seconds (it matches the target's own millisecond tally / 1000). When Debian's
 * promtool is on PATH, `promtool check metrics` lints the same exposition.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetStats } from '../harness/results/schema.ts';
import { seedDatabase } from '../target/db.ts';
import { startTarget, type TargetHandle } from '../target/instance.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

/** Suffixes a non-counter cachebench_ family may end in: a base unit, or `_info`. */
const BASE_UNIT_SUFFIXES = ['_seconds', '_bytes', '_ratio', '_info'];
/** Unitless gauges or histograms allowed without a unit suffix. None today: add with a reason. */
const UNITLESS: string[] = [];
/** Unit words that are not base units: a name carrying one must be converted. */
const NON_BASE_UNIT =
  /_(ms|milliseconds|microseconds|us|ns|nanoseconds|minutes|hours|kb|mb|gb|kib|mib|percent)(_|$)/;

/** prom-client default gauges that promtool flags for their `_total` suffix (their names are kept). */
const PROM_CLIENT_LINT = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

interface Family {
  name: string;
  type: string;
}

function families(body: string): Family[] {
  return [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
}

/** Sum of a counter's samples whose labels include `match`. */
function sampleSum(body: string, name: string, match = ''): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('target /metrics names (real target)', () => {
  let t: TargetHandle;
  let body = '';
  let stats: TargetStats;

  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 50, teams: 5, counters: 5 }, 14);
    t = await startTarget({
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'cache-aside',
      instanceId: 'names-1',
      keyPrefix: 'metricnames:',
    });
    // Touch every endpoint kind so each labelled family has samples.
    for (const id of [1, 2, 3, 1, 2]) await fetch(`${t.url}/users/${id}`);
    await fetch(`${t.url}/teams/1/report`);
    await fetch(`${t.url}/users/4`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'renamed' }),
    });
    await fetch(`${t.url}/counters/1/incr`, { method: 'POST' });
    const res = await fetch(`${t.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    body = await res.text();
    stats = (await (await fetch(`${t.controlUrl}/stats`)).json()) as TargetStats;
  });
  afterAll(async () => t?.stop());

  it('every cachebench_ family is in base units: counters end in _total, the rest in a unit or _info', () => {
    const own = families(body).filter((f) => f.name.startsWith('cachebench_'));
    expect(own.length).toBeGreaterThan(15);
    for (const { name, type } of own) {
      expect(name, name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(name, `${name}: not a base unit`).not.toMatch(NON_BASE_UNIT);
      if (type === 'counter') expect(name, `${name} (counter)`).toMatch(/_total$/);
      else {
        expect(name, `${name} (${type}) must not end in _total`).not.toMatch(/_total$/);
        const ok = BASE_UNIT_SUFFIXES.some((s) => name.endsWith(s)) || UNITLESS.includes(name);
        expect(ok, `${name} (${type}): ends in none of ${BASE_UNIT_SUFFIXES.join(', ')}`).toBe(true);
      }
    }
    // The families the dashboard and docs rely on, by their exact names.
    const names = own.map((f) => f.name);
    expect(names).toContain('cachebench_target_db_time_seconds_total');
    expect(names).toContain('cachebench_target_http_request_duration_seconds');
    expect(names).toContain('cachebench_target_info');
  });

  it('default process metrics are unprefixed and labelled with the instance', () => {
    const names = families(body).map((f) => f.name);
    for (const n of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(names, n).toContain(n);
    expect(names.filter((n) => /^cachebench_target_(process|nodejs)_/.test(n))).toEqual([]);
    expect(body).toMatch(/^process_cpu_seconds_total\{instance_id="names-1"\} \d/m);
    // Only the target's own families carry the cachebench_ prefix; everything else is prom-client's.
    for (const n of names) expect(n, n).toMatch(/^(cachebench_target_|process_|nodejs_)/);
  });

  it('DB time is exposed in seconds: the tally in ms / 1000, per endpoint', () => {
    const byEndpoint = Object.entries(stats.dbTimeMsByEndpoint ?? {}).filter(([, ms]) => ms > 0);
    expect(byEndpoint.length).toBeGreaterThan(0);
    for (const [endpoint, ms] of byEndpoint) {
      const s = sampleSum(body, 'cachebench_target_db_time_seconds_total', `endpoint="${endpoint}"`);
      expect(s, endpoint).toBeCloseTo(ms / 1000, 5);
    }
    // Latency histogram in seconds too: loopback requests average well under one second.
    const sum = sampleSum(body, 'cachebench_target_http_request_duration_seconds_sum');
    const count = sampleSum(body, 'cachebench_target_http_request_duration_seconds_count');
    expect(count).toBeGreaterThanOrEqual(8);
    expect(sum / count).toBeGreaterThan(0);
    expect(sum / count).toBeLessThan(1);
  });

  const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!promtool)(
    'promtool check metrics finds no problem in cachebench_ families (when installed)',
    () => {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      const problems = `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
      // prom-client's own default gauges keep their standard names (what stock dashboards query),
      // although promtool would rather they not end in _total: those, and only those, are expected.
      const ours = problems.filter((p) => !PROM_CLIENT_LINT.some((n) => p.startsWith(`${n} `)));
      expect(ours).toEqual([]);
    },
  );
});
