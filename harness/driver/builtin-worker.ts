/**
 * The built-in open-model load generator, in a process of its own (started by builtin.ts): the
 * pipeline's work (fault timeline, stats polling, its garbage collection) can never delay a send,
 * and the driver's CPU and memory are its own process's, measured apart from the harness.
 *
 * Measurement rules (docs/measurements.md): arrivals are scheduled by time whatever the responses
 * do; latency runs from the *scheduled* time, so a stalled server shows up in every request that
 * should have been sent during the stall (no coordinated omission); an arrival that finds the
 * in-flight cap full is dropped and counted.
 *
 * Footprint: nothing grows with the number of operations. Each request is one small handler
 * object on undici's dispatch API (no promise chain, no body stream); history lines go through a
 * fixed 64 KB buffer to the file; latencies go into HDR histograms.
 */
import { closeSync, write as fsWrite, openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { devNull } from 'node:os';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { buildConnector as BuildConnectorT, Dispatcher, Pool as PoolT } from 'undici';
import type { Scenario } from '../../scenarios/types.ts';
import {
  arrivalOffsets,
  createRequestGenerator,
  createRng,
  isErrorStatus,
  type PlannedRequest,
  parseResponse,
  totalDurationMs,
} from '../../scenarios/workload.ts';
import type { CellSeries, HistoryRecord, LoadStats, OpStats } from '../results/schema.ts';
import { createHistogram, type Histogram, percentileMs, recordMs, summarize } from './histogram.ts';

// Only undici's connection pool and connector: the package index also loads fetch, WebSocket,
// caches and mocks, about 15 MB of RSS this process never uses.
const requireCjs = createRequire(import.meta.url);
const Pool = requireCjs('undici/lib/dispatcher/pool.js') as typeof PoolT;
const buildConnector = requireCjs('undici/lib/core/connect.js') as typeof BuildConnectorT;

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

/** Parent → driver process. `input` starts it; `exit` lets it go after it reported. */
export type ParentMessage =
  | { type: 'input'; input: WorkerInput }
  | StartMessage
  | { type: 'abort' }
  | { type: 'exit' };

export interface StartMessage {
  type: 'start';
  startAt: number;
}

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

/** How long the driver runs its own load loop on a throwaway server before the real run. */
const WARM_UP_MS = 200;
const HISTORY_CHUNK = 64 * 1024;
/** Chunks waiting for the disk before writes turn synchronous (1 MB: a stalled disk cannot grow memory). */
const HISTORY_MAX_QUEUED = 16;

/**
 * History lines are packed into 64 KB chunks and written in the background (libuv's thread pool),
 * each at its own file offset: a disk that stalls for a moment (page-cache writeback on a busy
 * machine) never blocks the scheduler's thread, and memory stays bounded — past
 * HISTORY_MAX_QUEUED waiting chunks the writer falls back to writing synchronously (backpressure,
 * nothing dropped).
 */
export class HistoryWriter {
  private readonly fd: number;
  private buf: Buffer = Buffer.allocUnsafe(HISTORY_CHUNK);
  private used = 0;
  /** File offset of the next chunk. */
  private pos = 0;
  private readonly queue: { buf: Buffer; len: number; pos: number }[] = [];
  private readonly spare: Buffer[] = [];
  private inFlight: Promise<void> | undefined;
  private failed: Error | undefined;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(rec: HistoryRecord): void {
    const line = `${JSON.stringify(rec)}\n`;
    // A JS string of n UTF-16 units is at most 3n bytes of UTF-8.
    if (this.used + line.length * 3 > HISTORY_CHUNK) this.rotate();
    if (line.length * 3 > HISTORY_CHUNK) {
      const big = Buffer.from(line);
      this.enqueue(big, big.length);
    } else this.used += this.buf.write(line, this.used);
  }
  private rotate(): void {
    if (this.used === 0) return;
    this.enqueue(this.buf, this.used);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(HISTORY_CHUNK);
    this.used = 0;
  }
  private enqueue(buf: Buffer, len: number): void {
    this.queue.push({ buf, len, pos: this.pos });
    this.pos += len;
    if (this.queue.length > HISTORY_MAX_QUEUED) this.writeQueuedSync();
    this.kick();
  }
  /** One background write at a time, oldest chunk first. */
  private kick(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const chunk = this.queue.shift() as { buf: Buffer; len: number; pos: number };
    this.inFlight = writeFully(this.fd, chunk.buf, chunk.len, chunk.pos).then(
      () => {
        if (chunk.buf.length === HISTORY_CHUNK && this.spare.length < 2) this.spare.push(chunk.buf);
        this.inFlight = undefined;
        this.kick();
      },
      (err: Error) => {
        this.failed ??= err;
        this.inFlight = undefined;
      },
    );
  }
  private writeQueuedSync(): void {
    for (const c of this.queue.splice(0)) {
      let off = 0;
      while (off < c.len) off += writeSync(this.fd, c.buf, off, c.len - off, c.pos + off);
    }
  }
  /** Writes what is left, waits for the background write, closes; throws if any write failed. */
  async close(): Promise<void> {
    this.rotate();
    this.writeQueuedSync();
    await this.inFlight;
    closeSync(this.fd);
    if (this.failed) throw new Error(`history file: ${this.failed.message}`);
  }
}

async function writeFully(fd: number, buf: Buffer, len: number, pos: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const n = await new Promise<number>((resolve, reject) =>
      fsWrite(fd, buf, off, len - off, pos + off, (err, written) => (err ? reject(err) : resolve(written))),
    );
    off += n;
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

/** The whole process: this thread, GC helpers and libuv's pool. */
function processCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** What happens to one request's outcome (the measured run, or the warm-up that discards it). */
interface Sink {
  complete(x: Exchange, status: number, body: string): void;
  fail(x: Exchange, err: unknown): void;
}

/**
 * One request on undici's dispatch API: collects the status and body and hands them to the sink.
 * Cheaper than `pool.request()` (no promise chain, no Readable body stream per request).
 */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  private chunk: Buffer | undefined;
  private more: Buffer[] | undefined;
  readonly sink: Sink;
  readonly plan: PlannedRequest;
  readonly scheduled: number;
  readonly start: number;
  readonly instance: number;
  readonly secIndex: number;
  constructor(
    sink: Sink,
    plan: PlannedRequest,
    scheduled: number,
    start: number,
    instance: number,
    secIndex: number,
  ) {
    this.sink = sink;
    this.plan = plan;
    this.scheduled = scheduled;
    this.start = start;
    this.instance = instance;
    this.secIndex = secIndex;
  }
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.chunk === undefined) this.chunk = chunk;
    else if (this.more === undefined) this.more = [this.chunk, chunk];
    else this.more.push(chunk);
  }
  onResponseEnd(): void {
    const body = this.more
      ? Buffer.concat(this.more).toString('utf8')
      : this.chunk
        ? this.chunk.toString('utf8')
        : '';
    this.sink.complete(this, this.status, body);
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.sink.fail(this, err);
  }
}

