/**
 * Leaderboard reconciliation and cost, read by the harness itself over its own connections (never
 * through the proxies, never from the target): what Redis shows for the board and what
 * PostgreSQL holds after the load, the bytes one top-10 read takes out of Redis, and Redis's own
 * CPU time over the load (INFO cpu). docs/measurements.md "Leaderboard".
 */
import pg from 'pg';
import type { LeaderboardStorage, Scenario } from '../../scenarios/types.ts';
import { LEADERBOARD_BOARD } from '../../scenarios/workload.ts';
import { DEFAULT_KEY_PREFIX } from '../../target/keys.ts';
import { leaderboardKey } from '../../target/leaderboard.ts';
import type { LeaderboardTotals } from '../results/schema.ts';
import { withRedis } from './redis-config.ts';

/** The storage a cell's targets run with (the target option's default when the scenario says none). */
export function leaderboardStorageOf(s: Scenario): LeaderboardStorage {
  return s.leaderboard?.storage ?? 'zset';
}

export function usesLeaderboard(s: Scenario): boolean {
  return (s.mix['leaderboard-score'] ?? 0) > 0 || (s.mix['leaderboard-top'] ?? 0) > 0;
}

/** Redis's own counters a leaderboard cell is measured by, since the server started. */
export interface LeaderboardCounters {
  /** used_cpu_sys + used_cpu_user, ms. */
  cpuMs: number;
  /** Calls of the command that writes the board: ZINCRBY (zset) or SET (blob). */
  updateCalls: number;
}

const UPDATE_COMMAND: Record<LeaderboardStorage, string> = { zset: 'zincrby', blob: 'set' };

/** Summed over the given servers (a Cluster's masters each count their own commands). */
export async function leaderboardCounters(
  redisUrls: readonly string[],
  storage: LeaderboardStorage,
): Promise<LeaderboardCounters> {
  const each = await Promise.all(redisUrls.map((u) => serverCounters(u, storage)));
  return {
    cpuMs: each.reduce((a, c) => a + c.cpuMs, 0),
    updateCalls: each.reduce((a, c) => a + c.updateCalls, 0),
  };
}

function serverCounters(redisUrl: string, storage: LeaderboardStorage): Promise<LeaderboardCounters> {
  return withRedis(redisUrl, async (r) => {
    const info = `${await r.info('cpu')}\n${await r.info('commandstats')}`;
    const field = (n: string) => Number(new RegExp(`^${n}:(\\S+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    const calls = new RegExp(`^cmdstat_${UPDATE_COMMAND[storage]}:calls=(\\d+)`, 'm').exec(info)?.[1];
    return {
      cpuMs: (field('used_cpu_sys') + field('used_cpu_user')) * 1000,
      updateCalls: Number(calls ?? 0),
    };
  });
}

/**
 * What Redis shows for the board: the sum of its scores and the bytes of one top-10 read. On a
 * Cluster the board lives on the master that owns its slot; the others answer MOVED.
 */
async function redisBoard(redisUrls: readonly string[], storage: LeaderboardStorage) {
  let moved: unknown;
  for (const url of redisUrls) {
    try {
      return await serverBoard(url, storage);
    } catch (e) {
      if (!/^MOVED /.test((e as Error).message)) throw e;
      moved = e;
    }
  }
  throw moved ?? new Error('leaderboard: no Redis server to read the board from');
}

async function serverBoard(redisUrl: string, storage: LeaderboardStorage) {
  const key = leaderboardKey(DEFAULT_KEY_PREFIX, LEADERBOARD_BOARD, storage);
  return withRedis(redisUrl, async (r) => {
    if (storage === 'zset') {
      const all = await r.zrange(key, '0', '-1', 'WITHSCORES');
      let total = 0;
      for (let i = 1; i < all.length; i += 2) total += Number(all[i]);
      const top = await r.zrevrange(key, '0', '9', 'WITHSCORES');
      const bytes = top.reduce((a, s) => a + Buffer.byteLength(s), 0);
      return { total, members: all.length / 2, bytes };
    }
    const raw = await r.get(key);
    let scores: Record<string, number> = {};
    try {
      scores = raw === null ? {} : (JSON.parse(raw) as Record<string, number>);
    } catch {
      scores = {}; // an unreadable blob shows nothing: every increment in it is lost
    }
    const values = Object.values(scores);
    return {
      total: values.reduce((a, b) => a + Number(b), 0),
      members: values.length,
      // A top read of the blob GETs all of it, whatever n is.
      bytes: raw === null ? 0 : Buffer.byteLength(raw),
    };
  });
}

async function pgBoardTotal(postgresUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    const r = await c.query<{ s: string }>(
      'SELECT coalesce(sum(score), 0)::bigint AS s FROM leaderboard_scores WHERE board = $1',
      [LEADERBOARD_BOARD],
    );
    return Number(r.rows[0]?.s ?? 0);
  } finally {
    await c.end();
  }
}

/** After the load: the board in Redis and in PostgreSQL, and Redis's counters since `atZero`. */
export async function leaderboardTotals(
  infra: { redisUrls: readonly string[]; postgresUrl: string },
  storage: LeaderboardStorage,
  atZero: LeaderboardCounters,
): Promise<LeaderboardTotals> {
  const [board, pgTotal, now] = await Promise.all([
    redisBoard(infra.redisUrls, storage),
    pgBoardTotal(infra.postgresUrl),
    leaderboardCounters(infra.redisUrls, storage),
  ]);
  const cpu = now.cpuMs - atZero.cpuMs;
  const calls = now.updateCalls - atZero.updateCalls;
  return {
    storage,
    board: LEADERBOARD_BOARD,
    redisTotal: board.total,
    redisMembers: board.members,
    pgTotal,
    bytesPerTopRead: board.bytes,
    // Below zero: Redis restarted during the cell (its counters started over) — unknown.
    redisCpuMs: Number.isFinite(cpu) && cpu >= 0 ? cpu : null,
    updatesApplied: calls >= 0 ? calls : null,
  };
}
