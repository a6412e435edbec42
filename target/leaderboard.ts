/**
 * Leaderboards (docs/architecture.md "Target HTTP API"): `POST /leaderboard/:board/score` adds to a
 * member's score, `GET /leaderboard/:board/top?n=10` returns the n best. PostgreSQL holds the true
 * scores (every increment commits there first); Redis holds the board the reads are served from,
 * in one of two layouts (target option `leaderboardStorage`), which is what is being measured:
 *
 *   blob  one JSON object member → score: an increment is GET, modify, SET — two round trips with
 *         nothing in between to stop another writer, so concurrent increments overwrite each
 *         other (lost updates); a read transfers the whole board.
 *   zset  a sorted set: ZINCRBY is atomic in Redis and a read is ZREVRANGE … WITHSCORES of n.
 *
 * Lost updates are not this module's claim: the harness reconciles the increments the client saw
 * acknowledged against the sum of what Redis shows (and PostgreSQL holds).
 * Redis failing (fail-open): an increment still commits to PostgreSQL and answers 200 with
 * `cached: false` (Redis misses it: counted as lost by the reconciliation); a read answers from
 * PostgreSQL with `source: "db"`.
 */
import type express from 'express';
import type { Request, Response } from 'express';
import type { CacheClient } from './cache-client.ts';
import type { Db } from './db.ts';

export type LeaderboardStorage = 'blob' | 'zset';

export interface ScoreEntry {
  member: string;
  score: number;
}

const BOARD = /^[A-Za-z0-9_-]{1,64}$/;
const MEMBER = /^[A-Za-z0-9_.-]{1,64}$/;
const BY_MAX = 1_000_000;
const TOP_MAX = 100;

export function leaderboardKey(prefix: string, board: string, storage: LeaderboardStorage): string {
  return `${prefix}leaderboard:${board}:${storage}`;
}

/** The board in Redis, in one of the two layouts. Each method is one or two Redis interactions. */
export class RedisLeaderboard {
  private readonly cache: CacheClient;
  private readonly prefix: string;
  readonly storage: LeaderboardStorage;

  constructor(cache: CacheClient, prefix: string, storage: LeaderboardStorage) {
    this.cache = cache;
    this.prefix = prefix;
    this.storage = storage;
  }

  /** Adds `by` to `member`; false when Redis did not take it. */
  async add(board: string, member: string, by: number): Promise<boolean> {
    const key = leaderboardKey(this.prefix, board, this.storage);
    if (!this.cache.available()) return false;
    if (this.storage === 'zset') {
      return (await this.cache.run('lb-zincrby', (r) => r.zincrby(key, by, member))).ok;
    }
    // The read-modify-write under test: nothing makes the SET conditional on the GET.
    const got = await this.cache.run('lb-blob-get', (r) => r.get(key));
    if (!got.ok) return false;
    const scores = parseBlob(got.value);
    scores[member] = (scores[member] ?? 0) + by;
    return (await this.cache.run('lb-blob-set', (r) => r.set(key, JSON.stringify(scores)))).ok;
  }

  /** The n best as Redis shows them; null when Redis failed. */
  async top(board: string, n: number): Promise<ScoreEntry[] | null> {
    const key = leaderboardKey(this.prefix, board, this.storage);
    if (!this.cache.available()) return null;
    if (this.storage === 'zset') {
      const got = await this.cache.run('lb-zrevrange', (r) => r.zrevrange(key, 0, n - 1, 'WITHSCORES'));
      if (!got.ok) return null;
      const out: ScoreEntry[] = [];
      for (let i = 0; i + 1 < got.value.length; i += 2)
        out.push({ member: got.value[i]!, score: Number(got.value[i + 1]) });
      return out;
    }
    const got = await this.cache.run('lb-blob-get', (r) => r.get(key));
    if (!got.ok) return null;
    return Object.entries(parseBlob(got.value))
      .map(([member, score]) => ({ member, score }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? -1 : 1))
      .slice(0, n);
  }
}

function parseBlob(raw: string | null): Record<string, number> {
  if (raw === null) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, number>) : {};
  } catch {
    return {}; // an unreadable blob starts over (its scores are lost, as a real one would be)
  }
}

export interface LeaderboardRoutes {
  db: Db;
  board: RedisLeaderboard;
  /** The app's route wrapper (endpoint context, request count, latency, errors). */
  route: (
    endpoint: string,
    handler: (req: Request, res: Response) => Promise<void>,
  ) => (req: Request, res: Response, next: express.NextFunction) => void;
  jsonBody: express.RequestHandler;
  /** The app's 4xx error (one line naming the field, the value and what is allowed). */
  badRequest: (message: string) => Error;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Mounts the two leaderboard routes (and 405 for other methods on them). */
export function mountLeaderboard(app: express.Express, d: LeaderboardRoutes): void {
  const boardOf = (req: Request): string => {
    const b = req.params.board;
    if (typeof b !== 'string' || !BOARD.test(b))
      throw d.badRequest(`board: ${show(b)} is not allowed; expected 1-64 of [A-Za-z0-9_-]`);
    return b;
  };

  app.post(
    '/leaderboard/:board/score',
    d.jsonBody,
    d.route('leaderboard-score', async (req, res) => {
      const board = boardOf(req);
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw d.badRequest('body: expected a JSON object {"member": "…", "by": n} sent as application/json');
      const { member, by = 1, ...rest } = body as Record<string, unknown>;
      const unknown = Object.keys(rest)[0];
      if (unknown !== undefined)
        throw d.badRequest(`${show(unknown)}: unknown field; allowed fields are member, by`);
      if (typeof member !== 'string' || !MEMBER.test(member))
        throw d.badRequest(`member: ${show(member)} is not allowed; expected 1-64 of [A-Za-z0-9_.-]`);
      if (typeof by !== 'number' || !Number.isInteger(by) || by < 1 || by > BY_MAX)
        throw d.badRequest(`by: ${show(by)} is not allowed; expected an integer from 1 to ${BY_MAX}`);
      const score = await d.db.addScore(board, member, by);
      const cached = await d.board.add(board, member, by);
      res.setHeader('x-cache', 'none');
      res.json({ board, member, score, cached });
    }),
  );

  app.get(
    '/leaderboard/:board/top',
    d.route('leaderboard-top', async (req, res) => {
      const board = boardOf(req);
      const raw = (req.query as Record<string, unknown>).n;
      let n = 10;
      if (raw !== undefined) {
        n = typeof raw === 'string' && /^[1-9][0-9]{0,2}$/.test(raw) ? Number(raw) : 0;
        if (n < 1 || n > TOP_MAX)
          throw d.badRequest(`n: ${show(raw)} is not allowed; expected an integer from 1 to ${TOP_MAX}`);
      }
      const fromRedis = await d.board.top(board, n);
      const top = fromRedis ?? (await d.db.topScores(board, n));
      res.setHeader('x-cache', fromRedis ? 'hit' : 'fallback');
      res.json({ board, storage: d.board.storage, source: fromRedis ? 'cache' : 'db', top });
    }),
  );

  const notAllowed = (allow: string) => (req: Request, res: Response) => {
    res.setHeader('allow', allow);
    res.status(405).json({ error: `method ${req.method} is not allowed on this path; allowed: ${allow}` });
  };
  app.all('/leaderboard/:board/score', notAllowed('POST'));
  app.all('/leaderboard/:board/top', notAllowed('GET, HEAD'));
}
