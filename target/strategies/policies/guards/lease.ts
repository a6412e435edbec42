/**
 * lease guard (the memcache lease of Nishtala et al., NSDI 2013): a miss takes `<key>:lease`
 * (token, NX PX leaseTtlMs); the holder's SET is applied only while its token is still the
 * current one (Lua compare-and-set). A write DELs the leases of every key it invalidates, so a
 * holder that loaded before the write has its late, stale SET rejected.
 *
 * Lease keys live on `env.coordination`. On a separate server the compare-and-set cannot be one
 * step: the holder SETs, then releases its lease only if it is still the owner; when it was not
 * (a write dropped the lease, or it expired), the holder DELs the value it just stored, so a
 * stale value lives for at most that round trip instead of a TTL.
 */
import { leaseKey } from '../../parts/key-names.ts';
import { evalScript, LEASE_SET } from '../../parts/scripts.ts';
import type { GuardPolicy, PolicyEnv, RefreshPermit } from '../types.ts';
import {
  type HeldGuard,
  newToken,
  releaseIfOwner,
  separateCoordination,
  waitForHolder,
} from './wait-for-holder.ts';

async function leaseSet(env: PolicyEnv, key: string, token: string, raw: string, pxMs: number) {
  // Rejected (0) when a write invalidated the lease meanwhile: the value may be stale.
  if (!separateCoordination(env)) {
    return env.cache.run('lease-set', (r) =>
      evalScript(r, LEASE_SET, [key, leaseKey(key)], [token, raw, pxMs]),
    );
  }
  const set = await env.cache.set(key, raw, pxMs);
  const released = await releaseIfOwner(env.coordination, leaseKey(key), token);
  // A refused SET (OOM at maxmemory) still frees the lease: waiters rebuild now instead of
  // polling for a value that will not come until their waitMs runs out.
  if (!set.ok) return set;
  if (released.ok && Number(released.value) === 1) return released;
  await env.cache.del(key);
  return { ok: true, value: 0 } as const;
}

async function leasePermit(env: PolicyEnv, key: string): Promise<RefreshPermit | null> {
  const token = newToken();
  const got = await env.coordination.set(leaseKey(key), token, env.options.leaseTtlMs, { nx: true });
  if (!got.ok || !got.value) return null;
  return {
    store: (raw, pxMs) => leaseSet(env, key, token, raw, pxMs),
    release: () => releaseIfOwner(env.coordination, leaseKey(key), token),
  };
}

const LEASE: HeldGuard = {
  keyOf: leaseKey,
  ttlMs: (env) => env.options.leaseTtlMs,
  op: 'lease-get',
  loadAs: 'lease',
  // The compare-and-set drops the lease with the value, or rejects a value a write made stale.
  storeAsHolder(env, m, loaded, token) {
    const { raw, pxMs } = m.stamp(loaded);
    return leaseSet(env, m.key, token, raw, pxMs);
  },
};

export function lease(): GuardPolicy {
  return {
    name: 'lease',
    provides: ['miss', 'refreshPermit', 'onWrite'],
    options: ['leaseTtlMs', 'waitMs', 'pollMs'],
    create: (env) => ({
      miss: waitForHolder(env, LEASE),
      refreshPermit: (key) => leasePermit(env, key),
      onWrite: (req) => [req.key, ...req.invalidates].map(leaseKey),
    }),
  };
}
