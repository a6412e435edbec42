/**
 * The strategy fixture lives with the contract kit (target/strategies/contract/fixture.ts), so a
 * strategy author's checks and these tests use the same one; plus small helpers for tests.
 */
export * from '../../target/strategies/contract/fixture.ts';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
