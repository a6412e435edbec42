/**
 * The built-in open-model load generator, on its own thread so that the pipeline's work (fault
 * timeline, stats polling) can never delay a send, and the driver's CPU can be measured apart.
 *
 * Measurement rules (docs/measurements.md): arrivals are scheduled by time whatever the responses do;
 * latency runs from the *scheduled* time, so a stalled server shows up in every request that
 * should have been sent during the stall (no coordinated omission); an arrival that finds the
 * in-flight cap full is dropped and counted.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import type { Scenario } from '../../scenarios/types.ts';
import {
  arrivalOffsets,
  createRequestGenerator,
  createRng,
  type PlannedRequest,
  parseResponse,
  totalDurationMs,
} from '../../scenarios/workload.ts';
import type { CellSeries, HistoryRecord, LoadStats, OpStats } from '../results/schema.ts';
import { createHistogram, type Histogram, percentileMs, recordMs, summarize } from './histogram.ts';

export interface WorkerInput {
  scenario: Scenario;
  targets: string[];
  seed: number;
  historyPath: string;
  startAt?: number;
  /** Boot, say 'ready', and take the start time from the parent's StartMessage. */
  waitForStart?: boolean;
  requestTimeoutMs: number;
  /** Upper bound on connections per target (the in-flight cap is spread over targets). */
  maxConnectionsPerTarget: number;
}

export interface WorkerProgress {
  elapsedMs: number;
  sent: number;
  completed: number;
  errors: number;
  dropped: number;
  ratePerSec: number;
}

function baseRecord(
  plan: PlannedRequest,
  scheduled: number,
  start: number,
  end: number,
  status: number,
  instance: number,
): HistoryRecord {
  return { op: plan.op, kind: plan.kind, key: plan.key, scheduled, start, end, status, instance };
}

export interface WorkerResult {
  load: LoadStats;
  series: Pick<CellSeries, 't0' | 'requests' | 'errors' | 'dropped' | 'p50' | 'p99'>;
  hottestKeys: { key: string; requests: number }[];
  loadStartedAt: number;
  aborted: boolean;
  /** How late the driver was ready for `startAt` (ms, 0 when on time); overdue arrivals show as lag. */
  startLateMs: number;
}

export type WorkerMessage =
  | { type: 'progress'; progress: WorkerProgress }
  | { type: 'done'; result: WorkerResult }
  | { type: 'error'; message: string }
  /** Sent when `waitForStart` is set and the worker is ready; the parent answers with StartMessage. */
  | { type: 'ready' };

export interface StartMessage {
  type: 'start';
  startAt: number;
}

let startResolve: ((startAt: number) => void) | undefined;
const startGiven = new Promise<number>((r) => {
  startResolve = r;
});

const now = () => performance.timeOrigin + performance.now();

const parking = new Int32Array(new SharedArrayBuffer(4));
/** How long one fine-grained nap blocks the thread; responses wait at most this long to be read. */
const NAP_MS = 0.2;

/**
 * Waits out a gap before the next arrival. Timers fire up to ~1 ms late, so a timer covers the gap
 * minus 1 ms; the rest is spent in short blocking naps (Atomics.wait, sub-millisecond and
 * precise) alternating with an event-loop turn so responses keep being read. A pure setImmediate
 * spin would be as precise but burns a whole core that the target on this machine needs.
 */
async function pause(gap: number): Promise<void> {
  if (gap > 1.5) {
    await sleep(gap - 1);
    return;
  }
  Atomics.wait(parking, 0, 0, Math.min(gap, NAP_MS));
  await immediate();
}

async function waitUntil(epochMs: number, isAborted: () => boolean): Promise<void> {
  for (;;) {
    const gap = epochMs - now();
    if (gap <= 0 || isAborted()) return;
    await pause(Math.min(gap, 50));
  }
}