function requestOptions(plan: PlannedRequest): Dispatcher.DispatchOptions {
  return plan.body
    ? {
        path: plan.path,
        method: plan.method,
        body: plan.body,
        headers: { 'content-type': 'application/json' },
      }
    : { path: plan.path, method: plan.method };
}

/**
 * Opens connections to a target before the first arrival, so second 0 pays no TCP handshakes and
 * no burst of extra connections opened while the first ones are still connecting. Connect-only:
 * the target sees sockets but no requests, so its counters stay the run's own. A failed connect
 * is left to the pool (the requests then fail or connect as usual).
 */
class Preconnected {
  private readonly spare: Socket[] = [];
  private readonly fallback: ReturnType<typeof BuildConnectorT>;
  private static readonly onIdleError = function (this: Socket) {
    this.destroy();
  };
  constructor(connectTimeoutMs: number) {
    this.fallback = buildConnector({ timeout: connectTimeoutMs });
  }
  async open(url: string, n: number, timeoutMs: number): Promise<void> {
    const u = new URL(url);
    const port = Number(u.port || 80);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve) => {
            const socket = netConnect({ host, port });
            const timer = setTimeout(() => socket.destroy(), timeoutMs);
            socket.setNoDelay(true).setKeepAlive(true, 60_000);
            socket.on('error', Preconnected.onIdleError);
            socket.once('connect', () => {
              clearTimeout(timer);
              this.spare.push(socket);
              resolve();
            });
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
  /** The pool's connector: a spare open socket when there is one, else a new connection. */
  readonly connect: BuildConnectorT.connector = (opts, callback) => {
    for (let s = this.spare.pop(); s; s = this.spare.pop()) {
      if (s.destroyed || s.readyState !== 'open') continue;
      s.off('error', Preconnected.onIdleError);
      const socket = s;
      // Asynchronously, as undici's own connector answers.
      process.nextTick(() => callback(null, socket));
      return;
    }
    this.fallback(opts, callback);
  };
  close(): void {
    for (const s of this.spare.splice(0)) s.destroy();
  }
}

/**
 * Warms undici (its llhttp WebAssembly is compiled on the first connection) and the JIT for the
 * whole measured path on a throwaway in-process server, so neither lands inside the measured load
 * and the target sees no extra requests. The warm-up is runLoad itself, for 200 ms:
 * the closures a run creates (dispatch, finish, pump) share their feedback and optimized code
 * with the next run's, so second 0 of the real run starts on warm code.
 */
async function warmUp(input: WorkerInput, isAborted: () => boolean, durationMs: number): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end('{"user":{"id":1},"versions":{"user:1":1},"value":1}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const load = input.scenario.load;
  const rate = Math.min(4000, Math.max(1000, peakRate(load)));
  try {
    await runLoad(
      {
        ...input,
        scenario: { ...input.scenario, load: { ...load, phases: [{ duration: durationMs, rate }] } },
        targets: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`],
        historyPath: devNull,
        startAt: undefined,
        waitForStart: false,
      },
      isAborted,
      () => Promise.resolve(now()),
      () => {},
      false,
    );
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function historyRecord(x: Exchange, status: number, text: string, end: number): HistoryRecord {
  const plan = x.plan;
  const rec: HistoryRecord = {
    op: plan.op,
    kind: plan.kind,
    key: plan.key,
    scheduled: x.scheduled,
    start: x.start,
    end,
    status,
    instance: x.instance,
  };
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const info = parseResponse(plan.op, status, parsed);
  if (info.versions) rec.versions = info.versions;
  const value = info.value ?? plan.value;
  if (value !== undefined) rec.value = value;
  if (status >= 400) {
    const err = parsed && typeof parsed === 'object' ? (parsed as { error?: unknown }).error : undefined;
    rec.error = typeof err === 'string' ? err : `HTTP ${status}`;
  }
  return rec;
}

function failedRecord(x: Exchange, err: unknown, end: number): HistoryRecord {
  const plan = x.plan;
  const e = err as { code?: string; message?: string };
  const rec: HistoryRecord = {
    op: plan.op,
    kind: plan.kind,
    key: plan.key,
    scheduled: x.scheduled,
    start: x.start,
    end,
    status: 0,
    instance: x.instance,
  };
  rec.error = e.code ?? e.message ?? String(err);
  if (plan.value !== undefined) rec.value = plan.value;
  return rec;
}

/** Peak arrival rate of the load shape (req/s). */
function peakRate(load: Scenario['load']): number {
  return Math.max(1, ...load.phases.map((p) => Math.max(p.rate, p.to ?? p.rate)));
}

export async function runLoad(
  input: WorkerInput,
  isAborted: () => boolean,
  waitForStart: () => Promise<number>,
  post: (m: WorkerMessage) => void,
  warm = true,
): Promise<WorkerResult> {
  const { scenario, targets, seed } = input;
  if (warm) {
    // A fixed start time comes first (faults are aligned to it): a late boot shortens the warm-up,
    // keeping ~250 ms for the connections and the start; below 50 ms it is skipped.
    const budget = input.startAt === undefined ? WARM_UP_MS : input.startAt - now() - 250;
    const warmMs = Math.min(WARM_UP_MS, budget);
    if (warmMs >= 50) await warmUp(input, isAborted, Math.round(warmMs));
  }
  const load = scenario.load;
  const plannedMs = totalDurationMs(load);
  const cap = load.maxInFlight;
  const connections = Math.max(
    4,
    Math.min(input.maxConnectionsPerTarget, Math.ceil(cap / Math.max(1, targets.length))),
  );
  const connectTimeout = Math.min(5000, input.requestTimeoutMs);
  // Enough open connections for ~4 ms of the peak rate per target; the pool opens more as needed.
  const perTarget = Math.ceil(peakRate(load) / targets.length);
  const warmConnections = Math.min(connections, Math.max(4, Math.ceil(perTarget / 250)));
  const preconnected = targets.map(() => new Preconnected(connectTimeout));
  await Promise.all(targets.map((url, i) => preconnected[i]?.open(url, warmConnections, connectTimeout)));
  const pools = targets.map(
    (url, i) =>
      new Pool(url, {
        connections,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        headersTimeout: input.requestTimeoutMs,
        bodyTimeout: input.requestTimeoutMs,
        connect: (preconnected[i] as Preconnected).connect,
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

  // A given start time is kept even when we are late, so that faults scheduled on the same origin
  // stay aligned; being late then shows as scheduling lag and in `startLateMs`.
  let readyAt = now();
  let startAt = input.startAt;
  if (input.waitForStart) {
    post({ type: 'ready' });
    startAt = await waitForStart();
    readyAt = now();
  }
  const t0 = startAt ?? readyAt + 20;
  const startLateMs = Math.max(0, Math.round(readyAt - t0));
  await waitUntil(t0, isAborted);
  const cpu0 = processCpuMicros();

  let drained: (() => void) | undefined;
  let pumpOnCompletion: (() => void) | undefined;
  const finish = (x: Exchange, rec: HistoryRecord, isError: boolean) => {
    inFlight--;
    completed++;
    const latencyMs = rec.end - x.scheduled;
    const statusKey = String(rec.status);
    const acc = perOp.get(x.plan.op) as OpAcc;
    acc.count++;
    overall.count++;
    acc.statuses[statusKey] = (acc.statuses[statusKey] ?? 0) + 1;
    overall.statuses[statusKey] = (overall.statuses[statusKey] ?? 0) + 1;
    if (isError) {
      errors++;
      acc.errors++;
      overall.errors++;
      secErrors[x.secIndex] = (secErrors[x.secIndex] ?? 0) + 1;
    }
    recordMs(acc.hist, latencyMs);
    recordMs(overall.hist, latencyMs);
    let sh = secHist[x.secIndex];
    if (!sh) {
      sh = createHistogram('packed');
      secHist[x.secIndex] = sh;
    }
    recordMs(sh, latencyMs);
    history.write(rec);
    if (inFlight === 0 && drained) drained();
    pumpOnCompletion?.();
  };
  const sink: Sink = {
    complete(x, status, body) {
      finish(x, historyRecord(x, status, body, now()), isErrorStatus(x.plan, status));
    },
    fail(x, err) {
      finish(x, failedRecord(x, err, now()), true);
    },
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
    (pools[instance] as PoolT).dispatch(
      requestOptions(plan),
      new Exchange(sink, plan, scheduledAt, start, instance, secIndex),
    );
  };

  // Progress once a second, cheap enough to leave on.
  let lastSent = 0;
  const debug = process.env.CACHEBENCH_DRIVER_DEBUG === '1';
  const progressTimer = setInterval(() => {
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
    post({ type: 'progress', progress });
  }, 1000);

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
  const cpuMicros = processCpuMicros() - cpu0;
  clearInterval(progressTimer);
  await Promise.allSettled(pools.map((p) => p.destroy()));
  for (const p of preconnected) p.close();
  await history.close();

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
    // The process's own high-water mark; the parent replaces it with what it reads from outside.
    driverPeakRssMB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
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

/**
 * The driver process: takes its input over IPC, reports progress and the result, then waits to be
 * let go (so the parent can read its peak memory while it still exists). Ctrl-C reaches the whole
 * process group; the parent turns it into an abort, so this process ignores SIGINT and keeps what
 * it measured. When the parent goes away, the channel closes and it exits at once.
 */
function main(): void {
  const send = (m: WorkerMessage) => {
    if (process.connected) process.send?.(m);
  };
  let abortFlag = false;
  let startResolve: ((startAt: number) => void) | undefined;
  const startGiven = new Promise<number>((r) => {
    startResolve = r;
  });
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'input') {
      runLoad(
        m.input,
        () => abortFlag,
        () => startGiven,
        send,
      ).then(
        (result) => send({ type: 'done', result }),
        (err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
      );
    } else if (m.type === 'abort') {
      abortFlag = true;
      // An abort before the start must not leave the driver waiting for it.
      startResolve?.(now());
    } else if (m.type === 'start') startResolve?.(m.startAt);
    else if (m.type === 'exit') process.exit(0);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) main();
