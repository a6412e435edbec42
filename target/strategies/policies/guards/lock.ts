/**
 * lock guard: a miss takes `<key>:lock` (SET NX PX lockTtlMs, in the same Lua step as a re-GET);
 * only the holder loads and SETs, then releases the lock if it still owns it. The others wait
 * (wait-for-holder.ts). A refresh of a still-cached value takes the same lock, NX. The lock key
 * lives on `env.coordination` (the cache server unless the target was given a second Redis).
 */
import { lockKey } from '../../parts/key-names.ts';
import type { GuardPolicy, PolicyEnv, RefreshPermit } from '../types.ts';
import { type HeldGuard, newToken, releaseIfOwner, waitForHolder } from './wait-for-holder.ts';

/** SET `<key>:lock` NX PX ttlMs; the permit SETs the value plainly. Also stale-while-revalidate's. */
export async function lockPermit(env: PolicyEnv, key: string, ttlMs: number): Promise<RefreshPermit | null> {
  const token = newToken();
  const lk = lockKey(key);
  const got = await env.coordination.set(lk, token, ttlMs, { nx: true });
  if (!got.ok || !got.value) return null;
  return {
    store: (raw, pxMs) => env.cache.set(key, raw, pxMs),
    release: () => releaseIfOwner(env.coordination, lk, token),
  };
}

const LOCK: HeldGuard = {
  keyOf: lockKey,
  ttlMs: (env) => env.options.lockTtlMs,
  op: 'lock-get',
  loadAs: 'miss',
  async storeAsHolder(env, m, loaded, token) {
    await m.store(loaded);
    await releaseIfOwner(env.coordination, lockKey(m.key), token);
  },
};

export function lock(): GuardPolicy {
  return {
    name: 'lock',
    provides: ['miss', 'refreshPermit'],
    options: ['lockTtlMs', 'waitMs', 'pollMs'],
    create: (env) => ({
      miss: waitForHolder(env, LOCK),
      refreshPermit: (key) => lockPermit(env, key, env.options.lockTtlMs),
    }),
  };
}
