#!/usr/bin/env node
/**
 * The `cachebench` entry. Tiny on purpose: each subcommand's module is imported only when that
 * subcommand runs, so `cachebench doctor` does not load echarts or testcontainers. Commands
 * with many flags (run, check-strategy) declare them in their own file, which loads its heavy
 * parts only when it runs.
 * Exit codes: 0 ok, 1 failure (or a regression for `compare`), 2 usage error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { declareCheckStrategyCommand } from './commands/check-strategy.ts';
import { infraOption, intArg } from './commands/flags.ts';
import { addExamples } from './commands/help-examples.ts';
import { declareRunCommand } from './commands/run.ts';
import { CachebenchError } from './errors.ts';

const COMMANDS = 'run, report, compare, baseline, doctor, up, list, check-strategy, init';

/** Commander's messages, reduced to one line that also says what is allowed. */
function oneLine(str: string): string {
  const first = str.split('\n')[0]!.replace(/^error: /, 'cachebench: ');
  if (first.includes('unknown command')) return `${first} (allowed: ${COMMANDS})`;
  if (first.includes('unknown option')) return `${first} (see --help for the allowed options)`;
  return first;
}

export function buildProgram(): Command {
  const program = new Command('cachebench')
    .description(
      'Benchmark and chaos-test Redis caching strategies: DB load, stampedes, staleness, fail-open',
    )
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`${oneLine(str)}\n`) });

  declareRunCommand(program);

  program
    .command('report')
    .description('re-render the reports of an existing run directory')
    .argument('<run-dir>', 'a directory holding results.json')
    .option(
      '--format <list>',
      'html,md,junit,json, or the exports csv (results.csv), otlp (results.otlp.json)',
      'html,md,junit,json',
    )
    .action(async (dir, opts) => (await import('./commands/report.ts')).reportCommand(dir, opts));

  program
    .command('compare')
    .description('compare a run against a baseline with per-metric rules (exit 1 on regression)')
    .argument('<baseline>', 'baseline file or run directory')
    .argument('<current>', 'run directory or results.json')
    .option('--rules <file>', 'rules config (JSON/YAML); defaults shipped')
    .option('--out <dir>', 'where to write gate.md, gate-junit.xml and gate.html')
    .option('--html <file>', 'also write the comparison as a self-contained HTML page to this file')
    .action(async (b, c, opts) => (await import('./commands/compare.ts')).compareCommand(b, c, opts));

  const baseline = program.command('baseline').description('manage gate baselines');
  baseline
    .command('save')
    .description('save a run as a baseline file')
    .argument('<run-dir>', 'run directory')
    .option('--out <file>', 'baseline file', 'cachebench-baseline.json')
    .action(async (dir, opts) => (await import('./commands/compare.ts')).baselineSaveCommand(dir, opts));

  program
    .command('doctor')
    .description('check every dependency: version and path, or the exact fix')
    .action(async () => (await import('./commands/doctor.ts')).doctorCommand());

  program
    .command('up')
    .description('start Redis, PostgreSQL and Toxiproxy and print their URLs until Ctrl-C')
    .addOption(infraOption().choices(['local', 'containers', 'auto']))
    .option('--redis-port <port>', 'fixed Redis port', intArg('--redis-port', 1, 65535))
    .option('--postgres-port <port>', 'fixed PostgreSQL port', intArg('--postgres-port', 1, 65535))
    .option('--toxiproxy-port <port>', 'fixed Toxiproxy API port', intArg('--toxiproxy-port', 1, 65535))
    .option('--json', 'print the URLs as one JSON line')
    .action(async (opts) => (await import('./commands/up.ts')).upCommand(opts));

  program
    .command('list')
    .description('list scenarios, strategies and profiles')
    .action(async () => (await import('./commands/list.ts')).listCommand());

  declareCheckStrategyCommand(program);

  program
    .command('init')
    .description('scaffold a scenario, a strategy module and a CI workflow that runs the gate')
    .argument('[dir]', 'directory to write into (created if missing)', '.')
    .action(async (dir) => (await import('./commands/init.ts')).initCommand(dir));

  addExamples(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; every parse error is a usage error (exit 2).
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      return 2;
    }
    if (e instanceof CachebenchError) {
      process.stderr.write(`cachebench: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`cachebench: internal error: ${(e as Error)?.stack ?? e}\n`);
    return 1;
  }
}

// import.meta.main only exists from Node 24.2; engines allow 22.22.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const code = await main(process.argv);
  const { interruptedBy, runCleanups, signalExitCode } = await import('./infra/cleanup.ts');
  await runCleanups();
  const sig = interruptedBy();
  process.exit(sig ? signalExitCode(sig) : code);
}
