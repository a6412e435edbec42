/**
 * Freshness part: how a stored value is stamped and how a hit is judged.
 *   plain                   fresh until Redis expires it.
 *   stale-while-revalidate  fresh until the soft TTL, then served as 'stale' (one background
 *                           refresh) until the hard TTL = soft + staleTtlMs, when Redis drops it.
 *   xfetch                  fresh, but each hit recomputes early with probability growing as
 *                           expiry nears: recompute if now − δ·β·ln(U) ≥ expiry, U ~ (0,1]
 *                           (Vattani, Chierichetti, Lowenstein, VLDB 2015), δ = last recompute time.
 */
import { type Entry, encodeEntry } from './envelope.ts';
import type { StrategyOptions } from './options.ts';
import type { Parts } from './parts.ts';

export type Verdict = 'fresh' | 'stale' | 'early';

export interface FreshnessPolicy {
  /** The raw string to store and the Redis PX for it. */
  stamp(json: string, loadMs: number, ttlMs: number, now: number): { raw: string; pxMs: number };
  judge(entry: Entry, now: number): Verdict;
}

/** The XFetch test, separated so it can be checked on its own. `u` in (0, 1]. */
export function xfetchShouldRecompute(
  now: number,
  deltaMs: number,
  beta: number,
  expiresAt: number,
  u: number,
): boolean {
  return now - deltaMs * beta * Math.log(u) >= expiresAt;
}

export function freshnessPolicy(
  kind: Parts['freshness'],
  o: StrategyOptions,
  random: () => number = Math.random,
): FreshnessPolicy {
  if (kind === 'stale-while-revalidate') {
    return {
      stamp: (json, _loadMs, ttlMs, now) => ({
        raw: encodeEntry({ json, softExpiresAt: now + ttlMs }),
        pxMs: ttlMs + o.staleTtlMs,
      }),
      judge: (e, now) => (e.softExpiresAt !== undefined && now >= e.softExpiresAt ? 'stale' : 'fresh'),
    };
  }
  if (kind === 'xfetch') {
    return {
      stamp: (json, loadMs, ttlMs, now) => ({
        raw: encodeEntry({ json, deltaMs: loadMs, expiresAt: now + ttlMs }),
        pxMs: ttlMs,
      }),
      judge: (e, now) => {
        if (e.deltaMs === undefined || e.expiresAt === undefined) return 'fresh';
        return xfetchShouldRecompute(now, e.deltaMs, o.beta, e.expiresAt, 1 - random()) ? 'early' : 'fresh';
      },
    };
  }
  return {
    stamp: (json, _loadMs, ttlMs) => ({ raw: json, pxMs: ttlMs }),
    judge: () => 'fresh',
  };
}
