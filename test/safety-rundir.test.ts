/**
 * Two `cachebench run`s into one directory, as two users of a shared runner would start them:
 * the second exits 2 naming the first's pid and touches nothing; the first, interrupted, leaves
 * either every report or none, and no temp file.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RUN_LOCK } from '../harness/pipeline/results-store.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');
const TINY = path.resolve(import.meta.dirname, 'fixtures/tiny.yaml');
const REPORTS = ['report.html', 'report.md', 'junit.xml', 'summary.json'];

it('a second run into a held directory exits 2 naming the holder; reports are all-or-none after SIGINT', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-rundir-'));
  const args = ['run', '--scenarios', TINY, '--strategies', 'cache-aside', '--out', out];
  const first = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  first.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => first.once('exit', (c) => r(c)));
  try {
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(path.join(out, RUN_LOCK))) {
      if (Date.now() > deadline) throw new Error(`the first run never took the lock:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const second = spawnSync(process.execPath, [CLI, ...args, '--force'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(second.status, second.stderr).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`is in use by another cachebench run (pid ${first.pid})`);
    // Wait for the first cell's results, then interrupt while the run is finishing.
    while (!fs.existsSync(path.join(out, 'results.json'))) {
      if (Date.now() > deadline) throw new Error(`no results.json in time:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 3000));
    first.kill('SIGINT');
    const code = await exited;
    expect([0, 130]).toContain(code);
  } finally {
    first.kill('SIGKILL');
  }
  const files = fs.readdirSync(out);
  const written = REPORTS.filter((f) => files.includes(f));
  expect([0, REPORTS.length]).toContain(written.length);
  for (const f of written) expect(fs.statSync(path.join(out, f)).size).toBeGreaterThan(0);
  expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  expect(files).not.toContain(RUN_LOCK);
  fs.rmSync(out, { recursive: true, force: true });
}, 120_000);
