/**
 * Time between cells: what each cell of a finished run cost besides its scheduled load, from the
 * run's results.json (no run of its own, so a before/after pair is two files on the same command).
 *   node harness/bench/cell-overhead.ts <run dir | results.json> [more runs…]
 * Prints one table per run: per step, the median and max over the cells, the sum, and its share
 * of the run's wall time; then the run's wall time split into scheduled load and the rest.
 * Given two runs of the same matrix (before, after), it also compares the figures the verdicts
 * rank on — DB queries per request, stale reads, rebuilds per expiry — with their 95 % intervals,
 * and names every scenario × strategy whose intervals no longer overlap.
 */
import fs from 'node:fs';
import path from 'node:path';
import { analyzeResults } from '../analysis/index.ts';
import type { Estimate } from '../analysis/uncertainty.ts';
import { failedCells } from '../pipeline/run.ts';
import type { CellResult, RunResults } from '../results/schema.ts';

/** One cell's wall time split into steps, ms; `load` is only the scheduled seconds. */
export type CellSteps = Record<string, number>;

/** Steps in pipeline order. `driver-start` and `load-tail` are carved out of the `load` lap. */
export const STEP_ORDER = [
  'reset+seed',
  'startTargets',
  'warm',
  'zero',
  'driver-start',
  'load',
  'load-tail',
  'collect',
  'stop',
  'between',
] as const;

function scheduledMs(c: CellResult): number {
  return c.scenario_spec.load.phases.reduce((a, p) => a + p.duration, 0);
}

/**
 * Splits one cell: the pipeline's laps (`phaseMs`), with the `load` lap cut into the driver's
 * start (process boot, its own warm-up, connections: from the lap's start to the load's t0), the
 * scheduled seconds, and the tail (in-flight answers, sampler stop, fault timeline end).
 * `between` is what the run spent after the cell's last lap and before the next cell began
 * (analysis, results.json); undefined for the last cell.
 */
