/** The progress line's ETA counts the cell that is running, not only the ones after it. */
import { describe, expect, it } from 'vitest';
import type { CellProgress } from '../harness/pipeline/cell.ts';
import { Progress } from '../harness/pipeline/progress.ts';

const load = (elapsedMs: number, totalMs: number): CellProgress => ({
  phase: 'load',
  elapsedMs,
  totalMs,
  sent: 0,
  errors: 0,
  dropped: 0,
  ratePerSec: 0,
});

function clocked(total: number) {
  let t = 1_000_000;
  const lines: string[] = [];
  const progress = new Progress(total, { write: (s: string) => lines.push(s), isTTY: true }, () => t);
  return { progress, lines, advance: (ms: number) => (t += ms) };
}

describe('Progress ETA', () => {
  it('a one-cell run shows the time left in that cell, not 0 s', () => {
    const { progress, lines, advance } = clocked(1);
    progress.update(1, 'hot-key × lock', { ...load(0, 16_000), phase: 'setup' });
    advance(2_000);
    progress.update(1, 'hot-key × lock', load(0, 16_000));
    // Load not started yet: the whole load plus the setup guess minus the 2 s already spent.
    expect(progress.etaMs(1, load(0, 16_000))).toBe(19_000);
    advance(6_000);
    expect(progress.etaMs(1, load(6_000, 16_000))).toBe(13_000);
    expect(lines.at(-1)).toMatch(/ETA 19s$/);
  });

  it('uses the finished cells for the current and the remaining cells', () => {
    const { progress, advance } = clocked(4);
    progress.cellDone(20_000);
    progress.cellDone(30_000);
    progress.update(3, 'c', load(0, 16_000));
    advance(10_000);
    // Average 25 s: 15 s left of cell 3, plus cell 4.
    expect(progress.etaMs(3, load(8_000, 16_000))).toBe(40_000);
  });

  it('a cell running over the average still has its load left', () => {
    const { progress, advance } = clocked(2);
    progress.cellDone(10_000);
    progress.update(2, 'c', load(0, 16_000));
    advance(12_000);
    expect(progress.etaMs(2, load(9_000, 16_000))).toBe(7_000);
  });
});
