/**
 * Least privilege for what cachebench starts, tested as another local user would attack it:
 * unauthenticated Redis/PostgreSQL connections, a forged state directory that names victim
 * processes, a Toxiproxy port held by someone else, requests to the control server without the
 * token, and slowloris sockets against the API. Cases that need a second user run as `nobody`
 * through runuser when we are root, and are skipped with the reason printed otherwise.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { assertListenerOwned } from '../harness/infra/listener.ts';
import {
  checkPrivateDir,
  ensurePrivateRoot,
  type PidRecord,
  procStartTime,
  reapLeftovers,
  refuseReason,
} from '../harness/infra/reaper.ts';
import { redactSecrets } from '../harness/infra/redact.ts';
import { startControlServer } from '../target/control.ts';
import { seedDatabase } from '../target/db.ts';
import { SERVER_LIMITS, startTarget } from '../target/instance.ts';
import { TargetInstrumentation } from '../target/instrumentation.ts';
import { createMetrics } from '../target/metrics.ts';
import { useInfra } from './helpers/infra.ts';

const isRoot = process.getuid?.() === 0;
const OTHER = 'nobody';
const hasOther = isRoot && spawnSync('id', ['-u', OTHER]).status === 0;
if (!hasOther)
  console.log(`skipping other-user cases: need root and a '${OTHER}' user (uid ${process.getuid?.()})`);
const otherUid = hasOther ? Number(spawnSync('id', ['-u', OTHER], { encoding: 'utf8' }).stdout.trim()) : -1;

/** Runs a command as the other local user. */
function asOther(cmd: string, args: string[]) {
  return spawnSync('runuser', ['-u', OTHER, '--', cmd, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: '/',
  });
}

const infra = useInfra();
const portOf = (url: string) => Number(new URL(url).port);
/** `SELECT 1` as the other user without a password (-w), over TCP or the socket dir `host`. */
const psqlAsOther = (host: string) =>
  asOther('psql', [
    '-w',
    '-h',
    host,
    '-p',
    String(portOf(infra().postgresUrl)),
    '-U',
    'postgres',
    '-c',
    'SELECT 1',
  ]);

describe('Redis and PostgreSQL require the per-run password', () => {
  it('the URLs carry credentials, and redaction hides them', () => {
    const r = new URL(infra().redisUrl);
    const p = new URL(infra().postgresUrl);
    expect(r.password.length).toBeGreaterThanOrEqual(20);
    expect(p.password.length).toBeGreaterThanOrEqual(20);
    expect(redactSecrets(`x ${infra().postgresUrl} y`)).toBe(
      `x postgres://postgres:***@127.0.0.1:${p.port}/cachebench y`,
    );
    expect(redactSecrets(infra().redisProxyUrl)).not.toContain(r.password);
  });

  it('Redis without the password: NOAUTH (direct and through the proxy)', async () => {
    for (const url of [infra().redisUrl, infra().redisProxyUrl]) {
      // A raw socket: a client library would hide the refusal behind its own reconnect logic.
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(portOf(url), '127.0.0.1', () => s.write('GET x\r\n'));
        s.once('data', (d) => {
          resolve(d.toString());
          s.destroy();
        });
        s.once('error', reject);
      });
      expect(reply).toMatch(/^-NOAUTH Authentication required/);
    }
  });

  it('PostgreSQL without or with a wrong password is refused', async () => {
    for (const password of ['', 'wrong']) {
      const u = new URL(infra().postgresUrl);
      u.password = password;
      const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 20_000 });
      c.on('error', () => {});
      await expect(c.connect()).rejects.toThrow(/password/);
      await c.end().catch(() => {});
    }
  });

  it.skipIf(!hasOther)('another local user: redis-cli and psql are refused, the socket dir is closed', () => {
    const redis = asOther('redis-cli', [
      '-h',
      '127.0.0.1',
      '-p',
      String(portOf(infra().redisUrl)),
      'GET',
      'x',
    ]);
    expect(redis.stdout + redis.stderr).toMatch(/NOAUTH/);
    const tcp = psqlAsOther('127.0.0.1');
    expect(tcp.status).not.toBe(0);
    expect(tcp.stderr).toMatch(/password/);
    // Every local socket dir is 0700: the other user cannot even reach the socket.
    const pgDirs = fs
      .readdirSync(os.tmpdir())
      .filter((d) => d.startsWith('cachebench-pg-'))
      .map((d) => path.join(os.tmpdir(), d));
    expect(pgDirs.length).toBeGreaterThan(0);
    for (const d of pgDirs) expect(fs.statSync(d).mode & 0o077).toBe(0);
    const sock = psqlAsOther(path.join(pgDirs[0]!, 'pgsock'));
    expect(sock.status).not.toBe(0);
    expect(sock.stderr).toMatch(/Permission denied|No such file/);
  });
});

