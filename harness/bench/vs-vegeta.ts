/**
 * The built-in driver beside vegeta (a dedicated open-model load tool, Go) against the same
 * node:http JSON server, in one run, back to back, ABBA order over the rounds (the machine is
 * shared and noisy, so drift hits both alike). Prints one row per run and, per rate, the medians
 * with the ratio built-in/vegeta.
 *
 *   node harness/bench/vs-vegeta.ts [--rates 5000,10000] [--seconds 20] [--rounds 2] [--max-in-flight 512]
 *
 * Both tools are measured from outside: CPU is the user+sys time the kernel charged to the reaped
 * child (cutime+cstime of /proc/self/stat, so nothing depends on the tool reporting itself; for
 * the built-in driver it also holds the small process that hosts runBuiltinLoad and its driver
 * process, so it errs against the built-in driver), peak RSS is VmHWM of /proc/<pid>/status of
 * the tool's own process: vegeta's sampled here every 50 ms, the driver process's read by
 * runBuiltinLoad's parent side (builtin.ts) before the process is let go. Rate,
 * drops and latencies come from each tool's own records, summarized by the same code here:
 * latency p50/p99/max over all requests, and a per-second breakdown of the first seconds (sent,
 * dropped, p99) that shows the start-up. Each tool drives the server for 3 s before the first
 * measured run, so neither pays for the server's JIT meeting its requests for the first time.
 * An observer thread in this process (pipeline/machine-stalls.ts) notes how late it woke during
 * each run: drops in a run where it saw no stall of cap / rate or more are the driver's or the
 * server's, not the machine's.
 *
 * Definitions differ where the tools do: the built-in driver times latency from the scheduled send
 * time and drops arrivals over the in-flight cap; vegeta times from the actual send and never
 * drops (it adds workers), so its "dropped" is the planned requests it never sent.
 *
 * vegeta v12.12.0: VEGETA_BIN, else `vegeta` on PATH, else built once with go install into the
 * tool cache ($CACHEBENCH_CACHE, default ~/.cache/cachebench) like toxiproxy-server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { medianInterval } from '../analysis/intervals.ts';
import { runBuiltinLoad } from '../driver/builtin.ts';
import { createHistogram, percentileMs, recordMs } from '../driver/histogram.ts';
import { procStat, STAT } from '../infra/procfs.ts';
import { type MachineStalls, watchMachineStalls } from '../pipeline/machine-stalls.ts';
import { readUserScenario, startTrivialServer, warmTrivialServer } from './trivial-server.ts';

const SELF = fileURLToPath(import.meta.url);
const VEGETA_VERSION = 'v12.12.0';
const USERS = 10_000;
/** Seconds each tool drives the server before the measured rounds. */
const WARM_SECONDS = 3;

function usage(message: string): never {
  console.error(`vs-vegeta: ${message}`);
  process.exit(2);
}

function positiveInts(flag: string, v: string): number[] {
  const parts = v.split(',');
  for (const p of parts) {
    if (!/^[1-9][0-9]*$/.test(p))
      usage(`--${flag} ${JSON.stringify(v)}: expected positive integers, comma-separated`);
  }
  return parts.map(Number);
}

function positiveInt(flag: string, v: string): number {
  return positiveInts(flag, v)[0] as number;
}

// ---------------------------------------------------------------------------------------------
// Child mode: one built-in driver run; the result goes to the parent over IPC, then the process
// waits to be let go so the parent can read its VmHWM while it still exists.
// ---------------------------------------------------------------------------------------------
async function builtinChild(
  url: string,
  rate: number,
  seconds: number,
  maxInFlight: number,
  history: string,
) {
  const r = await runBuiltinLoad({
    scenario: readUserScenario('vs-vegeta', rate, seconds * 1000, maxInFlight, USERS),
    targets: [url],
    seed: 1,
    historyPath: history,
  });
  process.send?.({ type: 'result', result: r });
  process.once('message', () => process.exit(0));
  process.once('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// Measurement from outside.
// ---------------------------------------------------------------------------------------------
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds charged to this process's reaped children (user + sys). */
function childrenCpuSeconds(): number {
  const f = procStat('self') ?? [];
  return (Number(f[STAT.cutime]) + Number(f[STAT.cstime])) / TICKS;
}

function vmHwmMB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0; // already gone
  }
}

