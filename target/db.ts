/**
 * The target's data source: schema, deterministic seeding, and the only queries the target
 * issues, through a pool wrapper that counts every query per endpoint (docs/measurements.md, "DB load").
 *
 * Every query text the target sends starts with TARGET_QUERY_TAG and is parameterized, so its
 * pg_stat_statements entry is stable and the harness can sum `calls` over target queries only
 * (seeding and harness queries carry no tag) and cross-check the in-process count.
 */
import pg from 'pg';
import { currentEndpoint } from './instrumentation.ts';

export const TARGET_QUERY_TAG = '/* cachebench:';
/** WHERE clause selecting the target's statements in pg_stat_statements. */
export const PG_STAT_TARGET_FILTER = `query LIKE '/* cachebench:%'`;

export interface SeedSizes {
  users: number;
  teams: number;
  counters: number;
}

export const DEFAULT_SEED_SIZES: SeedSizes = { users: 10_000, teams: 500, counters: 100 };

export interface UserRow {
  id: number;
  name: string;
  email: string;
  teamId: number;
  version: number;
  updatedAt: string;
}

export interface TeamMembers {
  id: number;
  name: string;
  members: { id: number; name: string; version: number }[];
}

export interface TeamReport {
  teamId: number;
  teamName: string;
  memberCount: number;
  totalViews: number;
  avgNameLength: number;
  emailDomains: number;
  lastUpdatedAt: string | null;
  /** Entity key → version of every member the report aggregated. */
  versions: Record<string, number>;
}

const SCHEMA_SQL = `
DROP TABLE IF EXISTS memberships, counters, users, teams, leaderboard_scores CASCADE;
CREATE TABLE teams (
  id int PRIMARY KEY,
  name text NOT NULL
);
CREATE TABLE users (
  id int PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  team_id int NOT NULL REFERENCES teams(id),
  -- bumped in the same UPDATE as any change: the version every read reports
  version int NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL
);
CREATE TABLE memberships (
  team_id int NOT NULL REFERENCES teams(id),
  user_id int NOT NULL REFERENCES users(id),
  role text NOT NULL,
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
CREATE TABLE counters (
  id int PRIMARY KEY,
  team_id int NOT NULL REFERENCES teams(id),
  value bigint NOT NULL DEFAULT 0
);
-- The true leaderboard scores (/leaderboard): what Redis shows is reconciled against these.
CREATE TABLE leaderboard_scores (
  board text NOT NULL,
  member text NOT NULL,
  score bigint NOT NULL,
  PRIMARY KEY (board, member)
);
`;

// Pure integer arithmetic of (row, seed) rather than random(): same seed → same data on any
// PostgreSQL version, and no dependence on setseed() and scan order.
const SEED_SQL = `
INSERT INTO teams (id, name)
  SELECT g, (ARRAY['atlas','borealis','cobalt','delta','ember','fjord','granite','harbor'])[1 + ((g * 7 + :seed::bigint) % 8)] || '-' || g
  FROM generate_series(1, :teams::int) AS g;
INSERT INTO users (id, name, email, team_id, version, updated_at)
  SELECT g,
    (ARRAY['ada','grace','alan','edsger','barbara','donald','frances','ken','margaret','niklaus','radia','tim','leslie','john','sophie','linus'])[1 + ((g::bigint * 7919 + :seed::bigint * 104729) % 16)] || ' ' || g,
    'user' || g || '@' || (ARRAY['example.test','corp.test','mail.test','dev.test'])[1 + ((g::bigint * 31 + :seed::bigint) % 4)],
    1 + ((g::bigint * 2654435761 + :seed::bigint * 40503) % 4294967296) % :teams::int,
    1,
    timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => g)
  FROM generate_series(1, :users::int) AS g;
INSERT INTO memberships (team_id, user_id, role)
  SELECT team_id, id, CASE WHEN (id + :seed::bigint) % 10 = 0 THEN 'lead' ELSE 'member' END FROM users;
INSERT INTO counters (id, team_id, value)
  SELECT g, 1 + (g - 1) % :teams::int, (g::bigint * 37 + :seed::bigint) % 1000
  FROM generate_series(1, :counters::int) AS g;
`;

