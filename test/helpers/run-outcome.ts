import { expect } from 'vitest';

/**
 * A run that completed every cell. Exit 0, or exit 1 only because some cell's numbers were
 * flagged untrusted (the driver's scheduling lag on a loaded test machine) — never because a
 * cell failed. Tests of resume and cleanup use it: they check what was run and kept, not how
 * quiet the machine was.
 */
export function expectCompletedRun(code: number | null, stderr: string): void {
  if (code === 1) expect(stderr, stderr).toMatch(/\d+ cell\(s\), 0 failed, [1-9]\d* untrusted/);
  else expect(code, stderr).toBe(0);
}