interface Measured {
  tool: 'builtin' | 'vegeta';
  round: number;
  rate: number;
  seconds: number;
  sent: number;
  dropped: number;
  drops0: number;
  p50: number;
  p99: number;
  p99s0: number;
  /**
   * Slowest request (ms). A stall of the server or the machine longer than cap / rate (51 ms at
   * 10,000 req/s with 512 in flight) must make the built-in driver drop arrivals; vegeta, which
   * adds workers instead, shows the same stall here.
   */
  maxMs: number;
  /**
   * The machine during the run's load window, seen from outside both tools (machine-stalls.ts):
   * the longest stall (ms: an idle observer thread woke that late, or one vCPU gained that much
   * steal time at once), how many stalls were at least cap / rate (what a capped driver cannot
   * absorb without dropping), and the VM's steal time (ms; over
   * the whole child run, boot and decoding included: /proc/stat is read when the watch starts and stops).
   */
  machine: { longestMs: number; overCap: number; stealMs: number | null };
  /** 1-minute load average when the run ended. */
  load1: number;
  errors: number;
  cpuS: number;
  peakRssMB: number;
  /** Built-in only: scheduling lag p99 (ms). */
  lagP99?: number;
  /** The first BREAKDOWN_SECONDS seconds of the run: requests sent, dropped, latency p99 (ms). */
  perSecond: { sent: number; dropped: number; p99: number }[];
}

/** Seconds shown in the per-second breakdown (the start-up is what it checks). */
const BREAKDOWN_SECONDS = 3;

/** Runs a child to completion while sampling its VmHWM; returns CPU charged to it and its peak. */
async function measureChild(
  child: ChildProcess,
  onMessage?: (m: unknown, release: () => void) => void,
): Promise<{ cpuS: number; peakRssMB: number; code: number | null; stalls: MachineStalls }> {
  const watch = watchMachineStalls();
  const cpu0 = childrenCpuSeconds();
  const pid = child.pid as number;
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, vmHwmMB(pid));
  }, 50);
  if (onMessage) {
    child.on('message', (m) =>
      onMessage(m, () => {
        peak = Math.max(peak, vmHwmMB(pid));
        child.send({ type: 'exit' });
      }),
    );
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  clearInterval(timer);
  return { cpuS: childrenCpuSeconds() - cpu0, peakRssMB: peak, code, stalls: await watch.stop() };
}

/** What the observer saw within the load window [t0, t0 + seconds] (boot and decoding excluded). */
function machineDuring(s: MachineStalls, t0: number, seconds: number, capMs: number): Measured['machine'] {
  const inWindow = s.events.filter((e) => e.at >= t0 - 10 && e.at <= t0 + seconds * 1000);
  return {
    longestMs: inWindow.reduce((m, e) => Math.max(m, e.ms), 0),
    overCap: inWindow.filter((e) => e.ms >= capMs).length,
    stealMs: s.stealMs,
  };
}

