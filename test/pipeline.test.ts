/**
 * The run pipeline as a user runs it (`cachebench run` in a child process, real stack):
 * results.json per cell, faults recorded at their real times, SIGINT mid-matrix keeps finished
 * cells and leaves nothing running, `--resume` completes the run, bad names fail early.
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
const TINY = path.resolve(import.meta.dirname, 'fixtures/tiny.yaml');

function readResults(dir: string): RunResults | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunResults;
  } catch {
    return undefined;
  }
}

describe('cachebench run', () => {
  it('rejects unknown scenario and strategy names, listing the valid ones (exit 2)', () => {
    const a = spawnSync(process.execPath, [CLI, 'run', '--scenarios', 'hot-kee', '--strategies', 'lock'], {
      encoding: 'utf8',
    });
    expect(a.status).toBe(2);
    expect(a.stderr.trim().split('\n')).toHaveLength(1);
    expect(a.stderr).toMatch(/hot-kee.*hot-key/);
    const b = spawnSync(process.execPath, [CLI, 'run', '--scenarios', 'hot-key', '--strategies', 'lokc'], {
      encoding: 'utf8',
    });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/lokc.*cache-aside/);
  });

  it('SIGINT mid-matrix keeps finished cells, leaves nothing running; --resume completes', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-pipeline-'));
    const tag = newTag();
    const args = [
      CLI,
      'run',
      '--scenarios',
      TINY,
      '--strategies',
      'cache-aside,lock,no-cache',
      '--out',
      out,
      '--no-reports',
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CACHEBENCH_TEST_TAG: tag },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // Wait for the first finished cell, then interrupt during the second.
    const deadline = Date.now() + 90_000;
    while ((readResults(out)?.cells.length ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error(`no cell finished in time:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(130);
    const partial = readResults(out)!;
    expect(partial.cells.length).toBeGreaterThanOrEqual(1);
    expect(partial.cells.length).toBeLessThan(3);
    expect(partial.cells.every((c) => c.status === 'ok')).toBe(true);
    expect(partial.run.finishedAt).toBeUndefined();
    expect(stderr).toContain('--resume');
    // Nothing this run started is still alive (infra and target instances).
    await new Promise((r) => setTimeout(r, 500));
    expect(processesWithTag(tag)).toEqual([]);

    const firstIds = partial.cells.map((c) => c.id);
    const resumed = spawnSync(process.execPath, [CLI, 'run', '--resume', out, '--no-reports'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expectCompletedRun(resumed.status, resumed.stderr);
    const full = readResults(out)!;
    expect(full.cells.map((c) => c.id).sort()).toEqual([
      'tiny/cache-aside/1',
      'tiny/lock/1',
      'tiny/no-cache/1',
    ]);
    // Finished cells were kept as they were, not re-run.
    for (const id of firstIds) {
      expect(full.cells.find((c) => c.id === id)!.startedAt).toBe(
        partial.cells.find((c) => c.id === id)!.startedAt,
      );
    }
    expect(full.run.finishedAt).toBeGreaterThan(0);

    // Faults were applied and removed within 50 ms of plan, with recorded times.
    for (const c of full.cells) {
      const f = c.faults[0]!;
      expect(f.ok).toBe(true);
      expect(Math.abs(f.appliedAt! - (c.loadStartedAt + f.plannedAt))).toBeLessThan(50);
      expect(Math.abs(f.removedAt! - (c.loadStartedAt + f.plannedAt + f.plannedFor))).toBeLessThan(50);
      expect(c.analysis).toBeDefined();
      // The four parts of the cell are measured, add up to its steps, and fit in its wall time.
      const t = c.timings!;
      const p = c.phaseMs!;
      expect(t.loadMs).toBe(p.load);
      expect(t.setupMs).toBe(p['reset+seed']! + p.startTargets!);
      expect(t.warmupMs + t.collectMs).toBe(p.warm! + p.zero! + p.collect! + p.stop!);
      expect(t.loadMs).toBeGreaterThan(0);
      // endedAt is taken before the targets stop (the last step).
      expect(t.setupMs + t.warmupMs + t.loadMs + t.collectMs).toBeLessThanOrEqual(
        c.endedAt - c.startedAt + p.stop! + 5,
      );
    }
    // no-cache: one DB query per read; the pipeline's counters add up.
    const nc = full.cells.find((c) => c.strategy === 'no-cache')!;
    expect(nc.target.dbQueries).toBeGreaterThanOrEqual(nc.target.httpRequests);
    expect(nc.load.completed).toBe(nc.target.httpRequests);
    fs.rmSync(out, { recursive: true, force: true });
  }, 200_000);
});
