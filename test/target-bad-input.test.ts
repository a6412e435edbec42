/**
 * Client input never yields a 5xx and never takes the target down. The target runs as a child
 * process (startTargets), so "stays up" is checked on a real process, not an in-process server
 * that a crash would take the test runner down with. Also: the CLI's bad-flag handling and
 * children exiting when their parent dies.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDatabase } from '../target/db.ts';
import { startTargets, type TargetsHandle } from '../target/instance.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();
const MAIN = path.resolve(import.meta.dirname, '../target/main.ts');

interface Probe {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const BAD_IDS = [
  'abc',
  '-1',
  '0',
  '00',
  '007',
  '1.5',
  '1e3',
  '0x10',
  '2147483648',
  '99999999999999999999',
  '%zz',
  '%00',
  '%20',
  '1%00',
  'null',
  '[]',
  '%7B%7D',
  '%D9%A1', // Arabic-Indic digit one
  'a'.repeat(3000),
  '9'.repeat(400),
  '-0',
  '+1',
];
const ID_PATHS: [string, string, string?][] = [
  ['GET', '/users/:id'],
  ['PUT', '/users/:id', '{"name":"x"}'],
  ['GET', '/teams/:id/members'],
  ['GET', '/teams/:id/report'],
  ['GET', '/counters/:id'],
  ['POST', '/counters/:id/incr', '{"by":1}'],
];
const BAD_USER_BODIES = [
  '{bad json',
  '',
  '[]',
  'null',
  '1',
  '"x"',
  'true',
  '{}',
  '{"name":1}',
  '{"name":""}',
  '{"name":"   "}',
  `{"name":"${'a'.repeat(101)}"}`,
  '{"name":"a\\u0000b"}',
  '{"name":null}',
  '{"name":["x"]}',
  '{"name":{"x":1}}',
  '{"email":"nope"}',
  '{"email":"a b@c"}',
  '{"email":1}',
  `{"email":"${'a'.repeat(300)}@x.test"}`,
  '{"extra":1}',
  '{"name":"x","version":9}',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{}}}',
  '{"name":"x",}',
  '{"name":"\\ud800"}',
  '['.repeat(5000),
  `{"name":"${'x'.repeat(10_000)}"}`,
  `{"pad":"${'x'.repeat(200_000)}"}`,
];
const BAD_INCR_BODIES = [
  '{"by":0}',
  '{"by":-1}',
  '{"by":1.5}',
  '{"by":"1"}',
  '{"by":1e100}',
  '{"by":null}',
  '{"by":true}',
  '{"by":[1]}',
  '{"by":1000001}',
  '{"x":1}',
  '[1]',
  'garbage',
  '"1"',
  'NaN',
];

function probes(): Probe[] {
  const list: Probe[] = [];
  const json = { 'content-type': 'application/json' };
  for (const id of BAD_IDS) {
    for (const [method, p, body] of ID_PATHS) {
      list.push({
        label: `id ${id.slice(0, 12)} ${method} ${p}`,
        method,
        path: p.replace(':id', id),
        headers: body ? json : {},
        body,
      });
    }
  }
  for (const body of BAD_USER_BODIES) {
    list.push({
      label: `user body ${body.slice(0, 20)}`,
      method: 'PUT',
      path: '/users/1',
      headers: json,
      body,
    });
  }
  for (const body of BAD_INCR_BODIES) {
    list.push({
      label: `incr body ${body.slice(0, 20)}`,
      method: 'POST',
      path: '/counters/1/incr',
      headers: json,
      body,
    });
  }
  // Content types, encodings, charsets.
  const odd: [Record<string, string>, string | Buffer][] = [
    [{ 'content-type': 'text/plain' }, '{"name":"x"}'],
    [{ 'content-type': 'application/x-www-form-urlencoded' }, 'name=x'],
    [{ 'content-type': 'application/json; charset=latin1' }, '{"name":"x"}'],
    [{ 'content-type': 'application/json; charset=utf-99' }, '{"name":"x"}'],
    [{ 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'not gzip at all'],
    [{ 'content-type': 'application/json', 'content-encoding': 'br' }, Buffer.from([0xff, 0xfe, 0x00])],
    [{ 'content-type': 'application/json', 'content-encoding': 'zstd-bogus' }, '{}'],
    [{ 'content-type': 'application/json' }, Buffer.from([0xc3, 0x28, 0xa0, 0xa1])],
    [{ 'content-type': 'application/json' }, Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d])],
    [{ 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\n\r\n--x--'],
  ];
  for (const [headers, body] of odd) {
    list.push({ label: `odd ${JSON.stringify(headers)}`, method: 'PUT', path: '/users/1', headers, body });
    list.push({
      label: `odd incr ${JSON.stringify(headers)}`,
      method: 'POST',
      path: '/counters/1/incr',
      headers,
      body,
    });
  }
  // Methods and routes.
  for (const method of ['DELETE', 'PATCH', 'OPTIONS', 'POST', 'PUT']) {
    for (const p of [
      '/users/1',
      '/teams/1/members',
      '/teams/1/report',
      '/counters/1',
      '/counters/1/incr',
      '/metrics',
    ]) {
      // DELETE /users/:id is a real operation (it would delete the user the last check reads).
      if (method === 'DELETE' && p === '/users/1') continue;
      list.push({ label: `method ${method} ${p}`, method, path: p });
    }
  }
  for (const p of [
    '/',
    '/users',
    '/users/',
    '/users/1/x',
    '/teams/1',
    '/teams/1/members/2',
    '/counters',
    '/admin',
    '/..%2f..%2fetc%2fpasswd',
    '/users/1?x=%zz',
    `/${'x'.repeat(5000)}`,
    '/stats',
    '/reset',
  ]) {
    list.push({ label: `route ${p.slice(0, 20)}`, method: 'GET', path: p });
  }
  // Query parameters of the paged aggregate.
  for (const q of [
    'limit=abc',
    'limit=0',
    'limit=100000',
    'limit=-1',
    'offset=-1',
    'offset=1.5',
    'limit=1&limit=2',
    'offset[]=1',
    'limit=%zz',
    `limit=${'9'.repeat(50)}`,
  ]) {
    list.push({ label: `query ${q.slice(0, 20)}`, method: 'GET', path: `/teams/1/members?${q}` });
  }
  // Headers.
  list.push({
    label: 'huge header',
    method: 'GET',
    path: '/users/1',
    headers: { 'x-big': 'a'.repeat(40_000) },
  });
  list.push({
    label: 'many headers',
    method: 'GET',
    path: '/users/1',
    headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v'.repeat(100)])),
  });
  list.push({ label: 'bad accept', method: 'GET', path: '/users/1', headers: { accept: 'image/png' } });
  return list;
}

/** Raw bytes a fetch client would never send: malformed HTTP. Returns the status, 0 = closed. */
const RAW: string[] = [
  'GARBAGE\r\n\r\n',
  'GET /users/1 HTTP/9.9\r\n\r\n',
  'GET /users/1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
  'GET /users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'PUT /users/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'PUT /users/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n',
  'PUT /users/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n{"name":"x"}',
  'PUT /users/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}',
  `GET /users/1 HTTP/1.1\r\nHost: x\r\nX-Null: a\u0000b\r\n\r\n`,
  'GET \u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n',
  '\r\n\r\n\r\n',
  `GET /users/${'1'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
];

function rawRequest(port: number, payload: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = () => {
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : 0);
    };
    s.setTimeout(3000, done);
    s.on('data', (d) => {
      data += d.toString('latin1');
      if (/\r\n\r\n/.test(data)) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.write(payload, 'latin1');
    // A half-written body must not hang the test: end our side after a moment.
    setTimeout(() => s.end(), 500).unref();
  });
}

describe('bad input against a child-process target', () => {
  let targets: TargetsHandle;
  beforeAll(async () => {
    await seedDatabase(infra().postgresUrl, { users: 100, teams: 5, counters: 5 }, 1);
    targets = await startTargets({
      instances: 1,
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'cache-aside',
      reportCostMs: 1,
    });
  });
  afterAll(async () => targets?.stop());

  it('answers at least 200 malformed requests without a 5xx and stays up', async () => {
    const base = targets.urls[0]!;
    const port = Number(new URL(base).port);
    const list = probes();
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let sent = 0;
    // Modest concurrency: the machine has two cores shared with other work.
    const queue = [...list];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          sent++;
          let status: number;
          let text = '';
          try {
            const r = await fetch(base + p.path, {
              method: p.method,
              headers: p.headers,
              body: p.body as RequestInit['body'],
              signal: AbortSignal.timeout(10_000),
            });
            status = r.status;
            text = await r.text();
          } catch (err) {
            // The server may close on a protocol-level violation (e.g. oversized headers): not a 5xx.
            status = 0;
            text = (err as Error).message;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 500) failures.push(`${p.label} → ${status} ${text.slice(0, 120)}`);
          if (status === 400 && text.startsWith('{')) {
            const body = JSON.parse(text) as { error?: unknown };
            if (typeof body.error !== 'string' || body.error.includes('\n')) {
              failures.push(`${p.label} → 400 without a one-line {error}: ${text.slice(0, 120)}`);
            }
          }
        }
      }),
    );
    for (const payload of RAW) {
      sent++;
      const status = await rawRequest(port, payload);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500) failures.push(`raw ${JSON.stringify(payload.slice(0, 40))} → ${status}`);
    }
    const summary = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`);
    console.log(
      `bad input: ${sent} malformed requests; statuses ${summary.join(' ')} (0 = connection closed)`,
    );

    expect(sent).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);
    // Validation answered most of them (not connection drops).
    expect(statuses.get(400) ?? 0).toBeGreaterThan(150);

    // Still the same live process, and still serving correct answers.
    const pid = targets.pids[0]!;
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect((await fetch(`${targets.controlUrls[0]}/healthz`)).status).toBe(200);
    const ok = await fetch(`${base}/users/1`);
    expect(ok.status).toBe(200);
    expect(
      ((await ok.json()) as { versions: Record<string, number> }).versions['user:1'],
    ).toBeGreaterThanOrEqual(1);
    const s = (await (await fetch(`${targets.controlUrls[0]}/stats`)).json()) as { httpRequests: number };
    expect(s.httpRequests).toBeGreaterThan(0);
  });
});

