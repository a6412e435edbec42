/**
 * through write policy (write-through): after the commit, SET the committed entity as the new
 * cached value; if that SET fails, DEL the key instead (a half-applied SET must not leave the
 * old value behind). A delete DELs: there is no value left to store.
 */
import type { WritePolicy } from '../types.ts';

export function through(): WritePolicy {
  return {
    name: 'through',
    provides: ['afterCommit'],
    create: ({ cache }) => ({
      async afterCommit(c) {
        if (c.req.kind === 'delete') return { del: [c.req.key], failure: null };
        const { raw, pxMs } = c.stamp();
        const set = await cache.set(c.req.key, raw, pxMs);
        return set.ok ? { del: [], failure: null } : { del: [c.req.key], failure: set.error };
      },
    }),
  };
}
