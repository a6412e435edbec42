/**
 * target/db.ts against a real PostgreSQL (with pg_stat_statements) and Toxiproxy: deterministic
 * seeding, the queries' versions, query counting cross-checked with pg_stat_statements, pool
 * waits, and bounded failure when PostgreSQL is blackholed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db, DbError, PG_STAT_TARGET_FILTER, seedDatabase } from '../target/db.ts';
import { endpointContext, TargetInstrumentation } from '../target/instrumentation.ts';
import { toxiproxy, useInfra } from './helpers/infra.ts';

const infra = useInfra();

async function sql<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** A digest of every seeded row, to compare two seedings. */
async function digest(url: string): Promise<string> {
  const rows = await sql<{ d: string }>(
    url,
    `SELECT md5(
       (SELECT string_agg(concat_ws(',', id, name), ';' ORDER BY id) FROM teams) || '|' ||
       (SELECT string_agg(concat_ws(',', id, name, email, team_id, version, updated_at), ';' ORDER BY id) FROM users) || '|' ||
       (SELECT string_agg(concat_ws(',', team_id, user_id, role), ';' ORDER BY team_id, user_id) FROM memberships) || '|' ||
       (SELECT string_agg(concat_ws(',', id, team_id, value), ';' ORDER BY id) FROM counters)) AS d`,
  );
  return rows[0]!.d;
}

function makeDb(
  url: string,
  events: TargetInstrumentation,
  over: Partial<ConstructorParameters<typeof Db>[0]> = {},
) {
  return new Db({
    url,
    poolSize: 5,
    queryTimeoutMs: 2000,
    connectionTimeoutMs: 1000,
    reportCostMs: 0,
    userReadCostMs: 0,
    sink: events,
    ...over,
  });
}

