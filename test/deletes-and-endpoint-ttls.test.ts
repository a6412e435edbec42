/**
 * Deletes and per-endpoint TTLs on real PostgreSQL + Redis: DELETE /users/:id removes the user
 * and, through each catalog strategy's write path, the entries that embed it; a strategy that
 * forgets the team lists on delete (test/fixtures/forgets-dependent-on-delete.ts) is caught by
 * the staleness checker as "served after delete"; and `ttlMs` per namespace sets each cached
 * value's own TTL in Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory } from '../harness/analysis/staleness.ts';
import type { HistoryRecord } from '../harness/results/schema.ts';
import type { Operation } from '../scenarios/types.ts';
import { parseResponse } from '../scenarios/workload.ts';
import { seedDatabase } from '../target/db.ts';
import { startTarget, type TargetHandle } from '../target/instance.ts';
import type { StrategyModule } from '../target/strategy.ts';
import forgets from './fixtures/forgets-dependent-on-delete.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

/** Sends one request the way the load driver would and appends its history record. */
async function op(
  history: HistoryRecord[],
  base: string,
  name: Operation,
  kind: 'read' | 'write',
  method: string,
  path: string,
  key: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const start = Date.now();
  const r = await fetch(base + path, { method });
  const body = (await r.json()) as Record<string, unknown>;
  const end = Date.now();
  const rec: HistoryRecord = {
    op: name,
    kind,
    key,
    scheduled: start,
    start,
    end,
    status: r.status,
    instance: 0,
  };
  const info = parseResponse(name, r.status, body);
  if (info.versions) rec.versions = info.versions;
  if (r.status >= 400) rec.error = String(body.error);
  history.push(rec);
  // Strictly later starts than this end: "completed before the read started" is strict.
  await new Promise((res) => setTimeout(res, 2));
  return { status: r.status, body };
}

const memberIds = (body: Record<string, unknown>) =>
  ((body.team as { members: { id: number }[] }).members ?? []).map((m) => m.id);

/** Reads the user and its team (caching them), deletes the user, reads everything again. */
async function deleteSequence(strategy: string | StrategyModule, prefix: string) {
  await seedDatabase(infra().postgresUrl, { users: 60, teams: 3, counters: 3 }, 7);
  const t: TargetHandle = await startTarget({
    redisUrl: infra().redisUrl,
    postgresUrl: infra().postgresUrl,
    strategy,
    instanceId: 'del-1',
    keyPrefix: prefix,
    strategyOptions: { ttlMs: 60_000 },
  });
  const h: HistoryRecord[] = [];
  try {
    const u = await op(h, t.url, 'read-user', 'read', 'GET', '/users/5', 'user:5');
    const team = (u.body.user as { teamId: number }).teamId;
    const members = `/teams/${team}/members`;
    const report = `/teams/${team}/report`;
    const before = await op(h, t.url, 'read-team-members', 'read', 'GET', members, `team:${team}`);
    expect(memberIds(before.body)).toContain(5);
    await op(h, t.url, 'read-team-report', 'read', 'GET', report, `team:${team}`);
    await op(h, t.url, 'read-user', 'read', 'GET', '/users/5', 'user:5');

    const del = await op(h, t.url, 'delete-user', 'write', 'DELETE', '/users/5', 'user:5');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ deleted: { id: 5, teamId: team }, versions: { 'user:5': 2 } });

    const gone = await op(h, t.url, 'read-user', 'read', 'GET', '/users/5', 'user:5');
    const after = await op(h, t.url, 'read-team-members', 'read', 'GET', members, `team:${team}`);
    const rep = await op(h, t.url, 'read-team-report', 'read', 'GET', report, `team:${team}`);
    const again = await op(h, t.url, 'delete-user', 'write', 'DELETE', '/users/5', 'user:5');
    const update = await fetch(`${t.url}/users/5`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'back' }),
    });
    return {
      checker: checkHistory(h, 60_000),
      gone: gone.status,
      membersAfter: memberIds(after.body),
      reportVersions: rep.body.versions as Record<string, number>,
      deleteAgain: again.status,
      updateAfter: update.status,
    };
  } finally {
    await t.stop();
  }
}

