/**
 * A cell's setup overlaps the target's start with the resets (harness/pipeline/cell.ts): a target
 * booting while the database is reseeded must start (even on a seed longer than its start-up
 * query's timeout), and must serve the reseeded data — not the previous cell's writes. Real
 * PostgreSQL and Redis.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seedDatabase } from '../target/db.ts';
import { startTarget } from '../target/instance.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

async function exec(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** True while another session runs the reseed's fill of `users`. */
async function fillingUsers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO users%' AND pid <> pg_backend_pid()`,
    );
    return (r.rowCount ?? 0) > 0;
  } finally {
    await c.end();
  }
}

describe('target start side by side with the reseed', () => {
  it('starts while the schema is rebuilt and reads the new seed, not the old writes', async () => {
    const { postgresUrl, redisUrl } = infra();
    const sizes = { users: 100_000, teams: 500, counters: 10 };
    await seedDatabase(postgresUrl, sizes, 7);
    // What a previous cell leaves behind: a write the reseed must undo.
    await exec(
      postgresUrl,
      `UPDATE users SET name = 'written by the previous cell', version = 9 WHERE id = 1`,
    );

    let seededAt = 0;
    let startedAt = 0;
    const seeding = seedDatabase(postgresUrl, sizes, 7).then(() => {
      seededAt = performance.now();
    });
    // Started while the reseed fills its tables: the race a cell meets.
    const deadline = Date.now() + 10_000;
    while (!(await fillingUsers(postgresUrl))) {
      if (Date.now() > deadline) throw new Error('the reseed never reached the users fill');
      await new Promise((r) => setTimeout(r, 2));
    }
    const target = await startTarget({ redisUrl, postgresUrl, strategy: 'cache-aside' }).then((t) => {
      startedAt = performance.now();
      return t;
    });
    try {
      await seeding;
      // The fill runs in a staging schema: the target's start-up query did not wait for it.
      expect(startedAt).toBeLessThan(seededAt);
      // Its pool, opened on the old tables, reads the swapped-in ones.
      const r = await fetch(`${target.url}/users/1`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { user: { name: string; version: number } };
      expect(body.user.version).toBe(1);
      expect(body.user.name).not.toBe('written by the previous cell');
    } finally {
      await target.stop();
    }
  }, 60_000);
});
