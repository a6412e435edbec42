/**
 * /leaderboard on real Redis and PostgreSQL, both storage layouts under the same concurrent
 * writers: the JSON blob's GET-modify-SET loses acknowledged increments, the sorted set loses
 * none, and PostgreSQL has every one of them either way. The losses are reconciled here (the
 * test counts what it saw acknowledged and reads Redis and PostgreSQL itself), not reported by
 * the target.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeLeaderboard } from '../harness/analysis/leaderboard.ts';
import { leaderboardCounters, leaderboardTotals } from '../harness/pipeline/leaderboard.ts';
import { seedDatabase } from '../target/db.ts';
import { startTarget, type TargetHandle } from '../target/instance.ts';
import { type LeaderboardStorage, leaderboardKey } from '../target/leaderboard.ts';
import { synthCell } from './fixtures/synthetic.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

/** Sum of every score Redis shows for the board, read directly. */
async function redisTotal(redis: Redis, prefix: string, board: string, storage: LeaderboardStorage) {
  const key = leaderboardKey(prefix, board, storage);
  if (storage === 'zset') {
    const flat = await redis.zrange(key, '0', '-1', 'WITHSCORES');
    let sum = 0;
    for (let i = 1; i < flat.length; i += 2) sum += Number(flat[i]);
    return sum;
  }
  const raw = await redis.get(key);
  return Object.values(JSON.parse(raw ?? '{}') as Record<string, number>).reduce((a, b) => a + b, 0);
}

async function pgTotal(board: string): Promise<number> {
  const c = new pg.Client({ connectionString: infra().postgresUrl });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT coalesce(sum(score), 0)::bigint AS s FROM leaderboard_scores WHERE board = $1',
      [board],
    );
    return Number(r.rows[0].s);
  } finally {
    await c.end();
  }
}

/**
 * `writers` concurrent loops, each `perWriter` increments of 1 spread over 3 members: how many
 * were acknowledged (200: committed to PostgreSQL) and how many of those Redis took too.
 */
