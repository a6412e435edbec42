/** ttl freshness: every value lives ttlMs. The default when no policy provides `ttl`. */
import type { FreshnessPolicy } from '../types.ts';

export function ttl(): FreshnessPolicy {
  return { name: 'ttl', provides: ['ttl'], create: (env) => ({ ttl: () => env.options.ttlMs }) };
}
