/**
 * write-behind — counter increments are buffered in Redis (INCRBY <prefix>counter:<id>:pending) and a flush
 * loop (flushIntervalMs) moves them to the DB: one DB write per dirty counter per flush. Reads of
 * entities are cache-aside. Full accounting rules in policies/writes/behind.ts; in short:
 * Guarantees: no increment is applied twice (take-with-receipt flush); after a flush the DB holds
 * every acknowledged increment except those reported lost; counter reads include pending ones.
 * The DB alone lags by at most flushIntervalMs (plus one flush). close() flushes.
 * Costs: the DB lags; a Redis data loss loses pending increments silently.
 * Fails: open — an increment Redis never received goes straight to the DB (fallback); one sent
 * but unanswered is counted `writeBehindLost` (lost or at risk; not retried, to never count twice).
 * closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000), flushIntervalMs (1000), counterBaseTtlMs (1000).
 */
import { defineStrategy } from './define.ts';
import { behind } from './policies/index.ts';

export default defineStrategy({
  name: 'write-behind',
  summary: 'counter increments buffered in Redis, flushed to the DB periodically',
  counters: behind(),
});
