/**
 * The composite action (action.yml) end to end in a scratch user repository. GitHub is not
 * reachable here, so its `run:` steps are executed in order with bash, as the runner would: inputs
 * and the few `${{ … }}` expressions it uses substituted, `if:` evaluated for always()/inputs,
 * GITHUB_STEP_SUMMARY/GITHUB_OUTPUT/GITHUB_PATH pointing at temp files. `uses:` steps (setup-node,
 * setup-go, cache, JUnit publishing, artifact upload) are GitHub's and are skipped; the tool install
 * step is skipped with `install-tools: "false"` (this machine has the tools, and no sudo/apt).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-action-'));
const repo = path.join(tmp, 'user-repo');

interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface ActionYml {
  inputs: Record<string, { default?: string; required?: boolean }>;
  runs: { using: string; steps: Step[] };
}
const action = YAML.parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

/** `${{ inputs.x }}`, `${{ runner.os }}` … — the expressions action.yml uses; anything else fails. */
function expand(text: string, inputs: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    const m = /^inputs\.([\w-]+)$/.exec(expr);
    if (m) return inputs[m[1]!] ?? '';
    throw new Error(`action.yml: expression not emulated: ${expr}`);
  });
}

/** `if:` as the runner reads it, for the forms action.yml uses: always(), inputs.x == 'v', &&. */
function condition(expr: string | undefined, inputs: Record<string, string>, failed: boolean): boolean {
  if (expr === undefined) return !failed;
  const parts = expr.split('&&').map((p) => p.trim());
  let always = false;
  for (const p of parts) {
    if (p === 'always()') always = true;
    else {
      const m = /^inputs\.([\w-]+) == '([^']*)'$/.exec(p);
      if (!m) throw new Error(`action.yml: condition not emulated: ${p}`);
      if ((inputs[m[1]!] ?? '') !== m[2]) return false;
    }
  }
  return always || !failed;
}

interface ActionRun {
  code: number;
  ran: string[];
  skipped: string[];
  output: string;
  summary: string;
  outputs: Record<string, string>;
}

function runAction(given: Record<string, string>, env: NodeJS.ProcessEnv): ActionRun {
  const inputs: Record<string, string> = {};
  for (const [k, def] of Object.entries(action.inputs)) inputs[k] = given[k] ?? def.default ?? '';
  const files = fs.mkdtempSync(path.join(tmp, 'gh-'));
  const summaryFile = path.join(files, 'step-summary.md');
  const outputFile = path.join(files, 'output');
  fs.writeFileSync(summaryFile, '');
  fs.writeFileSync(outputFile, '');
  fs.writeFileSync(path.join(files, 'path'), '');
  let code = 0;
  const ran: string[] = [];
  const skipped: string[] = [];
  let output = '';
  for (const [i, step] of action.runs.steps.entries()) {
    const label = step.name ?? step.uses ?? `step ${i}`;
    if (step.uses || !condition(step.if, inputs, code !== 0)) {
      skipped.push(label);
      continue;
    }
    const stepEnv: NodeJS.ProcessEnv = {
      ...env,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_OUTPUT: outputFile,
      GITHUB_PATH: path.join(files, 'path'),
      GITHUB_ACTIONS: 'true',
    };
    for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = expand(v, inputs);
    // The runner's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`.
    const r = spawnSync(
      'bash',
      ['--noprofile', '--norc', '-eo', 'pipefail', '-c', expand(step.run!, inputs)],
      {
        cwd: repo,
        env: stepEnv,
        encoding: 'utf8',
        timeout: 150_000,
      },
    );
    ran.push(label);
    output += `--- ${label}\n${r.stdout}${r.stderr}`;
    if (r.status !== 0 && code === 0) code = r.status ?? 1;
  }
  const outputs = Object.fromEntries(
    fs
      .readFileSync(outputFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { code, ran, skipped, output, summary: fs.readFileSync(summaryFile, 'utf8'), outputs };
}

/** The broken strategy a user's change could introduce: writes never delete the cached value. */
const NEVER_INVALIDATES = `import { loadStrategyModule } from 'cachebench/strategies';

const cacheAside = await loadStrategyModule('cache-aside');

export default {
  name: 'never-invalidates',
  summary: 'cache-aside without the DEL on write (broken on purpose)',
  defaults: cacheAside.defaults,
  create(ctx) {
    const base = cacheAside.create(ctx);
    return {
      name: 'never-invalidates',
      read: (req) => base.read(req),
      write: (req) => req.write(),
      increment: (req) => base.increment(req),
      readCounter: (req) => base.readCounter(req),
      close: () => base.close?.() ?? Promise.resolve(),
    };
  },
};
`;

const MATRIX = { scenarios: 'write-race', profile: 'quick', repeats: '1' };
let tarball = '';
const env: NodeJS.ProcessEnv = { ...process.env };

beforeAll(() => {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8' }),
  )[0];
  tarball = path.join(tmp, packed.filename);
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'package.json'), '{"name":"user-app","private":true,"type":"module"}\n');
  fs.writeFileSync(path.join(repo, '.gitignore'), 'node_modules/\nruns/\n');
  fs.writeFileSync(path.join(repo, 'never-invalidates.ts'), NEVER_INVALIDATES);
  // The baseline, made as docs/ci/README.md says: the package, the same matrix, baseline save.
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    cwd: repo,
    stdio: 'ignore',
  });
  const bin = path.join(repo, 'node_modules/.bin/cachebench');
  const run = spawnSync(
    bin,
    [
      'run',
      '--scenarios',
      MATRIX.scenarios,
      '--strategies',
      'cache-aside',
      '--profile',
      MATRIX.profile,
      '--out',
      'runs/baseline',
    ],
    { cwd: repo, env, encoding: 'utf8', timeout: 150_000 },
  );
  // Budgets or machine load may flag the run (exit 3 / 1); the baseline records what was measured.
  expect(fs.existsSync(path.join(repo, 'runs/baseline/results.json')), run.stderr).toBe(true);
  execFileSync(bin, ['baseline', 'save', 'runs/baseline', '--out', 'cachebench-baseline.json'], {
    cwd: repo,
    env,
    stdio: 'ignore',
  });
  git('add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', 'baseline');
}, 300_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const inputs = (strategies: string, out: string) => ({
  ...MATRIX,
  strategies,
  out,
  tarball,
  'install-tools': 'false',
  'fail-on-budgets': 'false',
});

