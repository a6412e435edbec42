/**
 * single-flight guard: concurrent loads of one key in this process share one promise (misses,
 * early recomputes, and fallback loads while Redis is down). Provides only `coalesce`, so it
 * stacks on lock or lease (one poller per process).
 */
import type { GuardPolicy } from '../types.ts';

export function singleFlight(): GuardPolicy {
  return {
    name: 'single-flight',
    provides: ['coalesce'],
    create: () => {
      const running = new Map<string, Promise<unknown>>();
      return {
        coalesce<R>(id: string, fn: () => Promise<R>): Promise<R> {
          const p = running.get(id);
          if (p) return p as Promise<R>;
          const started = fn().finally(() => running.delete(id));
          running.set(id, started);
          return started;
        },
      };
    },
  };
}
