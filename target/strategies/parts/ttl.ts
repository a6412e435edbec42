/** TTL policy part: fixed, or jittered so keys written together do not expire together. */
import type { StrategyOptions } from './options.ts';
import type { Parts } from './parts.ts';

export type TtlPolicy = () => number;

export function ttlPolicy(
  kind: Parts['ttl'],
  o: StrategyOptions,
  random: () => number = Math.random,
): TtlPolicy {
  if (kind === 'jitter') return () => Math.round(o.ttlMs * (1 + random() * o.jitterFraction));
  return () => o.ttlMs;
}
