/**
 * through write policy (write-through): after the commit, SET the committed entity as the new
 * cached value; if that SET fails, DEL the key instead (a half-applied SET must not leave the
 * old value behind).
 */
import type { WritePolicy } from '../types.ts';

export function through(): WritePolicy {
  return {
    name: 'through',
    provides: ['afterCommit'],
    create: ({ cache }) => ({
      async afterCommit(c) {
        const { raw, pxMs } = c.stamp();
        const set = await cache.set(c.req.key, raw, pxMs);
        return set.ok ? { del: [], failure: null } : { del: [c.req.key], failure: set.error };
      },
    }),
  };
}