describe('target CLI', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  const urls = () => ['--redis-url', infra().redisUrl, '--postgres-url', infra().postgresUrl];

  it.each([
    [['--port', 'abc'], /--port/],
    [['--port', '70000'], /port: 70000 is not allowed/],
    [['--policy', 'fail-sideways'], /policy: "fail-sideways" is not allowed/],
    [['--strategy-options', '{nope'], /--strategy-options/],
    [['--bogus-flag'], /unknown option '--bogus-flag'/],
    [['--strategy', 'no-such-strategy'], /no-such-strategy/],
  ])('%j → exit 2 with one line naming the problem', (args, pattern) => {
    const r = run([...urls(), ...(args as string[])]);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cachebench-target: error: /);
    expect(lines[0]).toMatch(pattern as RegExp);
  });

  it('requires the Redis and PostgreSQL URLs', () => {
    const r = run([]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--redis-url/);
  });

  it('reports a child that dies mid-run through onExit', async () => {
    const exits: string[] = [];
    const t = await startTargets({
      instances: 2,
      redisUrl: infra().redisUrl,
      postgresUrl: infra().postgresUrl,
      strategy: 'no-cache',
      forwardLogs: false,
      onExit: (id, _code, signal) => exits.push(`${id} ${signal}`),
    });
    try {
      expect(new Set(t.urls).size).toBe(2);
      const ids = await Promise.all(
        t.urls.map(async (u) => (await fetch(`${u}/users/1`)).headers.get('x-instance')),
      );
      expect(ids).toEqual(['target-1', 'target-2']);
      process.kill(t.pids[1]!, 'SIGKILL');
      const deadline = Date.now() + 5000;
      while (exits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(exits).toEqual(['target-2 SIGKILL']);
    } finally {
      await t.stop();
    }
    // stop() is not reported as an unexpected exit.
    expect(exits).toHaveLength(1);
  });

  it('children exit when the parent that started them is killed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-parent-'));
    const script = path.join(dir, 'parent.ts');
    const instanceTs = path.resolve(import.meta.dirname, '../target/instance.ts');
    fs.writeFileSync(
      script,
      `import { startTargets } from ${JSON.stringify(instanceTs)};
const t = await startTargets({ instances: 2, redisUrl: ${JSON.stringify(infra().redisUrl)}, postgresUrl: ${JSON.stringify(infra().postgresUrl)}, strategy: 'no-cache', forwardLogs: false });
process.stdout.write(JSON.stringify(t.pids) + '\\n');
setInterval(() => {}, 1000);
`,
    );
    const parent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pids = await new Promise<number[]>((resolve, reject) => {
        let out = '';
        parent.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(JSON.parse(out) as number[]);
        });
        parent.once('exit', (c) => reject(new Error(`parent exited early (${c})`)));
      });
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
      parent.kill('SIGKILL');
      // An exited child reparented to a non-reaping init stays a zombie: that counts as gone.
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
        } catch {
          return false;
        }
        try {
          return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 10_000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
