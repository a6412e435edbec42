/**
 * Bad input never costs a result and never prints a stack trace: every case a user (or a typo)
 * produced is one line naming the field, the value and what is allowed, with exit 2, and the
 * files next to it are untouched. Run directories are cachebench's own (marker, lock, --force).
 * No infra is started here: every case fails before provisioning.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  claimRunDir,
  RUN_LOCK,
  RUN_MARKER,
  readResults,
  writeFilesAtomic,
} from '../harness/pipeline/results-store.ts';
import { LIMITS } from '../scenarios/schema.ts';
import { startTarget } from '../target/instance.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');
const TINY = fs.readFileSync(path.resolve(import.meta.dirname, 'fixtures/tiny.yaml'), 'utf8');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-safety-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

/** A scenario like the tiny fixture with `patch` applied to its text. */
function scenario(name: string, patch: (t: string) => string): string {
  return file(`${name}.yaml`, patch(TINY));
}

function expectUsage(r: ReturnType<typeof cli>, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^cachebench: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const RESULTS = {
  schemaVersion: 1,
  run: {
    id: 'x',
    startedAt: 0,
    command: 'c',
    profile: 'quick',
    seed: 1,
    repeats: 1,
    instances: 1,
    infra: 'local',
    driver: 'builtin',
    scenarios: [],
    strategies: [],
    baselineStrategy: 'no-cache',
    environment: {},
  },
  cells: [] as unknown[],
  warnings: [],
};

function runDir(name: string, cells: unknown[]): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'results.json'), JSON.stringify({ ...RESULTS, cells }));
  return d;
}

describe('scenario limits and strictness (exit 2, one line)', () => {
  const run = (scn: string) =>
    cli(['run', '--scenarios', scn, '--strategies', 'cache-aside', '--out', path.join(dir, 'never')]);

  it('rate: 1e12 is refused with the bound', () => {
    const r = run(scenario('rate', (t) => t.replace('rate: 100', 'rate: 1e12')));
    expectUsage(
      r,
      /load\.phases\[0\]\.rate: expected a number from 0 to 50000 requests\/s, got 1000000000000/,
    );
  });

  it('planned arrivals per cell are bounded', () => {
    const r = run(
      scenario('arrivals', (t) => t.replace('{ duration: 3s, rate: 100 }', '{ duration: 1h, rate: 50000 }')),
    );
    expectUsage(r, /load\.phases: expected at most 2000000 planned arrivals per cell/);
  });

  it('data sizes are bounded', () => {
    const r = run(scenario('data', (t) => t.replace('users: 200', 'users: 100000000')));
    expectUsage(r, /data\.users: expected an integer from 1 to 1000000, got 100000000/);
  });

  it('a 50 MB scenario file is refused before it is read', () => {
    const p = path.join(dir, 'big.yaml');
    fs.writeFileSync(p, `${TINY}# ${'x'.repeat(50 * 1024 * 1024)}\n`);
    expectUsage(
      run(p),
      new RegExp(`big\\.yaml: \\d+ bytes is too large .*at most ${LIMITS.fileBytes} bytes`),
    );
  });

  it('a YAML alias bomb is refused', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    expectUsage(
      run(file('bomb.yaml', `${lines.join('\n')}\n${TINY}`)),
      /bomb\.yaml: YAML: Excessive alias count.*at most 100/,
    );
  });

  it('cache: { ttlMS } (typo) is refused with a did-you-mean', () => {
    const r = run(scenario('ttl-typo', (t) => t.replace('cache: { ttlMs: 5s }', 'cache: { ttlMS: 1000 }')));
    expectUsage(
      r,
      /cache\.ttlMS: not an option of any strategy \(did you mean "ttlMs"\?\) \(allowed: .*ttlMs/,
    );
  });

  it('cache: { constructor: 1 } is refused (own properties only)', () => {
    const r = run(scenario('ctor', (t) => t.replace('cache: { ttlMs: 5s }', 'cache: { constructor: 1 }')));
    expectUsage(r, /cache\.constructor: not an option of any strategy/);
  });

  it('strategy options: a typo gets a did-you-mean, inherited names are not options', async () => {
    const base = {
      redisUrl: 'redis://127.0.0.1:1',
      postgresUrl: 'postgres://u@127.0.0.1:1/db',
      strategy: 'cache-aside',
    };
    await expect(startTarget({ ...base, strategyOptions: { ttlMS: 1000 } })).rejects.toThrow(
      /strategy option "ttlMS" is not an option of 'cache-aside' \(did you mean "ttlMs"\?\)/,
    );
    await expect(startTarget({ ...base, strategyOptions: { constructor: 1 } })).rejects.toThrow(
      /strategy option "constructor" is not an option of 'cache-aside'/,
    );
  });

  it('a plugin whose import never settles is refused after the import timeout', () => {
    const plugin = file('hang.ts', 'await new Promise(() => {});\nexport default {};\n');
    const r = cli([
      'run',
      '--scenarios',
      'hot-key',
      '--strategies',
      plugin,
      '--out',
      path.join(dir, 'never'),
    ]);
    expectUsage(r, /--strategies: .*hang\.ts: import did not settle within 10000 ms/);
  }, 30_000);
});

