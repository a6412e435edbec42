/**
 * How the bench commands run cachebench: `cachebench run … --no-reports` as a child process from
 * the repository root, timed from outside (a run's own clock would be the thing measured).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '../..');
export const cli = path.join(root, 'harness/cli.ts');

export interface CachebenchRun {
  status: number | null;
  stderr: string;
  seconds: number;
}

/** `args` follow `run`; reports are never rendered (the bench reads results.json). */
export function runCachebench(args: string[]): CachebenchRun {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, 'run', ...args, '--no-reports'], {
    encoding: 'utf8',
    cwd: root,
  });
  return { status: r.status, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}
