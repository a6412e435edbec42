// Creates the schema and seeds it: SEED_USERS users (ids 1..N, version 1) spread round-robin over
// SEED_TEAMS teams (ids 1..M). Drops and recreates the tables, so running it twice gives the same
// database; one INSERT … SELECT per table keeps it fast at any size.
import postgres from 'postgres';

function count(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 10_000_000) {
    process.stderr.write(`seed: ${name}=${raw} is not allowed; expected an integer from 1 to 10000000\n`);
    process.exit(2);
  }
  return value;
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stderr.write('seed: DATABASE_URL is not set; it is required\n');
  process.exit(2);
}
const users = count('SEED_USERS', 10_000);
const teams = count('SEED_TEAMS', 100);

const sql = postgres(databaseUrl, { max: 1, connect_timeout: 10, onnotice: () => undefined });
try {
  await sql.begin(async (tx) => {
    await tx`DROP TABLE IF EXISTS users`;
    await tx`DROP TABLE IF EXISTS teams`;
    await tx`CREATE TABLE teams (id integer PRIMARY KEY, name text NOT NULL, version integer NOT NULL)`;
    await tx`CREATE TABLE users (
      id integer PRIMARY KEY,
      name text NOT NULL,
      version integer NOT NULL,
      team_id integer NOT NULL REFERENCES teams (id))`;
    await tx`CREATE INDEX users_team_id ON users (team_id)`;
    await tx`INSERT INTO teams (id, name, version) SELECT i, 'team-' || i, 1 FROM generate_series(1, ${teams}::int) AS i`;
    await tx`INSERT INTO users (id, name, version, team_id)
      SELECT i, 'user-' || i, 1, (i - 1) % ${teams}::int + 1 FROM generate_series(1, ${users}::int) AS i`;
  });
  await sql`ANALYZE users`;
  await sql`ANALYZE teams`;
  process.stdout.write(`seed: ${users} users in ${teams} teams\n`);
} catch (error) {
  process.stderr.write(`seed: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 2 });
}
