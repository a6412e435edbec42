/**
 * jitter — cache-aside whose TTL is ttlMs × (1 + U[0, jitterFraction)), so keys filled together
 * (a warm-up, a deploy) do not all expire in the same second.
 * Guarantees: as cache-aside; a value lives at most ttlMs × (1 + jitterFraction).
 * Costs: slightly longer average staleness bound; no help for a single hot key.
 * Fails: as cache-aside.
 * Options: ttlMs (30000), jitterFraction (0.2).
 */
import { defineStrategy } from './define.ts';
import { jitter } from './policies/index.ts';

export default defineStrategy({
  name: 'jitter',
  summary: 'cache-aside with TTL = ttl × (1 + random·jitterFraction) against mass expiry',
  freshness: jitter(),
});
