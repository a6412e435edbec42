/**
 * A node:http JSON server shaped like the target's read-user answer, in its own process so its CPU
 * is never counted as the load driver's. Shared by the driver benches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';

// The server grows its descriptor table before it listens, as the target does (target/fd-table.ts):
// otherwise the first tool to open a few hundred connections pays for the table's growth in the
// server's accept4() and the second does not.
const TRIVIAL_SERVER = `
const fs = require('node:fs');
const fds = []; try { for (let i = 0; i < 1100; i++) fds.push(fs.openSync('/dev/null', 'r')); } catch {} finally { for (const fd of fds) fs.closeSync(fd); }
const http = require('node:http');
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => {
  const id = (/\\/users\\/(\\d+)/.exec(req.url) || [])[1] || '1';
  res.setHeader('content-type', 'application/json');
  res.end('{"user":{"id":' + id + '},"versions":{"user:' + id + '":1}}'); }); });
s.keepAliveTimeout = 65000;
s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }));`;

export interface TrivialServer {
  url: string;
  child: ChildProcess;
}

/**
 * One V8 background thread, as the built-in driver has (harness/driver/builtin.ts says why): on a
 * 2-core machine the server's four otherwise took the cores from both tools' main threads.
 */
export async function startTrivialServer(): Promise<TrivialServer> {
  const child = spawn(process.execPath, ['--v8-pool-size=1', '-e', TRIVIAL_SERVER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (c) => reject(new Error(`trivial server exited (${c})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/**
 * Serves `requests` requests over `connections` keep-alive connections and closes them, so the
 * server's JIT is warm before the first measured run: otherwise whichever tool runs first pays for
 * it in its second 0.
 */
export async function warmTrivialServer(url: string, requests = 20_000, connections = 8): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(`${url}/users/${(next % 1000) + 1}`, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  const worker = async () => {
    while (next < requests) {
      next++;
      await one();
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    agent.destroy();
  }
}
