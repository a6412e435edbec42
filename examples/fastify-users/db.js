// PostgreSQL access: one statement per source load, so "DB queries per request" counts loads.
// The simulated costs run inside the same statement (pg_sleep in FROM): the row is read under
// the statement's snapshot, taken before the sleep, as a slow real query would read it.
import postgres from 'postgres';

export function createDb({ databaseUrl, dbPoolSize, userReadCostMs, reportCostMs }) {
  const sql = postgres(databaseUrl, {
    max: dbPoolSize,
    connect_timeout: 5,
    idle_timeout: 30,
    // Notices (e.g. "relation already exists") are not the service's business.
    onnotice: () => undefined,
  });
  const userCost = userReadCostMs / 1000;
  const reportCost = reportCostMs / 1000;

  return {
    close: () => sql.end({ timeout: 2 }),
    ping: () => sql`SELECT 1 AS ok`,

    async getUser(id) {
      const [row] = await sql`
        SELECT u.id, u.name, u.version, u.team_id FROM users u, pg_sleep(${userCost}) WHERE u.id = ${id}`;
      return row ? toUser(row) : undefined;
    },

    async updateUser(id, name) {
      const [row] = await sql`
        UPDATE users SET name = ${name}, version = version + 1 WHERE id = ${id}
        RETURNING id, name, version, team_id`;
      return row ? toUser(row) : undefined;
    },

    // The tombstone version (the deleted row's last version + 1) and the team it was in, or undefined.
    async deleteUser(id) {
      const [row] = await sql`DELETE FROM users WHERE id = ${id} RETURNING version, team_id`;
      return row ? { version: row.version + 1, teamId: row.team_id } : undefined;
    },

    async getTeamMembers(id) {
      const [row] = await sql`
        SELECT t.id, t.name, t.version,
          coalesce(json_agg(json_build_object('id', u.id, 'name', u.name, 'version', u.version) ORDER BY u.id)
            FILTER (WHERE u.id IS NOT NULL), '[]'::json) AS members
        FROM teams t LEFT JOIN users u ON u.team_id = t.id
        WHERE t.id = ${id} GROUP BY t.id`;
      return row ? { id: row.id, name: row.name, version: row.version, members: row.members } : undefined;
    },

    // The expensive aggregate: the cost is what a stampede multiplies.
    async getTeamReport(id) {
      const [row] = await sql`
        SELECT t.id, t.name, t.version, count(u.id)::int AS members,
          coalesce(sum(u.version), 0)::int AS edits, min(u.name) AS first_member
        FROM teams t LEFT JOIN users u ON u.team_id = t.id, pg_sleep(${reportCost})
        WHERE t.id = ${id} GROUP BY t.id`;
      return row
        ? {
            id: row.id,
            name: row.name,
            version: row.version,
            members: row.members,
            edits: row.edits,
            firstMember: row.first_member,
          }
        : undefined;
    },
  };
}

function toUser(row) {
  return { id: row.id, name: row.name, version: row.version, teamId: row.team_id };
}
