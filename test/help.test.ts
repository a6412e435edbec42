/** Every command's --help ends with examples; `run` without a matrix is a usage error. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../harness/cli.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe('--help', () => {
  it.each([[[]], ...commandPaths(buildProgram()).map((p) => [p])])('%j has examples', (p) => {
    const r = cli([...p, '--help']);
    expect(r.status).toBe(0);
    const examples = r.stdout.split('\nExamples:\n')[1];
    expect(examples).toBeDefined();
    expect(examples!.trim().split('\n')[0]).toMatch(new RegExp(`^\\$ cachebench ${p.join(' ')}`));
  });
});

describe('run without a matrix', () => {
  it('prints the usage and one error line, exit 2, instead of starting the default comparison', () => {
    const t0 = Date.now();
    const r = cli(['run']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: cachebench run');
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'cachebench: run: no matrix given (allowed: --scenarios and --strategies, --default, or --resume DIR)',
    );
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
