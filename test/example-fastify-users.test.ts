/**
 * The example service on its own (examples/fastify-users), on real Redis, PostgreSQL and
 * Toxiproxy: the API contract cachebench's profile relies on (versions on reads, committed
 * versions on writes, tombstones on deletes, the report's ETag), the race-safe write of `locked`,
 * fail-open with Redis down and black-holed, the probe's counters, the seed, and bad settings
 * refused in one line.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { toxiproxy, useInfra } from './helpers/infra.ts';

const EXAMPLE = path.resolve(import.meta.dirname, '../examples/fastify-users');
const infra = useInfra();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Seeds PostgreSQL and empties Redis (what cachebench does before each cell). */
async function seed(users: number, teams: number): Promise<string> {
  const redis = new Redis(infra().redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushall();
  redis.disconnect();
  const r = spawnSync(process.execPath, ['seed.js'], {
    cwd: EXAMPLE,
    env: {
      ...process.env,
      DATABASE_URL: infra().postgresUrl,
      SEED_USERS: String(users),
      SEED_TEAMS: String(teams),
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const started: ChildProcess[] = [];
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
  await toxiproxy(infra().toxiproxyUrl, 'PATCH', '/proxies/redis', { enabled: true });
  const toxics = (await toxiproxy(infra().toxiproxyUrl, 'GET', '/proxies/redis/toxics')) as {
    name: string;
  }[];
  for (const t of toxics) await toxiproxy(infra().toxiproxyUrl, 'DELETE', `/proxies/redis/toxics/${t.name}`);
});

/** Starts the service on the Toxiproxy URLs and waits for /healthz; returns its base URL. */
async function start(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['server.js'], {
    cwd: EXAMPLE,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: infra().redisProxyUrl,
      DATABASE_URL: infra().postgresProxyUrl,
      CACHEBENCH_PROBE: '1',
      ...env,
    },
  });
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return base;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service not ready in 30 s: ${stderr}`);
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes, checked by the tests
type Body = any;

async function json(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Body; etag: string | null }> {
  const r = await fetch(url, {
    ...init,
    headers: init?.body ? { 'content-type': 'application/json' } : undefined,
  });
  return { status: r.status, body: await r.json(), etag: r.headers.get('etag') };
}

const put = (base: string, id: number, name: string) =>
  json(`${base}/users/${id}`, { method: 'PUT', body: JSON.stringify({ name }) });

describe('examples/fastify-users', () => {
  it('seeds deterministically and idempotently', async () => {
    expect(await seed(50, 5)).toBe('seed: 50 users in 5 teams\n');
    expect(await seed(50, 5)).toBe('seed: 50 users in 5 teams\n');
    const bad = spawnSync(process.execPath, ['seed.js'], {
      cwd: EXAMPLE,
      env: { ...process.env, DATABASE_URL: infra().postgresUrl, SEED_USERS: 'many' },
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('seed: SEED_USERS=many is not allowed; expected an integer from 1 to 10000000\n');
  }, 60_000);

  for (const mode of ['aside', 'locked', 'regressed']) {
    it(`${mode}: reads carry the version they reflect, writes the one they committed, deletes a tombstone`, async () => {
      await seed(50, 5);
      const base = await start({ CACHE_MODE: mode, CACHE_TTL_MS: '60000', REPORT_COST_MS: '5' });
      const before = (await json(`${base}/__cachebench/stats`)).body;
      expect((await json(`${base}/users/7`)).body).toEqual({ id: 7, name: 'user-7', version: 1, teamId: 2 });
      // Cached now; a write must be visible to the next read in every mode.
      expect((await json(`${base}/users/7`)).body.version).toBe(1);
      const w = await put(base, 7, 'renamed');
      expect(w).toMatchObject({ status: 200, body: { id: 7, name: 'renamed', version: 2 } });
      expect((await json(`${base}/users/7`)).body).toMatchObject({ name: 'renamed', version: 2 });

      const report = await json(`${base}/teams/2/report`);
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ id: 2, version: 1, members: 10 });
      expect(report.etag).toBe('"1"');
      const members = await json(`${base}/teams/2/members`);
      expect(members.body.members.find((m: { id: number }) => m.id === 7)).toEqual({
        id: 7,
        name: 'renamed',
        version: 2,
      });

      const del = await json(`${base}/users/7`, { method: 'DELETE' });
      expect(del).toMatchObject({ status: 200, body: { id: 7, deleted: true, version: 3 } });
      expect((await json(`${base}/users/7`)).status).toBe(404);
      expect((await put(base, 7, 'again')).status).toBe(404);
      expect((await json(`${base}/users/999`)).status).toBe(404);
      expect((await json(`${base}/users/abc`)).status).toBe(400);
      expect((await json(`${base}/users/1`, { method: 'PUT', body: '{}' })).status).toBe(400);

      const after = (await json(`${base}/__cachebench/stats`)).body;
      expect(Object.keys(after).sort()).toEqual(['hits', 'loads', 'misses', 'requests']);
      // The twelve requests above (the stats reads are not counted). Seven reads reached the
      // cache and only the second read of user 7 hit (a write or delete drops the key in every
      // mode); every miss was one load from PostgreSQL.
      expect(after.requests - before.requests).toBe(12);
      expect(after.hits - before.hits).toBe(1);
      expect(after.misses - before.misses).toBe(6);
      expect(after.loads.db - before.loads.db).toBe(after.misses - before.misses);
    }, 60_000);
  }

  it('locked: a reader that loaded the old row cannot put it back after a write (the stale-set race of aside)', async () => {
    // A 300 ms user read: the write lands while the first read is inside its DB query.
    const raced = async (mode: string) => {
      await seed(10, 2);
      const base = await start({ CACHE_MODE: mode, CACHE_TTL_MS: '60000', USER_READ_COST_MS: '300' });
      const slowRead = json(`${base}/users/3`);
      await new Promise((r) => setTimeout(r, 100));
      const write = await put(base, 3, 'new');
      expect(write.body.version).toBe(2);
      expect((await slowRead).body.version).toBe(1);
      // Every later read started after the write completed: version 1 would be stale.
      return (await json(`${base}/users/3`)).body.version;
    };
    expect(await raced('aside')).toBe(1);
    for (const child of started.splice(0)) child.kill('SIGTERM');
    expect(await raced('locked')).toBe(2);
  }, 60_000);

  it('fails open: with Redis down or black-holed, reads are answered from PostgreSQL within a bounded time', async () => {
    await seed(50, 5);
    const base = await start({ CACHE_MODE: 'locked', CACHE_TTL_MS: '60000' });
    const timed = async (id: number) => {
      const t0 = performance.now();
      const r = await json(`${base}/users/${id}`);
      return { status: r.status, version: r.body.version, ms: performance.now() - t0 };
    };
    expect((await timed(1)).status).toBe(200);
    const api = infra().toxiproxyUrl;

    await toxiproxy(api, 'PATCH', '/proxies/redis', { enabled: false });
    for (let id = 2; id < 8; id++) expect(await timed(id)).toMatchObject({ status: 200, version: 1 });
    await toxiproxy(api, 'PATCH', '/proxies/redis', { enabled: true });

    // Black hole: the connection stays open, replies never come. Each read waits at most one
    // Redis deadline (100 ms) before PostgreSQL answers; later ones fail fast while reconnecting.
    await new Promise((r) => setTimeout(r, 1500));
    await toxiproxy(api, 'POST', '/proxies/redis/toxics', {
      name: 'blackhole',
      type: 'timeout',
      stream: 'downstream',
      attributes: { timeout: 0 },
    });
    for (let id = 10; id < 20; id++) {
      const r = await timed(id);
      expect(r.status).toBe(200);
      expect(r.ms).toBeLessThan(1000);
    }
    await toxiproxy(api, 'DELETE', '/proxies/redis/toxics/blackhole');

    // Back to caching: the connection condemned in the black hole was replaced.
    const deadline = Date.now() + 15_000;
    let hitsGrew = false;
    while (!hitsGrew && Date.now() < deadline) {
      const before = (await json(`${base}/__cachebench/stats`)).body.hits;
      await timed(30);
      await timed(30);
      hitsGrew = (await json(`${base}/__cachebench/stats`)).body.hits > before;
      if (!hitsGrew) await new Promise((r) => setTimeout(r, 500));
    }
    expect(hitsGrew).toBe(true);
  }, 60_000);

  it('refuses a bad setting in one line naming the variable, the value and what is allowed (exit 2)', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['server.js'], {
        cwd: EXAMPLE,
        env: {
          ...process.env,
          REDIS_URL: 'redis://127.0.0.1:1',
          DATABASE_URL: 'postgres://u:secret@127.0.0.1:1/db',
          ...env,
        },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const mode = run({ CACHE_MODE: 'lock' });
    expect(mode.status).toBe(2);
    expect(mode.stderr).toBe(
      'fastify-users: CACHE_MODE=lock is not allowed; expected one of aside, locked, regressed\n',
    );
    const ttl = run({ CACHE_TTL_MS: '1.5s' });
    expect(ttl.status).toBe(2);
    expect(ttl.stderr).toBe(
      'fastify-users: CACHE_TTL_MS=1.5s is not allowed; expected an integer from 1 to 86400000\n',
    );
    const url = run({ DATABASE_URL: 'mysql://u:secret@127.0.0.1/db' });
    expect(url.status).toBe(2);
    expect(url.stderr).toBe(
      'fastify-users: DATABASE_URL=mysql://u:***@127.0.0.1/db has protocol mysql:; allowed: postgres:, postgresql:\n',
    );
  }, 60_000);
});
