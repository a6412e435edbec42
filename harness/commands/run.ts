/**
 * `cachebench run`: its flags, and flags → RunOptions → pipeline → reports (→ gate). The CLI
 * imports this file to declare the command; the pipeline loads only when the command runs.
 */
import path from 'node:path';
import { type Command, Option } from 'commander';
import { UsageError } from '../errors.ts';
import { redactSecrets } from '../infra/redact.ts';
import { REDIS_TOPOLOGIES, type RedisTopology } from '../infra/types.ts';
import type { RunResults } from '../results/schema.ts';
import { infraOption, intArg } from './flags.ts';

const PROFILES = ['quick', 'standard', 'full'];
const DRIVERS = ['builtin', 'k6', 'auto'];

function urlOption(flag: string, help: string, env: string): Option {
  return new Option(`${flag} <url>`, help).env(env);
}

export function declareRunCommand(program: Command): Command {
  return (
    program
      .command('run')
      .description('run a matrix of scenarios × strategies and write results.json + reports')
      .option('--scenarios <list>', 'comma-separated scenario names or files')
      .option(
        '--strategies <list>',
        'comma-separated strategies: names (a+b composes), module paths, or label=spec',
      )
      .option('--service <profile.yaml>', 'run against your own service (docs/service-mode.md)')
      .option('--variants <list>', "with --service: the profile's variants to compare (default: all)")
      .addOption(
        new Option('--profile <name>', 'duration and rate scale').choices(PROFILES).default('standard'),
      )
      .option('--repeats <n>', 'repeats per cell', intArg('--repeats', 1, 100), 1)
      .option('--instances <n>', 'target instances', intArg('--instances', 1, 16), 1)
      .option('--seed <n>', 'PRNG seed', intArg('--seed', 0), 1)
      .option('--out <dir>', 'output directory (default runs/<timestamp>)')
      .option('--resume <dir>', 'complete an interrupted run in <dir>')
      .option('--baseline <file>', 'gate the run against a saved baseline (exit 1 on regression)')
      .option('--baseline-strategy <name>', 'strategy the "relative" columns compare to', 'no-cache')
      .addOption(new Option('--driver <name>', 'load driver').choices(DRIVERS).default('builtin'))
      .option('--default', 'the default comparison (README quick start)')
      // Each URL may come from the environment instead: a password on the command line is
      // readable by every local user in /proc/<pid>/cmdline, the environment only by the owner.
      .addOption(urlOption('--redis-url', 'with --infra external', 'CACHEBENCH_REDIS_URL'))
      .addOption(urlOption('--postgres-url', 'with --infra external', 'CACHEBENCH_POSTGRES_URL'))
      .addOption(urlOption('--toxiproxy-url', 'with --infra external', 'CACHEBENCH_TOXIPROXY_URL'))
      .addOption(
        urlOption(
          '--redis-proxy-url',
          'with --infra external: Redis as the target reaches it through Toxiproxy',
          'CACHEBENCH_REDIS_PROXY_URL',
        ),
      )
      .addOption(
        urlOption(
          '--postgres-proxy-url',
          'with --infra external: PostgreSQL through Toxiproxy',
          'CACHEBENCH_POSTGRES_PROXY_URL',
        ),
      )
      .addOption(
        urlOption(
          '--coordination-redis-url',
          'with --infra external: second Redis for scenarios with redis.coordination: separate',
          'CACHEBENCH_COORDINATION_REDIS_URL',
        ),
      )
      .addOption(
        new Option(
          '--topology <name>',
          'how Redis runs, for scenarios that do not set redis.topology (cluster, replicated: --infra local)',
        ).choices([...REDIS_TOPOLOGIES]),
      )
      .option('--no-reports', 'write results.json only')
      .option('--force', 'replace the cachebench run already in --out')
      .option('--no-fail-on-budgets', 'report failed budgets without exit code 3')
      .addOption(infraOption())
      .action((opts: RunFlags, cmd: Command) => {
        // The default comparison takes minutes: it runs only when asked for with --default.
        if (!opts.scenarios && !opts.strategies && !opts.default && !opts.resume) {
          cmd.outputHelp({ error: true });
          throw new UsageError(
            'NO_MATRIX',
            'run: no matrix given (allowed: --scenarios and --strategies, --default, or --resume DIR)',
          );
        }
        return runCommand(opts);
      })
  );
}

