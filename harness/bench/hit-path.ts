/**
 * Benchmark: throughput of the target's cache-hit path (cache-aside, warm key, GET /users/:id)
 * against the floor — a bare Express 5 handler doing one ioredis GET and sending the same bytes.
 * Both run as separate processes on this machine, measured with the same load tool in the same
 * run: in each round both servers get their load at the same time (each from its own client), so
 * whatever else the machine runs hits both alike; `--sequential` runs them one after the other
 * instead (ABBA order per round). Each round is a pair. Prints req/s and server CPU per request
 * (from /proc, outside the servers) per round, and the medians of the pairs' ratios with their
 * 95 % intervals (order statistics over the pairs):
 * target/floor req/s (goal >= 0.8), floor/target CPU (>= 0.9). Exit 1 when a median misses its
 * goal, a CPU figure is missing or the target served anything but hits (docs/measurements.md).
 *
 *   node harness/bench/hit-path.ts [--rounds 20] [--duration 3] [--connections 32] [--tool wrk|undici] [--strategy cache-aside]
 *                                  [--rate N]   (undici at N arrivals/s: both servers get the same load)
 *                                  [--sequential]   (one server after the other per round, ABBA)
 *                                  [--redis-url U --postgres-url U]   (default: start local infra)
 *                                  [--cpu-prof DIR]   (profile both servers; prints their top self-time entries)
 *
 * Load tool: wrk when on PATH (apt-get install -y wrk), else a closed-loop undici client in a
 * separate process (with --rate, paced instead). The same file also runs the floor server and the undici client (--mode).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command, InvalidArgumentError } from 'commander';
import { medianInterval } from '../analysis/intervals.ts';
import { procStat, STAT, TICKS_PER_SECOND } from '../infra/procfs.ts';
import type { TargetStats } from '../results/schema.ts';
import { compare, describe, readProfile, type SelfTimes } from './cpu-profile.ts';

const SELF = fileURLToPath(import.meta.url);
const FLOOR_KEY = 'bench:floor:user:';

function positiveInt(v: string): number {
  if (!/^[1-9][0-9]*$/.test(v))
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

// ---------------------------------------------------------------------------------------------
// Mode: floor server (a child process).
// ---------------------------------------------------------------------------------------------
async function floorServer(redisUrl: string): Promise<void> {
  const { default: express } = await import('express');
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  const app = express();
  // The strictest floor: no ETag hashing, bytes written as is — exactly how the target answers a
  // hit, so the ratio measures the target's own per-request work (routing wrapper, counters,
  // strategy, breaker), not a difference in how the response is written.
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.get('/users/:id', async (req, res) => {
    const v = await redis.get(FLOOR_KEY + req.params.id);
    if (v === null) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(v);
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const port = (server.address() as AddressInfo).port;
    process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// Mode: closed-loop undici client (a child process), used when wrk is not installed.
// ---------------------------------------------------------------------------------------------
async function undiciClient(
  url: string,
  connections: number,
  durationMs: number,
  rate: number | undefined,
): Promise<void> {
  const { Pool } = await import('undici');
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections, pipelining: 1 });
  let ok = 0;
  let bad = 0;
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  // --rate: request i is due at t0 + i/rate (at most `connections` in flight), so both servers
  // get the same arrivals and the same chance to batch them per event-loop turn.
  let nextIndex = 0;
  const due = async (): Promise<boolean> => {
    if (rate === undefined) return performance.now() < end;
    const at = t0 + (nextIndex++ * 1000) / rate;
    if (at >= end) return false;
    const wait = at - performance.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
    return true;
  };
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (await due()) {
        try {
          const r = await pool.request({ path: u.pathname, method: 'GET' });
          await r.body.dump();
          if (r.statusCode === 200) ok++;
          else bad++;
        } catch {
          bad++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ rps: ok / seconds, ok, bad, seconds })}\n`);
}

// ---------------------------------------------------------------------------------------------
// --cpu-prof: where each server's CPU goes, from the .cpuprofile V8 writes when the process exits,
// per request served, and where the target spends more than the floor (cpu-profile.ts).
// ---------------------------------------------------------------------------------------------
function printProfiles(
  dir: string,
  pids: Record<'floor' | 'target', number>,
  requests: Record<'floor' | 'target', number>,
): void {
  const found: Partial<Record<'floor' | 'target', SelfTimes>> = {};
  for (const which of ['floor', 'target'] as const) {
    const file = readdirSync(dir).find((f) => f.includes(`.${pids[which]}.`) && f.endsWith('.cpuprofile'));
    if (!file) {
      console.log(`${which}: no .cpuprofile for pid ${pids[which]} in ${dir}`);
      continue;
    }
    const t = readProfile(path.join(dir, file));
    found[which] = t;
    for (const l of describe(`${which} profile ${path.join(dir, file)}`, t, 20, requests[which]))
      console.log(l);
  }
  if (found.floor && found.target) {
    const lines = compare(
      { label: 'floor', t: found.floor, requests: requests.floor },
      { label: 'target', t: found.target, requests: requests.target },
      20,
    );
    for (const l of lines) console.log(l);
  }
}

// ---------------------------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------------------------
interface LoadResult {
  rps: number;
  bad: number;
  /** Completed requests. */
  requests: number;
}

