/**
 * Analysis entry points. `analyzeCell` runs when a cell ends (it streams the history file twice:
 * writes first, then every record); `analyzeResults` is pure and cheap: it runs once per render
 * (also on an old results.json) and gives every renderer the tables, verdicts and budget checks
 * of the current rules plus each cell's analysis.
 */
import { isAbsolute, resolve } from 'node:path';
import { topologyLabel } from '../results/format.ts';
import type { CellResult, HistoryRecord, RunResults } from '../results/schema.ts';
import { checkBudgets } from './budgets.ts';
import { analyzeCacheHealth } from './cache-health.ts';
import { analyzeDbLoad } from './db-load.ts';
import { analyzeFailOpen, FaultWindowAccumulator, faultWindows } from './fail-open.ts';
import { FailoverAccumulator, failoverVerdict } from './failover.ts';
import { type HistoryReadStats, readHistory } from './history.ts';
import { analyzeLeaderboard } from './leaderboard.ts';
import { cellMetrics, type MetricId } from './metrics.ts';
import { buildWriteIndexFromFile, StalenessChecker, WriteIndexBuilder } from './staleness.ts';
import { analyzeStampede } from './stampede.ts';
import {
  ANALYSIS_VERSION,
  type AnalyzedRun,
  type CellAnalysis,
  type RunAnalysis,
  type ScenarioAnalysis,
  type StrategyRow,
} from './types.ts';
import { cellEvidence, combineEstimate, type Estimate } from './uncertainty.ts';
import { analyzeValidity } from './validity.ts';
import { focusMetrics, primaryMetrics, verdict } from './verdict.ts';

export type * from './types.ts';

interface HistoryPass {
  checker: StalenessChecker | null;
  acc: FaultWindowAccumulator | null;
  failover?: FailoverAccumulator;
  historyError?: string;
  malformed?: number;
}

function assemble(cell: CellResult, h: HistoryPass): CellAnalysis {
  const dbLoad = analyzeDbLoad(cell);
  const windowEnds = cell.faults
    .filter((f) => f.ok && typeof f.removedAt === 'number')
    .map((f) => f.removedAt!);
  const l = cell.load;
  const failOpen = analyzeFailOpen(cell, h.acc, h.checker);
  return {
    analysisVersion: ANALYSIS_VERSION,
    latency: {
      p50: l.overall.latency.p50,
      p95: l.overall.latency.p95 ?? null,
      p99: l.overall.latency.p99,
      max: l.overall.latency.max,
      errorRate: l.completed > 0 ? l.errors / l.completed : null,
      achievedRate: l.achievedRate,
      requestedRate: l.requestedRate,
    },
    dbLoad,
    stampede: analyzeStampede(cell),
    staleness: h.checker ? h.checker.result(windowEnds) : null,
    failOpen,
    cacheHealth: analyzeCacheHealth(cell),
    validity: analyzeValidity(cell, {
      dbLoad,
      failOpen,
      historyError: h.historyError,
      historyMalformed: h.malformed,
    }),
    leaderboard: analyzeLeaderboard(cell),
    ...(h.failover
      ? { failover: h.failover.result(h.checker ? (f, t) => h.checker!.staleBetween(f, t) : undefined) }
      : {}),
  };
}

