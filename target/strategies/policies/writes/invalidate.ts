/** invalidate write policy: after the commit, DEL the entity's key (the default). */
import type { WritePolicy } from '../types.ts';

export function invalidate(): WritePolicy {
  return {
    name: 'invalidate',
    provides: ['afterCommit'],
    create: () => ({ afterCommit: async (c) => ({ del: [c.req.key], failure: null }) }),
  };
}