/**
 * CPU time each thread of a process has run, ns, by thread id — /proc/<pid>/task/<tid>/schedstat
 * (the scheduler's own clock, ns resolution; /proc/<pid>/stat rounds to 10 ms ticks, ±3 % of a
 * 3 s run at 2000 req/s). Linux only: null elsewhere or once the process is gone.
 */
function threadCpuNs(pid: number): Map<string, number> | null {
  try {
    const out = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
      } catch {
        // The thread ended between the listing and the read: it has no time left to count.
      }
    }
    return out;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used, ms, in ticks — the fallback when a thread ended. */
function tickCpuMs(pid: number): number | null {
  const f = procStat(pid);
  return f ? ((Number(f[STAT.utime]) + Number(f[STAT.stime])) * 1000) / TICKS_PER_SECOND : null;
}

/** Read- and write-family system calls a process has made (/proc/<pid>/io syscr + syscw). */
function ioCalls(pid: number): number | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const r = /syscr: (\d+)/.exec(io);
    const w = /syscw: (\d+)/.exec(io);
    return r && w ? Number(r[1]) + Number(w[1]) : null;
  } catch {
    return null;
  }
}

interface CpuMark {
  threads: Map<string, number> | null;
  ticksMs: number | null;
  io: number | null;
}
function cpuMark(pid: number): CpuMark {
  return { threads: threadCpuNs(pid), ticksMs: tickCpuMs(pid), io: ioCalls(pid) };
}
/**
 * CPU ms a process used between two marks: the per-thread clocks when every thread of the first
 * mark is still there (a thread that ended took its time with it), else the tick counts.
 */
function cpuMsBetween(a: CpuMark, b: CpuMark): number | null {
  if (a.threads && b.threads && [...a.threads.keys()].every((t) => b.threads?.has(t))) {
    let ns = 0;
    for (const [tid, v] of b.threads) ns += v - (a.threads.get(tid) ?? 0);
    return ns / 1e6;
  }
  return a.ticksMs !== null && b.ticksMs !== null ? b.ticksMs - a.ticksMs : null;
}

async function hasWrk(): Promise<boolean> {
  try {
    await promisify(execFile)('wrk', ['--version']);
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its banner.
    return (err as { code?: unknown }).code === 1;
  }
}

