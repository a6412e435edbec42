/**
 * single-flight — cache-aside where concurrent misses of one key in this process share one DB
 * load (an in-process map of promises). Stacks on lock/lease (single-flight+lock: one poller per
 * process).
 * Guarantees: at most one rebuild per key at a time per instance, so rebuilds per expiry =
 * number of instances. Keeps protecting the DB while Redis is down (fallback loads coalesce too).
 * Costs: nothing across instances; followers share the leader's latency and its errors, and a
 * follower that joins a load begun before a write completed gets the pre-write value.
 * Fails: open — as cache-aside, with coalesced fallbacks; closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000).
 */
import { defineStrategy } from './define.ts';
import { singleFlight } from './policies/index.ts';

export default defineStrategy({
  name: 'single-flight',
  summary: 'in-process coalescing of concurrent loads per key (rebuilds = instances)',
  guard: singleFlight(),
});
