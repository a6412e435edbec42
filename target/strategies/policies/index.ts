/**
 * The catalog of policies, by slot. A strategy module (catalog or user) composes these, or its
 * own policies written against policies/types.ts:
 *
 *   import { defineStrategy, jitter, versioned } from '<cachebench>/target/strategies/index.ts';
 *   export default defineStrategy({ name: 'mine', summary: '…', guard: myGuard, freshness: jitter(), keys: versioned() });
 */

export { jitter } from './freshness/jitter.ts';
export { staleWhileRevalidate } from './freshness/stale-while-revalidate.ts';
export { ttl } from './freshness/ttl.ts';
export { xfetch, xfetchShouldRecompute } from './freshness/xfetch.ts';
export { lease } from './guards/lease.ts';
export { lock, lockPermit } from './guards/lock.ts';
export { none } from './guards/none.ts';
export { singleFlight } from './guards/single-flight.ts';
export { acquireOrWait, newToken, releaseIfOwner } from './guards/wait-for-holder.ts';
export { versioned } from './keys/versioned.ts';
export type * from './types.ts';
export { behind } from './writes/behind.ts';
export { direct } from './writes/direct.ts';
export { invalidate } from './writes/invalidate.ts';
export { through } from './writes/through.ts';
