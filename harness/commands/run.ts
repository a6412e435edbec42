/** `cachebench run`: flags → RunOptions → pipeline → reports (→ gate). */
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { readResults } from '../pipeline/results-store.ts';
import { DEFAULT_COMPARISON, runMatrix } from '../pipeline/run.ts';

export interface RunFlags {
  scenarios?: string;
  strategies?: string;
  profile: string;
  repeats: number;
  instances: number;
  seed: number;
  out?: string;
  resume?: string;
  baseline?: string;
  baselineStrategy: string;
  driver: string;
  default?: boolean;
  infra: 'local' | 'containers' | 'external' | 'auto';
  redisUrl?: string;
  postgresUrl?: string;
  toxiproxyUrl?: string;
  redisProxyUrl?: string;
  postgresProxyUrl?: string;
  reports: boolean;
  /** commander's `--no-fail-on-budgets`: false when given. */
  failOnBudgets?: boolean;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function timestamp(): string {
  return new Date().toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
}

export async function runCommand(f: RunFlags): Promise<void> {
  if (!['quick', 'standard', 'full'].includes(f.profile)) {
    throw new UsageError(
      'BAD_PROFILE',
      `--profile: "${f.profile}" is not a profile (allowed: quick, standard, full)`,
    );
  }
  if (!['builtin', 'k6', 'auto'].includes(f.driver)) {
    throw new UsageError(
      'BAD_DRIVER',
      `--driver: "${f.driver}" is not a load driver (allowed: builtin, k6, auto)`,
    );
  }
  const { findK6 } = await import('../driver/k6.ts');
  const k6 = findK6();
  if (f.driver === 'k6' && !k6) {
    throw new UsageError(
      'NO_K6',
      '--driver k6: no k6 binary found (set K6_BIN or put k6 on PATH; or use --driver builtin)',
    );
  }
  const driver = f.driver === 'builtin' || !k6 ? 'builtin' : 'k6';
  let scenarios = list(f.scenarios);
  let strategies = list(f.strategies);
  let outDir = f.out;
  let resumeFrom: ReturnType<typeof readResults>['results'] | undefined;
  if (f.resume) {
    const r = readResults(f.resume);
    resumeFrom = r.results;
    outDir = r.runDir;
    scenarios = r.results.run.scenarios;
    strategies = r.results.run.strategies;
    f.profile = r.results.run.profile;
    f.repeats = r.results.run.repeats;
    f.instances = r.results.run.instances;
    f.seed = r.results.run.seed;
  }
  if (f.default || (scenarios.length === 0 && strategies.length === 0)) {
    if (scenarios.length === 0) scenarios = DEFAULT_COMPARISON.scenarios;
    if (strategies.length === 0) strategies = DEFAULT_COMPARISON.strategies;
  }
  if (scenarios.length === 0) throw new UsageError('NO_SCENARIOS', '--scenarios is required (or --default)');
  if (strategies.length === 0)
    throw new UsageError('NO_STRATEGIES', '--strategies is required (or --default)');
  outDir = path.resolve(outDir ?? path.join('runs', timestamp()));

  const { runDir, results } = await runMatrix({
    scenarios,
    strategies,
    profile: f.profile,
    repeats: f.repeats,
    instances: f.instances,
    seed: f.seed,
    outDir,
    baselineStrategy: f.baselineStrategy,
    driver,
    infra: {
      infra: f.infra,
      external: {
        redisUrl: f.redisUrl,
        postgresUrl: f.postgresUrl,
        toxiproxyUrl: f.toxiproxyUrl,
        redisProxyUrl: f.redisProxyUrl,
        postgresProxyUrl: f.postgresProxyUrl,
      },
    },
    command: ['cachebench', ...process.argv.slice(2)].join(' '),
    resumeFrom,
    analyzeCell: async (cell, dir) => {
      const { analyzeCell } = await import('../analysis/index.ts');
      return (await analyzeCell(cell, dir)) as unknown as Record<string, unknown>;
    },
  });

  const files: string[] = [];
  if (f.reports) {
    const { writeReports } = await import('../../reports/index.ts');
    files.push(...(await writeReports(runDir, results)));
  }
  const isDefault =
    !!f.default || (list(f.scenarios).length === 0 && list(f.strategies).length === 0 && !f.resume);
  const { runSummary } = await import('../pipeline/summary.ts');
  const summary = runSummary(results, {
    reports: files,
    resultsFile: path.join(runDir, 'results.json'),
    failOnBudgets: f.failOnBudgets !== false && !isDefault,
    budgetsNote: isDefault ? 'the default comparison: budgets are findings' : '--no-fail-on-budgets',
  });
  process.stderr.write(summary.text);
  process.exitCode = summary.exitCode;
  if (f.baseline) {
    const { gateRun } = await import('../gate/index.ts');
    const verdict = await gateRun(f.baseline, runDir);
    // A regression is a failure (1); it outranks failed budgets (3) but not a usage error.
    if (!verdict.pass) process.exitCode = 1;
  }
}