async function runWrk(url: string, connections: number, seconds: number): Promise<LoadResult> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'wrk',
      ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--latency', url],
      { timeout: (seconds + 30) * 1000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  if (!rps) throw new Error(`could not parse wrk output: ${out}`);
  const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const errs = /Socket errors:.*?timeout (\d+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  return {
    rps: Number(rps[1]),
    bad: Number(bad?.[1] ?? 0) + Number(errs?.[1] ?? 0),
    requests: Number(total?.[1] ?? 0),
  };
}

async function runUndici(
  url: string,
  connections: number,
  seconds: number,
  rate?: number,
): Promise<LoadResult> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        SELF,
        '--mode',
        'undici-client',
        '--url',
        url,
        '--connections',
        String(connections),
        '--duration',
        String(seconds),
        ...(rate === undefined ? [] : ['--rate', String(rate)]),
      ],
      { timeout: (seconds + 30) * 1000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { rps: number; bad: number; ok: number };
  return { rps: r.rps, bad: r.bad, requests: r.ok };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function startFloor(redisUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [SELF, '--mode', 'floor-server', '--redis-url', redisUrl], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('floor server did not start in 15 s')), 15_000);
    child.once('message', (m: { url: string }) => {
      clearTimeout(t);
      resolve(m.url);
    });
    child.once('exit', (c) => reject(new Error(`floor server exited (${c})`)));
  });
  return { url, child };
}