async function runBuiltin(
  url: string,
  rate: number,
  seconds: number,
  maxInFlight: number,
  dir: string,
  round: number,
): Promise<Measured> {
  const child = spawn(
    process.execPath,
    [
      SELF,
      '--child',
      url,
      '--rates',
      String(rate),
      '--seconds',
      String(seconds),
      '--max-in-flight',
      String(maxInFlight),
      '--history',
      join(dir, 'builtin.ndjson'),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  let result: Awaited<ReturnType<typeof runBuiltinLoad>> | undefined;
  const m = await measureChild(child, (msg, release) => {
    const r = msg as { type?: string; result?: typeof result };
    if (r.type === 'result') {
      result = r.result;
      release();
    }
  });
  if (!result) throw new Error(`built-in driver child exited (code ${m.code}) without a result`);
  const l = result.load;
  return {
    tool: 'builtin',
    round,
    rate,
    seconds,
    sent: l.sent,
    dropped: l.dropped,
    drops0: result.series.dropped[0] ?? 0,
    p50: l.overall.latency.p50,
    p99: l.overall.latency.p99,
    p99s0: result.series.p99[0] ?? 0,
    maxMs: l.overall.latency.max,
    machine: machineDuring(m.stalls, result.loadStartedAt, seconds, (maxInFlight / rate) * 1000),
    load1: loadavg()[0] ?? 0,
    errors: l.errors,
    cpuS: m.cpuS,
    // The driver process's VmHWM, read from /proc by runBuiltinLoad's parent side: the child
    // sampled here only hosts that parent side (the driver is its child).
    peakRssMB: l.driverPeakRssMB,
    lagP99: l.schedulingLag.p99,
    perSecond: result.series.requests.slice(0, BREAKDOWN_SECONDS).map((sent, i) => ({
      sent,
      dropped: result?.series.dropped[i] ?? 0,
      p99: result?.series.p99[i] ?? 0,
    })),
  };
}

async function run(bin: string, args: string[], opts: { input?: string; stdoutFile?: string } = {}) {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin?.end(opts.input ?? '');
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${bin} ${args[0]} exited with code ${code}`);
  return Buffer.concat(chunks).toString('utf8');
}

async function runVegeta(
  vegeta: string,
  url: string,
  rate: number,
  seconds: number,
  dir: string,
  round: number,
  maxInFlight: number,
): Promise<Measured> {
  // The same keys as the built-in run: /users/1..USERS (vegeta takes the lines round-robin).
  const targets = join(dir, 'targets.txt');
  if (!existsSync(targets)) {
    writeFileSync(targets, Array.from({ length: USERS }, (_, i) => `GET ${url}/users/${i + 1}\n`).join(''));
  }
  const bin = join(dir, 'vegeta.bin');
  const child = spawn(
    vegeta,
    [
      'attack',
      `-rate=${rate}/s`,
      `-duration=${seconds}s`,
      `-targets=${targets}`,
      `-output=${bin}`,
      '-timeout=10s',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const m = await measureChild(child);
  if (m.code !== 0) throw new Error(`vegeta attack exited with code ${m.code}`);
  // Decode its records and summarize them with the same histogram code as the driver.
  const jsonl = join(dir, 'vegeta.jsonl');
  await run(vegeta, ['encode', '-to=json', `-output=${jsonl}`, bin]);
  const all = createHistogram();
  const bySecond = Array.from({ length: Math.min(BREAKDOWN_SECONDS, seconds) }, () => createHistogram());
  let t0 = Number.POSITIVE_INFINITY;
  const rows: { t: number; latMs: number; ok: boolean }[] = [];
  const lines = createInterface({ input: createReadStream(jsonl) });
  for await (const line of lines) {
    if (!line) continue;
    const rec = JSON.parse(line) as { timestamp: string; latency: number; code: number };
    const t = Date.parse(rec.timestamp);
    t0 = Math.min(t0, t);
    rows.push({ t, latMs: rec.latency / 1e6, ok: rec.code > 0 && rec.code < 400 });
  }
  let errors = 0;
  for (const r of rows) {
    recordMs(all, r.latMs);
    const sec = bySecond[Math.floor((r.t - t0) / 1000)];
    if (sec) recordMs(sec, r.latMs);
    if (!r.ok) errors++;
  }
  const planned = rate * seconds;
  const perSecond = bySecond.map((h) => ({
    sent: h.totalCount,
    dropped: Math.max(0, rate - h.totalCount),
    p99: percentileMs(h, 99),
  }));
  return {
    tool: 'vegeta',
    round,
    rate,
    seconds,
    sent: rows.length,
    dropped: Math.max(0, planned - rows.length),
    drops0: perSecond[0]?.dropped ?? 0,
    p50: percentileMs(all, 50),
    p99: percentileMs(all, 99),
    p99s0: perSecond[0]?.p99 ?? 0,
    maxMs: percentileMs(all, 100),
    machine: machineDuring(m.stalls, t0, seconds, (maxInFlight / rate) * 1000),
    load1: loadavg()[0] ?? 0,
    errors,
    cpuS: m.cpuS,
    peakRssMB: m.peakRssMB,
    perSecond,
  };
}

/** VEGETA_BIN, else PATH, else the tool cache, built there once with go install. */
function ensureVegeta(): string {
  if (process.env.VEGETA_BIN) return process.env.VEGETA_BIN;
  try {
    return execFileSync('sh', ['-c', 'command -v vegeta'], { encoding: 'utf8' }).trim();
  } catch {
    // not on PATH
  }
  const cache =
    process.env.CACHEBENCH_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cachebench');
  const dir = join(cache, `vegeta-${VEGETA_VERSION}`);
  const bin = join(dir, 'vegeta');
  if (existsSync(bin)) return bin;
  console.log(`building vegeta ${VEGETA_VERSION} with go install (once; cached in ${dir})`);
  const tmp = mkdtempSync(join(tmpdir(), 'cb-vegeta-build-'));
  try {
    execFileSync('go', ['install', `github.com/tsenart/vegeta/v12@${VEGETA_VERSION}`], {
      env: { ...process.env, GOBIN: tmp, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    mkdirSync(dir, { recursive: true });
    renameSync(join(tmp, 'vegeta'), bin);
  } catch (err) {
    throw new Error(
      `vegeta ${VEGETA_VERSION} is missing and go install failed (${(err as Error).message.split('\n')[0]}): install Go, or set VEGETA_BIN`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
const cpuPerReqUs = (m: Measured) => (m.sent > 0 ? (m.cpuS * 1e6) / m.sent : 0);

function row(m: Measured): string {
  const achieved = m.sent / m.seconds;
  const dev = ((achieved - m.rate) / m.rate) * 100;
  const cells = [
    `${m.round}`,
    m.tool.padEnd(7),
    `${m.rate}`,
    `${achieved.toFixed(1)} (${dev >= 0 ? '+' : ''}${dev.toFixed(2)}%)`,
    `${m.dropped}`,
    `${m.drops0}`,
    m.p50.toFixed(2),
    m.p99.toFixed(2),
    m.p99s0.toFixed(2),
    m.maxMs.toFixed(1),
    m.lagP99 === undefined ? '-' : m.lagP99.toFixed(2),
    `${m.errors}`,
    m.cpuS.toFixed(2),
    (m.cpuS / m.seconds).toFixed(2),
    cpuPerReqUs(m).toFixed(1),
    m.peakRssMB.toFixed(1),
    m.machine.longestMs.toFixed(1),
    `${m.machine.overCap}`,
    m.machine.stealMs === null ? '-' : `${Math.round(m.machine.stealMs)}`,
    m.load1.toFixed(2),
  ];
  return `| ${cells.join(' | ')} |`;
}

async function main() {
  const { values: args } = (() => {
    try {
      return parseArgs({
        options: {
          rates: { type: 'string', default: '5000,10000' },
          seconds: { type: 'string', default: '20' },
          rounds: { type: 'string', default: '2' },
          'max-in-flight': { type: 'string', default: '512' },
          child: { type: 'string' },
          history: { type: 'string' },
        },
      });
    } catch (err) {
      return usage((err as Error).message.split('\n')[0] as string);
    }
  })();
  const rates = positiveInts('rates', args.rates);
  const seconds = positiveInt('seconds', args.seconds);
  const rounds = positiveInt('rounds', args.rounds);
  const maxInFlight = positiveInt('max-in-flight', args['max-in-flight']);
  if (args.child) {
    await builtinChild(
      args.child,
      rates[0] as number,
      seconds,
      maxInFlight,
      args.history ?? join(tmpdir(), 'cb-vs-vegeta.ndjson'),
    );
    return;
  }

  const vegeta = ensureVegeta();
  const version = (await run(vegeta, ['-version'])).split('\n')[0];
  console.log(`vs-vegeta: node ${process.version}, vegeta ${version}, load average ${load()}`);
  const server = await startTrivialServer();
  const dir = mkdtempSync(join(tmpdir(), 'cb-vs-vegeta-'));
  const results: Measured[] = [];
  try {
    // Both tools drive the server once before the first measured run, unrecorded: its JIT then
    // has compiled for both tools' requests (trivial-server.ts says what a cold shape costs).
    const warmRate = Math.max(...rates);
    await warmTrivialServer(server.url, warmRate, WARM_SECONDS);
    await runVegeta(vegeta, server.url, warmRate, WARM_SECONDS, dir, 0, maxInFlight);
    console.log(
      `warm-up (not measured): the built-in driver, then vegeta, ${WARM_SECONDS} s each at ${warmRate} req/s`,
    );
    console.log(
      '\n| round | tool | rate | achieved req/s | dropped | dropped s0 | p50 ms | p99 ms | p99 s0 ms | max ms | lag p99 ms | errors | CPU s | cores | CPU µs/req | peak RSS MB | machine stall ms | stalls ≥ cap/rate | steal ms | load |',
    );
    console.log(`|${'---|'.repeat(20)}`);
    for (const rate of rates) {
      for (let round = 1; round <= rounds; round++) {
        const order = round % 2 === 1 ? (['builtin', 'vegeta'] as const) : (['vegeta', 'builtin'] as const);
        for (const tool of order) {
          const m =
            tool === 'builtin'
              ? await runBuiltin(server.url, rate, seconds, maxInFlight, dir, round)
              : await runVegeta(vegeta, server.url, rate, seconds, dir, round, maxInFlight);
          results.push(m);
          console.log(row(m));
        }
      }
    }
    console.log(
      `\nper second (the start-up): requests sent / dropped / p99 ms in seconds 0..${BREAKDOWN_SECONDS - 1}`,
    );
    console.log(
      `| round | tool | rate | ${Array.from({ length: BREAKDOWN_SECONDS }, (_, i) => `s${i}`).join(' | ')} |`,
    );
    console.log(`|---|---|---|${'---|'.repeat(BREAKDOWN_SECONDS)}`);
    for (const m of results) {
      const cells = m.perSecond.map((p) => `${p.sent} / ${p.dropped} / ${p.p99.toFixed(2)}`);
      console.log(`| ${m.round} | ${m.tool} | ${m.rate} | ${cells.join(' | ')} |`);
    }
    console.log(
      `\nmedians per rate, ratio built-in/vegeta (load average ${load()}; whether a ratio is a tested difference: the lines after the table):`,
    );
    console.log(
      '| rate | tool | achieved req/s | dropped | p50 ms | p99 ms | p99 s0 ms | cores | CPU µs/req | peak RSS MB |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const rate of rates) {
      const med = (tool: Measured['tool']) => {
        const ms = results.filter((r) => r.rate === rate && r.tool === tool);
        return {
          achieved: median(ms.map((m) => m.sent / m.seconds)),
          dropped: median(ms.map((m) => m.dropped)),
          p50: median(ms.map((m) => m.p50)),
          p99: median(ms.map((m) => m.p99)),
          p99s0: median(ms.map((m) => m.p99s0)),
          cores: median(ms.map((m) => m.cpuS / m.seconds)),
          cpuReq: median(ms.map(cpuPerReqUs)),
          rss: median(ms.map((m) => m.peakRssMB)),
        };
      };
      const b = med('builtin');
      const v = med('vegeta');
      const ratio = (x: number, y: number) => (y > 0 ? `${(x / y).toFixed(2)}×` : '-');
      const line = (tool: string, x: typeof b) =>
        `| ${rate} | ${tool} | ${x.achieved.toFixed(1)} | ${x.dropped} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.p99s0.toFixed(2)} | ${x.cores.toFixed(2)} | ${x.cpuReq.toFixed(1)} | ${x.rss.toFixed(1)} |`;
      console.log(line('builtin', b));
      console.log(line('vegeta', v));
      console.log(
        `| ${rate} | built-in/vegeta | ${ratio(b.achieved, v.achieved)} | ${b.dropped} vs ${v.dropped} | ${ratio(b.p50, v.p50)} | ${ratio(b.p99, v.p99)} | ${ratio(b.p99s0, v.p99s0)} | ${ratio(b.cores, v.cores)} | ${ratio(b.cpuReq, v.cpuReq)} | ${ratio(b.rss, v.rss)} |`,
      );
    }
    // Whether a ratio is a tested difference: per round (the two tools of a round ran back to
    // back), the median's distribution-free interval; it needs 6 rounds or more.
    for (const rate of rates) {
      const of = (tool: Measured['tool'], round: number) =>
        results.find((r) => r.rate === rate && r.tool === tool && r.round === round);
      const perRound = (pick: (m: Measured) => number) =>
        Array.from({ length: rounds }, (_, i) => {
          const b = of('builtin', i + 1);
          const v = of('vegeta', i + 1);
          return b && v && pick(v) > 0 ? pick(b) / pick(v) : undefined;
        }).filter((x): x is number => x !== undefined);
      for (const [label, pick] of [
        ['CPU µs/req', cpuPerReqUs],
        ['peak RSS', (m: Measured) => m.peakRssMB],
        ['p50 latency', (m: Measured) => m.p50],
        ['p99 latency', (m: Measured) => m.p99],
      ] as const) {
        const xs = perRound(pick);
        const iv = medianInterval(xs);
        const verdict = !iv
          ? `not tested: ${xs.length} round(s), a 95 % interval needs --rounds 6 or more`
          : iv.hi < 1
            ? `built-in lower, 95 % interval ${iv.lo.toFixed(2)}–${iv.hi.toFixed(2)}`
            : iv.lo > 1
              ? `built-in higher, 95 % interval ${iv.lo.toFixed(2)}–${iv.hi.toFixed(2)}`
              : `no significant difference, 95 % interval ${iv.lo.toFixed(2)}–${iv.hi.toFixed(2)}`;
        console.log(
          `${rate} req/s, ${label} built-in/vegeta per round: ${xs.map((x) => x.toFixed(2)).join(' ')} → ${verdict}`,
        );
      }
    }
    // Drops are the driver's when the machine kept running: split the built-in runs by whether
    // the observer saw a stall the in-flight cap cannot absorb (≥ cap / rate).
    for (const rate of rates) {
      const runs = results.filter((r) => r.rate === rate && r.tool === 'builtin');
      const capMs = (maxInFlight / rate) * 1000;
      const calm = runs.filter((r) => r.machine.overCap === 0);
      const stalled = runs.filter((r) => r.machine.overCap > 0);
      const drops = (rs: Measured[]) => rs.map((r) => r.dropped).join(', ') || '-';
      console.log(
        `${rate} req/s, built-in drops: ${calm.length} run(s) without a machine stall ≥ ${capMs.toFixed(1)} ms: ${drops(calm)}; ${stalled.length} with one: ${drops(stalled)}`,
      );
    }
  } finally {
    server.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`vs-vegeta: ${(err as Error).message}`);
  process.exitCode = 1;
});
