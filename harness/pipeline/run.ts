/**
 * The run pipeline: resolve the matrix → provision → for each cell run, analyze and persist →
 * reports. results.json is rewritten after every cell; `resume` skips the cells already `ok`.
 */
import path from 'node:path';
import { didYouMean } from '../../scenarios/did-you-mean.ts';
import { applyProfile, listScenarios, loadScenario } from '../../scenarios/load.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { loadStrategyModule, strategyNames } from '../../target/strategies/index.ts';
import { analyzeCell } from '../analysis/index.ts';
import { BuiltinDriverProcess } from '../driver/builtin.ts';
import { UsageError } from '../errors.ts';
import { unsupportedFaults } from '../faults.ts';
import { onInterrupt, registerCleanup } from '../infra/cleanup.ts';
import { type StartInfraOptions, startInfra } from '../infra/index.ts';
import { cellTopology } from '../infra/topology.ts';
import type { InfraHandle, RedisTopology } from '../infra/types.ts';
import { fixed, millis, seconds } from '../results/format.ts';
import { type CellResult, RESULTS_SCHEMA_VERSION, type RunResults } from '../results/schema.ts';
import type { RunTarget } from '../service/types.ts';
import { type CellContext, runCell } from './cell.ts';
import { collectEnvironment } from './environment.ts';
import { Progress } from './progress.ts';
import { checkRedisConfig } from './redis-config.ts';
import { cellId, claimRunDir, writeResults } from './results-store.ts';

export const DEFAULT_COMPARISON = {
  scenarios: ['hot-key', 'mass-expiry', 'write-race', 'redis-outage'],
  strategies: ['no-cache', 'cache-aside', 'jitter', 'lock', 'versioning', 'write-through'],
  profile: 'standard',
};

export interface RunOptions {
  scenarios: string[];
  strategies: string[];
  profile: string;
  repeats: number;
  instances: number;
  seed: number;
  outDir: string;
  baselineStrategy: string;
  infra: StartInfraOptions;
  /** `--topology`: how Redis runs for cells whose scenario does not fix `redis.topology`. */
  topology?: RedisTopology;
  driver: 'builtin' | 'k6';
  command: string;
  /** Existing results to complete (resume). */
  resumeFrom?: RunResults;
  /** Replace an existing run in outDir (`--force`). */
  force?: boolean;
  /** The caller already holds outDir (claimRunDir) and releases it after its reports. */
  runDirClaimed?: boolean;
  log?: (line: string) => void;
  /** Service mode (harness/service/): variants of the user's service take the strategies' place. */
  service?: CellRunner;
}

/** How the cells of a matrix are planned and run when they are not the demo target's. */
export interface CellRunner {
  target: RunTarget;
  plan(o: Pick<RunOptions, 'scenarios' | 'strategies' | 'profile' | 'repeats'>): PlannedCell[];
  runCell(ctx: CellContext): Promise<CellResult>;
  /** After the shared analysis: the runner's own figures. */
  afterAnalysis(cell: CellResult): void;
  close(): Promise<void>;
}

export interface PlannedCell {
  scenario: Scenario;
  /** The label in results and reports. */
  strategy: string;
  /** What the target loads: a catalog name, "a+b", or a module path. */
  spec: string;
  repeat: number;
  /** How Redis runs for this cell (scenario's `redis.topology`, else `--topology`, else standalone). */
  topology: RedisTopology;
}

/**
 * `label=spec` names a strategy spec in reports (e.g. `mine=./my-strategy.ts`, or
 * `lock=cache-aside` to rehearse a broken lock against a lock baseline); a bare spec is its own label.
 */
export function parseStrategyArg(arg: string): { label: string; spec: string } {
  const eq = arg.indexOf('=');
  if (eq < 0) return { label: arg, spec: arg };
  const label = arg.slice(0, eq).trim();
  const spec = arg.slice(eq + 1).trim();
  if (!/^[a-z0-9][a-z0-9+._-]*$/i.test(label) || !spec) {
    throw new UsageError(
      'BAD_STRATEGY_LABEL',
      `--strategies: "${arg}" is not label=spec (label: letters, digits, + . _ -; spec: a strategy name or path)`,
    );
  }
  return { label, spec };
}