/** Analyses one cell; reads `cell.historyFile` (relative to runDir) in two streaming passes. */
export async function analyzeCell(cell: CellResult, runDir: string): Promise<CellAnalysis> {
  if (!cell.historyFile)
    return assemble(cell, { checker: null, acc: null, historyError: 'no history file recorded' });
  const path = isAbsolute(cell.historyFile) ? cell.historyFile : resolve(runDir, cell.historyFile);
  try {
    const index = await buildWriteIndexFromFile(path);
    const checker = new StalenessChecker(index, cell.ttlMs, cell.ttlByNamespace);
    const acc = new FaultWindowAccumulator(faultWindows(cell), {
      userNotFoundOk: (cell.scenario_spec?.mix?.['delete-user'] ?? 0) > 0,
    });
    const failover = FailoverAccumulator.of(cell.faults);
    const stats: HistoryReadStats = { lines: 0, malformed: 0 };
    for await (const rec of readHistory(path, stats)) {
      checker.add(rec);
      acc.add(rec);
      failover?.add(rec);
    }
    return assemble(cell, { checker, acc, failover, malformed: stats.malformed });
  } catch (e) {
    const msg =
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${path} does not exist` : (e as Error).message;
    return assemble(cell, { checker: null, acc: null, historyError: msg });
  }
}

/** Same as analyzeCell with the history given in memory (tests, synthetic runs). */
export function analyzeCellRecords(cell: CellResult, records: readonly HistoryRecord[]): CellAnalysis {
  const b = new WriteIndexBuilder();
  for (const r of records) b.add(r);
  const checker = new StalenessChecker(b.build(), cell.ttlMs, cell.ttlByNamespace);
  const acc = new FaultWindowAccumulator(faultWindows(cell), {
    userNotFoundOk: (cell.scenario_spec?.mix?.['delete-user'] ?? 0) > 0,
  });
  const failover = FailoverAccumulator.of(cell.faults);
  for (const r of records) {
    checker.add(r);
    acc.add(r);
    failover?.add(r);
  }
  return assemble(cell, { checker, acc, failover });
}

/** What can be analysed without the history (an old results.json whose cells lack `analysis`). */
export function analyzeCellWithoutHistory(cell: CellResult): CellAnalysis {
  return assemble(cell, { checker: null, acc: null, historyError: 'cell has no stored analysis' });
}

/** The stored analysis, or the history-free part for a cell that has none (older file, failed analysis). */
export function cellAnalysis(cell: CellResult): CellAnalysis {
  return hasStoredAnalysis(cell) ? cell.analysis! : analyzeCellWithoutHistory(cell);
}

function hasStoredAnalysis(cell: CellResult): boolean {
  // A partial object (hand-edited or truncated file) counts as missing rather than crashing a renderer.
  return typeof cell.analysis === 'object' && cell.analysis !== null && 'dbLoad' in cell.analysis;
}

function meanOf(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
}

export function scenarioOrder(results: RunResults): string[] {
  const seen = new Set<string>(results.run.scenarios);
  for (const c of results.cells) seen.add(c.scenario);
  return [...seen].filter((s) => results.cells.some((c) => c.scenario === s));
}

export function strategyOrder(results: RunResults, cells: CellResult[]): string[] {
  const seen = new Set<string>(results.run.strategies);
  for (const c of cells) seen.add(c.strategy);
  return [...seen].filter((s) => cells.some((c) => c.strategy === s));
}

/** The failover sentence of a scenario's verdict (analysis/failover.ts); '' without failover cells. */
function failoverVerdictOf(
  strategies: string[],
  cells: CellResult[],
  byId: Map<string, CellAnalysis>,
): string {
  return failoverVerdict(
    strategies.map((strategy) => {
      const mine = cells.filter((c) => c.strategy === strategy).map((c) => byId.get(c.id)!);
      const m = mine.map(cellMetrics);
      return {
        strategy,
        figures: mine.flatMap((a) => (a.failover ? [a.failover] : [])),
        duplicateRebuilds: m.map((x) => x.duplicateRebuilds),
        lostIncrements: m.map((x) => x.lostIncrements),
        trusted: mine.every((a) => a.validity.trusted),
      };
    }),
  );
}

/** The run-level analysis alone (what summary.json calls `analysis`). */
export function analyzeRun(results: RunResults): RunAnalysis {
  return analyzeResults(results).run;
}

/** Analyses a run once for rendering: every cell's analysis by id, then the run-level tables. */
export function analyzeResults(results: RunResults): AnalyzedRun {
  const scenarios: ScenarioAnalysis[] = [];
  const budgets = [];
  const untrusted = [];
  const warnings = [...results.warnings];
  let missing = 0;
  const byId = new Map<string, CellAnalysis>();
  for (const c of results.cells) {
    if (!hasStoredAnalysis(c)) missing++;
    const a = cellAnalysis(c);
    byId.set(c.id, a);
    budgets.push(...checkBudgets(c, a));
    if (!a.validity.trusted) untrusted.push({ cellId: c.id, flags: a.validity.flags });
  }
  if (missing)
    warnings.push(
      `${missing} cell(s) had no stored analysis; staleness and fault-window figures are missing for them`,
    );

  for (const scenario of scenarioOrder(results)) {
    const cells = results.cells.filter((c) => c.scenario === scenario);
    const strategies = strategyOrder(results, cells);
    const spec = cells[0]!.scenario_spec;
    const question = spec.question ?? '';
    const baseline = strategies.includes(results.run.baselineStrategy)
      ? results.run.baselineStrategy
      : strategies.includes('no-cache')
        ? 'no-cache'
        : strategies[0]!;
    const noCacheQpr = meanOf(
      cells.filter((c) => c.strategy === 'no-cache').map((c) => byId.get(c.id)!.dbLoad.queriesPerRequest),
    );
    const rows: StrategyRow[] = strategies.map((strategy) => {
      const mine = cells.filter((c) => c.strategy === strategy);
      const perCell = mine.map((c) => cellMetrics(byId.get(c.id)!));
      const metrics: Record<string, number | null> = {};
      for (const id of Object.keys(perCell[0]!) as MetricId[])
        metrics[id] = meanOf(perCell.map((m) => m[id]));
      const qpr = metrics.queriesPerRequest ?? null;
      metrics.dbReduction = qpr !== null && noCacheQpr ? 1 - qpr / noCacheQpr : null;
      const evidence = mine.map((c) => cellEvidence(c, byId.get(c.id)!));
      const intervals: Record<string, Estimate | null> = {};
      for (const id of Object.keys(perCell[0]!) as MetricId[])
        intervals[id] = combineEstimate(
          perCell.map((m) => m[id]),
          evidence.map((e) => e[id]),
        );
      return {
        strategy,
        repeats: mine.length,
        trusted: mine.every((c) => byId.get(c.id)!.validity.trusted),
        latencyTrusted: mine.every((c) => byId.get(c.id)!.validity.latencyTrusted !== false),
        metrics,
        relative: {},
        intervals,
      };
    });
    const base = rows.find((r) => r.strategy === baseline)!;
    for (const r of rows) {
      for (const [id, v] of Object.entries(r.metrics)) {
        const b = base.metrics[id];
        // 0 vs a 0 baseline is "the same" (1×); anything vs a 0 baseline has no ratio.
        r.relative[id] =
          v === null || b === null || b === undefined ? null : b !== 0 ? v / b : v === 0 ? 1 : null;
      }
    }
    const hasFaults = Array.isArray(spec.faults) && spec.faults.length > 0;
    const focus = focusMetrics(scenario, hasFaults);
    const primary = primaryMetrics(
      scenario,
      hasFaults,
      Array.isArray(spec.primary) ? spec.primary.map(String) : undefined,
    );
    const v = verdict(rows, focus, baseline === 'no-cache' ? baseline : undefined, primary, {
      lowPower:
        results.run.profile === 'quick'
          ? 'Quick profile: too few units per cell to separate the rest; rerun with --profile standard or --repeats 3.'
          : undefined,
    });
    scenarios.push({
      scenario,
      question,
      ...(spec.redis?.topology || cells[0]!.topology
        ? {
            topology: cells[0]!.topology ?? spec.redis?.topology,
            topologyLabel: topologyLabel(
              (cells[0]!.topology ?? spec.redis?.topology)!,
              cells[0]!.topologyShape,
              spec.redis?.replicasPerMaster,
            ),
          }
        : {}),
      baselineStrategy: baseline,
      rows,
      focus,
      primary,
      verdict: [v.text, failoverVerdictOf(strategies, cells, byId)].filter(Boolean).join(' '),
      claims: v.claims,
    });
  }
  const run: RunAnalysis = {
    analysisVersion: ANALYSIS_VERSION,
    scenarios,
    budgets,
    budgetsFailed: budgets.filter((b) => !b.passed).length,
    untrustedCells: untrusted,
    warnings,
  };
  return {
    run,
    cell(c) {
      const a = byId.get(c.id);
      if (!a) throw new Error(`${c.id}: not a cell of the analysed run`);
      return a;
    },
  };
}
