/**
 * The npm package as a user gets it: `npm pack`, install the tarball into an empty project, run
 * the bin. Dependencies come from the npm cache that `npm ci` filled (registry as a fallback).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../harness/infra/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-package-'));
const project = path.join(tmp, 'project');
const bin = path.join(project, 'node_modules/.bin/cachebench');
let files: string[] = [];

beforeAll(() => {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8' }),
  )[0];
  files = packed.files.map((f: { path: string }) => f.path);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"empty","private":true}\n');
  execFileSync(
    'npm',
    ['i', '-D', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)],
    { cwd: project, stdio: 'ignore' },
  );
}, 240_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cachebench(args: string[], env: NodeJS.ProcessEnv = process.env, node = process.execPath) {
  return spawnSync(node, [bin, ...args], { cwd: project, encoding: 'utf8', env, timeout: 60_000 });
}

/** A machine without redis-server, PostgreSQL and Toxiproxy: PATH holds only node and sh. */
function bareEnv(): NodeJS.ProcessEnv {
  const pathDir = path.join(tmp, 'bare-bin');
  fs.mkdirSync(pathDir, { recursive: true });
  for (const tool of ['sh', 'node']) {
    const target = tool === 'node' ? process.execPath : '/bin/sh';
    if (!fs.existsSync(path.join(pathDir, tool))) fs.symlinkSync(target, path.join(pathDir, tool));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathDir, CACHEBENCH_CACHE: path.join(tmp, 'cache') };
  delete env.TOXIPROXY_BIN;
  return env;
}

describe('the packed tarball', () => {
  it('holds what a run needs and nothing of the tests or benches', () => {
    for (const f of [
      'harness/bin/cachebench.js',
      'harness/bin/main.ts',
      'harness/cli.ts',
      'harness/gate/default-rules.yaml',
      'target/main.ts',
      'scenarios/catalog/hot-key.yaml',
      'scenarios/scenario.schema.json',
      'scenarios/k6/entry.ts',
      'reports/index.ts',
      'README.md',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('harness/bench/'))).toEqual([]);
    const pkg = JSON.parse(
      fs.readFileSync(path.join(project, 'node_modules/cachebench/package.json'), 'utf8'),
    );
    expect(pkg.private).toBeUndefined();
  });

  it('npx cachebench --help', () => {
    const r = spawnSync('npx', ['cachebench', '--help'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: cachebench');
    expect(r.stdout).toContain('$ cachebench init');
  });

  it('list: the catalog scenarios and strategies', () => {
    const r = cachebench(['list']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/hot-key\s+When one expensive team report is hot/);
    expect(r.stdout).toMatch(/stale-while-revalidate/);
  });

  it('doctor: every required tool found (PATH, TOXIPROXY_BIN or the tool cache)', () => {
    const r = cachebench(['doctor']);
    expect(r.stdout).toMatch(/^✔ redis-server /m);
    expect(r.stdout).toMatch(/^✔ postgres\/initdb /m);
    expect(r.stdout).toMatch(/^✔ toxiproxy-server /m);
    expect(r.status).toBe(0);
  });

  it('doctor on a machine without the tools: exit 1 and the exact install commands', () => {
    const r = cachebench(['doctor'], bareEnv());
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^✘ redis-server\s+missing — fix: \S/m);
    expect(r.stdout).toMatch(
      /^✘ toxiproxy-server\s+missing — fix: .*go install github.com\/Shopify\/toxiproxy\/v2\/cmd\/server@v2\.12\.0/m,
    );
    expect(r.stdout).toContain('3 required dependencies are missing.');
  });

  it('run on a machine without the tools: one line with the install commands, nothing started', () => {
    const env = bareEnv();
    const r = cachebench(
      ['run', '--scenarios', 'hot-key', '--strategies', 'lock', '--out', path.join(tmp, 'run')],
      env,
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^cachebench: run needs redis-server, postgres\/initdb, toxiproxy-server .*install: /,
    );
    expect(fs.existsSync(path.join(tmp, 'run'))).toBe(false);
  });

  it('--help, list and init work on a machine without the tools', () => {
    const env = bareEnv();
    expect(cachebench(['--help'], env).status).toBe(0);
    expect(cachebench(['list'], env).status).toBe(0);
    const init = cachebench(['init', path.join(tmp, 'scaffold')], env);
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    const scenario = fs.readFileSync(path.join(tmp, 'scaffold/my-scenario.yaml'), 'utf8').split('\n')[0];
    expect(scenario).toBe(
      '# yaml-language-server: $schema=../project/node_modules/cachebench/scenarios/scenario.schema.json',
    );
  });

  it('up through the installed bin, then SIGINT to the bin: exit 130, every service stopped', async () => {
    const child = spawn(process.execPath, [bin, 'up', '--json'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const info = await new Promise<{ pids: number[] }>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      child.stderr.on('data', (d) => (err += d));
      child.once('exit', (code) => reject(new Error(`up exited ${code}: ${err}`)));
    });
    expect(info.pids).toHaveLength(3);
    expect(info.pids.every(isAlive)).toBe(true);
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const deadline = Date.now() + 10_000;
    while (info.pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(info.pids.filter(isAlive)).toEqual([]);
  }, 90_000);

  // The Node this machine ships may be older than the package needs; when it is, that is the test.
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => fs.existsSync(n));
  const systemVersion = systemNode
    ? execFileSync(systemNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
    : '';
  const [maj = 0, min = 0] = systemVersion.split('.').map(Number);
  const old = systemNode !== undefined && (maj < 22 || (maj === 22 && min < 22));
  it.skipIf(!old)(`on an older Node (${systemVersion}): one line naming both versions`, () => {
    const r = cachebench(['--help'], process.env, systemNode);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`cachebench: Node ${systemVersion} found`);
    expect(r.stderr).toContain('cachebench needs Node >= 22.22');
  });
});
