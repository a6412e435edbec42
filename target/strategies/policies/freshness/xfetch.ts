/**
 * xfetch freshness: each value stores δ (its load time) and its expiry; a hit recomputes early
 * when now − δ·β·ln(U) ≥ expiry, U ~ (0,1] (Vattani, Chierichetti, Lowenstein, VLDB 2015). Alone
 * it coordinates nothing (as in the paper): the probability spreads recomputes.
 */
import { encodeEntry } from '../../parts/envelope.ts';
import type { FreshnessPolicy } from '../types.ts';

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

export function xfetch(random: () => number = Math.random): FreshnessPolicy {
  return {
    name: 'xfetch',
    provides: ['stamp', 'judge'],
    options: ['beta'],
    create: ({ options: o }) => ({
      stamp: (json, loadMs, ttlMs, now) => ({
        raw: encodeEntry({ json, deltaMs: loadMs, expiresAt: now + ttlMs }),
        pxMs: ttlMs,
      }),
      judge: (e, now) => {
        if (e.deltaMs === undefined || e.expiresAt === undefined) return 'fresh';
        return xfetchShouldRecompute(now, e.deltaMs, o.beta, e.expiresAt, 1 - random()) ? 'early' : 'fresh';
      },
    }),
  };
}