describe('seeding', () => {
  it('is deterministic per seed and sized as asked', async () => {
    const url = infra().postgresUrl;
    const sizes = { users: 300, teams: 20, counters: 10 };
    await seedDatabase(url, sizes, 5);
    const a = await digest(url);
    await seedDatabase(url, sizes, 5);
    const b = await digest(url);
    await seedDatabase(url, sizes, 6);
    const c = await digest(url);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const counts = await sql<{ u: number; t: number; m: number; c: number }>(
      url,
      `SELECT (SELECT count(*) FROM users)::int u, (SELECT count(*) FROM teams)::int t,
              (SELECT count(*) FROM memberships)::int m, (SELECT count(*) FROM counters)::int c`,
    );
    expect(counts[0]).toEqual({ u: 300, t: 20, m: 300, c: 10 });
  });

  it('seeds the default 10,000 users / 500 teams / 100 counters well under 2 s', async () => {
    const url = infra().postgresUrl;
    const t0 = performance.now();
    const sizes = await seedDatabase(url);
    const ms = performance.now() - t0;
    expect(sizes).toEqual({ users: 10_000, teams: 500, counters: 100 });
    const counts = await sql<{ u: number; t: number; c: number; empty: number }>(
      url,
      `SELECT (SELECT count(*) FROM users)::int u, (SELECT count(*) FROM teams)::int t,
              (SELECT count(*) FROM counters)::int c,
              (SELECT count(*) FROM teams t WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.team_id = t.id))::int empty`,
    );
    expect(counts[0]).toEqual({ u: 10_000, t: 500, c: 100, empty: 0 });
    console.log(`seeded 10,000 users in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(2000);
  });

  it('rejects a bad size naming it', async () => {
    await expect(seedDatabase(infra().postgresUrl, { users: 0 })).rejects.toThrow(/^users: 0 is not allowed/);
  });
});

describe('queries', () => {
  let events: TargetInstrumentation;
  let db: Db;
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 500, teams: 25, counters: 20 }, 3);
    events = new TargetInstrumentation('t');
    db = makeDb(infra().postgresUrl, events, { reportCostMs: 20 });
  });
  afterAll(async () => db?.close());

  it('returns versions, and an update bumps the version by one in the same statement', async () => {
    const before = await db.getUser(17);
    expect(before).toMatchObject({ id: 17, version: 1 });
    const after = await db.updateUser(17, { name: 'renamed' });
    expect(after).toMatchObject({ id: 17, name: 'renamed', email: before!.email, version: 2 });
    expect(Date.parse(after!.updatedAt)).toBeGreaterThan(Date.parse(before!.updatedAt));
    const again = await db.updateUser(17, { email: 'x@y.test' });
    expect(again).toMatchObject({ name: 'renamed', email: 'x@y.test', version: 3 });
    expect(await db.getUser(17)).toEqual(again);
    expect(await db.getUser(100_000)).toBeNull();
    expect(await db.updateUser(100_000, { name: 'x' })).toBeNull();
  });

  it('aggregates carry each member version', async () => {
    const team = await db.getUserTeam(17);
    expect(team).not.toBeNull();
    const t = await db.getTeamMembers(team!, { limit: 1000, offset: 0 });
    const m17 = t!.members.find((m) => m.id === 17);
    expect(m17?.version).toBe(3);
    const truth = await sql<{ id: number; version: number }>(
      infra().postgresUrl,
      'SELECT u.id, u.version FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.id',
      [team],
    );
    expect(t!.members.map((m) => [m.id, m.version])).toEqual(truth.map((r) => [r.id, r.version]));
    const page = await db.getTeamMembers(team!, { limit: 2, offset: 1 });
    expect(page!.members.map((m) => m.id)).toEqual(truth.slice(1, 3).map((r) => r.id));

    const t0 = performance.now();
    const rep = await db.getTeamReport(team!);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(rep!.memberCount).toBe(truth.length);
    expect(rep!.versions).toEqual(Object.fromEntries(truth.map((r) => [`user:${r.id}`, r.version])));
    expect(await db.getTeamMembers(9999, { limit: 10, offset: 0 })).toBeNull();
    expect(await db.getTeamReport(9999)).toBeNull();
  });

  it('increments and reads counters', async () => {
    const v0 = await db.readCounter(4);
    expect(await db.incrementCounter(4, 5)).toBe(v0! + 5);
    expect(await db.readCounter(4)).toBe(v0! + 5);
    expect(await db.readCounter(999)).toBeNull();
  });

  it('counts every query per endpoint, matching pg_stat_statements for the tagged statements', async () => {
    const url = infra().postgresUrl;
    await sql(url, 'SELECT pg_stat_statements_reset()');
    events.reset();
    await endpointContext.run('read-user', async () => {
      for (let i = 1; i <= 7; i++) await db.getUser(i);
    });
    await endpointContext.run('update-user', async () => {
      await db.getUserTeam(3);
      await db.updateUser(3, { name: 'n' });
    });
    await endpointContext.run('read-team-report', () =>
      Promise.all([1, 2, 3].map((t) => db.getTeamReport(t))),
    );
    await db.readCounter(1); // outside a request: "background"
    // Harness-side queries (untagged) must not be summed.
    await sql(url, 'SELECT count(*) FROM users');

    const s = events.snapshot();
    expect(s.dbQueriesByEndpoint).toEqual({
      'read-user': 7,
      'update-user': 2,
      'read-team-report': 3,
      background: 1,
    });
    expect(s.dbQueries).toBe(13);
    expect(s.dbTimeMs).toBeGreaterThan(3 * 20 - 1);
    const rows = await sql<{ calls: string }>(
      url,
      `SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements WHERE ${PG_STAT_TARGET_FILTER}`,
    );
    expect(Number(rows[0]!.calls)).toBe(13);
  });

  it('counts pool waits when every pooled connection is busy', async () => {
    const ev = new TargetInstrumentation('w');
    const small = makeDb(infra().postgresUrl, ev, { poolSize: 2, reportCostMs: 60 });
    try {
      await Promise.all(Array.from({ length: 6 }, (_, i) => small.getTeamReport(1 + i)));
      expect(ev.snapshot().poolWaits).toBe(4);
      expect(ev.snapshot().dbQueries).toBe(6);
    } finally {
      await small.close();
    }
  });
});

describe('blackholed PostgreSQL', () => {
  it('fails in bounded time (query timeout, then connect timeout) and recovers', async () => {
    const { postgresProxyUrl, postgresUrl, toxiproxyUrl } = infra();
    await seedDatabase(postgresUrl, { users: 50, teams: 5, counters: 5 }, 1);
    const ev = new TargetInstrumentation('b');
    const db = makeDb(postgresProxyUrl, ev, { poolSize: 1, queryTimeoutMs: 400, connectionTimeoutMs: 400 });
    try {
      expect(await db.getUser(1)).toMatchObject({ id: 1 });
      await toxiproxy(toxiproxyUrl, 'POST', '/proxies/postgres/toxics', {
        name: 'blackhole',
        type: 'timeout',
        stream: 'downstream',
        attributes: { timeout: 0 },
      });
      try {
        let t0 = performance.now();
        const e1 = await db.getUser(1).catch((e: unknown) => e);
        const ms1 = performance.now() - t0;
        expect(e1).toBeInstanceOf(DbError);
        expect((e1 as DbError).kind).toBe('timeout');
        expect(ms1).toBeLessThan(2000);
        // The broken connection was destroyed: the next query needs a new one, which cannot connect.
        t0 = performance.now();
        const e2 = await db.getUser(1).catch((e: unknown) => e);
        expect(e2).toBeInstanceOf(DbError);
        expect((e2 as DbError).kind).not.toBe('query');
        expect(performance.now() - t0).toBeLessThan(2000);
      } finally {
        await toxiproxy(toxiproxyUrl, 'DELETE', '/proxies/postgres/toxics/blackhole');
      }
      expect(await db.getUser(2)).toMatchObject({ id: 2 });
    } finally {
      await db.close();
    }
  });
});