describe('state root and reaper', () => {
  const victims: ChildProcess[] = [];
  afterAll(() => {
    for (const v of victims) v.kill('SIGKILL');
  });
  const victim = () => {
    const c = spawn('sleep', ['300'], { stdio: 'ignore' });
    victims.push(c);
    return c.pid!;
  };
  const alive = (pid: number) => procStartTime(pid) !== undefined;

  it('refuses a state root owned by someone else or open to others', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-root-'));
    fs.chmodSync(root, 0o777);
    expect(() => ensurePrivateRoot(root)).toThrow(/mode 777 lets other users in; refusing/);
    fs.chmodSync(root, 0o700);
    expect(() => checkPrivateDir(root, 'state root')).not.toThrow();
    if (hasOther) {
      fs.chownSync(root, otherUid, otherUid);
      expect(() => ensurePrivateRoot(root)).toThrow(new RegExp(`owned by uid ${otherUid}, not by you`));
    }
    const link = `${root}-link`;
    fs.symlinkSync(root, link);
    expect(() => ensurePrivateRoot(link)).toThrow(/not a directory \(a symlink\?\)/);
    fs.rmSync(link);
    fs.rmSync(root, { recursive: true });
  });

  it('never acts on an empty, partial or mismatching record', () => {
    const pid = victim();
    const start = procStartTime(pid)!;
    const exe = fs.readlinkSync(`/proc/${pid}/exe`);
    const me = [process.getuid!()];
    const full: PidRecord = { pid, name: 'sleep', command: exe, startTime: start };
    expect(refuseReason(full, me)).toBeUndefined();
    expect(refuseReason({ ...full, command: '' }, me)).toBe('no absolute executable path');
    expect(refuseReason({ ...full, startTime: undefined }, me)).toBe('no start time');
    expect(refuseReason({ ...full, startTime: start + 1 }, me)).toMatch(/pid reused/);
    expect(refuseReason({ ...full, command: '/usr/bin/redis-server' }, me)).toMatch(/is not the recorded/);
    expect(refuseReason({ ...full, pid: 1 }, me)).toBe('no valid pid');
    expect(refuseReason(full, [me[0]! + 12345])).toMatch(/not by us/);
  });

  it('a forged state dir in a private root: the reaper kills none of the victims and says why', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-reap-'));
    const saved = process.env.CACHEBENCH_STATE_DIR;
    process.env.CACHEBENCH_STATE_DIR = root;
    try {
      const [a, b, c] = [victim(), victim(), victim()];
      const forged = path.join(root, 'infra-forged');
      fs.mkdirSync(forged, { mode: 0o700 });
      fs.writeFileSync(path.join(forged, 'owner.json'), JSON.stringify({ ownerPid: 999_999_999 }));
      fs.writeFileSync(
        path.join(forged, 'pids.ndjson'),
        [
          { pid: a, name: 'x', command: '' },
          { pid: b, name: 'y', command: '/usr/bin/sleep' },
          { pid: c, name: 'z', command: '/usr/bin/redis-server', startTime: procStartTime(c) },
        ]
          .map((r) => JSON.stringify(r))
          .join('\n'),
      );
      const report = reapLeftovers();
      expect(report.killed).toEqual([]);
      expect(report.refused.map((r) => r.reason)).toEqual([
        'no absolute executable path',
        'no start time',
        expect.stringMatching(/executable .* is not the recorded \/usr\/bin\/redis-server/),
      ]);
      for (const p of [a, b, c]) expect(alive(p)).toBe(true);
      expect(fs.existsSync(forged)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.CACHEBENCH_STATE_DIR;
      else process.env.CACHEBENCH_STATE_DIR = saved;
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasOther)('a state root pre-created by another user is refused by `cachebench up`', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-owned-'));
    fs.chmodSync(root, 0o700);
    fs.chownSync(root, otherUid, otherUid);
    const r = spawnSync(process.execPath, [path.resolve(import.meta.dirname, '../harness/cli.ts'), 'up'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, CACHEBENCH_STATE_DIR: root },
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`state root .*: owned by uid ${otherUid}, not by you .*refusing`));
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('Toxiproxy listener ownership', () => {
  it('the local Toxiproxy API port is held by the toxiproxy-server we started', () => {
    expect(() =>
      assertListenerOwned('toxiproxy', portOf(infra().toxiproxyUrl), { pid: infra().pids[2] }),
    ).not.toThrow();
    expect(() =>
      assertListenerOwned('toxiproxy', portOf(infra().toxiproxyUrl), { pid: process.pid }),
    ).toThrow(/held by a process other than the one we started/);
  });

  it.skipIf(!hasOther)('a port held by another user is refused', async () => {
    const port = 20000 + Math.floor(Math.random() * 10000);
    // Any listener will do; redis-server is on PATH for every user (our node is under /root).
    const squatter = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', '/tmp'],
      {
        stdio: 'ignore',
        cwd: '/',
        uid: otherUid,
        gid: Number(spawnSync('id', ['-g', OTHER], { encoding: 'utf8' }).stdout.trim()),
      },
    );
    try {
      const deadline = Date.now() + 10_000;
      while (
        !(await new Promise<boolean>((r) =>
          net
            .connect(port, '127.0.0.1')
            .once('connect', function (this: net.Socket) {
              this.destroy();
              r(true);
            })
            .once('error', () => r(false)),
        ))
      ) {
        if (Date.now() > deadline) throw new Error('squatter did not listen');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(() => assertListenerOwned('--toxiproxy-url', port)).toThrow(
        new RegExp(`port ${port} is held by uid ${otherUid}, not by you .*refusing`),
      );
    } finally {
      squatter.kill('SIGKILL');
    }
  });
});

describe('control server', () => {
  it('refuses requests without the token, with a foreign Host or Origin, or a non-JSON body', async () => {
    const events = new TargetInstrumentation('api-1');
    const metrics = createMetrics(events, { instanceId: 'api-1', strategy: 'x', policy: 'fail-open' });
    const control = await startControlServer({
      port: 0,
      events,
      metrics,
      info: () => ({
        instanceId: 'api-1',
        strategy: 'x',
        policy: 'fail-open',
        pid: process.pid,
        url: '',
        cacheAvailable: true,
        breaker: 'closed',
      }),
    });
    try {
      const base = `http://127.0.0.1:${control.port}`;
      expect(control.url).toMatch(new RegExp(`^${base}/[A-Za-z0-9_-]{32}$`));
      const noToken = await fetch(`${base}/reset`, { method: 'POST' });
      expect(noToken.status).toBe(401);
      expect(((await noToken.json()) as { error: string }).error).toMatch(/^token: missing or wrong/);
      expect((await fetch(`${base}/wrong-token/stats`)).status).toBe(401);
      const csrf = await fetch(`${control.url}/reset`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
        body: 'x',
      });
      expect(csrf.status).toBe(403);
      const plain = await fetch(`${control.url}/reset`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(plain.status).toBe(415);
      const rebinding = await new Promise<number>((resolve) => {
        const s = net.connect(control.port, '127.0.0.1', () =>
          s.write(
            `GET ${new URL(control.url).pathname}/stats HTTP/1.1\r\nHost: evil.example:${control.port}\r\nConnection: close\r\n\r\n`,
          ),
        );
        let buf = '';
        s.on('data', (d) => (buf += d));
        s.on('end', () => resolve(Number(buf.split(' ')[1])));
      });
      expect(rebinding).toBe(403);
      expect((await fetch(`${control.url}/reset`, { method: 'POST' })).status).toBe(200);
      expect((await fetch(`${control.url}/stats`)).status).toBe(200);
    } finally {
      await control.close();
    }
  });
});

describe('API server limits', () => {
  it('closes slowloris sockets within the header timeout while normal requests succeed', async () => {
    await seedDatabase(infra().postgresUrl, { users: 10, teams: 2, counters: 2 }, 1);
    const t = await startTarget({
      redisUrl: infra().redisProxyUrl,
      postgresUrl: infra().postgresProxyUrl,
      strategy: 'no-cache',
    });
    try {
      const u = new URL(t.url);
      const slow = await Promise.all(
        Array.from(
          { length: 50 },
          () =>
            new Promise<{ sock: net.Socket; closedAt: Promise<number> }>((resolve) => {
              const sock = net.connect(Number(u.port), u.hostname, () => {
                sock.write('GET /users/1 HTTP/1.1\r\nHost: x\r\n');
                resolve({ sock, closedAt: new Promise((r) => sock.once('close', () => r(Date.now()))) });
              });
              sock.on('error', () => {});
              // Trickle a header line now and then, as slowloris does.
              const trickle = setInterval(() => sock.writable && sock.write('X-a: b\r\n'), 500);
              sock.once('close', () => clearInterval(trickle));
            }),
        ),
      );
      const t0 = Date.now();
      const ok = await fetch(`${t.url}/users/1`);
      expect(ok.status).toBe(200);
      const closed = await Promise.all(slow.map((s) => s.closedAt));
      const latest = Math.max(...closed) - t0;
      expect(latest).toBeLessThanOrEqual(
        SERVER_LIMITS.headersTimeoutMs + SERVER_LIMITS.checkIntervalMs + 1500,
      );
      expect((await fetch(`${t.url}/users/2`)).status).toBe(200);
    } finally {
      await t.stop();
    }
  }, 30_000);
});
