/**
 * write-through — a write commits to the DB, then SETs the committed entity as the new cached
 * value (DEL if that SET fails) and DELs the aggregate keys that embed it. Reads are cache-aside.
 * Guarantees: a read after a write hits the cache and sees the new version.
 * Costs: a SET per write even for entities nobody reads; two concurrent writes of one entity may
 * SET in the opposite order of their commits (older value cached until TTL).
 * Fails: open — a failed SET/DEL is queued and retried when Redis returns; closed — the write is
 * refused while the breaker is open, CACHE_UNAVAILABLE after commit if the SET and DEL failed.
 * Options: ttlMs (30000).
 */
import { defineStrategy } from './define.ts';
import { through } from './policies/index.ts';

export default defineStrategy({
  name: 'write-through',
  summary: 'write = DB then SET the new value (DEL if SET fails); reads after writes hit',
  write: through(),
});