async function orchestrate(o: {
  rounds: number;
  duration: number;
  connections: number;
  tool?: string;
  rate?: number;
  strategy: string;
  redisUrl?: string;
  postgresUrl?: string;
  cpuProf?: string;
  sequential?: boolean;
}): Promise<string[]> {
  const failures: string[] = [];
  const { seedDatabase } = await import('../../target/db.ts');
  const { startTargets } = await import('../../target/instance.ts');
  const { Redis } = await import('ioredis');
  const tool = o.tool ?? (o.rate === undefined && (await hasWrk()) ? 'wrk' : 'undici');
  if (tool !== 'wrk' && tool !== 'undici')
    throw new Error(`--tool: ${JSON.stringify(tool)}; expected wrk or undici`);
  const load =
    tool === 'wrk' ? runWrk : (url: string, c: number, sec: number) => runUndici(url, c, sec, o.rate);

  const stops: (() => Promise<unknown>)[] = [];
  try {
    let redisUrl = o.redisUrl;
    let postgresUrl = o.postgresUrl;
    if (!redisUrl || !postgresUrl) {
      const { startLocalInfra } = await import('../infra/local.ts');
      const infra = await startLocalInfra();
      stops.push(() => infra.stop());
      redisUrl = infra.redisUrl;
      postgresUrl = infra.postgresUrl;
    }
    await seedDatabase(postgresUrl, { users: 1000, teams: 50, counters: 10 }, 1);
    // Both servers inherit it (spawned with this environment); the driver processes do not.
    const profDir = o.cpuProf ? path.resolve(o.cpuProf) : undefined;
    const savedNodeOptions = process.env.NODE_OPTIONS;
    if (profDir) {
      mkdirSync(profDir, { recursive: true });
      process.env.NODE_OPTIONS = `${savedNodeOptions ?? ''} --cpu-prof --cpu-prof-dir=${profDir}`.trim();
    }
    // Direct Redis/PostgreSQL (no Toxiproxy hop) for both sides: the floor has none either.
    const targets = await startTargets({
      instances: 1,
      strategy: o.strategy,
      strategyOptions: o.strategy.endsWith('.ts') ? {} : { ttlMs: 3_600_000 },
      redisUrl,
      postgresUrl,
      keyPrefix: 'bench:',
      // The floor has no command budget at all; on a loaded 2-core box a 100 ms budget would turn
      // CPU starvation into fallbacks and measure the DB path instead of the hit path.
      redisCommandTimeoutMs: 2000,
    });
    stops.push(() => targets.stop());
    const targetUrl = `${targets.urls[0]}/users/1`;

    // Warm the key and give the floor the very same bytes to send.
    await fetch(targetUrl).then((r) => r.text());
    const warm = await fetch(targetUrl);
    const body = await warm.text();
    if (warm.headers.get('x-cache') !== 'hit') {
      throw new Error(`target did not serve a hit after warming (x-cache: ${warm.headers.get('x-cache')})`);
    }
    const redis = new Redis(redisUrl);
    await redis.set(`${FLOOR_KEY}1`, body);
    await redis.quit();
    const floor = await startFloor(redisUrl);
    if (profDir) {
      if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = savedNodeOptions;
    }
    const floorExited = new Promise<void>((resolve) => floor.child.once('exit', () => resolve()));
    stops.push(async () => {
      floor.child.kill('SIGTERM');
      await floorExited;
    });
    const floorUrl = `${floor.url}/users/1`;
    // Requests each server answered (the profiles' per-request figures): loads plus these fetches.
    const served = { floor: 1, target: 2 };
    const floorBody = await (await fetch(floorUrl)).text();
    if (floorBody !== body) throw new Error('floor and target bodies differ');

    console.log(
      `hit-path: ${tool}${o.rate === undefined ? ' closed loop' : ` at ${o.rate} req/s`}, ${o.connections} connections, ${o.duration} s per run, ${o.rounds} rounds${o.sequential ? ' (one server after the other, ABBA)' : ' (both servers loaded at once)'}; ` +
        `strategy ${o.strategy}; body ${Buffer.byteLength(body)} bytes; node ${process.version}`,
    );
    // Warm-up of both (JIT tiers, connection pools), not counted: with only a second the
    // target's first measured rounds were still visibly slower.
    served.floor += (await load(floorUrl, o.connections, o.duration)).requests;
    served.target += (await load(targetUrl, o.connections, o.duration)).requests;

    const res: Record<'floor' | 'target', number[]> = { floor: [], target: [] };
    // CPU µs per request of the server process: unlike req/s it barely moves when other work
    // competes for the cores, so it tells overhead from noise on a shared machine.
    const cpu: Record<'floor' | 'target', number[]> = { floor: [], target: [] };
    const pids = { floor: floor.child.pid ?? 0, target: targets.pids[0] ?? 0 };
    /** One measured run of one server: its load, and its CPU from /proc around it. */
    const measure = async (which: 'floor' | 'target') => {
      const c0 = cpuMark(pids[which]);
      const x = await load(which === 'floor' ? floorUrl : targetUrl, o.connections, o.duration);
      return { which, x, c0, c1: cpuMark(pids[which]) };
    };
    const record = (r: number, m: Awaited<ReturnType<typeof measure>>) => {
      const { which, x, c0, c1 } = m;
      const used = cpuMsBetween(c0, c1);
      served[which] += x.requests;
      if (x.bad > 0) console.log(`  warning: ${x.bad} non-2xx/timeouts in the ${which} run`);
      res[which].push(x.rps);
      const usPerReq = used !== null && x.requests > 0 ? (used * 1000) / x.requests : Number.NaN;
      // The main thread runs the JavaScript and the socket calls; the others are V8's (GC,
      // compiler) and libuv's: a server that allocates more pays there.
      const mainMs =
        (c1.threads?.get(String(pids[which])) ?? Number.NaN) -
        (c0.threads?.get(String(pids[which])) ?? Number.NaN);
      const mainPerReq = x.requests > 0 ? (mainMs * 1000) / 1e6 / x.requests : Number.NaN;
      // Most of a hit's CPU is the kernel's (socket reads and writes): a server making more of
      // those calls per request shows here, whatever its JavaScript costs.
      const ioPerReq =
        c0.io !== null && c1.io !== null && x.requests > 0 ? (c1.io - c0.io) / x.requests : Number.NaN;
      cpu[which].push(usPerReq);
      console.log(
        `  round ${r + 1} ${which.padEnd(6)} ${x.rps.toFixed(0).padStart(7)} req/s  ${usPerReq.toFixed(1).padStart(6)} µs CPU/req (main thread ${mainPerReq.toFixed(1)})  ${ioPerReq.toFixed(2)} read/write calls/req`,
      );
    };
    for (let r = 0; r < o.rounds; r++) {
      if (!o.sequential) {
        // Both loads at once: whatever else the machine runs meanwhile hits both servers alike.
        // One after the other, a burst of other work lands in one run of a pair and not the
        // other: on a shared 2-core box that spread the pairs' ratios about twice as wide.
        const [mf, mt] = await Promise.all([measure('floor'), measure('target')]);
        record(r, mf);
        record(r, mt);
        continue;
      }
      const order: ('floor' | 'target')[] = r % 2 === 0 ? ['floor', 'target'] : ['target', 'floor'];
      for (const which of order) record(r, await measure(which));
    }
    const f = median(res.floor);
    const t = median(res.target);
    // Each round's pair ran at the same time (or back to back): its ratio is the least sensitive
    // to load drifting on a shared machine, so the verdict uses the median of the per-round
    // ratios, with an interval that assumes nothing about their spread (outlying pairs happen).
    const pairRatios = res.target.map((x, i) => x / res.floor[i]!);
    console.log(`floor  (express + 1 ioredis GET): median ${f.toFixed(0)} req/s`);
    console.log(`target (${o.strategy} hit): median ${t.toFixed(0)} req/s`);
    console.log(`per-round ratios target/floor: ${pairRatios.map((r) => r.toFixed(3)).join(' ')}`);
    const rps = verdictOf('req/s target/floor', pairRatios, 0.8);
    console.log(rps.line);
    const cf = median(cpu.floor);
    const ct = median(cpu.target);
    // CPU per request falls as a server's rate rises (more requests per event-loop turn), so, as
    // for req/s, the verdict is the median of the back-to-back pairs' ratios.
    const cpuRatios = cpu.floor.map((x, i) => x / cpu.target[i]!);
    console.log(`per-round CPU ratios floor/target: ${cpuRatios.map((r) => r.toFixed(3)).join(' ')}`);
    console.log(`server CPU per request (median): floor ${cf.toFixed(1)} µs, target ${ct.toFixed(1)} µs`);
    const cpuV = verdictOf(
      'CPU per request floor/target (the ratio a CPU-bound server would reach)',
      cpuRatios,
      0.9,
    );
    console.log(cpuV.line);
    const st = (await (await fetch(`${targets.controlUrls[0]}/stats`)).json()) as TargetStats;
    console.log(
      `target stats: hits ${st.cache.hits}, misses ${st.cache.misses}, fallbacks ${st.cache.fallbacks}, ` +
        `redis timeouts ${st.cache.redisTimeouts}, breaker opens ${st.cache.breakerOpens}, db queries ${st.dbQueries} ` +
        '(a clean hit-path run has at most the warm-up miss and no fallbacks)',
    );
    failures.push(...rps.failures, ...cpuV.failures);
    // Anything but hits after the warm-up means another path was measured.
    if (st.cache.misses > 1 || st.cache.fallbacks > 0 || st.cache.staleServed > 0)
      failures.push(
        `target served ${st.cache.misses} misses, ${st.cache.fallbacks} fallbacks, ${st.cache.staleServed} stale: not the hit path alone`,
      );
    if (profDir) {
      // The profiles are written when the servers exit.
      for (const s of stops.splice(0).reverse()) await s().catch(() => {});
      printProfiles(profDir, pids, served);
    }
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
  return failures;
}

/** Widest 95 % interval (half-width) the default number of pairs is meant to reach on a quiet box. */
const HALF_WIDTH_AIM = 0.05;

/**
 * One ratio's verdict: the median of the pairs' ratios against its goal, and its 95 % interval
 * (medianInterval: order statistics, distribution-free). The goal is judged on the median; the
 * interval says how far another run of the same command may land.
 */
function verdictOf(label: string, ratios: number[], goal: number): { line: string; failures: string[] } {
  const failures: string[] = [];
  if (ratios.length === 0 || ratios.some((r) => !Number.isFinite(r))) {
    failures.push(`${label}: a round has no figure (${ratios.map((r) => r.toFixed(3)).join(' ')})`);
    return { line: `${label}: missing figures`, failures };
  }
  const m = median(ratios);
  const ci = medianInterval(ratios);
  const half = ci ? (ci.hi - ci.lo) / 2 : Number.NaN;
  const spread = ci
    ? `95 % interval ${ci.lo.toFixed(3)}–${ci.hi.toFixed(3)} (±${half.toFixed(3)}, ${ratios.length} pairs, coverage ${(ci.coverage * 100).toFixed(1)} %)` +
      (half > HALF_WIDTH_AIM ? `; wider than ±${HALF_WIDTH_AIM}: a busy box or too few --rounds` : '')
    : `no 95 % interval with ${ratios.length} pairs (needs 6)`;
  const ok = m >= goal;
  if (!ok) failures.push(`${label}: median ${m.toFixed(3)} is below the goal ${goal}`);
  return {
    line: `${label}: median ${m.toFixed(3)}, ${spread}; goal median >= ${goal} ${ok ? 'OK' : 'BELOW GOAL'}`,
    failures,
  };
}

const program = new Command('hit-path')
  .option('--mode <mode>', 'internal: floor-server | undici-client')
  .option('--rounds <n>', 'measurement rounds (each runs floor and target: one pair)', positiveInt, 20)
  .option('--duration <s>', 'seconds per run', positiveInt, 3)
  .option('--connections <n>', 'concurrent connections', positiveInt, 32)
  .option('--tool <tool>', 'wrk | undici (default: wrk when installed)')
  .option('--rate <n>', 'undici only: fixed arrivals per second instead of a closed loop', positiveInt)
  .option('--strategy <spec>', 'strategy whose hit path is measured', 'cache-aside')
  .option('--url <url>', 'internal: undici-client target')
  .option('--redis-url <url>', 'use this Redis instead of starting local infra')
  .option('--postgres-url <url>', 'use this PostgreSQL instead of starting local infra')
  .option('--cpu-prof <dir>', 'write .cpuprofile files of both servers to DIR and print their top entries')
  .option('--sequential', 'load one server after the other in each round (ABBA) instead of both at once')
  .exitOverride();

try {
  program.parse(process.argv);
} catch (err) {
  process.exit((err as { exitCode?: number }).exitCode === 0 ? 0 : 2);
}
const opts = program.opts<{
  mode?: string;
  rounds: number;
  duration: number;
  connections: number;
  tool?: string;
  rate?: number;
  strategy: string;
  url?: string;
  redisUrl?: string;
  postgresUrl?: string;
  cpuProf?: string;
  sequential?: boolean;
}>();

if (opts.tool !== undefined && opts.tool !== 'wrk' && opts.tool !== 'undici') {
  process.stderr.write(
    `hit-path: --tool: ${JSON.stringify(opts.tool)} is not allowed; expected wrk or undici\n`,
  );
  process.exit(2);
}
if (opts.rate !== undefined && opts.tool === 'wrk') {
  process.stderr.write(`hit-path: --rate: ${opts.rate} needs --tool undici (wrk has no fixed-rate mode)\n`);
  process.exit(2);
}
try {
  if (opts.mode === 'floor-server') await floorServer(opts.redisUrl ?? 'redis://127.0.0.1:6379');
  else if (opts.mode === 'undici-client')
    await undiciClient(opts.url ?? '', opts.connections, opts.duration * 1000, opts.rate);
  else {
    const failures = await orchestrate(opts);
    for (const f of failures) process.stderr.write(`hit-path: FAILED: ${f}\n`);
    if (failures.length > 0) process.exitCode = 1;
  }
} catch (err) {
  process.stderr.write(`hit-path: error: ${(err as Error).message}\n`);
  process.exit(1);
}
