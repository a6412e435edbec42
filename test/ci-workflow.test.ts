/** The GitHub Actions example in docs/ci: valid workflow syntax, and it uses the README's commands. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const WORKFLOW = path.resolve(import.meta.dirname, '../docs/ci/cachebench-gate.yml');

describe('docs/ci/cachebench-gate.yml', () => {
  const text = fs.readFileSync(WORKFLOW, 'utf8');
  const wf = YAML.parse(text) as {
    jobs: Record<string, { steps: { run?: string; uses?: string; with?: Record<string, unknown> }[] }>;
  };
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);

  it('runs the README test command and gates with --baseline', () => {
    const runs = steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('npm test');
    expect(runs).toMatch(/cachebench -- run[\s\S]*--baseline /);
  });

  it('writes the Markdown to the step summary and uploads the HTML report', () => {
    expect(steps.some((s) => s.run?.includes('GITHUB_STEP_SUMMARY') && s.run.includes('report.md'))).toBe(
      true,
    );
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(String(upload?.with?.path)).toContain('report.html');
  });

  it('passes actionlint', (ctx) => {
    const bin = process.env.ACTIONLINT_BIN;
    if (!bin) {
      console.warn('actionlint not built (no Go toolchain?): syntax check skipped');
      ctx.skip();
    }
    const r = spawnSync(bin!, [WORKFLOW], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
