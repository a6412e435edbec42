/**
 * lock — cache-aside where a miss first takes a rebuild lock (SET <key>:lock NX PX lockTtlMs, in
 * the same Lua step as a re-GET). Only the holder loads and SETs; the others poll (backoff from
 * pollMs to 4×pollMs) for its value for at most waitMs, then load for themselves without SETting.
 * Guarantees: ≈1 rebuild per expiry across all instances while Redis is up. A holder that dies
 * stops blocking after lockTtlMs (the lock expires; the next poll takes it).
 * Costs: waiters pay latency (lockWait); one extra round trip per miss; the stale-set race of
 * cache-aside remains (writes only DEL).
 * Fails: open — any Redis failure while locking or polling sends that read to the DB; with Redis
 * down there is no lock, so misses are not coordinated. closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000), lockTtlMs (5000), waitMs (2000), pollMs (10).
 */
import { defineStrategy } from './define.ts';
import { lock } from './policies/index.ts';

export default defineStrategy({
  name: 'lock',
  summary: 'cache-aside + SET NX PX rebuild lock; losers poll briefly and re-read',
  guard: lock(),
});
