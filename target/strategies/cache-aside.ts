/**
 * cache-aside — GET; on a miss load from the DB and SET with PX ttlMs; a write commits to the DB
 * then DELs the entity key and the aggregate keys that embed it.
 * Guarantees: after a write completes, reads miss and reload (unless the DEL failed: then the
 * key is repaired when Redis returns and, meanwhile, read from the DB by this instance). A read
 * that loaded before a write and SETs after its DEL leaves a stale value for up to ttlMs (the
 * stale-set race lease prevents).
 * Costs: one GET per read; every concurrent miss of a key loads the DB (hot-key stampede).
 * Fails: open — Redis errors and an open breaker send reads to the DB (`fallback`), no SET after a
 * failed GET; closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000).
 */
import { defineStrategy } from './define.ts';

export default defineStrategy({
  name: 'cache-aside',
  summary: 'GET, on miss load DB and SET PX ttl; write = DB then DEL',
});
