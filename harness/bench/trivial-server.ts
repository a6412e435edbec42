/**
 * A node:http JSON server shaped like the target's read-user answer, in its own process so its CPU
 * is never counted as the load driver's. Shared by the driver benches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scenario } from '../../scenarios/types.ts';
import { runBuiltinLoad } from '../driver/builtin.ts';

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

/** The benches' load: read-user at a constant rate over `users` uniform keys, nothing else. */
export function readUserScenario(
  name: string,
  rate: number,
  durationMs: number,
  maxInFlight: number,
  users: number,
): Scenario {
  return {
    name,
    question: '',
    description: '',
    load: { phases: [{ duration: durationMs, rate }], arrivals: 'constant', maxInFlight },
    keys: { type: 'uniform' },
    mix: { 'read-user': 1 },
    data: { users, teams: 10, counters: 10, reportCostMs: 0, userReadCostMs: 0 },
    cache: {},
    start: 'warm',
    faults: [],
    budgets: {},
  };
}

/**
 * Drives the server with the built-in driver for `seconds` at `rate` (nothing is recorded), so
 * its JIT has compiled its request path for the driver's requests and connections before the
 * first measured run. Warming it with another client is not enough: ~1 s into the first run V8
 * dropped the server's optimized HTTP code on the new request shape ("not a Smi" in
 * parserOnIncoming, `--trace-deopt`) and recompiled ~40 functions, and the server answered
 * almost nothing for 30-60 ms (at 10,000 req/s the in-flight cap filled and arrivals were
 * dropped). A bench that also runs another tool warms the server with it too (vs-vegeta.ts).
 */
export async function warmTrivialServer(url: string, rate = 5000, seconds = 3): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cb-trivial-warm-'));
  try {
    const r = await runBuiltinLoad({
      scenario: readUserScenario('trivial-server-warm-up', rate, seconds * 1000, 4096, 10_000),
      targets: [url],
      seed: 99,
      historyPath: join(dir, 'warm-up.ndjson'),
    });
    if (r.load.errors > 0 || r.load.completed === 0)
      throw new Error(
        `warming the JSON server failed: ${r.load.errors} errors, ${r.load.completed} answered`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
