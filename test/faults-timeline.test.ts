import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { faultKindNames, resetToxiproxy, runFaultTimeline } from '../harness/faults.ts';
import type { FaultSpec } from '../scenarios/types.ts';
import { toxiproxy, useInfra } from './helpers/infra.ts';

const infra = useInfra();
const now = () => performance.timeOrigin + performance.now();

interface ProxyState {
  enabled: boolean;
  listen: string;
  toxics: { name: string; type: string; attributes: Record<string, number> }[];
}

async function proxies(): Promise<Record<string, ProxyState>> {
  return (await toxiproxy(infra().toxiproxyUrl, 'GET', '/proxies')) as Record<string, ProxyState>;
}

/** Whether a TCP connection to host:port is accepted. */
function canConnect(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const s = connect({ host: host === '[::]' ? '127.0.0.1' : host, port: Number(port) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function sampleAt(epochMs: number): Promise<Record<string, ProxyState>> {
  await new Promise((r) => setTimeout(r, Math.max(0, epochMs - now())));
  return proxies();
}

describe('fault timeline executor (real Toxiproxy)', () => {
  it('registers down, every toxic type and every process fault', () => {
    expect(faultKindNames()).toEqual(
      [
        'bandwidth',
        'down',
        'latency',
        'limit_data',
        'reset_peer',
        'slicer',
        'slow_close',
        'timeout',
        'redis-restart',
        'redis-restart-persisted',
        'redis-flushall',
        'postgres-restart',
        'sentinel-failover',
        'replica-partition',
        'cluster-failover',
        'cluster-replica-partition',
        'slot-migration',
      ].sort(),
    );
  });

  it('applies and removes each fault within 50 ms of plan, and the faults really act', async () => {
    const faults: FaultSpec[] = [
      { at: 300, for: 700, proxy: 'redis', down: true },
      {
        at: 200,
        for: 900,
        proxy: 'postgres',
        toxic: { type: 'latency', attributes: { latency: 120, jitter: 0 } },
      },
      { at: 1300, for: 300, proxy: 'redis', toxic: { type: 'timeout', attributes: { timeout: 0 } } },
    ];
    const loadStartedAt = now() + 300;
    const timeline = runFaultTimeline({ toxiproxyUrl: infra().toxiproxyUrl, faults, loadStartedAt });

    // Mid-window: redis disabled (connections refused), postgres carries the latency toxic.
    const mid = await sampleAt(loadStartedAt + 650);
    expect(mid.redis?.enabled).toBe(false);
    expect(await canConnect(mid.redis?.listen ?? '')).toBe(false);
    expect(mid.postgres?.toxics.map((t) => [t.type, t.attributes.latency])).toEqual([['latency', 120]]);
    // Between the outage and the blackhole: redis back.
    const between = await sampleAt(loadStartedAt + 1150);
    expect(between.redis?.enabled).toBe(true);
    expect(await canConnect(between.redis?.listen ?? '')).toBe(true);
    expect(between.postgres?.toxics).toEqual([]);
    const black = await sampleAt(loadStartedAt + 1450);
    expect(black.redis?.toxics.map((t) => t.type)).toEqual(['timeout']);

    const records = await timeline;
    const after = await proxies();
    expect(after.redis?.enabled).toBe(true);
    expect(after.redis?.toxics).toEqual([]);
    expect(after.postgres?.toxics).toEqual([]);

    const offsets = records.map((r) => ({
      kind: (r.spec as { down?: boolean }).down ? 'down' : (r.spec as { toxic: { type: string } }).toxic.type,
      plannedAt: r.plannedAt,
      appliedAt: Math.round(((r.appliedAt ?? Number.NaN) - loadStartedAt) * 10) / 10,
      plannedEnd: r.plannedAt + r.plannedFor,
      removedAt: Math.round(((r.removedAt ?? Number.NaN) - loadStartedAt) * 10) / 10,
    }));
    console.log('fault offsets from load start (ms):', JSON.stringify(offsets));
    for (const [i, r] of records.entries()) {
      expect(r.ok, r.error).toBe(true);
      const applied = (r.appliedAt as number) - loadStartedAt;
      const removed = (r.removedAt as number) - loadStartedAt;
      expect(applied).toBeGreaterThanOrEqual(faults[i]!.at);
      expect(applied - faults[i]!.at).toBeLessThan(50);
      expect(removed).toBeGreaterThanOrEqual(faults[i]!.at + faults[i]!.for);
      expect(removed - (faults[i]!.at + faults[i]!.for)).toBeLessThan(50);
    }
  });

  it('removes active faults and resets Toxiproxy when aborted', async () => {
    const ac = new AbortController();
    const loadStartedAt = now();
    const faults: FaultSpec[] = [
      { at: 100, for: 10_000, proxy: 'redis', down: true },
      { at: 100, for: 10_000, proxy: 'postgres', toxic: { type: 'latency', attributes: { latency: 500 } } },
      { at: 8000, for: 1000, proxy: 'postgres', down: true },
    ];
    const timeline = runFaultTimeline({
      toxiproxyUrl: infra().toxiproxyUrl,
      faults,
      loadStartedAt,
      signal: ac.signal,
    });
    const during = await sampleAt(loadStartedAt + 400);
    expect(during.redis?.enabled).toBe(false);
    expect(during.postgres?.toxics.length).toBe(1);
    ac.abort();
    const t = now();
    const records = await timeline;
    expect(now() - t).toBeLessThan(1000);
    const after = await proxies();
    expect(after.redis?.enabled).toBe(true);
    expect(after.postgres?.enabled).toBe(true);
    expect(after.postgres?.toxics).toEqual([]);
    expect(records.map((r) => r.ok)).toEqual([false, false, false]);
    expect(records[0]?.appliedAt).toBeDefined();
    expect(records[0]?.removedAt).toBeDefined();
    expect(records[0]?.error).toMatch(/aborted/);
    expect(records[2]?.appliedAt).toBeUndefined();
    expect(records[2]?.error).toMatch(/aborted before/);
  });

  it('records a failed apply without throwing, and still resets', async () => {
    const loadStartedAt = now();
    const records = await runFaultTimeline({
      toxiproxyUrl: infra().toxiproxyUrl,
      faults: [
        { at: 0, for: 100, proxy: 'nosuch' as 'redis', down: true },
        { at: 0, for: 100, proxy: 'redis', toxic: { type: 'latency', attributes: { latency: 5 } } },
      ],
      loadStartedAt,
    });
    expect(records[0]?.ok).toBe(false);
    expect(records[0]?.error).toMatch(/apply failed: toxiproxy PATCH \/proxies\/nosuch: HTTP 404/);
    expect(records[1]?.ok).toBe(true);
    expect((await proxies()).redis?.toxics).toEqual([]);
  });

  it('resetToxiproxy re-enables proxies and removes toxics', async () => {
    const url = infra().toxiproxyUrl;
    await toxiproxy(url, 'PATCH', '/proxies/redis', { enabled: false });
    await toxiproxy(url, 'POST', '/proxies/postgres/toxics', {
      name: 'x',
      type: 'latency',
      attributes: { latency: 1 },
    });
    await resetToxiproxy(url);
    const p = await proxies();
    expect(p.redis?.enabled).toBe(true);
    expect(p.postgres?.toxics).toEqual([]);
  });

  it('an unreachable Toxiproxy is reported, not hung on', async () => {
    await expect(resetToxiproxy('http://127.0.0.1:9')).rejects.toThrow(/toxiproxy POST \/reset/);
  });
});
