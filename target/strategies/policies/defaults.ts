/** What each hook does when no policy of its slot provides it: cache-aside. */
import { ttlFor } from '../parts/options.ts';
import { none } from './guards/none.ts';
import type { CounterHooks, FreshnessHooks, GuardHooks, KeyHooks, PolicyEnv, WriteHooks } from './types.ts';
import { direct } from './writes/direct.ts';
import { invalidate } from './writes/invalidate.ts';

export function defaultHooks(env: PolicyEnv) {
  const guard: GuardHooks = {
    miss: none().create(env).miss!,
    refreshPermit: async () => null, // the pipeline asks the freshness policy instead
    onWrite: () => [],
    coalesce: (_id, fn) => fn(),
  };
  const freshness: FreshnessHooks = {
    ttl: (namespace) => ttlFor(env.options, namespace),
    stamp: (json, _loadMs, ttlMs) => ({ raw: json, pxMs: ttlMs }),
    judge: () => 'fresh',
    // No coordination: e.g. xfetch alone, whose probability spreads recomputes (as in the paper).
    refreshPermit: async (key) => ({
      store: (raw, pxMs) => env.cache.set(key, raw, pxMs),
      release: async () => {},
    }),
  };
  const keys: KeyHooks = {
    resolve: async (req) => ({ ok: true, value: req.key }),
    onWrite: async () => null,
  };
  const write = invalidate().create(env) as WriteHooks;
  const counters = direct().create(env) as CounterHooks;
  return { guard, freshness, keys, write, counters };
}
