/**
 * lease guard (the memcache lease of Nishtala et al., NSDI 2013): a miss takes `<key>:lease`
 * (token, NX PX leaseTtlMs); the holder's SET is applied only while its token is still the
 * current one (Lua compare-and-set). A write DELs the leases of every key it invalidates, so a
 * holder that loaded before the write has its late, stale SET rejected.
 */
import { leaseKey } from '../../parts/key-names.ts';
import { evalScript, LEASE_SET } from '../../parts/scripts.ts';
import type { GuardPolicy, PolicyEnv, RefreshPermit } from '../types.ts';
import { type HeldGuard, newToken, releaseIfOwner, waitForHolder } from './wait-for-holder.ts';

function leaseSet(env: PolicyEnv, key: string, token: string, raw: string, pxMs: number) {
  // Rejected (0) when a write invalidated the lease meanwhile: the value may be stale.
  return env.cache.run('lease-set', (r) =>
    evalScript(r, LEASE_SET, [key, leaseKey(key)], [token, raw, pxMs]),
  );
}

async function leasePermit(env: PolicyEnv, key: string): Promise<RefreshPermit | null> {
  const token = newToken();
  const got = await env.cache.set(leaseKey(key), token, env.options.leaseTtlMs, { nx: true });
  if (!got.ok || !got.value) return null;
  return {
    store: (raw, pxMs) => leaseSet(env, key, token, raw, pxMs),
    release: () => releaseIfOwner(env.cache, leaseKey(key), token),
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
