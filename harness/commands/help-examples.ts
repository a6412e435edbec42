/**
 * Examples shown at the end of every command's `--help`. Kept apart from cli.ts so adding a
 * command's examples does not touch its flags. test/help.test.ts fails for a command without any.
 */
import type { Command } from 'commander';

export const EXAMPLES: Record<string, string[]> = {
  cachebench: [
    'cachebench init                       # scaffold my-scenario.yaml, my-strategy.ts and a CI gate workflow',
    'cachebench run --scenarios hot-key --strategies cache-aside,lock --profile quick',
    'cachebench doctor                     # what is installed, or the exact command to install it',
  ],
  run: [
    'cachebench run --scenarios hot-key --strategies cache-aside,lock --profile quick',
    'cachebench run --scenarios ./my-scenario.yaml --strategies mine=./my-strategy.ts,cache-aside --profile quick',
    'cachebench run --scenarios hot-key,write-race --strategies lock,lease --repeats 3 --out runs/pr --baseline cachebench-baseline.json',
    'cachebench run --default              # the default comparison: 6 strategies × 4 scenarios (minutes)',
    'cachebench run --resume runs/2026-12-01T10-00-00   # finish an interrupted run',
  ],
  report: ['cachebench report runs/pr', 'cachebench report runs/pr --format md,junit'],
  compare: [
    'cachebench compare cachebench-baseline.json runs/pr',
    'cachebench compare runs/main runs/pr --rules gate-rules.yaml --out runs/pr',
  ],
  baseline: ['cachebench baseline save runs/main --out cachebench-baseline.json'],
  save: ['cachebench baseline save runs/main --out cachebench-baseline.json'],
  doctor: ['cachebench doctor'],
  up: ['cachebench up', 'cachebench up --json --redis-port 6380', 'cachebench up --infra containers'],
  list: ['cachebench list'],
  'check-strategy': [
    'cachebench check-strategy ./my-strategy.ts          # the contract checks, one line each',
    'cachebench check-strategy ./my-strategy.ts --infra containers',
  ],
  init: ['cachebench init', 'cachebench init bench/      # into bench/ (created if missing)'],
};

/** Appends an "Examples:" block to `cmd` and every subcommand that has examples. */
export function addExamples(cmd: Command): void {
  const lines = EXAMPLES[cmd.name()];
  if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  for (const sub of cmd.commands) addExamples(sub);
}
