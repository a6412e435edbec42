/**
 * Process faults against the real local stack: redis-server killed and restarted mid-cell under
 * write-behind, with and without persistence. Lost increments are reconciled — acknowledged
 * (200 in the driver history, counted here from the file) minus what the counters in PostgreSQL
 * gained (queried here over our own connection) — and must equal the analysis figure exactly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { checkBudgets } from '../harness/analysis/budgets.ts';
import { analyzeCell } from '../harness/analysis/index.ts';
import type { CellAnalysis } from '../harness/analysis/types.ts';
import { runCell } from '../harness/pipeline/cell.ts';
import type { HistoryRecord } from '../harness/results/schema.ts';
import { loadScenario } from '../scenarios/load.ts';
import { loadStrategyModule } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();

async function dbCounterSum(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query('SELECT coalesce(sum(value), 0)::bigint AS s FROM counters')).rows[0].s);
  } finally {
    await c.end();
  }
}

async function restartRun(fixture: string, strategy = 'write-behind') {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-procfault-'));
  const scenario = loadScenario(path.resolve(import.meta.dirname, 'fixtures', fixture));
  const cell = await runCell({
    runDir,
    infra: infra(),
    scenario,
    strategy,
    strategyDefaults: (await loadStrategyModule(strategy)).defaults,
    repeat: 1,
    seed: 7,
    instances: 1,
    driver: 'builtin',
  });
  const committedByUs = (await dbCounterSum(infra().postgresUrl)) - (cell.counterTotals?.atLoadStart ?? 0);
  const history = fs
    .readFileSync(path.join(runDir, cell.historyFile), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as HistoryRecord);
  const acknowledged = history
    .filter((r) => r.op === 'incr-counter' && r.status === 200)
    .reduce((s, r) => s + (r.value ?? 1), 0);
  const a = (await analyzeCell(cell, runDir)) as CellAnalysis;
  cell.analysis = a;
  fs.rmSync(runDir, { recursive: true, force: true });
  return { cell, a, acknowledged, committedByUs };
}

describe('redis-server restarted mid-cell under write-behind', () => {
  let lostWithout = 0;

  it('without persistence: lost = acknowledged − committed, exactly, and > 0', async () => {
    const { cell, a, acknowledged, committedByUs } = await restartRun('counter-restart-tiny.yaml');
    const f = cell.faults[0]!;
    expect(f.ok, f.error).toBe(true);
    // Applied = the process was reaped; removed = the new one answered: both after the plan.
    expect(f.appliedAt! - (cell.loadStartedAt + f.plannedAt)).toBeGreaterThanOrEqual(0);
    expect(f.removedAt! - (cell.loadStartedAt + f.plannedAt + f.plannedFor)).toBeGreaterThanOrEqual(0);
    const wb = a.failOpen.writeBehind!;
    expect(wb.reconciled).toEqual({
      acknowledged,
      committed: committedByUs,
      lost: acknowledged - committedByUs,
    });
    expect(wb.reconciled!.lost).toBeGreaterThan(0);
    expect(checkBudgets(cell, a).find((b) => b.budget === 'lostIncrements')).toMatchObject({
      value: wb.reconciled!.lost,
      passed: false,
    });
    lostWithout = wb.reconciled!.lost;
    process.stderr.write(
      `[evidence] redis-restart (no persistence): acknowledged ${acknowledged}, committed ${committedByUs}, lost ${wb.reconciled!.lost} (target's own count: ${wb.lost})\n`,
    );
  }, 90_000);

  it('with persistence (AOF): the same reconciliation; fewer increments lost', async () => {
    const { cell, a, acknowledged, committedByUs } = await restartRun('counter-restart-persisted-tiny.yaml');
    expect(cell.faults[0]!.ok, cell.faults[0]!.error).toBe(true);
    const wb = a.failOpen.writeBehind!;
    expect(wb.reconciled).toEqual({
      acknowledged,
      committed: committedByUs,
      lost: acknowledged - committedByUs,
    });
    expect(wb.reconciled!.lost).toBeLessThan(lostWithout);
    process.stderr.write(
      `[evidence] redis-restart-persisted (AOF, appendfsync always): acknowledged ${acknowledged}, committed ${committedByUs}, lost ${wb.reconciled!.lost} (target's own count: ${wb.lost})\n`,
    );
  }, 90_000);
});

describe('planned process faults are not incidents', () => {
  it('postgres-restart and redis-flushall run on the timeline with acknowledged times; the cell is ok', async () => {
    const file = path.join(os.tmpdir(), `cb-planned-${process.pid}.yaml`);
    fs.writeFileSync(
      file,
      fs
        .readFileSync(path.resolve(import.meta.dirname, 'fixtures/steady-tiny.yaml'), 'utf8')
        .replace(
          'budgets: {}',
          'faults:\n  - { at: 1s, for: 1s, process: postgres-restart }\n  - { at: 2500ms, for: 500ms, process: redis-flushall }\nbudgets: {}',
        ),
    );
    const { cell } = await restartRun(file, 'cache-aside');
    fs.rmSync(file, { force: true });
    expect(cell.status).toBe('ok');
    for (const f of cell.faults) {
      expect(f.ok, f.error).toBe(true);
      expect(f.appliedAt! - (cell.loadStartedAt + f.plannedAt)).toBeGreaterThanOrEqual(0);
      expect(f.removedAt!).toBeGreaterThan(f.appliedAt!);
    }
    // Removal = the restarted server answered, so never before the planned end.
    const pgRestart = cell.faults[0]!;
    expect(pgRestart.removedAt! - (cell.loadStartedAt + 2000)).toBeGreaterThanOrEqual(0);
    expect(await infra().processes!.health()).toEqual([]);
  }, 90_000);
});
