/**
 * Infrastructure health and run outcome, against real processes: each component the harness
 * started is killed mid-cell (outside any planned fault) by PID; the cell must fail naming the
 * component, the signal and the time, the run must exit 1 listing the failed cell, and nothing
 * may be left running.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResults } from '../harness/results/schema.ts';
import { newTag, processesWithTag } from './helpers/proc.ts';
import { expectCompletedRun } from './helpers/run-outcome.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');
const STEADY = path.resolve(import.meta.dirname, 'fixtures/steady-tiny.yaml');

function procInfo(pid: number): { comm: string; ppid: number; cmdline: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return { comm, ppid, cmdline };
  } catch {
    return undefined;
  }
}

function historyStarted(dir: string): boolean {
  try {
    return fs.readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith('history.ndjson'));
  } catch {
    return false;
  }
}

/** Runs the CLI, kills the process `pick` selects once the first cell's load runs. */
async function runAndKill(
  pick: (pids: number[], cliPid: number) => number | undefined,
  extraArgs: string[] = [],
): Promise<{ code: number | null; stderr: string; results: RunResults; killed: number }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-health-'));
  const tag = newTag();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--scenarios',
      STEADY,
      '--strategies',
      'cache-aside',
      '--out',
      out,
      '--no-reports',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CACHEBENCH_TEST_TAG: tag } },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const deadline = Date.now() + 90_000;
  while (!historyStarted(out)) {
    if (Date.now() > deadline) throw new Error(`the load never started:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const victim = pick(processesWithTag(tag), child.pid!);
  if (victim === undefined) throw new Error(`no process to kill among ${processesWithTag(tag).join(', ')}`);
  process.kill(victim, 'SIGKILL');
  const code = await exited;
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as RunResults;
  // Nothing this run started is still alive (orphaned PostgreSQL backends notice within a moment).
  const until = Date.now() + 5_000;
  while (processesWithTag(tag).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  expect(processesWithTag(tag)).toEqual([]);
  fs.rmSync(out, { recursive: true, force: true });
  return { code, stderr, results, killed: victim };
}

/** A direct child of the CLI by name (redis-server rewrites its environ, so no tag scan). */
const byComm = (comm: string) => (_pids: number[], cli: number) =>
  fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .find((p) => {
      const i = procInfo(p);
      return i?.comm === comm && i.ppid === cli;
    });

function expectFailed(r: Awaited<ReturnType<typeof runAndKill>>, component: RegExp): string {
  expect(r.code, r.stderr).toBe(1);
  expect(r.results.cells.filter((c) => c.status === 'ok')).toEqual([]);
  const line = r.stderr.split('\n').find((l) => l.startsWith('✘ steady-tiny/cache-aside/1: '));
  expect(line, r.stderr).toBeDefined();
  expect(line).toMatch(component);
  expect(line).toMatch(/exited \(SIGKILL\) at \+\d+\.\d s/);
  expect(r.stderr).toMatch(/\n1 cell\(s\) failed:\n/);
  expect(r.results.warnings.some((w) => w.startsWith('steady-tiny/cache-aside/1 failed: '))).toBe(true);
  process.stderr.write(`[evidence] ${line} → exit ${r.code}\n`);
  return line!;
}

describe('a component killed mid-cell fails the cell, names it, and the run exits 1', () => {
  it('toxiproxy-server', async () => {
    expectFailed(await runAndKill(byComm('toxiproxy-serve')), /toxiproxy-server exited/);
  }, 120_000);

  it('redis-server (outside a planned fault)', async () => {
    expectFailed(await runAndKill(byComm('redis-server')), /redis-server exited/);
  }, 120_000);

  it('postgres', async () => {
    expectFailed(await runAndKill(byComm('postgres')), /postgres exited/);
  }, 120_000);

  it('one target instance of two', async () => {
    const r = await runAndKill(
      (pids) => pids.find((p) => procInfo(p)?.cmdline.includes('--instance-id target-2')),
      ['--instances', '2'],
    );
    expectFailed(r, /target instance target-2 exited/);
  }, 120_000);
});

describe('run outcome', () => {
  it('every cell failed → exit 1 with one line per cell; a successful --resume clears the failures', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-outcome-'));
    const strategy = `refusing=${path.resolve(import.meta.dirname, 'fixtures/refusing-strategy.ts')}`;
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
        let stderr = '';
        c.stderr!.on('data', (d) => (stderr += d));
        c.once('exit', (code) => resolve({ code, stderr }));
      });
    const read = () => JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as RunResults;

    const failed = await run(
      [
        'run',
        '--scenarios',
        `${STEADY},${path.resolve(import.meta.dirname, 'fixtures/tiny.yaml')}`,
        '--strategies',
        strategy,
        '--out',
        out,
      ],
      { ...process.env, CACHEBENCH_TEST_REFUSE: '1' },
    );
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(
      /\n2 cell\(s\) failed:\n✘ steady-tiny\/refusing\/1: .*create\(\) refused.*\n✘ tiny\/refusing\/1: .*create\(\) refused/,
    );
    process.stderr.write(
      `[evidence] every cell failed: exit ${failed.code}\n${failed.stderr.slice(failed.stderr.indexOf('2 cell(s) failed'))}`,
    );
    expect(read().cells).toEqual([]);
    expect(read().warnings.filter((w) => / failed: /.test(w))).toHaveLength(2);

    const { CACHEBENCH_TEST_REFUSE: _, ...env } = process.env;
    const resumed = await run(['run', '--resume', out], env);
    expectCompletedRun(resumed.code, resumed.stderr);
    const after = read();
    expect(after.cells.map((c) => c.status)).toEqual(['ok', 'ok']);
    expect(after.warnings.filter((w) => / failed: /.test(w))).toEqual([]);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).not.toContain('refused');
    fs.rmSync(out, { recursive: true, force: true });
  }, 150_000);
});

describe('container health (pure)', () => {
  it('reads a container exit code as the signal when it is 128 + n', async () => {
    const { containerExitDescription } = await import('../harness/infra/container-health.ts');
    expect(containerExitDescription(137, false)).toBe('SIGKILL');
    expect(containerExitDescription(143, false)).toBe('SIGTERM');
    expect(containerExitDescription(1, false)).toBe('code 1');
    expect(containerExitDescription(137, true)).toBe('OOM-killed');
  });
});

describe('process faults the provisioner cannot run', () => {
  it('--infra external with a Redis restart: one line naming the fault and what is allowed, exit 2', () => {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'run',
        '--scenarios',
        'counter-restart',
        '--strategies',
        'write-behind',
        '--infra',
        'external',
        '--redis-url',
        'redis://127.0.0.1:1',
        '--postgres-url',
        'postgres://x@127.0.0.1:1/x',
        '--toxiproxy-url',
        'http://127.0.0.1:1',
        '--out',
        path.join(os.tmpdir(), `cb-ext-${process.pid}`),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /faults: process: "redis-restart" needs a provisioner that started redis itself \(allowed with --infra local/,
    );
  });
});
