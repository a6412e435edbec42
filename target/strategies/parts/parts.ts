/**
 * The building blocks a strategy is made of. Each catalog strategy declares only the dimensions
 * it changes; the rest stay at the cache-aside defaults. Composing strategies ("jitter+lock")
 * merges their declarations; two strategies that choose different values for the same dimension
 * cannot be composed (there is no meaningful "lock and lease at once").
 *
 * Dimensions and what composes:
 *   cache      redis | none          none (no-cache) composes with nothing
 *   ttl        fixed | jitter        any guard / freshness / keys / write / counters
 *   guard      none | lock | lease   who may rebuild a missing key across instances
 *   coalesce   none | in-process     stacks on any guard (single-flight+lock: one waiter per process)
 *   freshness  plain | stale-while-revalidate | xfetch   one of them
 *   keys       plain | versioned     any
 *   write      invalidate | write-through               any guard (lease also drops the lease on write)
 *   counters   direct | write-behind any
 */

export interface Parts {
  cache: 'redis' | 'none';
  ttl: 'fixed' | 'jitter';
  guard: 'none' | 'lock' | 'lease';
  coalesce: 'none' | 'in-process';
  freshness: 'plain' | 'stale-while-revalidate' | 'xfetch';
  keys: 'plain' | 'versioned';
  write: 'invalidate' | 'write-through';
  counters: 'direct' | 'write-behind';
}

export const BASE_PARTS: Parts = {
  cache: 'redis',
  ttl: 'fixed',
  guard: 'none',
  coalesce: 'none',
  freshness: 'plain',
  keys: 'plain',
  write: 'invalidate',
  counters: 'direct',
};

const DIMENSION_LABEL: Record<keyof Parts, string> = {
  cache: 'whether there is a cache',
  ttl: 'the TTL policy',
  guard: 'the rebuild guard',
  coalesce: 'the in-process coalescing',
  freshness: 'the freshness policy',
  keys: 'the key scheme',
  write: 'the write policy',
  counters: 'the counter policy',
};

export interface Declared {
  name: string;
  parts: Partial<Parts>;
}

/** Merges declarations left to right; returns a reason string when they cannot compose. */
export function mergeParts(declared: Declared[]): Parts | string {
  if (declared.length > 1) {
    const none = declared.find((d) => d.parts.cache === 'none');
    if (none) return `'${none.name}' has no cache, so nothing can be layered on it`;
  }
  const merged: Parts = { ...BASE_PARTS };
  const chosenBy: Partial<Record<keyof Parts, string>> = {};
  for (const d of declared) {
    for (const dim of Object.keys(d.parts) as (keyof Parts)[]) {
      const value = d.parts[dim];
      if (value === undefined) continue;
      const previous = chosenBy[dim];
      if (previous !== undefined && merged[dim] !== value) {
        return `'${previous}' and '${d.name}' both choose ${DIMENSION_LABEL[dim]} (${merged[dim]} vs ${value}); pick one`;
      }
      (merged as unknown as Record<string, string>)[dim] = value;
      chosenBy[dim] = d.name;
    }
  }
  return merged;
}