describe('DELETE /users/:id through every catalog strategy', () => {
  const strategies = [
    'no-cache',
    'cache-aside',
    'jitter',
    'lock',
    'versioning',
    'write-through',
    'single-flight',
    'stale-while-revalidate',
    'xfetch',
    'lease',
  ];
  for (const name of strategies) {
    it(`${name}: the user and the lists embedding it are gone after the delete`, async () => {
      const r = await deleteSequence(name, `del-${name}:`);
      expect(r.gone).toBe(404);
      expect(r.membersAfter).not.toContain(5);
      expect(Object.keys(r.reportVersions)).not.toContain('user:5');
      expect(r.deleteAgain).toBe(404);
      expect(r.updateAfter).toBe(404);
      const s = r.checker.result();
      expect(s.deletes).toBe(1);
      expect(s.servedAfterDelete).toBe(0);
      expect(s.staleReads).toBe(0);
    });
  }

  it('a strategy that forgets the team lists on delete is caught: served after delete, stale', async () => {
    const r = await deleteSequence(forgets, 'del-forgets:');
    // Its own key is gone, the aggregates still hold the deleted user.
    expect(r.gone).toBe(404);
    expect(r.membersAfter).toContain(5);
    expect(r.reportVersions['user:5']).toBe(1);
    const s = r.checker.result();
    expect(s.deletes).toBe(1);
    expect(s.servedAfterDelete).toBe(2);
    expect(s.servedAfterDeleteByOp).toEqual({ 'read-team-members': 1, 'read-team-report': 1 });
    expect(s.staleReads).toBe(2);
  });
});

describe('ttlMs per namespace', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(infra().redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });
  afterAll(async () => redis?.quit());

  const ttls = { user: 60_000, 'team-report': 1_500, default: 7_000 };

  for (const strategy of ['cache-aside', 'jitter', 'xfetch', 'stale-while-revalidate']) {
    it(`${strategy}: each cached value lives its own namespace's TTL`, async () => {
      await seedDatabase(infra().postgresUrl, { users: 30, teams: 3, counters: 3 }, 3);
      const prefix = `ttl-${strategy}:`;
      const t = await startTarget({
        redisUrl: infra().redisUrl,
        postgresUrl: infra().postgresUrl,
        strategy,
        instanceId: 'ttl-1',
        keyPrefix: prefix,
        strategyOptions: { ttlMs: ttls },
      });
      try {
        for (const p of ['/users/4', '/teams/2/members', '/teams/2/report']) {
          expect((await fetch(t.url + p)).status).toBe(200);
        }
        const pttl = async (k: string) => redis.pttl(prefix + k);
        // stale-while-revalidate keeps a value staleTtlMs (default 30 s) past its soft TTL.
        const extra = strategy === 'stale-while-revalidate' ? 30_000 : 0;
        const upper = (ms: number) => (strategy === 'jitter' ? ms * 1.2 : ms) + extra;
        const cases: [string, number][] = [
          ['user:4', ttls.user],
          ['team:2:members', ttls.default],
          ['team:2:report', ttls['team-report']],
        ];
        for (const [key, ttl] of cases) {
          const left = await pttl(key);
          expect(left, key).toBeGreaterThan(ttl + extra - 1_000);
          expect(left, key).toBeLessThanOrEqual(upper(ttl));
        }
      } finally {
        await t.stop();
      }
    });
  }

  it('a namespace TTL outside the allowed range is refused at start, naming it', async () => {
    await expect(
      startTarget({
        redisUrl: infra().redisUrl,
        postgresUrl: infra().postgresUrl,
        strategy: 'cache-aside',
        instanceId: 'ttl-bad',
        strategyOptions: { ttlMs: { 'team-members': -5 } },
      }),
    ).rejects.toThrow(/ttlMs\.team-members=-5 is invalid/);
  });
});
