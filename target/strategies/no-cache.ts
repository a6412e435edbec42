/**
 * no-cache — the baseline: every read and write goes to PostgreSQL; Redis is never touched.
 * Guarantees: reads are as fresh as the database; one DB query per read.
 * Costs: the full DB load; every read pays DB latency.
 * Fails: only when the database does; a Redis outage changes nothing. Composes with nothing.
 * Options: ttlMs is accepted and ignored (scenarios pass one cache setting to every strategy).
 */
import { defineStrategy } from './define.ts';

export default defineStrategy({
  name: 'no-cache',
  summary: 'DB on every request; the baseline (Redis unused)',
  uncached: true,
});
