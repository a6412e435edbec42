/**
 * Observability files: the Grafana dashboard queries only metrics the target really exposes (its
 * /metrics exposition, rendered by target/metrics.ts), the Prometheus config scrapes the compose
 * target, and the compose `observability` profile mounts files that exist. Docker is not running
 * here, so the compose file is checked as parsed YAML.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { TargetInstrumentation } from '../target/instrumentation.ts';
import { createMetrics } from '../target/metrics.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(read('docs/observability/grafana-dashboard.json')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
};

const SERIES = /\b((?:cachebench_target|process|nodejs)_\w+)(\{[^}]*\})?/g;

async function exposedMetrics(): Promise<Set<string>> {
  const events = new TargetInstrumentation('api-1');
  const metrics = createMetrics(events, {
    instanceId: 'api-1',
    strategy: 'cache-aside',
    policy: 'fail-open',
  });
  const { body } = await metrics.render();
  const names = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]}${s}`);
  }
  return names;
}

describe('docs/observability/grafana-dashboard.json', () => {
  it('every query names a metric the target exposes, filtered by the instance variable', async () => {
    const exposed = await exposedMetrics();
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(10);
    for (const { panel, expr } of exprs) {
      // The target's own series, plus prom-client's default process metrics (unprefixed).
      const used = [...expr.matchAll(SERIES)].map((m) => m[1]!);
      expect(used.length, panel).toBeGreaterThan(0);
      for (const name of used) expect(exposed, `${panel}: ${name}`).toContain(name);
      for (const sel of expr.matchAll(SERIES))
        expect(sel[2], `${panel}: ${expr}`).toBe('{instance_id=~"$instance"}');
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'instance']);
  });

  it('panel ids are unique', () => {
    const ids = dashboard.panels.map((p) => (p as { id?: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('docker-compose.yml observability profile', () => {
  const compose = YAML.parse(read('docker-compose.yml')) as {
    services: Record<string, { profiles?: string[]; volumes?: string[]; ports?: string[] }>;
  };

  it('adds Prometheus and Grafana only under the profile, on loopback ports', () => {
    const inProfile = Object.entries(compose.services)
      .filter(([, s]) => s.profiles?.includes('observability'))
      .map(([n]) => n);
    expect(inProfile.sort()).toEqual(['grafana', 'prometheus']);
    for (const n of inProfile)
      for (const p of compose.services[n]!.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
    // The default stack is unchanged: every other service has no profile.
    for (const [n, s] of Object.entries(compose.services))
      if (!inProfile.includes(n)) expect(s.profiles, n).toBeUndefined();
  });

  it('mounts files that exist', () => {
    for (const n of ['prometheus', 'grafana']) {
      for (const v of compose.services[n]!.volumes ?? []) {
        const host = v.split(':')[0]!;
        expect(fs.existsSync(path.join(ROOT, host)), `${n}: ${host}`).toBe(true);
      }
    }
  });

  it('Prometheus scrapes the compose target at /metrics; Grafana reads that Prometheus', () => {
    const prom = YAML.parse(read('docs/observability/prometheus.yml')) as {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const job = prom.scrape_configs.find((j) => j.job_name === 'cachebench-target');
    expect(job?.metrics_path).toBe('/metrics');
    expect(job?.static_configs[0]?.targets).toEqual(['target:3000']);
    const ds = YAML.parse(read('docs/observability/grafana/datasource.yml'));
    expect(ds.datasources[0].url).toBe('http://prometheus:9090');
  });
});
