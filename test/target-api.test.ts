/**
 * The target HTTP API end to end on real PostgreSQL + Redis: every read returns the versions it
 * reflects, every write the committed version, headers say hit/miss and the instance, the
 * DB query count follows the cache, the control server binds loopback only, and the failure
 * policy decides between fallback (fail-open) and 503 (fail-closed) when Redis is down.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetStats } from '../harness/results/schema.ts';
import { PG_STAT_TARGET_FILTER, seedDatabase } from '../target/db.ts';
import { startTarget, startTargets, type TargetHandle, waitCacheAvailable } from '../target/instance.ts';
import { toxiproxy, useInfra } from './helpers/infra.ts';

const infra = useInfra();

interface Json {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { versions?: Record<string, number> };
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<Json> {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Json['body'] };
}

async function stats(t: TargetHandle): Promise<TargetStats> {
  return (await (await fetch(`${t.controlUrl}/stats`)).json()) as TargetStats;
}

describe('target API (cache-aside)', () => {
  let t: TargetHandle;
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 200, teams: 10, counters: 10 }, 11);
    t = await startTarget({
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'cache-aside',
      instanceId: 'api-1',
      reportCostMs: 10,
      keyPrefix: 'apitest:',
    });
  });
  afterAll(async () => t?.stop());

  it('reads a user with its version; the second read is a hit with no DB query', async () => {
    await fetch(`${t.controlUrl}/reset`, { method: 'POST' });
    const a = await call(t.url, 'GET', '/users/5');
    expect(a.status).toBe(200);
    expect(a.headers.get('x-cache')).toBe('miss');
    expect(a.headers.get('x-instance')).toBe('api-1');
    const user = a.body.user as { id: number; version: number; teamId: number; updatedAt: string };
    expect(user).toMatchObject({ id: 5, version: 1 });
    expect(a.body.versions).toEqual({ 'user:5': 1 });
    const b = await call(t.url, 'GET', '/users/5');
    expect(b.headers.get('x-cache')).toBe('hit');
    expect(b.body).toEqual(a.body);
    const s = await stats(t);
    expect(s.dbQueriesByEndpoint['read-user']).toBe(1);
    expect(s.httpRequestsByEndpoint['read-user']).toBe(2);
    expect(s.cache.hits).toBe(1);
    expect(s.cache.misses).toBe(1);
    const rebuilds = (await (await fetch(`${t.controlUrl}/rebuilds?since=0`)).json()) as {
      key: string;
      instance: string;
      reason: string;
    }[];
    expect(rebuilds).toHaveLength(1);
    expect(rebuilds[0]).toMatchObject({ key: 'apitest:user:5', instance: 'api-1', reason: 'miss' });
  });

  it('an update returns the committed version; later reads and aggregates reflect it', async () => {
    const before = await call(t.url, 'GET', '/users/6');
    const v0 = (before.body.user as { version: number }).version;
    const teamId = (before.body.user as { teamId: number }).teamId;
    await call(t.url, 'GET', `/teams/${teamId}/members`); // cache the aggregate
    const w = await call(t.url, 'PUT', '/users/6', { name: 'Grace H', email: 'gh@example.test' });
    expect(w.status).toBe(200);
    expect(w.body.versions).toEqual({ 'user:6': v0 + 1 });
    expect(w.body.user).toMatchObject({ id: 6, name: 'Grace H', email: 'gh@example.test', version: v0 + 1 });
    const r = await call(t.url, 'GET', '/users/6');
    expect(r.body.versions).toEqual({ 'user:6': v0 + 1 });
    const m = await call(t.url, 'GET', `/teams/${teamId}/members`);
    expect(m.status).toBe(200);
    const team = m.body.team as { id: number; members: { id: number; version: number }[] };
    expect(team.id).toBe(teamId);
    expect(team.members.find((x) => x.id === 6)?.version).toBe(v0 + 1);
    // Every member's version is in `versions`, and only members.
    expect(m.body.versions).toEqual(Object.fromEntries(team.members.map((x) => [`user:${x.id}`, x.version])));
    const rep = await call(t.url, 'GET', `/teams/${teamId}/report`);
    expect(rep.status).toBe(200);
    expect((rep.body.report as { memberCount: number }).memberCount).toBe(team.members.length);
    expect(rep.body.versions).toEqual(m.body.versions);
  });

  it('pages team members with normalized parameters', async () => {
    const all = await call(t.url, 'GET', '/teams/2/members');
    const page = await call(t.url, 'GET', '/teams/2/members?offset=1&limit=2');
    const members = (all.body.team as { members: { id: number }[] }).members;
    const pageMembers = (page.body.team as { members: { id: number }[] }).members;
    expect(pageMembers.map((x) => x.id)).toEqual(members.slice(1, 3).map((x) => x.id));
    expect(Object.keys(page.body.versions ?? {})).toHaveLength(pageMembers.length);
    const same = await call(t.url, 'GET', '/teams/2/members?limit=1000&offset=0');
    expect(same.headers.get('x-cache')).toBe('hit');
  });

  it('increments and reads counters', async () => {
    const r0 = await call(t.url, 'GET', '/counters/2');
    expect(r0.status).toBe(200);
    const v0 = r0.body.value as number;
    const inc = await call(t.url, 'POST', '/counters/2/incr', { by: 3 });
    expect(inc.status).toBe(200);
    expect(inc.body).toEqual({ value: v0 + 3, pending: 0 });
    const one = await call(t.url, 'POST', '/counters/2/incr');
    expect(one.body.value).toBe(v0 + 4);
    expect((await call(t.url, 'GET', '/counters/2')).body.value).toBe(v0 + 4);
  });

  it('answers 404 for unknown entities and 400 naming the field for malformed input', async () => {
    expect((await call(t.url, 'GET', '/users/9999')).status).toBe(404);
    expect((await call(t.url, 'PUT', '/users/9999', { name: 'x' })).status).toBe(404);
    expect((await call(t.url, 'GET', '/teams/999/report')).status).toBe(404);
    expect((await call(t.url, 'POST', '/counters/999/incr')).status).toBe(404);
    const bad = await call(t.url, 'GET', '/users/-3');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^id: "-3" is not allowed/);
    const badBody = await call(t.url, 'PUT', '/users/1', { name: 42 });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error).toMatch(/^name: 42 is not allowed/);
    expect((await call(t.url, 'DELETE', '/users/9999')).status).toBe(404);
    const m = await call(t.url, 'PATCH', '/users/1');
    expect(m.status).toBe(405);
    expect(m.headers.get('allow')).toContain('PUT');
    expect(m.headers.get('allow')).toContain('DELETE');
  });

  it('serves Prometheus metrics and the control endpoints', async () => {
    await call(t.url, 'GET', '/users/7');
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(
      /cachebench_target_http_requests_total\{endpoint="read-user",instance_id="api-1"\} \d+/,
    );
    expect(text).toContain('cachebench_target_http_request_duration_seconds_bucket');
    expect(text).toMatch(/cachebench_target_db_queries_total\{endpoint="read-user"/);
    const since = Date.now() + 60_000;
    expect(await (await fetch(`${t.controlUrl}/rebuilds?since=${since}`)).json()).toEqual([]);
    expect((await fetch(`${t.controlUrl}/rebuilds?since=abc`)).status).toBe(400);
    expect((await fetch(`${t.controlUrl}/reset`, { method: 'POST' })).status).toBe(200);
    const s = await stats(t);
    expect(s.dbQueries).toBe(0);
    expect(s.httpRequests).toBe(0);
    expect(await (await fetch(`${t.controlUrl}/rebuilds`)).json()).toEqual([]);
    const h = (await (await fetch(`${t.controlUrl}/healthz`)).json()) as { ok: boolean; instanceId: string };
    expect(h).toMatchObject({ ok: true, instanceId: 'api-1' });
  });

  it('a target process holds room for 1,024 descriptors before it accepts a connection', async () => {
    // target/fd-table.ts: a table that grows mid-load stalls accept4() for an RCU grace period.
    await using ts = await startTargets({
      instances: 1,
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'cache-aside',
      keyPrefix: 'fdtest:',
    });
    const status = readFileSync(`/proc/${ts.pids[0]}/status`, 'utf8');
    expect(Number(/FDSize:\s+(\d+)/.exec(status)?.[1])).toBeGreaterThanOrEqual(1024);
  });

  it('binds the control server to 127.0.0.1 only', async () => {
    const control = new URL(t.controlUrl);
    expect(control.hostname).toBe('127.0.0.1');
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address);
    for (const addr of others) {
      const err = await new Promise<string>((resolve) => {
        const s = net.connect({ host: addr, port: Number(control.port) });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(err, `control port reachable on ${addr}`).toBe('ECONNREFUSED');
    }
  });
});

describe('DB query accounting through the API (no-cache)', () => {
  it('counts exactly the queries each endpoint issues, equal to pg_stat_statements calls', async () => {
    const { redisUrl, postgresUrl } = infra();
    await seedDatabase(postgresUrl, { users: 100, teams: 5, counters: 5 }, 4);
    const t = await startTarget({ redisUrl, postgresUrl, strategy: 'no-cache', reportCostMs: 1 });
    const pgc = new pg.Client({ connectionString: postgresUrl });
    await pgc.connect();
    try {
      await pgc.query('SELECT pg_stat_statements_reset()');
      await fetch(`${t.controlUrl}/reset`, { method: 'POST' });
      for (let i = 1; i <= 10; i++) expect((await call(t.url, 'GET', `/users/${i}`)).status).toBe(200);
      for (let i = 1; i <= 4; i++)
        expect((await call(t.url, 'PUT', `/users/${i}`, { name: `n${i}` })).status).toBe(200);
      for (let i = 1; i <= 3; i++) expect((await call(t.url, 'GET', `/teams/${i}/members`)).status).toBe(200);
      for (let i = 1; i <= 2; i++) expect((await call(t.url, 'GET', `/teams/${i}/report`)).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await call(t.url, 'POST', '/counters/1/incr')).status).toBe(200);
      expect((await call(t.url, 'GET', '/counters/2')).status).toBe(200);
      expect((await call(t.url, 'GET', '/users/5000')).status).toBe(404);
      expect((await call(t.url, 'GET', '/users/abc')).status).toBe(400);

      const s = await stats(t);
      expect(s.dbQueriesByEndpoint).toEqual({
        'read-user': 11, // 10 reads + 1 for the unknown id; the malformed one never reaches the DB
        'update-user': 8, // team lookup + UPDATE
        'read-team-members': 3,
        'read-team-report': 2,
        'incr-counter': 6, // existence check once per counter, then one UPDATE per increment
        'read-counter': 2, // existence check once + the read
      });
      expect(s.writeBehind.dbWrites).toBe(5);
      const r = await pgc.query<{ calls: string }>(
        `SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements WHERE ${PG_STAT_TARGET_FILTER}`,
      );
      expect(Number(r.rows[0]!.calls)).toBe(s.dbQueries);
      expect(s.dbQueries).toBe(32);
    } finally {
      await pgc.end();
      await t.stop();
    }
  });
});

describe('Redis down: failure policy', () => {
  it('fail-open falls back to the DB; fail-closed answers 503; both recover', async () => {
    const { redisProxyUrl, postgresUrl, toxiproxyUrl } = infra();
    await seedDatabase(postgresUrl, { users: 50, teams: 5, counters: 5 }, 2);
    const open = await startTarget({
      redisUrl: redisProxyUrl,
      postgresUrl,
      strategy: 'cache-aside',
      keyPrefix: 'fo:',
    });
    const closed = await startTarget({
      redisUrl: redisProxyUrl,
      postgresUrl,
      strategy: 'cache-aside',
      policy: 'fail-closed',
      instanceId: 'closed-1',
      keyPrefix: 'fc:',
    });
    try {
      expect((await call(open.url, 'GET', '/users/1')).status).toBe(200);
      expect((await call(closed.url, 'GET', '/users/1')).status).toBe(200);
      await toxiproxy(toxiproxyUrl, 'POST', '/proxies/redis', { enabled: false });
      try {
        const t0 = performance.now();
        const a = await call(open.url, 'GET', '/users/2');
        expect(a.status).toBe(200);
        expect(a.headers.get('x-cache')).toBe('fallback');
        expect(a.body.versions).toEqual({ 'user:2': 1 });
        const b = await call(closed.url, 'GET', '/users/2');
        expect(b.status).toBe(503);
        expect(typeof b.body.error).toBe('string');
        expect(performance.now() - t0).toBeLessThan(3000);
        expect((await stats(open)).cache.fallbacks).toBeGreaterThanOrEqual(1);
        // The control side door says the cache is not usable, and the harness's wait names it.
        const h = (await (await fetch(`${open.controlUrl}/healthz`)).json()) as { cacheAvailable: boolean };
        expect(h.cacheAvailable).toBe(false);
        const waiting = await waitCacheAvailable([open.controlUrl], 300);
        expect(waiting.map((w) => w.controlUrl)).toEqual([open.controlUrl]);
      } finally {
        await toxiproxy(toxiproxyUrl, 'POST', '/proxies/redis', { enabled: true });
      }
      // Back: the wait ends as soon as the client reconnected and the breaker lets Redis be used.
      expect(await waitCacheAvailable([open.controlUrl], 10_000)).toEqual([]);
      // The client reconnects in the background; the breaker lets a probe through.
      const deadline = Date.now() + 10_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await call(closed.url, 'GET', '/users/3')).status;
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await open.stop();
      await closed.stop();
    }
  });
});
