/**
 * Service mode's part of the run pipeline (harness/pipeline/run.ts `CellRunner`): the matrix is
 * scenarios × the profile's variants, every scenario's mix is mapped onto the profile's
 * operations before anything starts, and each cell runs through harness/service/cell.ts.
 */
import fs from 'node:fs';
import { didYouMean } from '../../scenarios/did-you-mean.ts';
import { applyProfile, loadScenario } from '../../scenarios/load.ts';
import type { Scenario } from '../../scenarios/types.ts';
import { UsageError } from '../errors.ts';
import { createStateDir } from '../infra/reaper.ts';
import type { CellRunner, PlannedCell } from '../pipeline/run.ts';
import { finishServiceAnalysis } from './analysis.ts';
import { runServiceCell } from './cell.ts';
import { requestPlan, type ServiceRequestPlan } from './operations.ts';
import { type LoadedProfile, loadProfile } from './profile.ts';

/** The variants to run: the ones named (each must exist), else every variant in profile order. */
export function selectVariants(loaded: LoadedProfile, names: string[]): string[] {
  const all = Object.keys(loaded.profile.variants);
  if (names.length === 0) return all;
  const seen = new Set<string>();
  for (const n of names) {
    if (!all.includes(n))
      throw new UsageError(
        'UNKNOWN_VARIANT',
        `--variants: "${n}" is not a variant of ${loaded.profile.name}${didYouMean(n, all)} (allowed: ${all.join(', ')})`,
      );
    if (seen.has(n)) throw new UsageError('DUPLICATE_VARIANT', `--variants: "${n}" appears twice`);
    seen.add(n);
  }
  return names;
}

/**
 * Plans the matrix and checks every scenario against the profile (unmapped operations, unknown
 * names) — a usage error before any process starts.
 */
export function planServiceMatrix(
  loaded: LoadedProfile,
  o: { scenarios: string[]; strategies: string[]; profile: string; repeats: number },
): { cells: PlannedCell[]; plans: Map<string, ServiceRequestPlan> } {
  if (o.scenarios.length === 0) throw new UsageError('NO_SCENARIOS', '--scenarios: empty');
  const variants = selectVariants(loaded, o.strategies);
  const scenarios: Scenario[] = o.scenarios.map((n) => applyProfile(loadScenario(n), o.profile));
  const plans = new Map<string, ServiceRequestPlan>();
  for (const s of scenarios) {
    // The service gets one Redis URL: a second Redis for coordination keys has no name to go by.
    if (s.redis?.coordination === 'separate')
      throw new UsageError(
        'UNSUPPORTED_SCENARIO',
        `--scenarios: ${s.name}: redis.coordination: "separate" cannot run with --service (allowed: shared; the profile passes one Redis URL)`,
      );
    // The profile passes one Redis URL: a Cluster or Sentinel topology has no name to go by yet.
    if (s.redis?.topology && s.redis.topology !== 'standalone')
      throw new UsageError(
        'UNSUPPORTED_SCENARIO',
        `--scenarios: ${s.name}: redis.topology: "${s.redis.topology}" cannot run with --service (allowed: standalone; the profile passes one Redis URL)`,
      );
    plans.set(s.name, requestPlan(loaded.profile, s, loaded.file));
  }
  const cells: PlannedCell[] = [];
  for (let repeat = 1; repeat <= o.repeats; repeat++) {
    for (const scenario of scenarios) {
      for (const v of variants)
        cells.push({ scenario, strategy: v, spec: v, repeat, topology: 'standalone' });
    }
  }
  return { cells, plans };
}

export function serviceRunner(profilePath: string): CellRunner & { runningService: boolean } {
  const loaded = loadProfile(profilePath);
  let plans = new Map<string, ServiceRequestPlan>();
  let stateDir: string | undefined;
  return {
    target: { kind: 'service', name: loaded.profile.name, profile: loaded.file, profileHash: loaded.hash },
    runningService: loaded.profile.service.baseUrl !== undefined,
    plan(o) {
      const p = planServiceMatrix(loaded, o);
      plans = p.plans;
      return p.cells;
    },
    runCell(ctx) {
      stateDir ??= createStateDir('service');
      return runServiceCell({
        runDir: ctx.runDir,
        infra: ctx.infra,
        loaded,
        scenario: ctx.scenario,
        plan: plans.get(ctx.scenario.name)!,
        variant: ctx.strategy,
        repeat: ctx.repeat,
        seed: ctx.seed,
        stateDir,
        ...(ctx.driverProcess ? { driverProcess: ctx.driverProcess } : {}),
        signal: ctx.signal,
        onProgress: ctx.onProgress,
      });
    },
    afterAnalysis: finishServiceAnalysis,
    async close() {
      if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