/** The options declared above, as commander hands them over. */
export interface RunFlags {
  scenarios?: string;
  strategies?: string;
  service?: string;
  variants?: string;
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
  coordinationRedisUrl?: string;
  topology?: RedisTopology;
  reports: boolean;
  force?: boolean;
  /** commander's `--no-fail-on-budgets`: false when given. */
  failOnBudgets?: boolean;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** --service: the flags that mean nothing for a service are refused, each in one line. */
async function serviceMode(f: RunFlags, profilePath: string) {
  if (f.strategies)
    throw new UsageError(
      'BAD_FLAG',
      `--strategies: "${f.strategies}" cannot be combined with --service (allowed: --variants, the profile's variants)`,
    );
  if (f.default)
    throw new UsageError('BAD_FLAG', '--default: cannot be combined with --service (allowed: --scenarios)');
  if (f.driver === 'k6')
    throw new UsageError('BAD_FLAG', '--driver: "k6" cannot be combined with --service (allowed: builtin)');
  if (f.instances !== 1)
    throw new UsageError(
      'BAD_FLAG',
      `--instances: ${f.instances} cannot be combined with --service (allowed: 1; the service runs as one process)`,
    );
  const { serviceRunner } = await import('../service/run.ts');
  const runner = serviceRunner(profilePath);
  // A running service already has its Redis and PostgreSQL: only ones the user gives us can be them.
  if (runner.runningService && f.infra !== 'external')
    throw new UsageError(
      'BAD_FLAG',
      `--infra: "${f.infra}" cannot drive a running service (service.baseUrl) (allowed: external, with the Redis/PostgreSQL/Toxiproxy it uses: see docs/service-mode.md)`,
    );
  return runner;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
}

export async function runCommand(f: RunFlags): Promise<void> {
  const { claimRunDir, readResults } = await import('../pipeline/results-store.ts');
  const { DEFAULT_COMPARISON, failedCells, planMatrix, runMatrix } = await import('../pipeline/run.ts');
  const { findK6 } = await import('../driver/k6.ts');
  const k6 = findK6();
  if (f.driver === 'k6' && !k6) {
    throw new UsageError(
      'NO_K6',
      '--driver k6: no k6 binary found (set K6_BIN or put k6 on PATH; or use --driver builtin)',
    );
  }
  let driver: 'builtin' | 'k6' = f.driver === 'builtin' || !k6 ? 'builtin' : 'k6';
  let scenarios = list(f.scenarios);
  let strategies = list(f.strategies);
  let servicePath = f.service;
  let outDir = f.out;
  let resumeFrom: RunResults | undefined;
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
    if (r.results.run.target?.kind === 'service') servicePath = r.results.run.target.profile;
    f.profile = r.results.run.profile;
    f.repeats = r.results.run.repeats;
    f.instances = r.results.run.instances;
    f.seed = r.results.run.seed;
    f.topology = r.results.run.topology;
  }
  let service: import('../pipeline/run.ts').CellRunner | undefined;
  if (servicePath) {
    service = await serviceMode(f, servicePath);
    driver = 'builtin';
    if (!f.resume) strategies = list(f.variants);
  } else if (f.variants) {
    throw new UsageError(
      'BAD_FLAG',
      `--variants: "${f.variants}" needs --service (allowed: with --service only)`,
    );
  }
  if (service) {
    if (f.topology && f.topology !== 'standalone')
      throw new UsageError(
        'BAD_FLAG',
        `--topology: "${f.topology}" cannot run with --service (allowed: standalone; the profile passes one Redis URL)`,
      );
    if (scenarios.length === 0)
      throw new UsageError('NO_SCENARIOS', '--scenarios is required with --service');
  } else if (f.default || (scenarios.length === 0 && strategies.length === 0)) {
    if (scenarios.length === 0) scenarios = DEFAULT_COMPARISON.scenarios;
    if (strategies.length === 0) strategies = DEFAULT_COMPARISON.strategies;
  }
  if (scenarios.length === 0) throw new UsageError('NO_SCENARIOS', '--scenarios is required (or --default)');
  if (strategies.length === 0 && !service)
    throw new UsageError('NO_STRATEGIES', '--strategies is required (or --default)');
  outDir = path.resolve(outDir ?? path.join('runs', timestamp()));
  if (service && strategies.length === 0)
    strategies = service
      .plan({ scenarios, strategies, profile: f.profile, repeats: 1 })
      .map((c) => c.strategy);
  if (!release) {
    // Names and files are checked before the directory is claimed: a typo must not leave a run dir.
    if (service) service.plan({ scenarios, strategies, profile: f.profile, repeats: f.repeats });
    else
      await planMatrix({
        scenarios,
        strategies,
        profile: f.profile,
        repeats: f.repeats,
        topology: f.topology,
      });
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
    baselineStrategy: service && f.baselineStrategy === 'no-cache' ? strategies[0]! : f.baselineStrategy,
    ...(f.topology ? { topology: f.topology } : {}),
    driver,
    infra: {
      infra: f.infra,
      external: {
        redisUrl: f.redisUrl,
        postgresUrl: f.postgresUrl,
        toxiproxyUrl: f.toxiproxyUrl,
        redisProxyUrl: f.redisProxyUrl,
        postgresProxyUrl: f.postgresProxyUrl,
        coordinationRedisUrl: f.coordinationRedisUrl,
      },
    },
    command: redactSecrets(['cachebench', ...process.argv.slice(2)].join(' ')),
    resumeFrom,
    ...(service ? { service } : {}),
  });
  if (service) {
    const { writeServiceSummary } = await import('../service/summary.ts');
    process.stderr.write(writeServiceSummary(runDir, results));
  }

  const files: string[] = [];
  if (f.reports) {
    const { writeReports } = await import('../../reports/index.ts');
    files.push(...(await writeReports(runDir, results)));
  }
  release();
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
  // A failed cell fails the run: a CI job must not pass on a matrix that did not measure.
  const failed = failedCells(results);
  if (failed.length > 0) {
    process.stderr.write(`\n${failed.length} cell(s) failed:\n`);
    for (const c of failed) process.stderr.write(`✘ ${c.id}: ${c.reason}\n`);
    process.exitCode = 1;
  }
}
