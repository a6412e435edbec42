/**
 * ttl freshness: every value lives its namespace's ttlMs (`ttlMs: {user: 60000, …}`), or the
 * common ttlMs. The default when no policy provides `ttl`.
 */
import { ttlFor } from '../../parts/options.ts';
import type { FreshnessPolicy } from '../types.ts';

export function ttl(): FreshnessPolicy {
  return {
    name: 'ttl',
    provides: ['ttl'],
    create: (env) => ({ ttl: (namespace) => ttlFor(env.options, namespace) }),
  };
}