/** History lines are batched into 256 KB writes: bounded memory, few syscalls, no backpressure. */
class HistoryWriter {
  private fd: number;
  private chunks: string[] = [];
  private size = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(rec: HistoryRecord): void {
    const line = `${JSON.stringify(rec)}\n`;
    this.chunks.push(line);
    this.size += line.length;
    if (this.size >= 256 * 1024) this.flush();
  }
  flush(): void {
    if (this.chunks.length === 0) return;
    writeSync(this.fd, this.chunks.join(''));
    this.chunks = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

interface OpAcc {
  count: number;
  errors: number;
  hist: Histogram;
  statuses: Record<string, number>;
}

function opAcc(): OpAcc {
  return { count: 0, errors: 0, hist: createHistogram(), statuses: {} };
}

function opStats(a: OpAcc): OpStats {
  return { count: a.count, errors: a.errors, latency: summarize(a.hist), statuses: a.statuses };
}

function threadCpuMicros(): number {
  const u = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage();
  return u.user + u.system;
}

/**
 * Warms undici (its llhttp WebAssembly is compiled on the first connection, tens of ms of blocked
 * thread) and the JIT on a throwaway in-thread server, so neither lands inside the measured load
 * and the target sees no extra requests.
 */
async function warmUp(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end('{"versions":{"user:1":1}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 8 });
  try {
    for (let round = 0; round < 25; round++) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const res = await pool.request({ path: '/users/1', method: 'GET' });
          JSON.parse(await res.body.text());
        }),
      );
    }
  } finally {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function run(input: WorkerInput, isAborted: () => boolean): Promise<WorkerResult> {
  await warmUp();
  const { scenario, targets, seed } = input;
  const load = scenario.load;
  const plannedMs = totalDurationMs(load);
  const cap = load.maxInFlight;
  const connections = Math.max(
    4,
    Math.min(input.maxConnectionsPerTarget, Math.ceil(cap / Math.max(1, targets.length))),
  );
  const pools = targets.map(
    (url) =>
      new Pool(url, {
        connections,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        headersTimeout: input.requestTimeoutMs,
        bodyTimeout: input.requestTimeoutMs,
        connect: { timeout: Math.min(5000, input.requestTimeoutMs) },
      }),
  );
  const history = new HistoryWriter(input.historyPath);
  const nextRequest = createRequestGenerator(scenario, seed);
  // A separate stream for arrival times, so Poisson gaps do not shift the request sequence.
  const arrivals = arrivalOffsets(load, createRng(seed ^ 0x5eed1e55));

  const overall = opAcc();
  const perOp = new Map<string, OpAcc>();
  const lag = createHistogram();
  const seconds = Math.max(1, Math.ceil(plannedMs / 1000));
  const secRequests = new Array<number>(seconds).fill(0);
  const secErrors = new Array<number>(seconds).fill(0);
  const secDropped = new Array<number>(seconds).fill(0);
  const secHist: Histogram[] = [];
  const keyCounts = new Map<string, number>();

  let scheduled = 0;
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let dropped = 0;
  let inFlight = 0;
  let rr = 0;
  let lastSendOffset = 0;
  let peakRss = process.memoryUsage.rss();

  // A given start time is kept even when we are late, so that faults scheduled on the same origin
  // stay aligned; being late then shows as scheduling lag and in `startLateMs`.
  let readyAt = now();
  let startAt = input.startAt;
  if (input.waitForStart) {
    parentPort?.postMessage({ type: 'ready' } satisfies WorkerMessage);
    startAt = await startGiven;
    readyAt = now();
  }
  const t0 = startAt ?? readyAt + 20;
  const startLateMs = Math.max(0, Math.round(readyAt - t0));
  await waitUntil(t0, isAborted);
  const cpu0 = threadCpuMicros();

  let drained: (() => void) | undefined;
  let pumpOnCompletion: (() => void) | undefined;
  const finish = (
    secIndex: number,
    opName: string,
    rec: HistoryRecord,
    latencyMs: number,
    isError: boolean,
    statusKey: string,
  ) => {
    inFlight--;
    completed++;
    const acc = perOp.get(opName) as OpAcc;
    acc.count++;
    overall.count++;
    acc.statuses[statusKey] = (acc.statuses[statusKey] ?? 0) + 1;
    overall.statuses[statusKey] = (overall.statuses[statusKey] ?? 0) + 1;
    if (isError) {
      errors++;
      acc.errors++;
      overall.errors++;
      secErrors[secIndex] = (secErrors[secIndex] ?? 0) + 1;
    }
    recordMs(acc.hist, latencyMs);
    recordMs(overall.hist, latencyMs);
    let sh = secHist[secIndex];
    if (!sh) {
      sh = createHistogram('packed');
      secHist[secIndex] = sh;
    }
    recordMs(sh, latencyMs);
    history.write(rec);
    if (inFlight === 0 && drained) drained();
    pumpOnCompletion?.();
  };

  const dispatch = (scheduledAt: number) => {
    scheduled++;
    // Drawn for dropped arrivals too: the request sequence of a seed must not depend on drops.
    const plan = nextRequest();
    const secIndex = Math.min(seconds - 1, Math.floor((scheduledAt - t0) / 1000));
    if (inFlight >= cap) {
      dropped++;
      secDropped[secIndex] = (secDropped[secIndex] ?? 0) + 1;
      return;
    }
    const instance = rr;
    rr = (rr + 1) % pools.length;
    inFlight++;
    sent++;
    secRequests[secIndex] = (secRequests[secIndex] ?? 0) + 1;
    keyCounts.set(plan.key, (keyCounts.get(plan.key) ?? 0) + 1);
    if (!perOp.has(plan.op)) perOp.set(plan.op, opAcc());
    const start = now();
    recordMs(lag, start - scheduledAt);
    lastSendOffset = start - t0;
    const pool = pools[instance] as Pool;
    pool
      .request({
        path: plan.path,
        method: plan.method,
        body: plan.body,
        headers: plan.body ? { 'content-type': 'application/json' } : undefined,
      })
      .then(async (res) => {
        let parsed: unknown;
        let text = '';
        try {
          text = await res.body.text();
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        const end = now();
        const status = res.statusCode;
        const isError = status >= 400;
        const info = parseResponse(plan.op, status, parsed);
        const rec = baseRecord(plan, scheduledAt, start, end, status, instance);
        if (info.versions) rec.versions = info.versions;
        const value = info.value ?? plan.value;
        if (value !== undefined) rec.value = value;
        if (isError) {
          const err =
            parsed && typeof parsed === 'object' ? (parsed as { error?: unknown }).error : undefined;
          rec.error = typeof err === 'string' ? err : `HTTP ${status}`;
        }
        finish(secIndex, plan.op, rec, end - scheduledAt, isError, String(status));
      })
      .catch((err: unknown) => {
        const end = now();
        const e = err as { code?: string; message?: string };
        const rec = baseRecord(plan, scheduledAt, start, end, 0, instance);
        rec.error = e.code ?? e.message ?? String(err);
        if (plan.value !== undefined) rec.value = plan.value;
        finish(secIndex, plan.op, rec, end - scheduledAt, true, '0');
      });
  };

  // Progress and RSS sampling: once a second, cheap enough to leave on.
  let lastSent = 0;
  const debug = process.env.CACHEBENCH_DRIVER_DEBUG === '1';
  const progressTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    if (debug) {
      const m = process.memoryUsage();
      const mb = (v: number) => Math.round(v / 1048576);
      process.stderr.write(
        `[driver] t=${Math.round(now() - t0)} inFlight=${inFlight} sent=${sent} dropped=${dropped} rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)}\n`,
      );
    }
    const progress: WorkerProgress = {
      elapsedMs: Math.round(now() - t0),
      sent,
      completed,
      errors,
      dropped,
      ratePerSec: sent - lastSent,
    };
    lastSent = sent;
    parentPort?.postMessage({ type: 'progress', progress } satisfies WorkerMessage);
  }, 1000);
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 200);

  // The scheduler: send everything that is due, then wait for the next arrival (see pause()).
  // pump() also runs after every completion: a burst of responses (a target that stalled and
  // recovered) is handled callback by callback in one event-loop phase, and sends due meanwhile
  // go out between those callbacks instead of after the whole burst.
  let next = arrivals.next();
  let pumping = false;
  const pump = (limit: number): boolean => {
    if (pumping) return true;
    pumping = true;
    try {
      for (let n = 0; n < limit; n++) {
        if (next.done || isAborted()) return false;
        const due = t0 + next.value;
        if (due > now()) return false;
        dispatch(due);
        next = arrivals.next();
      }
      return true; // more may be due: yield to I/O first
    } finally {
      pumping = false;
    }
  };
  pumpOnCompletion = () => pump(64);
  while (!next.done && !isAborted()) {
    // After a long stall everything overdue goes out at once: let I/O in every 256 sends.
    if (pump(256)) {
      await immediate();
      continue;
    }
    if (next.done || isAborted()) break;
    const gap = t0 + next.value - now();
    if (gap > 0) await pause(gap);
  }
  pumpOnCompletion = undefined;
  const aborted = isAborted();
  // Arrivals left unscheduled by an abort are neither sent nor dropped: the run is cut short.

  // Wait for in-flight requests: they are bounded by the request timeout.
  if (inFlight > 0) {
    const drainTimeout = aborted ? 2000 : input.requestTimeoutMs + 2000;
    await Promise.race([
      new Promise<void>((resolve) => {
        drained = resolve;
      }),
      sleep(drainTimeout),
    ]);
  }
  const endedAt = now();
  const cpuMicros = threadCpuMicros() - cpu0;
  clearInterval(progressTimer);
  clearInterval(rssTimer);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  await Promise.allSettled(pools.map((p) => p.destroy()));
  history.close();

  const durationMs = Math.max(aborted ? lastSendOffset : plannedMs, lastSendOffset);
  let expected = 0;
  for (const p of load.phases) expected += (((p.rate + (p.to ?? p.rate)) / 2) * p.duration) / 1000;
  const perOpStats: Record<string, OpStats> = {};
  for (const [op, acc] of [...perOp.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    perOpStats[op] = opStats(acc);
  }
  const loadStats: LoadStats = {
    requestedRate: plannedMs > 0 ? Math.round((expected / (plannedMs / 1000)) * 1000) / 1000 : 0,
    achievedRate: durationMs > 0 ? Math.round((sent / (durationMs / 1000)) * 1000) / 1000 : 0,
    scheduled,
    sent,
    completed,
    dropped,
    errors,
    durationMs: Math.round(durationMs),
    schedulingLag: summarize(lag),
    driverCpu: Math.round((cpuMicros / 1000 / Math.max(1, endedAt - t0)) * 1000) / 1000,
    driverPeakRssMB: Math.round((peakRss / (1024 * 1024)) * 10) / 10,
    overall: opStats(overall),
    perOp: perOpStats,
  };
  const hottestKeys = [...keyCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([key, requests]) => ({ key, requests }));
  return {
    load: loadStats,
    series: {
      t0,
      requests: secRequests,
      errors: secErrors,
      dropped: secDropped,
      p50: secRequests.map((_, i) => (secHist[i] ? percentileMs(secHist[i], 50) : 0)),
      p99: secRequests.map((_, i) => (secHist[i] ? percentileMs(secHist[i], 99) : 0)),
    },
    hottestKeys,
    loadStartedAt: t0,
    aborted,
    startLateMs,
  };
}

if (parentPort) {
  let abortFlag = false;
  parentPort.on('message', (m: { type?: string; startAt?: number }) => {
    if (m?.type === 'abort') {
      abortFlag = true;
      // An abort before the start must not leave the worker waiting for it.
      startResolve?.(now());
    } else if (m?.type === 'start' && typeof m.startAt === 'number') startResolve?.(m.startAt);
  });
  run(workerData as WorkerInput, () => abortFlag).then(
    (result) => {
      parentPort?.postMessage({ type: 'done', result } satisfies WorkerMessage);
      parentPort?.close();
    },
    (err: unknown) => {
      parentPort?.postMessage({
        type: 'error',
        message: err instanceof Error ? err.message : String(err),
      } satisfies WorkerMessage);
      parentPort?.close();
    },
  );
}
