/**
 * pre-warm on real Redis and PostgreSQL, through the target's HTTP API: a hot key stays cached
 * across its expiry (the background job reloads it first), the loads are the target's counted
 * background loads, and a restarted target warms the hot set its predecessor persisted before
 * any request asks for it; a key Redis lost is reloaded by the next tick.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetStats } from '../harness/results/schema.ts';
import { seedDatabase } from '../target/db.ts';
import { startTarget, type TargetHandle } from '../target/instance.ts';
import { hotSetKey } from '../target/strategies/prewarm/refresher.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OPTIONS = { ttlMs: 800, refreshAheadMs: 400, intervalMs: 100, topN: 4 };

async function stats(t: TargetHandle): Promise<TargetStats> {
  return (await (await fetch(`${t.controlUrl}/stats`)).json()) as TargetStats;
}

const start = (strategy: string, prefix: string) =>
  startTarget({
    redisUrl: infra().redisUrl,
    postgresUrl: infra().postgresUrl,
    strategy,
    strategyOptions: strategy === 'pre-warm' ? OPTIONS : { ttlMs: OPTIONS.ttlMs },
    instanceId: prefix.replace(/:$/, ''),
    keyPrefix: prefix,
  });

/** Reads `path` every 40 ms for `ms`; the x-cache header of each response. */
async function readFor(t: TargetHandle, path: string, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const r = await fetch(`${t.url}${path}`);
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    seen.push(r.headers.get('x-cache') ?? '');
    await sleep(40);
  }
  return seen;
}

describe('pre-warm', () => {
  let redis: Redis;
  const targets: TargetHandle[] = [];
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 50, teams: 5, counters: 2 }, 7);
    redis = new Redis(infra().redisUrl);
  }, 60_000);
  afterAll(async () => {
    for (const t of targets) await t.stop();
    redis?.disconnect();
  });

  it('keeps a hot key cached across its expiry: one miss in 3 TTLs, where cache-aside misses on every expiry', async () => {
    const pw = await start('pre-warm', 'pw-a:');
    const ca = await start('cache-aside', 'pw-ca:');
    targets.push(pw, ca);
    const [pwSeen, caSeen] = await Promise.all([
      readFor(pw, '/teams/1/report', 2_600),
      readFor(ca, '/teams/1/report', 2_600),
    ]);
    const misses = (s: string[]) => s.filter((x) => x === 'miss').length;
    const s = await stats(pw);
    console.log(
      `[pre-warm] reads ${pwSeen.length}: misses pre-warm ${misses(pwSeen)}, cache-aside ${misses(caSeen)}; pre-warm background loads ${s.sources?.loadsBackground}`,
    );
    expect(misses(pwSeen), pwSeen.join(',')).toBe(1); // only the very first read
    expect(pwSeen[0]).toBe('miss');
    expect(misses(caSeen)).toBeGreaterThanOrEqual(2); // one per expiry
    // The reloads are the target's own background loads of that key, not the strategy's word.
    expect(s.sources?.loadsBackground ?? 0).toBeGreaterThanOrEqual(2);
    const events = (await (await fetch(`${pw.controlUrl}/rebuilds?since=0`)).json()) as {
      key: string;
      background?: boolean;
    }[];
    expect(events.filter((e) => e.background).every((e) => e.key === 'pw-a:team:1:report')).toBe(true);
    // Its hot set is persisted for the next process.
    const saved = JSON.parse((await redis.get(hotSetKey('pw-a:'))) ?? '[]') as { key: string }[];
    expect(saved.map((e) => e.key)).toContain('pw-a:team:1:report');
  }, 30_000);

  it('reloads a hot key Redis lost on its next tick, with no request asking for it', async () => {
    const pw = await start('pre-warm', 'pw-b:');
    targets.push(pw);
    await readFor(pw, '/users/3', 300);
    await redis.del('pw-b:user:3');
    await sleep(400); // a few ticks, no reads
    expect(await redis.exists('pw-b:user:3')).toBe(1);
  }, 30_000);

  it('a restarted target warms the persisted hot set at start: the first read is a hit', async () => {
    const first = await start('pre-warm', 'pw-c:');
    await readFor(first, '/users/5', 300);
    await readFor(first, '/teams/2/members?limit=10', 300);
    await first.stop();
    // The deploy also lost the cached values (e.g. a new Redis): only the hot set survives.
    await redis.del('pw-c:user:5', 'pw-c:team:2:members:limit=10');
    const second = await start('pre-warm', 'pw-c:');
    targets.push(second);
    await sleep(300);
    expect(await redis.exists('pw-c:user:5', 'pw-c:team:2:members:limit=10')).toBe(2);
    const r = await fetch(`${second.url}/users/5`);
    await r.arrayBuffer();
    expect(r.headers.get('x-cache')).toBe('hit');
    const m = await fetch(`${second.url}/teams/2/members?limit=10`);
    expect(((await m.json()) as { team: { members: unknown[] } }).team.members).toHaveLength(10);
    expect(m.headers.get('x-cache')).toBe('hit');
    expect((await stats(second)).sources?.loadsBackground ?? 0).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('composes with nothing: one line naming both', async () => {
    const { loadStrategyModule } = await import('../target/strategies/index.ts');
    const err = await loadStrategyModule('pre-warm+lock').catch((e: unknown) => e);
    expect((err as Error).message).toContain("'pre-warm'");
    expect((err as Error).message).not.toContain('\n');
  });
});