async function hammer(t: TargetHandle, board: string, writers: number, perWriter: number) {
  let acked = 0;
  let cached = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        const r = await fetch(`${t.url}/leaderboard/${board}/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ member: `m${(w + i) % 3}`, by: 1 }),
        });
        const body = (await r.json()) as { cached: boolean };
        if (r.status === 200) acked++;
        if (r.status === 200 && body.cached) cached++;
      }
    }),
  );
  return { acked, cached };
}

describe('leaderboard: blob vs sorted set under concurrent writers', () => {
  const targets: Partial<Record<LeaderboardStorage, TargetHandle>> = {};
  let redis: Redis;
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 20, teams: 2, counters: 1 }, 3);
    redis = new Redis(infra().redisUrl);
    for (const storage of ['blob', 'zset'] as const) {
      targets[storage] = await startTarget({
        redisUrl: infra().redisUrl,
        postgresUrl: infra().postgresUrl,
        strategy: 'cache-aside',
        instanceId: `lb-${storage}`,
        keyPrefix: `lb-${storage}:`,
        leaderboardStorage: storage,
      });
    }
  }, 60_000);
  afterAll(async () => {
    for (const t of Object.values(targets)) await t?.stop();
    redis?.disconnect();
  });

  it('the blob loses acknowledged increments, the sorted set none; PostgreSQL has them all', async () => {
    const figures: string[] = [];
    const lost: Record<string, number> = {};
    for (const storage of ['blob', 'zset'] as const) {
      const board = `race-${storage}`;
      const { acked, cached } = await hammer(targets[storage]!, board, 16, 25);
      const inRedis = await redisTotal(redis, `lb-${storage}:`, board, storage);
      const inPg = await pgTotal(board);
      // Only increments Redis answered for count against it: one whose command timed out on a
      // busy machine (cached: false) may or may not have been applied.
      lost[storage] = cached - inRedis;
      figures.push(
        `${storage}: acknowledged ${acked} (Redis answered ${cached}), Redis shows ${inRedis}, PostgreSQL ${inPg}, lost ${cached - inRedis}`,
      );
      expect(acked).toBe(16 * 25);
      expect(inRedis).toBeLessThanOrEqual(acked);
      expect(inPg).toBe(acked);
    }
    console.log(`[leaderboard] ${figures.join(' | ')}`);
    expect(lost.blob, figures.join(' | ')).toBeGreaterThan(0);
    expect(lost.zset, figures.join(' | ')).toBeLessThanOrEqual(0);
  }, 60_000);

  it('top returns the n best in order, from Redis, in both layouts', async () => {
    for (const storage of ['blob', 'zset'] as const) {
      const t = targets[storage]!;
      for (const [member, by] of [
        ['alice', 5],
        ['bob', 9],
        ['carol', 1],
      ] as const) {
        await fetch(`${t.url}/leaderboard/top-${storage}/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ member, by }),
        });
      }
      const r = await fetch(`${t.url}/leaderboard/top-${storage}/top?n=2`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({
        board: `top-${storage}`,
        storage,
        source: 'cache',
        top: [
          { member: 'bob', score: 9 },
          { member: 'alice', score: 5 },
        ],
      });
    }
  });

  it('bad input: 400 with one line naming the field, the value and what is allowed', async () => {
    const t = targets.zset!;
    const post = (path: string, body: unknown) =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const cases: [Promise<Response>, string][] = [
      [post('/leaderboard/b/score', { member: 'a b', by: 1 }), 'member: "a b" is not allowed'],
      [post('/leaderboard/b/score', { member: 'a', by: 0 }), 'by: 0 is not allowed'],
      [post('/leaderboard/b/score', { member: 'a', extra: 1 }), '"extra": unknown field'],
      [post('/leaderboard/b%20c/score', { member: 'a' }), 'board: "b c" is not allowed'],
      [
        fetch(`${t.url}/leaderboard/b/top?n=1000`),
        'n: "1000" is not allowed; expected an integer from 1 to 100',
      ],
    ];
    for (const [p, msg] of cases) {
      const r = await p;
      expect(r.status).toBe(400);
      const { error } = (await r.json()) as { error: string };
      expect(error).toContain(msg);
      expect(error).not.toContain('\n');
    }
    const r = await fetch(`${t.url}/leaderboard/b/score`);
    expect(r.status).toBe(405);
  });

  it('the harness reconciles a cell itself: Redis sum and PostgreSQL sum read directly, Redis CPU from INFO', async () => {
    // The pipeline's board: default prefix, board "main", as the scenario's driver writes it.
    const t = await startTarget({
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'cache-aside',
      instanceId: 'lb-main',
      leaderboardStorage: 'blob',
    });
    try {
      const zero = await leaderboardCounters([infra().redisUrl], 'blob');
      const { acked, cached } = await hammer(t, 'main', 12, 20);
      const totals = await leaderboardTotals(
        { redisUrls: [infra().redisUrl], postgresUrl: infra().postgresUrl },
        'blob',
        zero,
      );
      const raw = (await redis.get(leaderboardKey('cb:', 'main', 'blob'))) ?? '';
      expect(totals.redisTotal).toBe(await redisTotal(redis, 'cb:', 'main', 'blob'));
      expect(totals.pgTotal).toBe(acked);
      expect(totals.bytesPerTopRead).toBe(Buffer.byteLength(raw));
      expect(totals.redisCpuMs).toBeGreaterThan(0);
      // Redis's own count of the blob's SETs: one per increment it answered, plus any it ran
      // whose reply came too late for the target (cached: false).
      expect(totals.updatesApplied).toBeGreaterThanOrEqual(cached);
      expect(totals.updatesApplied).toBeLessThanOrEqual(acked);
      const { cell } = synthCell({ scenario: 'leaderboard', strategy: 'cache-aside', seconds: 2 });
      cell.leaderboard = totals;
      cell.load.perOp['leaderboard-score'] = {
        count: acked,
        errors: 0,
        latency: { count: acked, mean: 1, p50: 1, p90: 2, p99: 3, p999: 4, max: 5 },
        statuses: { '200': acked },
      };
      const a = analyzeLeaderboard(cell)!;
      console.log(`[leaderboard] harness reconciliation (blob): ${JSON.stringify(a)}`);
      expect(a.acknowledged).toBe(acked);
      expect(a.lostUpdates).toBe(acked - totals.redisTotal);
      expect(a.lostUpdates).toBeGreaterThan(0);
      expect(a.missingInPg).toBe(0);
      // Every loss is the race's: Redis executed each SET, later ones overwrote earlier ones.
      expect(a.notApplied).toBe(acked - totals.updatesApplied!);
      expect(a.overwritten).toBe(totals.updatesApplied! - totals.redisTotal);
      expect(a.overwritten).toBeGreaterThan(0);
      expect(a.score).toEqual({ p50: 1, p99: 3 });
    } finally {
      await t.stop();
    }
  }, 60_000);
});
