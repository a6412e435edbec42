/**
 * versioning — values that depend on aggregates (req.dependsOn, e.g. team:12) are stored under
 * <key>:v<version of each aggregate>; a write INCRs the versions of req.bumps, so the next read
 * resolves a new key and misses. Old keys are orphaned until their TTL (visible as key count).
 * Version keys (<prefix><aggregate>:ver) have no TTL; a missing one is seeded with the current epoch ms so
 * an evicted counter never returns to a version already used.
 * Guarantees: an aggregate read after a member write completes reflects it (no DEL of every
 * aggregate key needed). The entity's own key is still DELed on write.
 * Costs: one extra round trip per read (versions), memory for orphans until TTL.
 * Fails: open — a failed bump is queued and retried when Redis returns; until then this instance
 * reads the affected aggregates from the DB. Other instances may serve the old version until TTL.
 * closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000).
 */
import { defineStrategy } from './define.ts';
import { versioned } from './policies/index.ts';

export default defineStrategy({
  name: 'versioning',
  summary: 'aggregate keys carry a namespace version; writes INCR it, old keys orphaned until TTL',
  keys: versioned(),
});