/** A strategy module must load within this; a plugin whose import never settles is refused. */
export const PLUGIN_IMPORT_TIMEOUT_MS = 10_000;

async function importWithTimeout(spec: string) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${spec}: import did not settle within ${PLUGIN_IMPORT_TIMEOUT_MS} ms (a top-level await that never resolves?)`,
          ),
        ),
      PLUGIN_IMPORT_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([loadStrategyModule(spec), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A scenario's `cache` options apply to every strategy in the matrix, each taking the ones it
 * declares; a key no strategy declares (in the run or the catalog) is a typo and is refused.
 */
async function checkCacheOptions(
  scenarios: Scenario[],
  runDefaults: Record<string, unknown>[],
): Promise<void> {
  const known = new Set<string>();
  const catalog = await Promise.all(strategyNames().map((n) => loadStrategyModule(n)));
  for (const d of [...runDefaults, ...catalog.map((m) => m.defaults)]) {
    for (const k of Object.keys(d)) known.add(k);
  }
  for (const s of scenarios) {
    for (const k of Object.keys(s.cache)) {
      if (!known.has(k)) {
        throw new UsageError(
          'UNKNOWN_CACHE_OPTION',
          `scenario ${s.name}: cache.${k}: not an option of any strategy${didYouMean(k, known)} (allowed: ${[...known].sort().join(', ')})`,
        );
      }
    }
  }
}

/** Resolves names to definitions up front, so a typo fails before anything starts. */
export async function planMatrix(
  o: Pick<RunOptions, 'scenarios' | 'strategies' | 'profile' | 'repeats' | 'topology'>,
): Promise<{
  cells: PlannedCell[];
  strategyDefaults: Map<string, Record<string, unknown>>;
}> {
  if (o.scenarios.length === 0)
    throw new UsageError('NO_SCENARIOS', `--scenarios: empty (allowed: ${listScenarios().join(', ')})`);
  if (o.strategies.length === 0) throw new UsageError('NO_STRATEGIES', '--strategies: empty');
  const scenarios = o.scenarios.map((n) => applyProfile(loadScenario(n), o.profile));
  const strategyDefaults = new Map<string, Record<string, unknown>>();
  const parsed = o.strategies.map(parseStrategyArg);
  const labels = new Set<string>();
  for (const { label, spec } of parsed) {
    if (labels.has(label))
      throw new UsageError(
        'DUPLICATE_STRATEGY',
        `--strategies: "${label}" appears twice (labels must be unique)`,
      );
    labels.add(label);
    try {
      strategyDefaults.set(label, (await importWithTimeout(spec)).defaults);
    } catch (e) {
      throw new UsageError('UNKNOWN_STRATEGY', `--strategies: ${(e as Error).message}`, { cause: e });
    }
  }
  await checkCacheOptions(scenarios, [...strategyDefaults.values()]);
  // Interleave strategies within a scenario and repeats across the matrix, so slow drift of the
  // shared machine does not land on one strategy.
  const cells: PlannedCell[] = [];
  for (let repeat = 1; repeat <= o.repeats; repeat++) {
    for (const scenario of scenarios) {
      const topology = cellTopology(scenario, o.topology);
      for (const { label, spec } of parsed) cells.push({ scenario, strategy: label, spec, repeat, topology });
    }
  }
  return { cells, strategyDefaults };
}

const FAILED = ' failed: ';

/** The warning that records a failed cell; `failedCells` reads it back. */
export function failureWarning(id: string, message: string): string {
  return `${id}${FAILED}${message}`;
}

function failedCellOf(warning: string): string | undefined {
  const i = warning.indexOf(FAILED);
  return i > 0 && !warning.slice(0, i).includes(' ') ? warning.slice(0, i) : undefined;
}

/**
 * The run's outcome: every planned cell that has no `ok` result, with the reason recorded when it
 * failed ("not run" when it never ran, e.g. an interrupted run). A run with any is a failed run.
 */
export function failedCells(results: RunResults): { id: string; reason: string }[] {
  const ok = new Set(results.cells.filter((c) => c.status === 'ok').map((c) => c.id));
  const out: { id: string; reason: string }[] = [];
  for (const w of results.warnings) {
    const id = failedCellOf(w);
    if (id && !ok.has(id)) out.push({ id, reason: w.slice(id.length + FAILED.length) });
  }
  return out;
}

export async function runMatrix(o: RunOptions): Promise<{ runDir: string; results: RunResults }> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { cells: planned, strategyDefaults } = o.service
    ? { cells: o.service.plan(o), strategyDefaults: new Map<string, Record<string, unknown>>() }
    : await planMatrix(o);
  const release = o.runDirClaimed
    ? () => {}
    : claimRunDir(o.outDir, o.resumeFrom ? 'resume' : o.force ? 'force' : 'new');

  const results: RunResults = o.resumeFrom ?? {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    run: {
      id: path.basename(o.outDir),
      startedAt: Date.now(),
      command: o.command,
      profile: o.profile,
      seed: o.seed,
      repeats: o.repeats,
      instances: o.instances,
      infra: o.infra.infra === 'auto' ? 'local' : o.infra.infra,
      driver: o.driver,
      scenarios: o.scenarios,
      strategies: o.strategies,
      baselineStrategy: o.baselineStrategy,
      ...(o.topology ? { topology: o.topology } : {}),
      environment: collectEnvironment({}),
      ...(o.service ? { target: o.service.target } : {}),
    },
    cells: [],
    warnings: [],
  };
  const done = new Set(results.cells.filter((c) => c.status === 'ok').map((c) => c.id));
  // Cells that were interrupted or failed are run again on resume.
  results.cells = results.cells.filter((c) => c.status === 'ok');
  const todo = planned.filter((c) => !done.has(cellId(c.scenario.name, c.strategy, c.repeat)));
  if (done.size > 0) log(`resuming: ${done.size} cell(s) done, ${todo.length} to run`);
  // A cell run again owns its outcome: its old failure must not outlive a successful re-run.
  const rerun = new Set(todo.map((c) => cellId(c.scenario.name, c.strategy, c.repeat)));
  results.warnings = results.warnings.filter((w) => !rerun.has(failedCellOf(w) ?? ''));

  const progress = new Progress(planned.length);
  const abort = new AbortController();
  let interrupted = false;
  onInterrupt(() => {
    interrupted = true;
    abort.abort(new Error('interrupted'));
    results.run.finishedAt = undefined;
    writeResults(o.outDir, results);
    progress.log(
      `interrupted: ${results.cells.length} finished cell(s) kept in ${o.outDir}; complete with --resume ${o.outDir}`,
    );
  });

  // Process faults need a provisioner that started the service; say so before anything starts
  // (external and containers are known now; `auto` is checked once it has chosen).
  // Once a topology's infrastructure is up, its own cells are checked against it.
  const checkFaults = (
    processes: InfraHandle['processes'],
    cells: PlannedCell[] = planned,
    topology?: RedisTopology,
  ) => {
    for (const c of cells) {
      const why = unsupportedFaults(c.scenario.faults, processes, topology);
      if (why) throw new UsageError('UNSUPPORTED_FAULT', `scenario ${c.scenario.name}: faults: ${why}`);
    }
  };
  if (o.infra.infra === 'external' || o.infra.infra === 'containers') checkFaults(undefined);

  // One provisioned infrastructure per topology, in the order the matrix first needs each: the
  // cells of one topology run back to back on it, then it is stopped before the next starts.
  // A Cluster with replicas (scenario redis.replicasPerMaster) is an infrastructure of its own.
  const replicasOf = (c: PlannedCell) => c.scenario.redis?.replicasPerMaster ?? 0;
  const infraKey = (c: PlannedCell) => `${c.topology}:${replicasOf(c)}`;
  const groups = [...new Map(todo.map((c) => [infraKey(c), c])).values()];
  let index = done.size;
  // One built-in driver process for all the cells (BuiltinDriverProcess): each cell's load is
  // still its own (connections, tallies, history, peak RSS); the boot and warm-up are paid once.
  const driverProcess = o.driver === 'builtin' ? new BuiltinDriverProcess() : undefined;
  const unregisterDriver = driverProcess
    ? registerCleanup(
        'load driver',
        () => driverProcess.close(),
        () => driverProcess.kill(),
      )
    : () => {};
  try {
    for (const first of groups) {
      if (interrupted) break;
      const { topology } = first;
      const replicasPerMaster = replicasOf(first);
      const cells = todo.filter((c) => infraKey(c) === infraKey(first));
      const onTopology =
        topology === 'standalone'
          ? ''
          : `, topology ${topology}${replicasPerMaster ? `, ${replicasPerMaster} replica per master` : ''}`;
      log(`provisioning (${o.infra.infra}${onTopology})…`);
      const separate = cells.find((c) => c.scenario.redis?.coordination === 'separate');
      const infra = await startInfra({
        ...o.infra,
        ...(replicasPerMaster ? { local: { ...o.infra.local, replicasPerMaster } } : {}),
        coordinationFor: separate?.scenario.name,
        ...(topology === 'standalone' ? {} : { topology }),
        log,
      });
      const unregister = registerCleanup('infra', () => infra.stop());
      try {
        checkFaults(infra.processes, cells, topology);
        await checkRedisConfig(
          infra.redisUrl,
          cells.map((c) => c.scenario),
        );
      } catch (e) {
        await infra.stop();
        throw e;
      }
      results.run.infra = infra.kind;
      results.run.environment = collectEnvironment(infra.versions);
      writeResults(o.outDir, results);

      try {
        for (const c of cells) {
          index++;
          const label = `${c.scenario.name} × ${c.strategy}${o.repeats > 1 ? ` #${c.repeat}` : ''}`;
          const t0 = Date.now();
          let cell: CellResult;
          try {
            cell = await (o.service?.runCell ?? runCell)({
              runDir: o.outDir,
              infra,
              scenario: c.scenario,
              strategy: c.strategy,
              strategySpec: c.spec,
              strategyDefaults: strategyDefaults.get(c.strategy) ?? {},
              repeat: c.repeat,
              seed: o.seed,
              instances: o.instances,
              driver: o.driver,
              ...(driverProcess ? { driverProcess } : {}),
              signal: abort.signal,
              onProgress: (p) => progress.update(index, label, p),
            });
          } catch (e) {
            if (interrupted) break;
            const message = (e as Error).message.split('\n')[0]!;
            progress.log(`✘ ${label}: ${message}`);
            results.warnings.push(failureWarning(cellId(c.scenario.name, c.strategy, c.repeat), message));
            writeResults(o.outDir, results);
            continue;
          }
          if (interrupted) break;
          try {
            cell.analysis = await analyzeCell(cell, o.outDir);
            o.service?.afterAnalysis(cell);
          } catch (e) {
            results.warnings.push(`${cell.id}: analysis failed: ${(e as Error).message}`);
          }
          results.cells.push(cell);
          writeResults(o.outDir, results);
          progress.cellDone(Date.now() - t0);
          progress.log(
            `✔ [${index}/${planned.length}] ${label}: ${fixed(cell.load.achievedRate, 0)} req/s, p99 ${millis(cell.load.overall.latency.p99)}, ${cell.load.errors} errors, ${cell.target.dbQueries} DB queries (${seconds((Date.now() - t0) / 1000)})`,
          );
          // Untrusted numbers must be seen at the terminal too, not only in the report.
          for (const f of cell.analysis?.validity.flags ?? []) {
            if (f.severity === 'error') progress.log(`  ⚠ untrusted: ${f.message} — ${f.hint}`);
          }
        }
      } finally {
        await infra.stop();
        unregister();
      }
    }
  } finally {
    await driverProcess?.close();
    unregisterDriver();
    await o.service?.close();
  }
  if (!interrupted) {
    results.run.finishedAt = Date.now();
    writeResults(o.outDir, results);
  }
  release();
  return { runDir: o.outDir, results };
}
