// The three caching variants, chosen by CACHE_MODE. Each is a read path (`read`) and what follows
// a committed write or delete (`written`), over the same fail-open cache; the stats count what
// happened, for the optional probe.
//
//   aside     naive cache-aside: GET, on a miss load + SET with a TTL; a write DELs. Two known bugs:
//             a stampede (every concurrent miss of a hot key loads from the DB) and the stale-set
//             race (a miss that loaded the old row SETs it after a concurrent writer's DEL).
//   locked    the fix: a rebuild lock (SET NX PX; the others wait and re-read) and race-safe
//             writes (a write bumps the key's generation; a load is stored only if the generation
//             it read before the DB read is still current).
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
    return { value, source: 'cache' };
  };

  async function readAside(key, loader) {
    const cached = await cache.get(key);
    if (!cached.ok) return fallback(loader);
    if (cached.value !== undefined) return hit(cached.value);
    stats.misses += 1;
    const value = await enrich(await load(loader));
    if (value !== undefined) await cache.set(key, value, ttlMs);
    return { value, source: 'db' };
  }

  // A miss of the race-safe variants: the generation is read before the DB read, and the value is
  // stored only if no write bumped it since.
  async function rebuildSafe(key, loader) {
    const generation = await cache.generation(key);
    if (!generation.ok) return fallback(loader);
    stats.misses += 1;
    const value = await enrich(await load(loader));
    if (value !== undefined) await cache.setIfUnchanged(key, value, generation.value, ttlMs);
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
      try {
        return await rebuildSafe(key, loader);
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
    return rebuildSafe(key, loader);
  }

  // `locked` without its rebuild lock: every concurrent miss loads (and stores) again.
  async function readUnguarded(key, loader) {
    const cached = await cache.get(key);
    if (!cached.ok) return fallback(loader);
    if (cached.value !== undefined) return hit(cached.value);
    return rebuildSafe(key, loader);
  }

  // After a committed write or delete. The members list of the user's team holds the name too:
  // it is dropped as well (a list has no single generation to check against).
  async function invalidateAside(key, listKeys) {
    await Promise.all([key, ...listKeys].map((k) => cache.del(k)));
  }
  async function invalidateSafe(key, listKeys) {
    await Promise.all([cache.invalidate(key), ...listKeys.map((k) => cache.del(k))]);
  }

  switch (mode) {
    case 'aside':
      return { read: readAside, written: invalidateAside };
    case 'locked':
      return { read: readLocked, written: invalidateSafe };
    case 'regressed':
      return { read: readUnguarded, written: invalidateSafe };
    default:
      throw new Error(`unknown CACHE_MODE ${mode}`);
  }
}
