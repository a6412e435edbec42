/**
 * stale-while-revalidate freshness: a value is fresh until its soft expiry (now + ttl), then
 * judged 'stale' (served at once, one background refresh) until the hard expiry = soft +
 * staleTtlMs, when Redis drops it. Without a guard that coordinates refreshes, instances take a
 * short NX lock (`<key>:lock`, refreshLockMs) so one of them refreshes.
 */
import { encodeEntry } from '../../parts/envelope.ts';
import { lockPermit } from '../guards/lock.ts';
import type { FreshnessPolicy } from '../types.ts';

export function staleWhileRevalidate(): FreshnessPolicy {
  return {
    name: 'stale-while-revalidate',
    provides: ['stamp', 'judge', 'refreshPermit'],
    options: ['staleTtlMs', 'refreshLockMs'],
    create: (env) => ({
      stamp: (json, _loadMs, ttlMs, now) => ({
        raw: encodeEntry({ json, softExpiresAt: now + ttlMs }),
        pxMs: ttlMs + env.options.staleTtlMs,
      }),
      judge: (e, now) => (e.softExpiresAt !== undefined && now >= e.softExpiresAt ? 'stale' : 'fresh'),
      refreshPermit: (key) => lockPermit(env, key, env.options.refreshLockMs),
    }),
  };
}
