/** `cachebench run`: flags → RunOptions → pipeline → reports (→ gate). */
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { redactSecrets } from '../infra/redact.ts';
import { claimRunDir, readResults } from '../pipeline/results-store.ts';
import { DEFAULT_COMPARISON, planMatrix, runMatrix } from '../pipeline/run.ts';

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
  force?: boolean;
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
  let release: (() => void) | undefined;
  if (f.resume) {
    if (f.out || f.force) {
      throw new UsageError(
        'BAD_FLAG',
        `--resume: cannot be combined with ${f.out ? '--out' : '--force'} (the run directory is the one resumed)`,
      );
    }
    // Read (is it a run?), hold the directory, then read again: what we resume is what the lock protects.
    release = claimRunDir(readResults(f.resume).runDir, 'resume', '--resume');
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
  if (!release) {
    // Names and files are checked before the directory is claimed: a typo must not leave a run dir.
    await planMatrix({ scenarios, strategies, profile: f.profile, repeats: f.repeats });
    release = claimRunDir(outDir, f.force ? 'force' : 'new');
  }

  const { runDir, results } = await runMatrix({
    runDirClaimed: true,
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
    command: redactSecrets(['cachebench', ...process.argv.slice(2)].join(' ')),
    resumeFrom,
    analyzeCell: async (cell, dir) => {
      const { analyzeCell } = await import('../analysis/index.ts');
      return (await analyzeCell(cell, dir)) as unknown as Record<string, unknown>;
    },
  });

  process.stderr.write(`\nresults: ${path.join(runDir, 'results.json')} (${results.cells.length} cells)\n`);
  if (f.reports) {
    const { writeReports } = await import('../../reports/index.ts');
    const files = await writeReports(runDir, results);
    for (const file of files) process.stderr.write(`report:  ${file}\n`);
  }
  release();
  if (f.baseline) {
    const { gateRun } = await import('../gate/index.ts');
    const verdict = await gateRun(f.baseline, runDir);
    if (!verdict.pass) process.exitCode = 1;
  }
}
