/**
 * The baseline format: per (scenario, strategy) the value of every gate metric for each repeat,
 * plus where it came from. Small, diff-able JSON meant to be committed next to a CI workflow.
 * Documented in docs/gate.md.
 */
import fs from 'node:fs';
import { cellMetrics, type MetricId } from '../analysis/metrics.ts';
import { type Evidence, gateUnits } from '../analysis/uncertainty.ts';
import { UsageError } from '../errors.ts';
import { readResults } from '../pipeline/results-store.ts';
import type { RunResults } from '../results/schema.ts';

export const BASELINE_FORMAT = 'cachebench-baseline';
export const BASELINE_VERSION = 1;

export interface BaselineGroup {
  scenario: string;
  strategy: string;
  /** Per metric, one value per repeat (null when the metric does not apply). */
  metrics: Partial<Record<MetricId, (number | null)[]>>;
  /** Repeats whose numbers the analysis did not trust. */
  untrusted: number;
  /**
   * Repeats that ran while other processes were busy on the machine (validity `machine-busy`):
   * their latency is not compared. Absent in older baselines (= 0).
   */
  latencyUntrusted?: number;
  /**
   * Per metric, per repeat, the units behind the value (analysis/uncertainty.ts): what the
   * proportion and rate rules test. Absent in baselines written before it existed.
   */
  evidence?: Partial<Record<MetricId, (Evidence | null)[]>>;
}

export interface Baseline {
  format: typeof BASELINE_FORMAT;
  version: typeof BASELINE_VERSION;
  createdAt: string;
  source: {
    runId: string;
    profile: string;
    instances: number;
    seed: number;
    gitSha?: string;
    command: string;
  };
  groups: Record<string, BaselineGroup>;
}

export const groupKey = (scenario: string, strategy: string) => `${scenario}/${strategy}`;

export function baselineFromResults(results: RunResults): Baseline {
  const groups: Record<string, BaselineGroup> = {};
  for (const cell of [...results.cells].sort((a, b) => a.repeat - b.repeat)) {
    if (cell.status !== 'ok' || !cell.analysis) continue;
    const a = cell.analysis;
    const key = groupKey(cell.scenario, cell.strategy);
    groups[key] ??= {
      scenario: cell.scenario,
      strategy: cell.strategy,
      metrics: {},
      untrusted: 0,
    };
    const g = groups[key];
    if (!a.validity.trusted) g.untrusted++;
    if (a.validity.latencyTrusted === false) g.latencyUntrusted = (g.latencyUntrusted ?? 0) + 1;
    const ev = gateUnits(cell, a);
    g.evidence ??= {};
    for (const [id, v] of Object.entries(cellMetrics(a)) as [MetricId, number | null][]) {
      g.metrics[id] ??= [];
      g.metrics[id].push(v);
      g.evidence[id] ??= [];
      const e = ev[id];
      // Only what the gate tests (gateUnits): proportions, rates, per-second ratios.
      g.evidence[id].push(e ?? null);
    }
  }
  return {
    format: BASELINE_FORMAT,
    version: BASELINE_VERSION,
    createdAt: new Date().toISOString(),
    source: {
      runId: results.run.id,
      profile: results.run.profile,
      instances: results.run.instances,
      seed: results.run.seed,
      gitSha: results.run.environment.gitSha,
      command: results.run.command,
    },
    groups,
  };
}

/** A baseline file, or a run directory / results.json turned into one. */
export function loadBaselineOrRun(p: string): Baseline {
  if (p.endsWith('.json') && fs.existsSync(p)) {
    let doc: Partial<Baseline>;
    try {
      doc = JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch (e) {
      throw new UsageError('BAD_BASELINE', `${p}: not valid JSON (${(e as Error).message})`);
    }
    if (doc.format === BASELINE_FORMAT) {
      if (doc.version !== BASELINE_VERSION) {
        throw new UsageError(
          'BAD_BASELINE',
          `${p}: baseline version ${String(doc.version)} is not supported (allowed: ${BASELINE_VERSION})`,
        );
      }
      const bad = badGroups(doc.groups);
      if (bad) throw new UsageError('BAD_BASELINE', `${p}: ${bad}`);
      // Group keys are user data: look-ups must never reach Object.prototype ("constructor").
      return { ...doc, groups: Object.assign(Object.create(null), doc.groups) } as Baseline;
    }
  }
  return baselineFromResults(readResults(p).results);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first structural problem of a baseline's groups (what the gate relies on), or undefined. */
function badGroups(groups: unknown): string | undefined {
  if (!isObject(groups)) {
    return `groups: expected a mapping of "scenario/strategy" → group, got ${JSON.stringify(groups) ?? 'nothing'}`;
  }
  for (const [key, g] of Object.entries(groups)) {
    const where = `groups[${JSON.stringify(key)}]`;
    if (!isObject(g)) return `${where}: expected a group object, got ${JSON.stringify(g)}`;
    if (typeof g.scenario !== 'string' || typeof g.strategy !== 'string') {
      return `${where}: expected string fields scenario and strategy`;
    }
    if (!isObject(g.metrics))
      return `${where}.metrics: expected a mapping of metric → values, got ${JSON.stringify(g.metrics) ?? 'nothing'}`;
    for (const [m, vs] of Object.entries(g.metrics)) {
      if (!Array.isArray(vs) || vs.some((v) => v !== null && typeof v !== 'number')) {
        return `${where}.metrics.${m}: expected a list of numbers or null, got ${JSON.stringify(vs)?.slice(0, 60)}`;
      }
    }
    if (typeof g.untrusted !== 'number')
      return `${where}.untrusted: expected a number, got ${JSON.stringify(g.untrusted) ?? 'nothing'}`;
  }
  return undefined;
}
