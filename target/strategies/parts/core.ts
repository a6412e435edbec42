/**
 * The cache-aside core every catalog strategy is assembled from (see parts.ts for the
 * dimensions). Read: resolve key → GET → judge freshness → on a miss rebuild under the guard.
 * Write: DB first, then invalidate (or write through), bump versions, drop leases.
 *
 * Failure rules, the same for every composition:
 *   - A read touches Redis only while the breaker admits it; the first failed Redis call of a
 *     read ends that read's use of Redis (no SET after a failed GET): fail-open loads from the DB
 *     (`fallback`, rebuild reason 'fallback'); fail-closed throws CACHE_UNAVAILABLE.
 *   - A failed SET after a successful load is ignored (the value is correct, only not cached).
 *   - A failed invalidation after a committed write is queued (repairs.ts) and retried when Redis
 *     returns; fail-closed refuses writes while the breaker is open and throws after the commit
 *     if invalidation failed (the write is committed; the error says so).
 */
import { randomBytes } from 'node:crypto';
import type { CacheError, CacheOutcome } from '../../cache-client.ts';
import { DEFAULT_KEY_PREFIX } from '../../keys.ts';
import type {
  ReadRequest,
  ReadResult,
  Strategy,
  StrategyContext,
  Versioned,
  WriteRequest,
} from '../../strategy.ts';
import { type Counters, directCounters, writeBehindCounters } from './counters.ts';
import { decodeEntry, type Entry } from './envelope.ts';
import { CacheUnavailableError } from './errors.ts';
import { freshnessPolicy } from './freshness.ts';
import { leaseKey, lockKey, versionedKey, versionKey } from './key-names.ts';
import { readOptions } from './options.ts';
import type { Parts } from './parts.ts';
import { bumpVersions, Repairs } from './repairs.ts';
import { evalScript, GET_OR_ACQUIRE, LEASE_SET, READ_VERSIONS, RELEASE_IF_OWNER } from './scripts.ts';
import { ttlPolicy } from './ttl.ts';

const BREAKER_OPEN: CacheError = { kind: 'breaker-open', message: 'circuit breaker open', sent: false };

interface Cached {
  entry: Entry;
  value: unknown;
}

interface Loaded<T> {
  value: T;
  json: string;
  loadMs: number;
}

