/**
 * `cachebench init`: the scaffold runs as written (a real quick run against real Redis,
 * PostgreSQL and Toxiproxy), validates against the shipped JSON Schema, and init never overwrites.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RUN_COMMAND, SCENARIO_FILE, STRATEGY_FILE, WORKFLOW_FILE } from '../harness/commands/init.ts';
import { expectCompletedRun } from './helpers/run-outcome.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'harness/cli.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-init-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], cwd: string, timeout = 30_000) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout });
}

describe('cachebench init', () => {
  const project = path.join(tmp, 'project');

  it('writes the three files and says how to run them', () => {
    fs.mkdirSync(project);
    const r = cli(['init'], project);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const f of [SCENARIO_FILE, STRATEGY_FILE, WORKFLOW_FILE]) {
      expect(fs.existsSync(path.join(project, f))).toBe(true);
      expect(r.stdout).toContain(`wrote ${f}`);
    }
    expect(r.stdout).toContain(`npx ${RUN_COMMAND}`);
  });

  it('the scenario points at the shipped schema and validates against it', () => {
    const text = fs.readFileSync(path.join(project, SCENARIO_FILE), 'utf8');
    const m = /^# yaml-language-server: \$schema=(.+)$/.exec(text.split('\n')[0]!);
    expect(m).not.toBeNull();
    const schemaFile = path.resolve(project, m![1]!);
    expect(schemaFile).toBe(path.join(ROOT, 'scenarios/scenario.schema.json'));
    const validate = new Ajv2020({ allErrors: true, strict: false }).compile(
      JSON.parse(fs.readFileSync(schemaFile, 'utf8')),
    );
    expect(validate(parse(text))).toBe(true);
  });

  it('the workflow runs the gate against a committed baseline', () => {
    const wf = parse(fs.readFileSync(path.join(project, WORKFLOW_FILE), 'utf8'));
    const runs = wf.jobs.gate.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    expect(runs).toContain('--baseline cachebench-baseline.json');
    expect(runs).toContain(`--strategies mine=./${STRATEGY_FILE}`);
    const actionlint = process.env.ACTIONLINT_BIN;
    if (actionlint) {
      const lint = spawnSync(actionlint, [path.join(project, WORKFLOW_FILE)], { encoding: 'utf8' });
      expect(lint.stdout + lint.stderr).toBe('');
      expect(lint.status).toBe(0);
    }
  });

  it('refuses to overwrite: exit 2, one line, nothing written', () => {
    const other = path.join(tmp, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, STRATEGY_FILE), '// mine\n');
    const r = cli(['init', other], tmp);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`other/${STRATEGY_FILE} already exists; init never overwrites`);
    expect(fs.readFileSync(path.join(other, STRATEGY_FILE), 'utf8')).toBe('// mine\n');
    expect(fs.readdirSync(other)).toEqual([STRATEGY_FILE]);
  });

  it('a file as the directory: exit 2, one line', () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, '');
    const r = cli(['init', file], tmp);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `cachebench: init: "${file}" is a file (allowed: a directory, new or existing)`,
    );
  });

  it('the scaffold runs as written: the printed run command succeeds', () => {
    // As after `npm i -D cachebench`: the strategy module imports 'cachebench/strategies'.
    fs.mkdirSync(path.join(project, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(project, 'node_modules/cachebench'), 'dir');
    const args = RUN_COMMAND.split(' ').slice(1);
    const r = cli([...args, '--out', path.join(tmp, 'run')], project, 170_000);
    // Budgets the scaffold's hot-key scenario sets are findings here (--no-fail-on-budgets); no cell may fail.
    expect(r.stderr).not.toMatch(/cell\(s\) failed|✘ \[/);
    expectCompletedRun(r.status, r.stderr);
    const results = JSON.parse(fs.readFileSync(path.join(tmp, 'run/results.json'), 'utf8'));
    type Cell = {
      scenario: string;
      strategy: string;
      status: string;
      strategySpec?: string;
      rebuilds: unknown[];
    };
    const cells = (results.cells as Cell[]).map((c) => `${c.scenario} ${c.strategy} ${c.status}`);
    expect(cells.sort()).toEqual(['my-scenario cache-aside ok', 'my-scenario mine ok']);
    // The user's module is what ran under the label, and it rebuilt the expiring hot key.
    const mine = (results.cells as Cell[]).find((c) => c.strategy === 'mine')!;
    expect(mine.strategySpec).toBe(`./${STRATEGY_FILE}`);
    expect(mine.rebuilds.length).toBeGreaterThan(0);
  }, 180_000);
});
