/**
 * none guard: a miss loads and SETs, uncoordinated (every concurrent miss of a key loads the DB:
 * the hot-key stampede cache-aside shows). The default when no policy provides `miss`.
 */
import type { Versioned } from '../../../strategy.ts';
import type { GuardPolicy, Miss } from '../types.ts';

export function none(): GuardPolicy {
  return {
    name: 'none',
    provides: ['miss'],
    create: () => ({
      async miss<T extends Versioned>(m: Miss<T>) {
        const loaded = await m.load('miss');
        await m.store(loaded);
        return m.fromDb(loaded);
      },
    }),
  };
}
