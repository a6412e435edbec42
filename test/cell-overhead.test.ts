/**
 * harness/bench/cell-overhead.ts: a cell's wall time split into steps from its laps, and the
 * run table (median, max, sum, share). Pure logic on hand-built cells.
 */
import { describe, expect, it } from 'vitest';
import {
  cellSteps,
  compareFigures,
  overheadTable,
  renderFigures,
  renderOverhead,
} from '../harness/bench/cell-overhead.ts';
import type { CellResult, RunResults } from '../harness/results/schema.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

function cell(startedAt: number, phaseMs: Record<string, number>, driverStartMs: number): CellResult {
  const beforeLoad = (phaseMs['reset+seed'] ?? 0) + (phaseMs.startTargets ?? 0) + (phaseMs.warm ?? 0);
  return {
    id: `s/x/${startedAt}`,
    status: 'ok',
    startedAt,
    loadStartedAt: startedAt + beforeLoad + driverStartMs,
    phaseMs,
    scenario_spec: { load: { phases: [{ duration: 10_000 }, { duration: 2_000 }] } },
  } as unknown as CellResult;
}

describe('cell overhead', () => {
  it("splits the load lap into the driver's start, the scheduled seconds and the tail", () => {
    const a = cell(1_000, { 'reset+seed': 50, startTargets: 500, warm: 700, load: 12_600, stop: 40 }, 400);
    const b = cell(1_000 + 50 + 500 + 700 + 12_600 + 40 + 90, { load: 12_000 }, 0);
    const steps = cellSteps(a, b);
    expect(steps['driver-start']).toBe(400);
    expect(steps.load).toBe(12_000);
    expect(steps['load-tail']).toBe(200);
    // The run's own time between this cell's last lap and the next cell's start.
    expect(steps.between).toBe(90);
    expect(cellSteps(b).between).toBeUndefined();
  });

  it('tabulates median, max, sum and share over the cells; overhead = wall − scheduled', () => {
    const laps = (setup: number) => ({ 'reset+seed': setup, startTargets: 0, warm: 0, load: 12_000 });
    const c1 = cell(0, laps(100), 0);
    const c2 = cell(12_100, laps(300), 0);
    const c3 = cell(24_400, laps(200), 0);
    const results = {
      run: { startedAt: -1_000, finishedAt: 37_600 },
      cells: [c3, c1, c2],
      warnings: ['s/x/99 failed: fetch failed'],
    } as unknown as RunResults;
    const t = overheadTable(results);
    expect(t.cells).toBe(3);
    expect(t.cellsWallMs).toBe(36_600);
    expect(t.scheduledMs).toBe(36_000);
    expect(t.overheadMs).toBe(600);
    expect(t.runWallMs).toBe(38_600);
    const seed = t.rows.find((r) => r.step === 'reset+seed')!;
    expect(seed).toMatchObject({ medianMs: 200, maxMs: 300, sumMs: 600 });
    expect(seed.share).toBeCloseTo(600 / 36_600);
    expect(renderOverhead('run', t)).toContain('overhead 0.6 s (1.6%, 0.2 s per cell)');
    // A failed cell has no laps: its time is in the gap around it, and the table says so.
    expect(t.failed).toEqual(['s/x/99']);
    expect(renderOverhead('run', t)).toContain('(failed, counted in between: s/x/99)');
  });

  it('refuses a run without any cell that has laps', () => {
    const results = { run: { startedAt: 0 }, cells: [], warnings: [] } as unknown as RunResults;
    expect(() => overheadTable(results)).toThrow(/no ok cell with phaseMs/);
  });
});

describe('verdict figures before and after', () => {
  const run = () =>
    synthRun({ scenarios: CATALOG_LIKE.slice(0, 2), strategies: ['no-cache', 'cache-aside'], seconds: 10 })
      .results;

  it('finds every figure both runs measured, and the same run overlaps itself', () => {
    const changes = compareFigures(run(), run());
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.overlap)).toBe(true);
    expect(new Set(changes.map((c) => c.metric))).toContain('queriesPerRequest');
    expect(renderFigures(changes)).toContain(`all ${changes.length} figures: intervals overlap`);
  });

  it('names a figure whose interval moved clear of the other', () => {
    const before = run();
    const after = run();
    // Ten times the DB queries in one cell of the after run: its interval cannot overlap.
    const cell = after.cells.find((c) => c.strategy === 'cache-aside')!;
    cell.series.dbQueries = cell.series.dbQueries.map((q) => q * 10 + 50);
    cell.target.dbQueries = cell.series.dbQueries.reduce((a, b) => a + b, 0);
    cell.analysis = undefined;
    const moved = compareFigures(before, after).filter((c) => !c.overlap);
    expect(moved.map((c) => `${c.scenario} ${c.strategy} ${c.metric}`)).toEqual([
      `${cell.scenario} cache-aside queriesPerRequest`,
    ]);
    expect(renderFigures(compareFigures(before, after))).toMatch(
      /1 of \d+ figures moved beyond their intervals/,
    );
  });
});
