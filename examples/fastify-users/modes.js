// The three caching variants, chosen by CACHE_MODE. Each is a read path (`read`) and a write path
// (`written`, `deleted`) over the same fail-open cache; the stats count what happened, for the
// optional probe.
//
//   aside     naive cache-aside: GET, on a miss load + SET with a TTL; a write DELs. Two known bugs:
//             a stampede (every concurrent miss of a hot key loads from the DB) and the stale-set
//             race (a miss that loaded the old row SETs it after a concurrent writer's DEL).
//   locked    the fix: a rebuild lock (SET NX PX; the others wait and re-read) and race-safe
//             writes (the writer stores its committed row, and every SET is "only if newer").
//   regressed `locked` with the rebuild lock removed: the stampede is back (a deliberate
//             regression for the gate).

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function createStats() {
  return { requests: 0, hits: 0, misses: 0, fallbacks: 0, loads: { db: 0 } };
}

export function createMode({ mode, ttlMs, enrichMs, reportCostMs, userReadCostMs }, cache, stats) {
  // A rebuild holds its lock for at most this long: far longer than the slowest load, so the lock
  // only expires when its holder died or Redis lost it.
  const lockTtlMs = Math.max(500, 4 * (Math.max(reportCostMs, userReadCostMs) + enrichMs));
  const waitStepMs = 10;

  async function load(loader) {
    stats.loads.db += 1;
    return loader();
  }

  // Redis failed: answer from PostgreSQL and leave the cache alone.
  async function fallback(loader) {
    stats.fallbacks += 1;
    return { value: await load(loader), source: 'fallback' };
  }

  // Stands in for the downstream call a real service makes while building the cached value (an
  // avatar URL signer, a permissions lookup): an await between the DB read and the SET.
  async function enrich(value) {
    if (enrichMs > 0) await sleep(enrichMs);
    return value;
  }

  const hit = (value) => {
    stats.hits += 1;
    return { value: visible(value), source: 'cache' };
  };

  async function readAside(key, loader, store) {
    const cached = await cache.get(key);
    if (!cached.ok) return fallback(loader);
    if (cached.value !== undefined) return hit(cached.value);
    stats.misses += 1;
    const value = await enrich(await load(loader));
    if (value !== undefined) await store(key, value);
    return { value, source: 'db' };
  }

  async function readLocked(key, loader) {
    const cached = await cache.get(key);
    if (!cached.ok) return fallback(loader);
    if (cached.value !== undefined) return hit(cached.value);
    const lockKey = `lock:${key}`;
    const lock = await cache.lock(lockKey, lockTtlMs);
    if (!lock.ok) return fallback(loader);
    if (lock.value !== null) {
      stats.misses += 1;
      try {
        const value = await enrich(await load(loader));
        if (value !== undefined) await cache.setIfNewer(key, value, ttlMs);
        return { value, source: 'db' };
      } finally {
        await cache.unlock(lockKey, lock.value);
      }
    }
    // Someone else is rebuilding: re-read until their value lands, then load ourselves.
    for (let waited = 0; waited < lockTtlMs; waited += waitStepMs) {
      await sleep(waitStepMs);
      const again = await cache.get(key);
      if (!again.ok) return fallback(loader);
      if (again.value !== undefined) return hit(again.value);
    }
    stats.misses += 1;
    const value = await enrich(await load(loader));
    if (value !== undefined) await cache.setIfNewer(key, value, ttlMs);
    return { value, source: 'db' };
  }

  const setPlain = (key, value) => cache.set(key, value, ttlMs);
  const setIfNewer = (key, value) => cache.setIfNewer(key, value, ttlMs);

  // After a committed write. The members list of the user's team holds the name too: it is dropped
  // in every variant (lists carry no per-member version the cache could compare).
  async function writtenAside(key, _value, listKeys) {
    await Promise.all([key, ...listKeys].map((k) => cache.del(k)));
  }
  async function writtenSafe(key, value, listKeys) {
    const stored = await cache.setIfNewer(key, value, ttlMs);
    // Could not store the new row (Redis trouble): at least try to drop the old one.
    if (!stored.ok) await cache.del(key);
    await Promise.all(listKeys.map((k) => cache.del(k)));
  }

  switch (mode) {
    case 'aside':
      return {
        read: (key, loader) => readAside(key, loader, setPlain),
        written: writtenAside,
        // A delete is a write whose new value is "gone".
        deleted: (key, tombstone, listKeys) => writtenAside(key, tombstone, listKeys),
      };
    case 'locked':
      return {
        read: readLocked,
        written: writtenSafe,
        // The tombstone is cached like a row, so a late SET of the deleted row is refused.
        deleted: writtenSafe,
      };
    case 'regressed':
      return {
        read: (key, loader) => readAside(key, loader, setIfNewer),
        written: writtenSafe,
        deleted: writtenSafe,
      };
    default:
      throw new Error(`unknown CACHE_MODE ${mode}`);
  }
}

// A cached tombstone reads as "not found".
function visible(value) {
  return value?.deleted ? undefined : value;
}