function junitTimes(file: string): number[] {
  return [...fs.readFileSync(file, 'utf8').matchAll(/<testcase [^>]*time="([\d.]+)"/g)].map((m) =>
    Number(m[1]),
  );
}

describe('action.yml in a scratch repository', () => {
  it('is a composite action whose run steps are all bash', () => {
    expect(action.runs.using).toBe('composite');
    for (const s of action.runs.steps) if (s.run) expect((s as { shell?: string }).shell).toBe('bash');
  });

  it('same vs same: the gate passes, JUnit has real times, the summary holds the verdict once', () => {
    const r = runAction(inputs('cache-aside', 'runs/same'), env);
    expect(r.skipped).toContain('Install Redis, PostgreSQL and Toxiproxy');
    expect(r.ran).toEqual(['Install cachebench', 'Gate run', 'Step summary']);
    const gate = fs.readFileSync(path.join(repo, 'runs/same/gate.md'), 'utf8');
    expect(gate, r.output).toMatch(/^## cachebench gate: ✅ pass/);
    // Exit 1 is allowed only when a cell was flagged untrusted by machine load, never a regression.
    if (r.code === 1) expect(r.output).toMatch(/\d+ cell\(s\), 0 failed, [1-9]\d* untrusted/);
    else expect(r.code, r.output).toBe(0);
    expect(r.outputs['exit-code']).toBe(String(r.code));
    expect(r.summary.match(/## cachebench gate/g)).toHaveLength(1);
    expect(r.summary).toBe(gate + fs.readFileSync(path.join(repo, 'runs/same/report.md'), 'utf8'));
    console.log(
      `same vs same: exit ${r.code}; ran ${r.ran.join(', ')}; skipped ${r.skipped.join(', ')}; summary: ${r.summary.split('\n')[0]} (gate verdicts in summary: ${r.summary.match(/## cachebench gate/g)?.length}); junit.xml times ${junitTimes(path.join(repo, 'runs/same/junit.xml'))}; gate-junit.xml times ${junitTimes(path.join(repo, 'runs/same/gate-junit.xml'))}`,
    );
    for (const f of ['junit.xml', 'gate-junit.xml']) {
      const times = junitTimes(path.join(repo, 'runs/same', f));
      expect(times.length, f).toBeGreaterThan(0);
      for (const t of times) expect(t, f).toBeGreaterThan(1);
    }
  }, 200_000);

  it('a strategy that never invalidates, labelled as the baseline one: exit 1, regression in the summary once', () => {
    const r = runAction(inputs('cache-aside=./never-invalidates.ts', 'runs/broken'), env);
    expect(r.code, r.output).toBe(1);
    expect(r.outputs['exit-code']).toBe('1');
    expect(r.ran).toEqual(['Install cachebench', 'Gate run', 'Step summary']);
    expect(r.summary.match(/## cachebench gate/g)).toHaveLength(1);
    expect(r.summary).toMatch(/^## cachebench gate: ❌ \d+ regressions?/);
    expect(r.summary).toMatch(/\| write-race \| cache-aside \| stale/);
    const gateJunit = fs.readFileSync(path.join(repo, 'runs/broken/gate-junit.xml'), 'utf8');
    console.log(
      `never-invalidates as cache-aside: exit ${r.code}; summary: ${r.summary.split('\n')[0]} (gate verdicts in summary: ${r.summary.match(/## cachebench gate/g)?.length}); regressions: ${r.summary
        .split('\n')
        .filter((l) => l.startsWith('| write-race'))
        .slice(0, 3)
        .join(' / ')}; gate-junit.xml: ${/<testsuite [^>]*>/.exec(gateJunit)?.[0]}`,
    );
    expect(gateJunit).toMatch(/<failure /);
    expect(gateJunit).toMatch(/<testsuite [^>]*time="[1-9][\d.]*"/);
    for (const t of junitTimes(path.join(repo, 'runs/broken/gate-junit.xml'))) expect(t).toBeGreaterThan(1);
  }, 200_000);
});
