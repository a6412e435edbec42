/**
 * Auxiliary Redis keys the strategies create next to the value keys. One place, so the
 * key-count-by-namespace report can group them (prefix before the first ':').
 */
export const lockKey = (valueKey: string): string => `lock:${valueKey}`;
export const leaseKey = (valueKey: string): string => `lease:${valueKey}`;
/** Version counter of an aggregate namespace such as `team:12` (versioning). */
export const versionKey = (aggregate: string): string => `ver:${aggregate}`;
export const pendingCounterKey = (counterId: number): string => `wb:pending:${counterId}`;
export const inflightCounterKey = (counterId: number): string => `wb:inflight:${counterId}`;
