/**
 * The CI a user copies: docs/ci/cachebench-gate.yml uses the composite action (action.yml), and
 * both pass actionlint. actionlint checks an action's metadata only through a workflow that uses
 * it locally, so a scratch repository gets action.yml at its root and a workflow with `uses: ./`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORKFLOW = path.join(ROOT, 'docs/ci/cachebench-gate.yml');
const ACTION = path.join(ROOT, 'action.yml');

interface Step {
  run?: string;
  uses?: string;
  if?: string;
  with?: Record<string, unknown>;
}
const wf = YAML.parse(fs.readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
const action = YAML.parse(fs.readFileSync(ACTION, 'utf8')) as {
  inputs: Record<string, unknown>;
  runs: { steps: (Step & { name?: string })[] };
};

function actionlint(ctx: { skip: () => void }, files: string[], cwd?: string) {
  const bin = process.env.ACTIONLINT_BIN;
  if (!bin) {
    console.warn('actionlint not built (no Go toolchain?): syntax check skipped');
    ctx.skip();
  }
  return spawnSync(bin!, files, { encoding: 'utf8', cwd });
}

describe('docs/ci/cachebench-gate.yml', () => {
  it('uses the action with inputs it declares, and runs nothing of cachebench’s own', () => {
    const gate = steps.find((s) => s.uses?.startsWith('cachebench/cachebench@'));
    expect(gate).toBeDefined();
    for (const k of Object.keys(gate!.with ?? {})) expect(Object.keys(action.inputs)).toContain(k);
    expect(gate!.with?.baseline).toBe('cachebench-baseline.json');
    expect(steps.map((s) => s.run ?? '').join('\n')).not.toContain('npm test');
  });

  it('passes actionlint', (ctx) => {
    const r = actionlint(ctx, [WORKFLOW]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('action.yml', () => {
  const runs = action.runs.steps;

  it('writes the step summary in one step, and publishes JUnit without a second summary', () => {
    expect(runs.filter((s) => s.run?.includes('GITHUB_STEP_SUMMARY'))).toHaveLength(1);
    const junit = runs.find((s) => s.uses?.startsWith('mikepenz/action-junit-report'));
    expect(junit?.with?.job_summary).toBe(false);
    expect(String(junit?.with?.report_paths)).toContain('junit.xml');
    const upload = runs.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.if).toBe('always()');
    const gate = runs.find((s) => s.run?.includes('cachebench run'));
    expect(gate?.run).toMatch(/--baseline "\$CB_BASELINE"/);
  });

  it('never puts an input expression into a script (inputs reach run: steps through env)', () => {
    for (const s of runs) expect(s.run ?? '').not.toContain('${{');
  });

  it('passes actionlint through a workflow that uses it locally', (ctx) => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-actionlint-'));
    try {
      fs.copyFileSync(ACTION, path.join(repo, 'action.yml'));
      fs.mkdirSync(path.join(repo, '.github/workflows'), { recursive: true });
      const uses = YAML.parse(fs.readFileSync(WORKFLOW, 'utf8'));
      for (const job of Object.values(uses.jobs) as { steps: Step[] }[])
        for (const s of job.steps) if (s.uses?.startsWith('cachebench/cachebench@')) s.uses = './';
      fs.writeFileSync(path.join(repo, '.github/workflows/gate.yml'), YAML.stringify(uses));
      spawnSync('git', ['init', '-q'], { cwd: repo });
      const r = actionlint(ctx, [], repo);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
      // The check is real: an input the action does not declare is reported.
      const bad = fs
        .readFileSync(path.join(repo, '.github/workflows/gate.yml'), 'utf8')
        .replace('profile: quick', 'profil: quick');
      fs.writeFileSync(path.join(repo, '.github/workflows/gate.yml'), bad);
      const r2 = actionlint(ctx, [], repo);
      expect(r2.stdout).toMatch(/input "profil" is not defined in action/);
      expect(r2.status).toBe(1);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});