function checkSize(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name}: ${v} is not allowed; expected an integer from ${min} to ${max}`);
  }
}

/**
 * Drops and recreates the schema and fills it. Deterministic: the same sizes and seed give the
 * same rows. Uses a plain client (not the counting pool): seeding is not target load.
 */
export async function seedDatabase(
  postgresUrl: string,
  sizes: Partial<SeedSizes> = {},
  seed = 1,
): Promise<SeedSizes> {
  const s = { ...DEFAULT_SEED_SIZES, ...sizes };
  checkSize('users', s.users, 1, 10_000_000);
  checkSize('teams', s.teams, 1, 1_000_000);
  checkSize('counters', s.counters, 1, 10_000_000);
  checkSize('seed', seed, 0, 2 ** 31 - 1);
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
  // A connection lost mid-seed also fails the pending query, which is how the caller hears of it;
  // unheard, the client's 'error' event would end the whole process.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await client.query('BEGIN');
    await client.query(SCHEMA_SQL);
    // Multi-statement text cannot take parameters: run the statements one by one.
    const values: Record<string, number> = { seed, users: s.users, teams: s.teams, counters: s.counters };
    for (const stmt of SEED_SQL.split(';\n').map((x) => x.trim())) {
      if (!stmt) continue;
      // Multi-statement text cannot take parameters, and each statement must use every $n it is
      // given: number the named placeholders per statement.
      const names: string[] = [];
      const text = stmt.replace(/:(seed|users|teams|counters)\b/g, (_, name: string) => {
        if (!names.includes(name)) names.push(name);
        return `$${names.indexOf(name) + 1}`;
      });
      await client.query(
        text,
        names.map((n) => values[n]),
      );
    }
    await client.query('COMMIT');
    await client.query('ANALYZE teams, users, memberships, counters');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
  return s;
}

/** What the pool wrapper reports to (TargetInstrumentation implements it). */
export interface DbSink {
  dbQuery(endpoint: string, ms: number): void;
  poolWait(ms: number): void;
  counterDbWrite(): void;
}

export type DbErrorKind = 'timeout' | 'connection' | 'query';

/** A failed query, classified: timeout/connection mean "database unavailable" (503). */
export class DbError extends Error {
  readonly code = 'DB_ERROR';
  readonly kind: DbErrorKind;
  constructor(kind: DbErrorKind, message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'DbError';
    this.kind = kind;
  }
}

function classify(err: unknown): DbErrorKind {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? '';
  // 57014 query_canceled (statement_timeout); client-side query_timeout / connect timeout.
  if (e?.code === '57014' || /timeout/i.test(msg)) return 'timeout';
  if (
    (typeof e?.code === 'string' && /^(08|57P)/.test(e.code)) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|terminated|Connection/i.test(msg) ||
    (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code))
  ) {
    return 'connection';
  }
  return 'query';
}

export interface DbOptions {
  url: string;
  poolSize: number;
  /** statement_timeout on the server and query_timeout on the client. */
  queryTimeoutMs: number;
  connectionTimeoutMs: number;
  reportCostMs: number;
  userReadCostMs: number;
  sink: DbSink;
}

interface Stmt {
  name: string;
  text: string;
}

function stmt(name: string, sql: string): Stmt {
  return { name: `cb_${name.replaceAll('-', '_')}`, text: `${TARGET_QUERY_TAG}${name} */ ${sql}` };
}

const USER_COLUMNS = 'id, name, email, team_id, version, updated_at';
const Q = {
  getUser: stmt('get-user', `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`),
  // The sleep runs after the row is read under the statement's snapshot: the returned version
  // is as of the statement start, and it arrives later — the window of a stale-set race.
  getUserSlow: stmt(
    'get-user-slow',
    `SELECT ${USER_COLUMNS}, pg_sleep($2::float8 / 1000) FROM users WHERE id = $1`,
  ),
  getUserTeam: stmt('get-user-team', 'SELECT team_id FROM users WHERE id = $1'),
  updateUser: stmt(
    'update-user',
    `UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), version = version + 1, updated_at = clock_timestamp() WHERE id = $1 RETURNING ${USER_COLUMNS}`,
  ),
  // One statement: the membership and the row go together (the FK is checked at its end), and
  // the returned version is the last one the row had.
  deleteUser: stmt(
    'delete-user',
    `WITH m AS (DELETE FROM memberships WHERE user_id = $1)
     DELETE FROM users WHERE id = $1 RETURNING id, team_id, version`,
  ),
  teamMembers: stmt(
    'team-members',
    `SELECT t.id, t.name, coalesce(json_agg(json_build_object('id', u.id, 'name', u.name, 'version', u.version) ORDER BY u.id) FILTER (WHERE u.id IS NOT NULL), '[]') AS members
     FROM teams t
     LEFT JOIN LATERAL (
       SELECT u.id, u.name, u.version FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.team_id = t.id ORDER BY u.id LIMIT $2 OFFSET $3
     ) u ON true
     WHERE t.id = $1 GROUP BY t.id, t.name`,
  ),
  teamReport: stmt(
    'team-report',
    `WITH cost AS MATERIALIZED (SELECT pg_sleep($2::float8 / 1000))
     SELECT t.id AS team_id, t.name,
       count(u.id)::int AS member_count,
       coalesce((SELECT sum(c.value) FROM counters c WHERE c.team_id = t.id), 0)::float8 AS total_views,
       coalesce(avg(length(u.name)), 0)::float8 AS avg_name_length,
       count(DISTINCT split_part(u.email, '@', 2))::int AS email_domains,
       max(u.updated_at) AS last_updated_at,
       coalesce(json_object_agg('user:' || u.id, u.version) FILTER (WHERE u.id IS NOT NULL), '{}') AS versions
     FROM teams t
     CROSS JOIN cost
     LEFT JOIN memberships m ON m.team_id = t.id
     LEFT JOIN users u ON u.id = m.user_id
     WHERE t.id = $1
     GROUP BY t.id, t.name`,
  ),
  incrCounter: stmt('incr-counter', 'UPDATE counters SET value = value + $2 WHERE id = $1 RETURNING value'),
  readCounter: stmt('read-counter', 'SELECT value FROM counters WHERE id = $1'),
  addScore: stmt(
    'leaderboard-add',
    `INSERT INTO leaderboard_scores (board, member, score) VALUES ($1, $2, $3)
     ON CONFLICT (board, member) DO UPDATE SET score = leaderboard_scores.score + EXCLUDED.score
     RETURNING score`,
  ),
  topScores: stmt(
    'leaderboard-top',
    'SELECT member, score FROM leaderboard_scores WHERE board = $1 ORDER BY score DESC, member LIMIT $2',
  ),
} as const;

interface UserDbRow {
  id: number;
  name: string;
  email: string;
  team_id: number;
  version: number;
  updated_at: Date;
}

function toUser(r: UserDbRow): UserRow {
  return {
    id: r.id,
    name: r.name,
    email: r.email,
    teamId: r.team_id,
    version: r.version,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The target's PostgreSQL access: a counted pool and the queries the routes need. */
export class Db {
  readonly pool: pg.Pool;
  private readonly opts: DbOptions;
  poolErrors = 0;
  private readonly guarded = new WeakSet<pg.PoolClient>();

  constructor(opts: DbOptions) {
    this.opts = opts;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize,
      connectionTimeoutMillis: opts.connectionTimeoutMs,
      // The server cancels first; the client-side timeout is the backstop for a blackhole,
      // where no cancel or error can arrive.
      statement_timeout: opts.queryTimeoutMs,
      query_timeout: opts.queryTimeoutMs + 500,
      idle_in_transaction_session_timeout: opts.queryTimeoutMs,
      application_name: 'cachebench-target',
      keepAlive: true,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection (Postgres restart, proxy disabled) emits on the pool;
    // without a listener that would crash the process.
    this.pool.on('error', () => {
      this.poolErrors++;
    });
  }

  /** Runs one tagged statement on a pooled connection and counts it for the current endpoint. */
  private async run<R>(q: Stmt, values: unknown[]): Promise<R[]> {
    const sink = this.opts.sink;
    const pool = this.pool;
    // The request queues only when no idle client is left and the pool cannot grow.
    const waits = pool.idleCount === 0 && pool.totalCount >= this.opts.poolSize;
    const t0 = performance.now();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw new DbError(classify(err), `database unavailable: ${(err as Error).message}`, err);
    }
    const t1 = performance.now();
    if (waits) sink.poolWait(t1 - t0);
    // pg-pool listens for errors only on idle clients; a checked-out client whose socket dies
    // between queries would emit 'error' with no listener and crash the process.
    if (!this.guarded.has(client)) {
      this.guarded.add(client);
      client.on('error', () => {});
    }
    const endpoint = currentEndpoint();
    let failed: unknown;
    try {
      const res = await client.query<R & pg.QueryResultRow>({ name: q.name, text: q.text, values });
      return res.rows;
    } catch (err) {
      failed = err;
      const kind = classify(err);
      throw new DbError(
        kind,
        kind === 'query'
          ? `query failed: ${(err as Error).message}`
          : `database unavailable: ${(err as Error).message}`,
        err,
      );
    } finally {
      sink.dbQuery(endpoint, performance.now() - t1);
      // A connection that timed out or broke mid-query is in an unknown state: destroy it.
      client.release(failed !== undefined && classify(failed) !== 'query' ? (failed as Error) : undefined);
    }
  }

  /**
   * Startup check that the database is reachable and seeded. Untagged and uncounted on purpose:
   * it is not load the target puts on the database.
   */
  async ping(): Promise<void> {
    const safeUrl = this.opts.url.replace(/\/\/[^@/]*@/, '//');
    try {
      await this.pool.query('SELECT 1 FROM users LIMIT 1');
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const hint =
        e.code === '42P01' ? 'the schema is missing: seed the database first' : (e.message ?? String(err));
      throw new DbError(classify(err), `postgresUrl: cannot use PostgreSQL at ${safeUrl}: ${hint}`, err);
    }
  }

  async getUser(id: number): Promise<UserRow | null> {
    const cost = this.opts.userReadCostMs;
    const rows =
      cost > 0
        ? await this.run<UserDbRow>(Q.getUserSlow, [id, cost])
        : await this.run<UserDbRow>(Q.getUser, [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** The team a user belongs to (memberships never change through the API); null if unknown. */
  async getUserTeam(id: number): Promise<number | null> {
    const rows = await this.run<{ team_id: number }>(Q.getUserTeam, [id]);
    return rows[0]?.team_id ?? null;
  }

  /** One UPDATE that bumps the version with the change; returns the committed row. */
  async updateUser(id: number, patch: { name?: string; email?: string }): Promise<UserRow | null> {
    const rows = await this.run<UserDbRow>(Q.updateUser, [id, patch.name ?? null, patch.email ?? null]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  /**
   * Deletes a user and its membership; returns what the row was (id, team, last version), null
   * if there was no such user. Users are never re-created, so a deleted id stays deleted.
   */
  async deleteUser(id: number): Promise<{ id: number; teamId: number; version: number } | null> {
    const rows = await this.run<{ id: number; team_id: number; version: number }>(Q.deleteUser, [id]);
    const r = rows[0];
    return r ? { id: r.id, teamId: r.team_id, version: r.version } : null;
  }

  async getTeamMembers(teamId: number, page: { limit: number; offset: number }): Promise<TeamMembers | null> {
    const rows = await this.run<TeamMembers>(Q.teamMembers, [teamId, page.limit, page.offset]);
    const r = rows[0];
    return r ? { id: r.id, name: r.name, members: r.members } : null;
  }

  async getTeamReport(teamId: number): Promise<TeamReport | null> {
    const rows = await this.run<{
      team_id: number;
      name: string;
      member_count: number;
      total_views: number;
      avg_name_length: number;
      email_domains: number;
      last_updated_at: Date | null;
      versions: Record<string, number>;
    }>(Q.teamReport, [teamId, this.opts.reportCostMs]);
    const r = rows[0];
    if (!r) return null;
    return {
      teamId: r.team_id,
      teamName: r.name,
      memberCount: r.member_count,
      totalViews: r.total_views,
      avgNameLength: Math.round(r.avg_name_length * 100) / 100,
      emailDomains: r.email_domains,
      lastUpdatedAt: r.last_updated_at ? r.last_updated_at.toISOString() : null,
      versions: r.versions,
    };
  }

  /** Adds `by` to a counter; returns the new value, null if the counter does not exist. */
  async incrementCounter(id: number, by: number): Promise<number | null> {
    const rows = await this.run<{ value: string }>(Q.incrCounter, [id, by]);
    this.opts.sink.counterDbWrite();
    return rows[0] ? Number(rows[0].value) : null;
  }

  async readCounter(id: number): Promise<number | null> {
    const rows = await this.run<{ value: string }>(Q.readCounter, [id]);
    return rows[0] ? Number(rows[0].value) : null;
  }

  /** Adds `by` to a member's true leaderboard score; returns the new score. */
  async addScore(board: string, member: string, by: number): Promise<number> {
    const rows = await this.run<{ score: string }>(Q.addScore, [board, member, by]);
    return Number(rows[0]?.score ?? by);
  }

  async topScores(board: string, n: number): Promise<{ member: string; score: number }[]> {
    const rows = await this.run<{ member: string; score: string }>(Q.topScores, [board, n]);
    return rows.map((r) => ({ member: r.member, score: Number(r.score) }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
