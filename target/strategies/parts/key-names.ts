/**
 * Helper keys the strategies create next to the value keys, following keys.ts: a helper extends
 * the key it guards (`…:lock`, `…:lease`), a versioned value key ends in `:v<versions>`, version
 * counters and counter buffers live under the target's key prefix, so the key-count report groups
 * them with their entity (keys.ts keyNamespace).
 */
import {
  DEFAULT_KEY_PREFIX,
  leaseKey as keysLeaseKey,
  lockKey as keysLockKey,
  namespaceVersionKey,
  slotOf,
  withVersion,
} from '../../keys.ts';

export const lockKey = (valueKey: string): string => keysLockKey(valueKey);
export const leaseKey = (valueKey: string): string => keysLeaseKey(valueKey);
/** `team:12` → `cb:team:12:ver` (versioning). */
export const versionKey = (aggregate: string, prefix = DEFAULT_KEY_PREFIX): string =>
  namespaceVersionKey(aggregate, prefix);
export const versionedKey = (valueKey: string, versions: string[]): string =>
  withVersion(valueKey, versions.map(Number));
/** Write-behind's two buffers share a slot (one script reads both): `{cb:counter:3}:pending`. */
export const pendingCounterKey = (counterId: number, prefix = DEFAULT_KEY_PREFIX): string =>
  `${slotOf(`${prefix}counter:${counterId}`)}:pending`;
export const inflightCounterKey = (counterId: number, prefix = DEFAULT_KEY_PREFIX): string =>
  `${slotOf(`${prefix}counter:${counterId}`)}:inflight`;
