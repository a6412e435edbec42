/** direct counter policy (the default): every increment is one DB write; reads read the DB. */
import type { CounterPolicy } from '../types.ts';

export function direct(): CounterPolicy {
  return {
    name: 'direct',
    provides: ['increment', 'readCounter', 'close'],
    create: () => ({
      increment: async (req) => ({ value: await req.incrementInDb(req.by), pending: 0 }),
      readCounter: async (req) => ({ value: await req.readDb(), pending: 0 }),
      close: async () => {},
    }),
  };
}