describe('--out is never someone else’s directory', () => {
  const run = (out: string, extra: string[] = []) =>
    cli(['run', '--scenarios', 'hot-key', '--strategies', 'cache-aside', '--out', out, ...extra]);

  it('--out naming a file', () => {
    const p = file('a-file', 'mine\n');
    expectUsage(run(p), /--out: .*a-file is a file/);
    expect(fs.readFileSync(p, 'utf8')).toBe('mine\n');
  });

  it('--out an unrelated non-empty directory: nothing touched', () => {
    const d = path.join(dir, 'unrelated');
    file('unrelated/results.json', '{"mine":1}');
    file('unrelated/report.html', 'keep');
    expectUsage(
      run(d),
      /--out: .*unrelated is not empty and not a cachebench run directory .*nothing was touched/,
    );
    expectUsage(run(d, ['--force']), /not a cachebench run directory/);
    expect(fs.readdirSync(d).sort()).toEqual(['report.html', 'results.json']);
    expect(fs.readFileSync(path.join(d, 'results.json'), 'utf8')).toBe('{"mine":1}');
  });

  it('--out an existing run without --resume/--force', () => {
    const d = runDir('existing-run', []);
    fs.writeFileSync(path.join(d, RUN_MARKER), '{}');
    const before = fs.readFileSync(path.join(d, 'results.json'), 'utf8');
    expectUsage(run(d), /already holds a cachebench run; nothing was touched \(allowed: --resume .* --force/);
    expect(fs.readFileSync(path.join(d, 'results.json'), 'utf8')).toBe(before);
  });
});

describe('run directory claims', () => {
  it('one holder at a time; the second is refused naming the holder pid', () => {
    const d = path.join(dir, 'claim');
    const release = claimRunDir(d, 'new');
    expect(fs.existsSync(path.join(d, RUN_MARKER))).toBe(true);
    expect(() => claimRunDir(d, 'force')).toThrow(
      new RegExp(`in use by another cachebench run \\(pid ${process.pid}\\)`),
    );
    release();
    expect(fs.existsSync(path.join(d, RUN_LOCK))).toBe(false);
    // Released: an existing run now needs --resume or --force.
    expect(() => claimRunDir(d, 'new')).toThrow(/already holds a cachebench run/);
  });

  it('a lock left by a dead process is taken over; stray temp files go; --force replaces whole', () => {
    const d = runDir('stale', []);
    fs.writeFileSync(path.join(d, RUN_MARKER), '{}');
    fs.mkdirSync(path.join(d, 'cells', 'old'), { recursive: true });
    fs.writeFileSync(path.join(d, 'results.json.4242.tmp'), 'half');
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(path.join(d, RUN_LOCK), JSON.stringify({ pid: dead, start: 1 }));
    const release = claimRunDir(d, 'resume');
    expect(fs.existsSync(path.join(d, 'results.json.4242.tmp'))).toBe(false);
    expect(fs.existsSync(path.join(d, 'results.json'))).toBe(true);
    release();
    const release2 = claimRunDir(d, 'force');
    expect(fs.readdirSync(d).sort()).toEqual([RUN_MARKER, RUN_LOCK].sort());
    release2();
  });

  it('atomic writes leave no temp file and replace content whole', () => {
    const p = path.join(dir, 'atomic.txt');
    writeFilesAtomic([{ path: p, data: 'one' }]);
    writeFilesAtomic([{ path: p, data: 'two' }]);
    expect(fs.readFileSync(p, 'utf8')).toBe('two');
    expect(fs.readdirSync(dir).filter((f) => f.includes('atomic') && f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('result and baseline files are checked before use', () => {
  it('report on results with {} cells', () => {
    expectUsage(
      cli(['report', runDir('empty-cells', [{}])]),
      /cells\[0\]\.id: expected a string, got nothing/,
    );
  });

  it('report on results with a null analysis', () => {
    const cell = {
      id: 'a/b/1',
      scenario: 'a',
      strategy: 'b',
      repeat: 1,
      status: 'ok',
      load: {},
      series: {},
      target: {},
      scenario_spec: {},
      faults: [],
      analysis: null,
    };
    expectUsage(
      cli(['report', runDir('null-analysis', [cell])]),
      /cells\[0\]\.analysis: expected the analysis object/,
    );
    expect(() => readResults(path.join(dir, 'null-analysis'))).toThrow(/analysis/);
  });

  it('compare with a baseline without groups', () => {
    const b = file(
      'no-groups.json',
      JSON.stringify({ format: 'cachebench-baseline', version: 1, source: {} }),
    );
    expectUsage(cli(['compare', b, runDir('cur', [])]), /no-groups\.json: groups: expected a mapping/);
  });

  it('baseline save --out a directory, or into a missing directory', () => {
    const run = runDir('for-baseline', []);
    expectUsage(cli(['baseline', 'save', run, '--out', dir]), /--out: .* is a directory/);
    expectUsage(
      cli(['baseline', 'save', run, '--out', path.join(dir, 'missing', 'b.json')]),
      /--out: .*missing\/b\.json: directory .*missing does not exist/,
    );
  });
});