export function cellSteps(c: CellResult, next?: CellResult): CellSteps {
  const p = c.phaseMs ?? {};
  const steps: CellSteps = {};
  for (const [k, v] of Object.entries(p)) if (k !== 'load') steps[k] = v;
  // Laps are recorded in pipeline order: everything before `load` ran before the driver started.
  const keys = Object.keys(p);
  const loadAt = keys.indexOf('load');
  const beforeLoad = keys.slice(0, loadAt < 0 ? keys.length : loadAt).reduce((a, k) => a + (p[k] ?? 0), 0);
  const scheduled = scheduledMs(c);
  const lap = p.load ?? 0;
  const start = Math.min(lap, Math.max(0, c.loadStartedAt - (c.startedAt + beforeLoad)));
  steps['driver-start'] = start;
  steps.load = Math.min(scheduled, lap - start);
  steps['load-tail'] = Math.max(0, lap - start - scheduled);
  const wall = Object.values(p).reduce((a, b) => a + b, 0);
  if (next) steps.between = Math.max(0, next.startedAt - (c.startedAt + wall));
  return steps;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface OverheadRow {
  step: string;
  medianMs: number;
  maxMs: number;
  sumMs: number;
  /** Share of the run's wall time (first cell start → last cell end), 0..1. */
  share: number;
}

export interface OverheadTable {
  cells: number;
  /** Planned cells without an ok result: their time falls into `between`. */
  failed: string[];
  /** First cell's start to the last cell's end, ms. */
  cellsWallMs: number;
  /** Provisioning before the first cell and stopping after the last, ms (when recorded). */
  runWallMs?: number;
  scheduledMs: number;
  overheadMs: number;
  rows: OverheadRow[];
}

export function overheadTable(results: RunResults): OverheadTable {
  const cells = results.cells
    .filter((c) => c.status === 'ok' && c.phaseMs)
    .sort((a, b) => a.startedAt - b.startedAt);
  if (cells.length === 0)
    throw new Error('no ok cell with phaseMs (results written before phaseMs existed?)');
  const split = cells.map((c, i) => cellSteps(c, cells[i + 1]));
  const last = cells[cells.length - 1]!;
  const lastWall = Object.values(last.phaseMs!).reduce((a, b) => a + b, 0);
  const cellsWallMs = last.startedAt + lastWall - cells[0]!.startedAt;
  const names = [
    ...STEP_ORDER.filter((s) => split.some((x) => s in x)),
    ...[...new Set(split.flatMap(Object.keys))].filter((k) => !(STEP_ORDER as readonly string[]).includes(k)),
  ];
  const rows = names.map((step) => {
    const xs = split.filter((x) => step in x).map((x) => x[step]!);
    const sumMs = xs.reduce((a, b) => a + b, 0);
    return { step, medianMs: median(xs), maxMs: Math.max(...xs), sumMs, share: sumMs / cellsWallMs };
  });
  const scheduled = cells.reduce((a, c) => a + scheduledMs(c), 0);
  const { startedAt, finishedAt } = results.run;
  return {
    cells: cells.length,
    failed: failedCells(results).map((f) => f.id),
    cellsWallMs,
    ...(finishedAt ? { runWallMs: finishedAt - startedAt } : {}),
    scheduledMs: scheduled,
    overheadMs: cellsWallMs - scheduled,
    rows,
  };
}

const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function renderOverhead(label: string, t: OverheadTable): string {
  const lines = [
    `${label}: ${t.cells} cells${t.failed.length > 0 ? ` (failed, counted in between: ${t.failed.join(', ')})` : ''}`,
    `${'step'.padEnd(14)}${'median'.padStart(10)}${'max'.padStart(10)}${'sum'.padStart(10)}${'share'.padStart(8)}`,
  ];
  for (const r of t.rows) {
    lines.push(
      `${r.step.padEnd(14)}${`${Math.round(r.medianMs)} ms`.padStart(10)}${`${r.maxMs} ms`.padStart(10)}${s1(r.sumMs).padStart(10)}${`${(r.share * 100).toFixed(1)}%`.padStart(8)}`,
    );
  }
  const nonLoad = t.cellsWallMs - t.scheduledMs;
  lines.push(
    `cells wall ${s1(t.cellsWallMs)} = scheduled load ${s1(t.scheduledMs)} + overhead ${s1(nonLoad)} (${((nonLoad / t.cellsWallMs) * 100).toFixed(1)}%, ${s1(nonLoad / t.cells)} per cell)`,
  );
  if (t.runWallMs !== undefined)
    lines.push(
      `run wall ${s1(t.runWallMs)} (provisioning, cells, reports' inputs; the CLI's reports come after)`,
    );
  return lines.join('\n');
}

/** The verdict figures a change of the cell pipeline must not move (docs/architecture.md). */
export const VERDICT_FIGURES = ['queriesPerRequest', 'staleReadRatio', 'rebuildsPerExpiry'] as const;

export interface FigureChange {
  scenario: string;
  strategy: string;
  metric: string;
  before: Estimate;
  after: Estimate;
  /** The two 95 % intervals share at least one value. */
  overlap: boolean;
}

function estimates(results: RunResults): Map<string, Estimate> {
  const out = new Map<string, Estimate>();
  for (const sc of analyzeResults(results).run.scenarios) {
    for (const row of sc.rows) {
      for (const m of VERDICT_FIGURES) {
        const e = row.intervals?.[m];
        if (e) out.set(`${sc.scenario}\t${row.strategy}\t${m}`, e);
      }
    }
  }
  return out;
}

/** Every verdict figure both runs measured, before against after. */
export function compareFigures(before: RunResults, after: RunResults): FigureChange[] {
  const a = estimates(before);
  const b = estimates(after);
  const out: FigureChange[] = [];
  for (const [key, e0] of a) {
    const e1 = b.get(key);
    if (!e1) continue;
    const [scenario, strategy, metric] = key.split('\t') as [string, string, string];
    out.push({
      scenario,
      strategy,
      metric,
      before: e0,
      after: e1,
      overlap: e0.lo <= e1.hi && e1.lo <= e0.hi,
    });
  }
  return out;
}

const fig = (e: Estimate) => `${e.value.toPrecision(3)} [${e.lo.toPrecision(3)}–${e.hi.toPrecision(3)}]`;

export function renderFigures(changes: FigureChange[]): string {
  const lines = ['verdict figures, before → after (95 % intervals):'];
  for (const c of changes) {
    lines.push(
      `${`${c.scenario} × ${c.strategy}`.padEnd(30)}${c.metric.padEnd(19)}${fig(c.before).padStart(28)} → ${fig(c.after).padEnd(28)}${c.overlap ? '' : ' MOVED'}`,
    );
  }
  const moved = changes.filter((c) => !c.overlap);
  lines.push(
    moved.length === 0
      ? `all ${changes.length} figures: intervals overlap`
      : `${moved.length} of ${changes.length} figures moved beyond their intervals: ${moved.map((c) => `${c.scenario} × ${c.strategy} ${c.metric}`).join(', ')}`,
  );
  return lines.join('\n');
}

function readRun(arg: string): RunResults {
  const file = fs.existsSync(arg) && fs.statSync(arg).isDirectory() ? path.join(arg, 'results.json') : arg;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunResults;
  } catch (e) {
    process.stderr.write(`cell-overhead: ${file}: ${(e as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    process.stderr.write('usage: node harness/bench/cell-overhead.ts <run dir | results.json> [more…]\n');
    process.exit(2);
  }
  const runs = args.map(readRun);
  for (const [i, a] of args.entries()) {
    let table: OverheadTable;
    try {
      table = overheadTable(runs[i]!);
    } catch (e) {
      process.stderr.write(`cell-overhead: ${a}: ${(e as Error).message}\n`);
      process.exit(2);
    }
    process.stdout.write(`${renderOverhead(a, table)}\n\n`);
  }
  if (runs.length === 2) {
    const changes = compareFigures(runs[0]!, runs[1]!);
    process.stdout.write(`${renderFigures(changes)}\n`);
    // A moved figure is a finding, not a crash: the exit code says so.
    if (changes.some((c) => !c.overlap)) process.exitCode = 1;
  }
}
