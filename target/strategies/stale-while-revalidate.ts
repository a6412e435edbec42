/**
 * stale-while-revalidate — values carry a soft expiry (ttlMs) and live in Redis until the hard
 * expiry (ttlMs + staleTtlMs). Between the two a hit is served at once as 'stale' and triggers one
 * background refresh: one per key per process, and one across instances through a short NX lock
 * (<key>:lock, refreshLockMs).
 * Guarantees: flat latency through expiry; a value served is at most ttlMs + staleTtlMs old.
 * Writes DEL, so reads after a completed write are fresh; a refresh that loaded before a write
 * and SETs after it leaves a stale value for up to the hard TTL.
 * Costs: staleness within the bound; memory for the stale window.
 * Fails: open — as cache-aside; a failed refresh leaves the stale value (retried by the next stale
 * hit); closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000, soft), staleTtlMs (30000), refreshLockMs (5000).
 */
import { defineStrategy } from './define.ts';
import { staleWhileRevalidate } from './policies/index.ts';

export default defineStrategy({
  name: 'stale-while-revalidate',
  summary: 'soft + hard TTL: serve stale after soft expiry, one background refresh',
  freshness: staleWhileRevalidate(),
});
