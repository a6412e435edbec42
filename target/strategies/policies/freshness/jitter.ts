/**
 * jitter freshness: TTL = ttlMs × (1 + U[0, jitterFraction)), ttlMs being the namespace's own
 * (options.ts `ttlFor`), so keys written together (a
 * warm-up, a deploy) do not expire together. Provides only `ttl`: stacks on xfetch or
 * stale-while-revalidate.
 */
import { ttlFor } from '../../parts/options.ts';
import type { FreshnessPolicy } from '../types.ts';

export function jitter(random: () => number = Math.random): FreshnessPolicy {
  return {
    name: 'jitter',
    provides: ['ttl'],
    options: ['jitterFraction'],
    create: ({ options: o }) => ({
      ttl: (namespace) => Math.round(ttlFor(o, namespace) * (1 + random() * o.jitterFraction)),
    }),
  };
}
