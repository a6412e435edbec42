/**
 * lease — a miss asks Redis for a lease (Lua: GET, else SET <key>:lease token NX PX leaseTtlMs).
 * Only the holder loads, and its SET is applied only while its token is still the current one
 * (Lua compare-and-set). A write DELs the value AND the lease, so a holder that loaded before
 * the write has its late, stale SET rejected (the memcache lease of Nishtala et al., NSDI 2013).
 * Others poll for the value (backoff from pollMs) for at most waitMs, then load without SETting.
 * Guarantees: ≈1 rebuild per expiry and no stale-set race while Redis is up.
 * Costs: waiters pay latency; one extra round trip per miss; a rejected SET means the next read
 * misses again.
 * Fails: open — any Redis failure sends the read to the DB and no lease is held; closed —
 * CACHE_UNAVAILABLE.
 * Options: ttlMs (30000), leaseTtlMs (5000), waitMs (2000), pollMs (10).
 */
import { defineStrategy } from './define.ts';
import { lease } from './policies/index.ts';

export default defineStrategy({
  name: 'lease',
  summary: 'lease tokens on miss; writes invalidate the lease so late stale SETs are rejected',
  guard: lease(),
});
