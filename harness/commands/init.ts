/**
 * `cachebench init [dir]`: a scenario, a strategy module and a CI workflow that runs the gate,
 * ready to run as written. Never overwrites: when any of the files exists nothing is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { installCommand } from './doctor.ts';

const PACKAGE_ROOT = path.resolve(import.meta.dirname, '../..');
const SCHEMA_FILE = path.join(PACKAGE_ROOT, 'scenarios', 'scenario.schema.json');
/** The catalog scenario the scaffold starts from: short in a quick run, and shows stampedes. */
const TEMPLATE_SCENARIO = path.join(PACKAGE_ROOT, 'scenarios', 'catalog', 'hot-key.yaml');

export const SCENARIO_FILE = 'my-scenario.yaml';
export const STRATEGY_FILE = 'my-strategy.ts';
export const WORKFLOW_FILE = '.github/workflows/cachebench-gate.yml';
export const RUN_COMMAND = `cachebench run --scenarios ./${SCENARIO_FILE} --strategies mine=./${STRATEGY_FILE},cache-aside --profile quick --no-fail-on-budgets`;

function scenario(dir: string): string {
  const schema = path.relative(dir, SCHEMA_FILE).split(path.sep).join('/');
  const body = fs
    .readFileSync(TEMPLATE_SCENARIO, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('# yaml-language-server:'))
    .join('\n');
  return `# yaml-language-server: $schema=${schema}
# Scaffolded by \`cachebench init\` from the catalog scenario hot-key. Change the question, the load,
# the keys, the faults and the budgets; the schema line above gives your editor completion, and
# \`cachebench run --scenarios ./${SCENARIO_FILE} …\` names any field it rejects.
${body}`;
}

const STRATEGY = `/**
 * my-strategy — scaffolded by \`cachebench init\`: cache-aside with a jittered TTL and a rebuild
 * lock, declared from the same parts as the catalog strategies (\`cachebench list\` shows them).
 * Change \`parts\` to try another combination, or export your own StrategyModule
 * {name, summary, defaults, create(ctx)} (the interface is in 'cachebench/strategy').
 * Run it: npx ${RUN_COMMAND}
 */
import { defineStrategy } from 'cachebench/strategies';

export default defineStrategy({
  name: 'my-strategy',
  summary: 'cache-aside with a jittered TTL and a rebuild lock',
  parts: { ttl: 'jitter', guard: 'lock' },
});
`;

function workflow(): string {
  const toxiproxy = installCommand(
    'toxiproxy-server',
    {
      os: 'linux',
      root: false,
      has: (cmd) => cmd === 'go' || cmd === 'apt-get',
    },
    { HOME: '$HOME', XDG_CACHE_HOME: '$HOME/.cache' },
  );
  const matrix = `--scenarios ./${SCENARIO_FILE} --strategies mine=./${STRATEGY_FILE},cache-aside --profile quick --repeats 3`;
  return `# Scaffolded by \`cachebench init\`: on every pull request, run your scenario and strategy and
# gate the result against the committed baseline (exit 1 on a regression). Create the baseline
# once, on the main branch, with the same matrix, and commit cachebench-baseline.json:
#   npx cachebench run ${matrix} --out runs/baseline
#   npx cachebench baseline save runs/baseline --out cachebench-baseline.json
name: cachebench gate

on:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

jobs:
  gate:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4

      - uses: actions/setup-node@v4
        with:
          node-version: 24

      - uses: actions/setup-go@v5
        with:
          go-version: stable

      - name: Redis, PostgreSQL and Toxiproxy
        run: |
          sudo apt-get update
          sudo apt-get install -y redis-server postgresql postgresql-contrib
          ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1 >> "$GITHUB_PATH"
          ${toxiproxy}

      - run: npm ci

      - run: npx cachebench doctor

      - name: Gate run
        run: |
          if [ ! -f cachebench-baseline.json ]; then
            echo "::error::cachebench-baseline.json is missing: create it as the comment at the top of this workflow says"
            exit 1
          fi
          npx cachebench run ${matrix} --out runs/pr --baseline cachebench-baseline.json

      # This step is the step summary's one writer (as in the cachebench action, action.yml).
      - name: Report
        if: always()
        run: |
          for f in gate.md report.md; do
            if [ -f "runs/pr/$f" ]; then cat "runs/pr/$f" >> "$GITHUB_STEP_SUMMARY"; fi
          done

      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: cachebench-report
          path: runs/pr/
`;
}

export async function initCommand(dirArg: string): Promise<void> {
  const dir = path.resolve(dirArg);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new UsageError(
      'INIT_NOT_A_DIR',
      `init: "${dirArg}" is a file (allowed: a directory, new or existing)`,
    );
  }
  const files: [string, string][] = [
    [SCENARIO_FILE, scenario(dir)],
    [STRATEGY_FILE, STRATEGY],
    [WORKFLOW_FILE, workflow()],
  ];
  const taken = files.map(([f]) => path.join(dir, f)).filter((f) => fs.existsSync(f));
  if (taken.length > 0) {
    throw new UsageError(
      'INIT_EXISTS',
      `init: ${taken.map((f) => path.relative(process.cwd(), f) || f).join(', ')} already exist${taken.length === 1 ? 's' : ''}; init never overwrites (allowed: a directory without ${files.map(([f]) => f).join(', ')})`,
    );
  }
  for (const [file, text] of files) {
    const full = path.join(dir, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    // 'wx': fail rather than overwrite a file created since the check above.
    fs.writeFileSync(full, text, { flag: 'wx' });
    process.stdout.write(`wrote ${path.relative(process.cwd(), full) || full}\n`);
  }
  const cd = path.relative(process.cwd(), dir);
  process.stdout.write(
    `\nnext${cd ? ` (in ${cd}/)` : ''}:\n  npm i -D cachebench        # if it is not a dependency yet: my-strategy.ts imports it\n  npx ${RUN_COMMAND}\n`,
  );
}
