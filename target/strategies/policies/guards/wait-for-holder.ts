/**
 * The cross-instance wait shared by lock and lease: one Lua step GETs the value or takes the guard
 * key (NX PX). The taker loads (releasing the guard if the load fails) and stores under the
 * guard's rules; the others poll for its value (backoff from pollMs to 4×pollMs) for at most
 * waitMs, then load for themselves without SETting (the holder fills the cache).
 *
 * Guard keys live on `env.coordination`. When that is the cache server, GET-or-take is one Lua
 * step; when it is a separate server no script spans both, so the step is GET (cache) → SET NX
 * (coordination) → GET again (cache): a holder that stored and released between our GET and our
 * SET NX is seen by the second GET, so it does not cause a second rebuild.
 */
import { randomBytes } from 'node:crypto';
import type { CacheClient, CacheOutcome } from '../../../cache-client.ts';
import type { ReadResult, Versioned } from '../../../strategy.ts';
import { evalScript, GET_OR_ACQUIRE, RELEASE_IF_OWNER } from '../../parts/scripts.ts';
import type { Loaded, Miss, PolicyEnv, RebuildReason } from '../types.ts';

export const newToken = (): string => randomBytes(9).toString('base64url');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function releaseIfOwner(
  cache: CacheClient,
  guardKey: string,
  token: string,
): Promise<CacheOutcome<unknown>> {
  return cache.run('release', (r) => evalScript(r, RELEASE_IF_OWNER, [guardKey], [token]));
}

/** True when guard keys live on a second Redis (no Lua step can span value and guard keys). */
export const separateCoordination = (env: PolicyEnv): boolean => env.coordination !== env.cache;

/** GET_OR_ACQUIRE's reply (the value, 1 = now the holder, 0 = wait), on one server or two. */
async function getOrAcquire(
  env: PolicyEnv,
  g: HeldGuard,
  key: string,
  token: string,
): Promise<CacheOutcome<unknown>> {
  const guardKey = g.keyOf(key);
  if (!separateCoordination(env)) {
    return env.cache.run(g.op, (redis) =>
      evalScript(redis, GET_OR_ACQUIRE, [key, guardKey], [token, g.ttlMs(env)]),
    );
  }
  const before = await env.cache.get(key);
  if (!before.ok || before.value !== null) return before;
  const took = await env.coordination.set(guardKey, token, g.ttlMs(env), { nx: true });
  if (!took.ok) return took;
  if (!took.value) return { ok: true, value: 0 };
  const after = await env.cache.get(key);
  if (!after.ok || after.value !== null) await releaseIfOwner(env.coordination, guardKey, token);
  return after.ok && after.value === null ? { ok: true, value: 1 } : after;
}

/** What a guard whose holder rebuilds (lock, lease) tells the shared wait. */
export interface HeldGuard {
  /** The guard key of a value key (`<key>:lock`, `<key>:lease`). */
  keyOf(key: string): string;
  ttlMs(env: PolicyEnv): number;
  /** Operation name in cache-client metrics ('lock-get', 'lease-get'). */
  op: string;
  /** Why the holder's load is counted as a rebuild ('miss' for lock, 'lease' for lease). */
  loadAs: RebuildReason;
  /** How the holder stores what it loaded (and releases the guard, unless the store does). */
  storeAsHolder<T extends Versioned>(
    env: PolicyEnv,
    m: Miss<T>,
    loaded: Loaded<T>,
    token: string,
  ): Promise<unknown>;
}

/** The `miss` hook of a held guard: take the guard and rebuild, or wait for the holder. */
export function waitForHolder(env: PolicyEnv, g: HeldGuard) {
  return <T extends Versioned>(m: Miss<T>): Promise<ReadResult<T>> => acquireOrWait(env, m, g);
}

async function rebuildAsHolder<T extends Versioned>(
  env: PolicyEnv,
  m: Miss<T>,
  g: HeldGuard,
  token: string,
): Promise<ReadResult<T>> {
  const loaded = await m.load(g.loadAs).catch(async (err: unknown) => {
    // Let the next caller try at once rather than wait for the guard to expire.
    await releaseIfOwner(env.coordination, g.keyOf(m.key), token);
    throw err;
  });
  await g.storeAsHolder(env, m, loaded, token);
  return m.fromDb(loaded);
}

export async function acquireOrWait<T extends Versioned>(
  env: PolicyEnv,
  m: Miss<T>,
  g: HeldGuard,
): Promise<ReadResult<T>> {
  const { events, options: o } = env;
  const token = newToken();
  const started = performance.now();
  let poll = o.pollMs;
  let waited = false;
  const noteWait = () => {
    if (waited) events.lockWait(performance.now() - started);
  };
  for (;;) {
    const r = await getOrAcquire(env, g, m.key, token);
    if (!r.ok) {
      noteWait();
      return m.fallback(r.error);
    }
    if (typeof r.value === 'string') {
      noteWait();
      const hit = m.hit(r.value);
      if (hit) return hit;
      const loaded = await m.load('miss'); // unreadable value: replace it
      await m.store(loaded);
      return m.fromDb(loaded);
    }
    if (Number(r.value) === 1) {
      noteWait();
      return rebuildAsHolder(env, m, g, token);
    }
    const elapsed = performance.now() - started;
    if (elapsed >= o.waitMs) {
      // Bounded wait: load for this caller only; the guard holder will fill the cache.
      noteWait();
      return m.fromDb(await m.load('miss'));
    }
    waited = true;
    await sleep(Math.min(poll, o.waitMs - elapsed) * (0.8 + 0.4 * Math.random()));
    poll = Math.min(poll * 1.5, o.pollMs * 4);
  }
}
