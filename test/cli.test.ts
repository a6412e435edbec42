/**
 * The CLI as a user runs it: real child processes, real exit codes, real stacks.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../harness/infra/processes.ts';
import { readPids, stateRoot } from '../harness/infra/reaper.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

/** Starts `cachebench up --json` and resolves with its URLs and PIDs once it is up. */
function startUp(
  extra: string[] = [],
): Promise<{ child: ChildProcess; info: { pids: number[]; redis: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'up', '--json', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, info: JSON.parse(line) });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(new Error(`up exited ${code}: ${err}`)));
  });
}

async function waitGone(pids: number[], ms = 10_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0) return [];
    await new Promise((r) => setTimeout(r, 50));
  }
  return pids.filter(isAlive);
}

describe('cachebench CLI: bad input', () => {
  it('unknown subcommand → one line naming it and the allowed commands, exit 2', () => {
    const r = cli(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'.*allowed: run, report/);
  });

  it('unknown flag → exit 2, one line', () => {
    const r = cli(['up', '--no-such-flag']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('unknown --infra value → lists the allowed values, exit 2', () => {
    const r = cli(['up', '--infra', 'cloud']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/'cloud' is invalid\. Allowed choices are local, containers, auto/);
  });

  it('a port already taken → exit 2 naming the flag and port, nothing left running', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    // Its own state root: other test files start stacks in parallel in the shared one.
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-cli-state-'));
    const r = cli(['up', '--redis-port', String(port)], { CACHEBENCH_STATE_DIR: state });
    srv.close();
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `cachebench: --redis-port: port ${port} on 127.0.0.1 is already in use (choose a free port, or omit --redis-port for a random one)`,
    );
    // The port check happens before anything is spawned: no new state dir, no process.
    expect(fs.readdirSync(state)).toEqual([]);
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('--infra external takes its URLs from the environment too (no password on argv), masked in errors', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const dead = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-cli-env-'));
    const r = cli(
      [
        'run',
        '--infra',
        'external',
        '--scenarios',
        'steady-read',
        '--strategies',
        'no-cache',
        '--out',
        `${out}/run`,
      ],
      {
        CACHEBENCH_REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${dead}`,
        CACHEBENCH_POSTGRES_URL: `postgres://u:s3cret-pw@127.0.0.1:${dead}/db`,
        CACHEBENCH_TOXIPROXY_URL: `http://127.0.0.1:${dead}`,
      },
    );
    fs.rmSync(out, { recursive: true, force: true });
    expect(r.status).not.toBe(0);
    // The URL from the environment was used (the dead port is named), its password masked.
    expect(r.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${dead}`));
    expect(r.stderr).not.toContain('s3cret-pw');
  });

  it('--help on a subcommand exits 0 and documents its flags', () => {
    const r = cli(['run', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--strategies');
    expect(r.stdout).toContain('--profile');
  });
});

describe('cachebench up: lifecycle', () => {
  it('SIGINT stops every process it started', async () => {
    const { child, info } = await startUp();
    expect(info.pids).toHaveLength(3);
    expect(info.pids.every(isAlive)).toBe(true);
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(await waitGone(info.pids)).toEqual([]);
  });

  it('SIGKILL leaves processes behind, and the next run reaps them', async () => {
    const first = await startUp();
    const stateDirs = fs.readdirSync(stateRoot()).map((d) => path.join(stateRoot(), d));
    const mine = stateDirs.find((d) => readPids(d).some((p) => p.pid === first.info.pids[0]));
    expect(mine).toBeDefined();
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    // Nobody cleaned up: the services are still running.
    expect(first.info.pids.filter(isAlive)).toHaveLength(3);

    const second = await startUp();
    expect(await waitGone(first.info.pids)).toEqual([]);
    expect(fs.existsSync(mine!)).toBe(false);
    const exited2 = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGTERM');
    await exited2;
    expect(await waitGone(second.info.pids)).toEqual([]);
  });
});