/** Permission to refresh a value that is still cached (stale or early). */
interface RefreshPermit {
  store(raw: string, pxMs: number): Promise<unknown>;
  release(): Promise<unknown>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const newToken = () => randomBytes(9).toString('base64url');

/** Stops timers and awaits background work, bounded so a hung DB cannot block shutdown. */
async function settle(promises: Iterable<Promise<unknown>>, ms: number): Promise<void> {
  await Promise.race([Promise.allSettled([...promises]), sleep(ms)]);
}

export function createComposedStrategy(name: string, parts: Parts, ctx: StrategyContext): Strategy {
  const o = readOptions(name, parts, ctx.options);
  const { cache, events } = ctx;
  const failClosed = ctx.policy === 'fail-closed';
  const prefix = ctx.keyPrefix ?? DEFAULT_KEY_PREFIX;

  if (parts.cache === 'none') {
    return {
      name,
      async read<T extends Versioned>(req: ReadRequest<T>): Promise<ReadResult<T>> {
        events.miss(req.namespace);
        return { value: await events.rebuild(req.key, 'miss', req.load), source: 'db' };
      },
      write: (req) => req.write(),
      ...counterMethods(directCounters()),
    };
  }

  const nextTtl = ttlPolicy(parts.ttl, o);
  const freshness = freshnessPolicy(parts.freshness, o);
  const repairs = new Repairs(cache, prefix);
  const coalesced = new Map<string, Promise<unknown>>();
  const refreshing = new Set<string>();
  const background = new Set<Promise<unknown>>();
  /** Last observed load time per namespace: δ for values written through (xfetch). */
  const lastLoadMs = new Map<string, number>();
  const counters: Counters =
    parts.counters === 'write-behind'
      ? writeBehindCounters({ cache, events, instanceId: ctx.instanceId, failClosed, options: o, prefix })
      : directCounters();

  /** In-process single-flight: concurrent callers with the same id share one promise. */
  function coalesce<R>(id: string, fn: () => Promise<R>): Promise<R> {
    const running = coalesced.get(id);
    if (running) return running as Promise<R>;
    const p = fn().finally(() => coalesced.delete(id));
    coalesced.set(id, p);
    return p;
  }

  async function load<T extends Versioned>(
    req: ReadRequest<T>,
    reason: 'miss' | 'refresh' | 'early' | 'lease',
  ) {
    const t0 = performance.now();
    const value = await events.rebuild(req.key, reason, req.load);
    const loadMs = performance.now() - t0;
    lastLoadMs.set(req.namespace, loadMs);
    return { value, json: JSON.stringify(value), loadMs } satisfies Loaded<T>;
  }

  function stamp(json: string, loadMs: number) {
    return freshness.stamp(json, loadMs, nextTtl(), Date.now());
  }

  function store(key: string, loaded: Loaded<unknown>): Promise<CacheOutcome<boolean>> {
    const { raw, pxMs } = stamp(loaded.json, loaded.loadMs);
    return cache.set(key, raw, pxMs);
  }

  /** A value key's content, or null when it cannot be read (then it is treated as a miss). */
  function readCached(raw: string | null): Cached | null {
    const entry = raw === null ? null : decodeEntry(raw);
    if (!entry) return null;
    try {
      return { entry, value: JSON.parse(entry.json) };
    } catch {
      return null;
    }
  }
  const fromCache = <T>(c: Cached, source: 'cache' | 'stale'): ReadResult<T> => ({
    value: c.value as T,
    source,
    json: c.entry.json,
  });
  const fromDb = <T>(l: Loaded<T>): ReadResult<T> => ({ value: l.value, source: 'db', json: l.json });

  async function fallbackRead<T extends Versioned>(
    req: ReadRequest<T>,
    error: CacheError,
  ): Promise<ReadResult<T>> {
    if (failClosed) throw new CacheUnavailableError(`read ${req.key}`, error);
    events.fallback(req.namespace);
    const loadIt = () => events.rebuild(req.key, 'fallback', req.load);
    // single-flight keeps protecting the DB while Redis is down; the other guards live in Redis.
    const value =
      parts.coalesce === 'in-process' ? await coalesce(`fallback\0${req.key}`, loadIt) : await loadIt();
    return { value, source: 'fallback' };
  }

  async function resolveKey(req: ReadRequest<Versioned>): Promise<CacheOutcome<string>> {
    if (parts.keys !== 'versioned' || req.dependsOn.length === 0) return { ok: true, value: req.key };
    const r = await cache.run('read-versions', (redis) =>
      evalScript(
        redis,
        READ_VERSIONS,
        req.dependsOn.map((d) => versionKey(d, prefix)),
        [Date.now()],
      ),
    );
    if (!r.ok) return r;
    return { ok: true, value: versionedKey(req.key, (r.value as unknown[]).map(String)) };
  }

  // --- miss path under the rebuild guard -------------------------------------------------------

  async function missPath<T extends Versioned>(req: ReadRequest<T>, key: string): Promise<ReadResult<T>> {
    if (parts.guard === 'none') {
      const loaded = await load(req, 'miss');
      await store(key, loaded);
      return fromDb(loaded);
    }
    return guardedMiss(req, key);
  }

  /** lock / lease: one caller across all instances rebuilds; the others poll for its value. */
  async function guardedMiss<T extends Versioned>(req: ReadRequest<T>, key: string): Promise<ReadResult<T>> {
    const lease = parts.guard === 'lease';
    const guardKey = lease ? leaseKey(key) : lockKey(key);
    const guardTtl = lease ? o.leaseTtlMs : o.lockTtlMs;
    const token = newToken();
    const started = performance.now();
    let poll = o.pollMs;
    let waited = false;
    const noteWait = () => {
      if (waited) events.lockWait(performance.now() - started);
    };
    for (;;) {
      const r = await cache.run(lease ? 'lease-get' : 'lock-get', (redis) =>
        evalScript(redis, GET_OR_ACQUIRE, [key, guardKey], [token, guardTtl]),
      );
      if (!r.ok) {
        noteWait();
        return fallbackRead(req, r.error);
      }
      if (typeof r.value === 'string') {
        noteWait();
        const c = readCached(r.value);
        if (c) return fromCache(c, 'cache');
        const loaded = await load(req, 'miss'); // unreadable value: replace it
        await store(key, loaded);
        return fromDb(loaded);
      }
      if (Number(r.value) === 1) {
        noteWait();
        return holderRebuild(req, key, guardKey, token, lease);
      }
      const elapsed = performance.now() - started;
      if (elapsed >= o.waitMs) {
        // Bounded wait: load for this caller only; the guard holder will fill the cache.
        noteWait();
        return fromDb(await load(req, 'miss'));
      }
      waited = true;
      await sleep(Math.min(poll, o.waitMs - elapsed) * (0.8 + 0.4 * Math.random()));
      poll = Math.min(poll * 1.5, o.pollMs * 4);
    }
  }

  async function holderRebuild<T extends Versioned>(
    req: ReadRequest<T>,
    key: string,
    guardKey: string,
    token: string,
    lease: boolean,
  ): Promise<ReadResult<T>> {
    let loaded: Loaded<T>;
    try {
      loaded = await load(req, lease ? 'lease' : 'miss');
    } catch (err) {
      // Let the next caller try at once rather than wait for the guard to expire.
      await cache.run('release', (redis) => evalScript(redis, RELEASE_IF_OWNER, [guardKey], [token]));
      throw err;
    }
    if (lease) {
      const { raw, pxMs } = stamp(loaded.json, loaded.loadMs);
      // Rejected (0) when a write invalidated the lease meanwhile: the value may be stale.
      await cache.run('lease-set', (redis) =>
        evalScript(redis, LEASE_SET, [key, guardKey], [token, raw, pxMs]),
      );
    } else {
      await store(key, loaded);
      await cache.run('release', (redis) => evalScript(redis, RELEASE_IF_OWNER, [guardKey], [token]));
    }
    return fromDb(loaded);
  }

  // --- refresh of a value still cached (stale-while-revalidate, xfetch) -------------------------

  async function acquireRefresh(key: string): Promise<RefreshPermit | null> {
    const plainStore = (raw: string, pxMs: number) => cache.set(key, raw, pxMs);
    if (parts.guard === 'lease') {
      const token = newToken();
      const lk = leaseKey(key);
      const got = await cache.set(lk, token, o.leaseTtlMs, { nx: true });
      if (!got.ok || !got.value) return null;
      return {
        store: (raw, pxMs) =>
          cache.run('lease-set', (r) => evalScript(r, LEASE_SET, [key, lk], [token, raw, pxMs])),
        release: () => cache.run('release', (r) => evalScript(r, RELEASE_IF_OWNER, [lk], [token])),
      };
    }
    if (parts.guard === 'lock' || parts.freshness === 'stale-while-revalidate') {
      const token = newToken();
      const lk = lockKey(key);
      const ttl = parts.guard === 'lock' ? o.lockTtlMs : o.refreshLockMs;
      const got = await cache.set(lk, token, ttl, { nx: true });
      if (!got.ok || !got.value) return null;
      return {
        store: plainStore,
        release: () => cache.run('release', (r) => evalScript(r, RELEASE_IF_OWNER, [lk], [token])),
      };
    }
    // xfetch alone: the probability spreads recomputes; no coordination (as in the paper).
    return { store: plainStore, release: async () => {} };
  }

  async function refresh<T extends Versioned>(
    req: ReadRequest<T>,
    key: string,
    reason: 'refresh' | 'early',
  ): Promise<Loaded<T> | null> {
    const permit = await acquireRefresh(key);
    if (!permit) return null;
    try {
      if (reason === 'refresh') events.backgroundRefresh();
      const loaded = await load(req, reason);
      const { raw, pxMs } = stamp(loaded.json, loaded.loadMs);
      await permit.store(raw, pxMs);
      return loaded;
    } finally {
      await permit.release();
    }
  }

  function refreshInBackground(req: ReadRequest<Versioned>, key: string): void {
    if (refreshing.has(key)) return;
    refreshing.add(key);
    const p = refresh(req, key, 'refresh')
      .catch(() => {}) // a failed refresh leaves the stale value; the next stale hit retries
      .finally(() => {
        refreshing.delete(key);
        background.delete(p);
      });
    background.add(p);
  }

  // --- the strategy ----------------------------------------------------------------------------

  const strategy: Strategy = {
    name,

    async read<T extends Versioned>(req: ReadRequest<T>): Promise<ReadResult<T>> {
      if (!cache.available()) return fallbackRead(req, BREAKER_OPEN);
      if (repairs.size > 0) {
        await repairs.flush();
        if (repairs.touches(req.key, req.dependsOn)) return fallbackRead(req, BREAKER_OPEN);
      }
      const resolved = await resolveKey(req);
      if (!resolved.ok) return fallbackRead(req, resolved.error);
      const key = resolved.value;
      const got = await cache.get(key);
      if (!got.ok) return fallbackRead(req, got.error);
      const cached = readCached(got.value);
      if (cached) {
        const verdict = freshness.judge(cached.entry, Date.now());
        if (verdict === 'fresh') {
          events.hit(req.namespace);
          return fromCache(cached, 'cache');
        }
        if (verdict === 'stale') {
          events.staleServed(req.namespace);
          refreshInBackground(req, key);
          return fromCache(cached, 'stale');
        }
        // xfetch chose this request to recompute early: still a hit (the value was valid).
        events.hit(req.namespace);
        const early = () => refresh(req, key, 'early');
        const loaded =
          parts.coalesce === 'in-process' ? await coalesce(`early\0${key}`, early) : await early();
        return loaded ? fromDb(loaded) : fromCache(cached, 'cache');
      }
      events.miss(req.namespace);
      if (parts.coalesce === 'in-process') return coalesce(key, () => missPath(req, key));
      return missPath(req, key);
    },

    async write<T extends Versioned>(req: WriteRequest<T>): Promise<T> {
      if (failClosed && !cache.available()) throw new CacheUnavailableError(`write ${req.key}`, BREAKER_OPEN);
      const value = await req.write();
      let failure: CacheError | null = null;

      if (parts.keys === 'versioned' && req.bumps.length > 0) {
        failure = await bumpVersions(cache, req.bumps, prefix);
        if (failure) repairs.addBumps(req.bumps);
      }
      const dels = [...req.invalidates];
      if (parts.write === 'write-through') {
        const { raw, pxMs } = stamp(JSON.stringify(value), lastLoadMs.get(req.namespace) ?? 0);
        const set = await cache.set(req.key, raw, pxMs);
        if (!set.ok) {
          failure ??= set.error;
          dels.push(req.key); // a half-applied SET must not leave the old value behind
        }
      } else {
        dels.push(req.key);
      }
      if (parts.guard === 'lease') {
        // Invalidate the leases too: a holder that loaded before this write cannot SET its value.
        dels.push(...[req.key, ...req.invalidates].map(leaseKey));
      }
      const del = await cache.del(...dels);
      if (!del.ok) {
        failure ??= del.error;
        repairs.addKeys(dels);
      }
      if (failure && failClosed)
        throw new CacheUnavailableError(`invalidate after committed write ${req.key}`, failure);
      return value;
    },

    ...counterMethods(counters),

    async close() {
      await counters.close();
      await settle(background, 2_000);
    },
  };
  return strategy;
}

function counterMethods(c: Counters): Pick<Strategy, 'increment' | 'readCounter'> {
  return { increment: (req) => c.increment(req), readCounter: (req) => c.readCounter(req) };
}
