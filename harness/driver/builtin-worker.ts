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
 * object on the driver's own keep-alive connections (connections.ts, exchange.ts); history lines stream to the file in 64 KB chunks
 * (history-writer.ts); latencies, per-second figures and per-key counts live in fixed-size
 * structures (tally.ts).
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { devNull } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../../scenarios/types.ts';
import {
  arrivalOffsets,
  createRequestGenerator,
  createRng,
  isErrorStatus,
  type PlannedRequest,
  totalDurationMs,
} from '../../scenarios/workload.ts';
import type { CellSeries, HistoryRecord, LoadStats } from '../results/schema.ts';
import { createServiceRequestGenerator, type ServiceRequestPlan } from '../service/operations.ts';
import { afterGap, now, processCpuMicros, waitUntil } from './clock.ts';
import { openPools, type TargetPool } from './connections.ts';
import { Exchange, failedRecord, historyRecord, type Sink } from './exchange.ts';
import { HistoryWriter } from './history-writer.ts';
import { Tally } from './tally.ts';

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
  /** Service mode: the mix runs as the profile's operations (harness/service/operations.ts). */
  service?: ServiceRequestPlan;
}

export interface WorkerProgress {
  elapsedMs: number;
  sent: number;
  completed: number;
  errors: number;
  dropped: number;
  ratePerSec: number;
  /** The driver process's resident set now (MB). */
  rssMB: number;
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

/**
 * Parent → driver process. `input` starts a load; after it reported, another `input` starts the
 * next one in the same process (a run's cells share it), and `exit` lets it go.
 */
export type ParentMessage =
  | { type: 'input'; input: WorkerInput }
  | StartMessage
  | { type: 'abort' }
  | { type: 'exit' };

export interface StartMessage {
  type: 'start';
  startAt: number;
}

/** How long the driver runs its own load loop on a throwaway server before the real run. */
const WARM_UP_MS = 200;

/**
 * Warms the JIT for the whole measured path on a throwaway in-process server, so neither lands inside the measured load
 * and the target sees no extra requests. The warm-up is runLoad itself: the closures a run creates
 * (dispatch, finish, pump) share their feedback and optimized code with the next run's, so
 * second 0 of the real run starts on warm code.
 */
async function warmUp(input: WorkerInput, isAborted: () => boolean, durationMs: number): Promise<void> {
  const sockets = new Set<Socket>();
  const server = createServer(answerCanned);
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
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
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const CANNED_BODY = '{"user":{"id":1},"versions":{"user:1":1},"value":1}';
const CANNED = Buffer.from(
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${CANNED_BODY.length}\r\nconnection: keep-alive\r\n\r\n${CANNED_BODY}`,
);
const END_OF_HEAD = Buffer.from('\r\n\r\n');

/**
 * The warm-up server: a raw socket that answers every request with the same small JSON 200.
 * A request is counted by the blank line ending its head (the driver's bodies are one-line JSON),
 * looked for across chunk boundaries. Not node:http's server: its code and objects would only
 * add to the driver's resident set.
 */
function answerCanned(socket: Socket): void {
  let tail = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
    let n = 0;
    for (let i = data.indexOf(END_OF_HEAD); i >= 0; i = data.indexOf(END_OF_HEAD, i + 4)) n++;
    tail = Buffer.from(data.subarray(Math.max(0, data.length - 3)));
    for (let i = 0; i < n; i++) socket.write(CANNED);
  });
}

/**
 * Operations whose send and receive paths this process has run in a warm-up already. A process
 * that serves a run's cells one after another warms up for its first load and again only when a
 * later scenario adds an operation (a write's body, say): its JIT state is still there.
 */
const warmedOps = new Set<string>();

/**
 * A fixed start time comes first (faults are aligned to it): a late boot shortens the warm-up,
 * keeping ~250 ms for the connections and the start; below 50 ms it is skipped.
 */
async function warmUpBefore(input: WorkerInput, isAborted: () => boolean): Promise<void> {
  const ops = Object.entries(input.scenario.mix)
    .filter(([, w]) => (w ?? 0) > 0)
    .map(([op]) => op);
  const budget = input.startAt === undefined ? WARM_UP_MS : input.startAt - now() - 250;
  const warmMs = Math.min(WARM_UP_MS, budget);
  if (warmMs >= 50 && !ops.every((op) => warmedOps.has(op))) {
    await warmUp(input, isAborted, Math.round(warmMs));
    for (const op of ops) warmedOps.add(op);
  }
  // The warm-up's garbage is collected now (builtin.ts starts this process with --expose-gc),
  // not by a full collection pausing the sends of second 0; it also hands its pages back.
  (globalThis as { gc?: () => void }).gc?.();
}

/** Peak arrival rate of the load shape (req/s). */
function peakRate(load: Scenario['load']): number {
  return Math.max(1, ...load.phases.map((p) => Math.max(p.rate, p.to ?? p.rate)));
}

/** Connections per target: the in-flight cap spread over targets, and how many to open up front. */
function connectionPlan(input: WorkerInput): { connections: number; preconnect: number } {
  const { load } = input.scenario;
  const n = Math.max(1, input.targets.length);
  const connections = Math.max(4, Math.min(input.maxConnectionsPerTarget, Math.ceil(load.maxInFlight / n)));
  // Open connections for ~20 ms of the peak rate per target: a response hiccup that long is met
  // by sockets already open, not by handshakes in the middle of it. The pool opens more as needed.
  const preconnect = Math.min(connections, Math.max(4, Math.ceil(peakRate(load) / n / 50)));
  return { connections, preconnect };
}

/**
 * The start of the schedule (t0). A given start time is kept even when we are late, so that
 * faults scheduled on the same origin stay aligned; being late then shows as scheduling lag and
 * in `startLateMs`.
 */
async function startTime(
  input: WorkerInput,
  waitForStart: () => Promise<number>,
  post: (m: WorkerMessage) => void,
): Promise<{ t0: number; startLateMs: number }> {
  let readyAt = now();
  let startAt = input.startAt;
  if (input.waitForStart) {
    post({ type: 'ready' });
    startAt = await waitForStart();
    readyAt = now();
  }
  const t0 = startAt ?? readyAt + 20;
  return { t0, startLateMs: Math.max(0, Math.round(readyAt - t0)) };
}

/**
 * Sends every arrival when it is due and books what comes back. `pump` sends everything due
 * (up to a limit); it also runs after every completion, so during a burst of responses (a target
 * that stalled and recovered) sends due meanwhile go out between those callbacks instead of after
 * the whole burst.
 */
class Sender implements Sink {
  private next: IteratorResult<number>;
  private pumping = false;
  private rr = 0;
  /** Offset from t0 of the last send (ms). */
  lastSendOffset = 0;
  private drained: (() => void) | undefined;
  pumpOnCompletion = false;
  private readonly t0: number;
  private readonly seconds: number;
  private readonly cap: number;
  private readonly arrivals: Generator<number>;
  private readonly nextRequest: () => PlannedRequest;
  private readonly pools: TargetPool[];
  private readonly tally: Tally;
  private readonly history: HistoryWriter;
  private readonly isAborted: () => boolean;
  constructor(o: {
    t0: number;
    seconds: number;
    /** The in-flight cap: an arrival beyond it is dropped. */
    cap: number;
    arrivals: Generator<number>;
    nextRequest: () => PlannedRequest;
    pools: TargetPool[];
    tally: Tally;
    history: HistoryWriter;
    isAborted: () => boolean;
  }) {
    this.t0 = o.t0;
    this.seconds = o.seconds;
    this.cap = o.cap;
    this.arrivals = o.arrivals;
    this.nextRequest = o.nextRequest;
    this.pools = o.pools;
    this.tally = o.tally;
    this.history = o.history;
    this.isAborted = o.isAborted;
    this.next = this.arrivals.next();
  }
  get done(): boolean {
    return this.next.done === true || this.isAborted();
  }
  /** Time left until the next arrival (ms; ≤ 0 when due). */
  gap(): number {
    return this.t0 + (this.next.value as number) - now();
  }
  /** Sends up to `limit` due arrivals; true when more may be due (yield to I/O first). */
  pump(limit: number): boolean {
    if (this.pumping) return true;
    this.pumping = true;
    try {
      for (let n = 0; n < limit; n++) {
        if (this.done) return false;
        const due = this.t0 + (this.next.value as number);
        if (due > now()) return false;
        this.dispatch(due);
        this.next = this.arrivals.next();
      }
      return true;
    } finally {
      this.pumping = false;
    }
  }
  private dispatch(scheduledAt: number): void {
    // Drawn for dropped arrivals too: the request sequence of a seed must not depend on drops.
    const plan = this.nextRequest();
    const secIndex = Math.min(this.seconds - 1, Math.floor((scheduledAt - this.t0) / 1000));
    if (this.tally.inFlight >= this.cap) {
      this.tally.arrivalDropped(secIndex);
      return;
    }
    const instance = this.rr;
    this.rr = (this.rr + 1) % this.pools.length;
    const start = now();
    this.tally.arrivalSent(plan.op, plan.key, secIndex, start - scheduledAt);
    this.lastSendOffset = start - this.t0;
    (this.pools[instance] as TargetPool).dispatch(
      plan,
      new Exchange(this, plan, scheduledAt, start, instance, secIndex),
    );
  }
  complete(x: Exchange, status: number, body: string): void {
    this.finish(x, historyRecord(x, status, body, now()), isErrorStatus(x.plan, status));
  }
  fail(x: Exchange, err: unknown): void {
    this.finish(x, failedRecord(x, err, now()), true);
  }
  private finish(x: Exchange, rec: HistoryRecord, isError: boolean): void {
    this.tally.finished(x.plan.op, x.secIndex, rec.status, rec.end - x.scheduled, isError);
    this.history.write(rec);
    if (this.tally.inFlight === 0 && this.drained) this.drained();
    if (this.pumpOnCompletion) this.pump(64);
  }
  /**
   * The scheduler: send everything that is due, then wait for the next arrival (see afterGap()).
   * Callbacks, not an async loop: a turn per arrival at 10,000 req/s, and awaiting timer
   * promises allocated ~18% of the driver's garbage (V8's sampling heap profiler).
   */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pumpOnCompletion = true;
      const step = (): void => {
        try {
          turn();
        } catch (err) {
          this.pumpOnCompletion = false;
          reject(err);
        }
      };
      const turn = (): void => {
        for (;;) {
          if (this.done) {
            this.pumpOnCompletion = false;
            resolve();
            return;
          }
          // After a long stall everything overdue goes out at once: let I/O in every 256 sends.
          if (this.pump(256)) {
            setImmediate(step);
            return;
          }
          const gap = this.gap();
          if (gap > 0 && !this.done) {
            afterGap(gap, step);
            return;
          }
        }
      };
      step();
    });
  }
  /** Waits for in-flight requests, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.tally.inFlight === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.drained = resolve;
      }),
      sleep(timeoutMs),
    ]);
  }
}

/** Progress once a second, cheap enough to leave on (and memory figures with CACHEBENCH_DRIVER_DEBUG=1). */
function reportProgress(
  t0: number,
  tally: Tally,
  pools: TargetPool[],
  post: (m: WorkerMessage) => void,
): NodeJS.Timeout {
  let lastSent = 0;
  const debug = process.env.CACHEBENCH_DRIVER_DEBUG === '1';
  return setInterval(() => {
    if (debug) {
      const m = process.memoryUsage();
      const mb = (v: number) => Math.round(v / 1048576);
      process.stderr.write(
        `[driver] t=${Math.round(now() - t0)} connections=${pools.reduce((n, p) => n + p.size, 0)} inFlight=${tally.inFlight} sent=${tally.sent} dropped=${tally.dropped} rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)}\n`,
      );
    }
    post({
      type: 'progress',
      progress: {
        elapsedMs: Math.round(now() - t0),
        sent: tally.sent,
        completed: tally.completed,
        errors: tally.errors,
        dropped: tally.dropped,
        ratePerSec: tally.sent - lastSent,
        rssMB: Math.round(process.memoryUsage.rss() / 1048576),
      },
    });
    lastSent = tally.sent;
  }, 1000);
}

function loadStats(
  load: Scenario['load'],
  tally: Tally,
  run: { plannedMs: number; durationMs: number; cpuMicros: number; elapsedMs: number },
): LoadStats {
  const { plannedMs, durationMs } = run;
  let expected = 0;
  for (const p of load.phases) expected += (((p.rate + (p.to ?? p.rate)) / 2) * p.duration) / 1000;
  return {
    requestedRate: plannedMs > 0 ? Math.round((expected / (plannedMs / 1000)) * 1000) / 1000 : 0,
    achievedRate: durationMs > 0 ? Math.round((tally.sent / (durationMs / 1000)) * 1000) / 1000 : 0,
    scheduled: tally.scheduled,
    sent: tally.sent,
    completed: tally.completed,
    dropped: tally.dropped,
    errors: tally.errors,
    durationMs: Math.round(durationMs),
    schedulingLag: tally.schedulingLag(),
    driverCpu: Math.round((run.cpuMicros / 1000 / Math.max(1, run.elapsedMs)) * 1000) / 1000,
    // The process's own high-water mark; the parent replaces it with what it reads from outside.
    driverPeakRssMB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    overall: tally.overallStats(),
    perOp: tally.perOpStats(),
  };
}

export async function runLoad(
  input: WorkerInput,
  isAborted: () => boolean,
  waitForStart: () => Promise<number>,
  post: (m: WorkerMessage) => void,
  warm = true,
): Promise<WorkerResult> {
  const { scenario, targets, seed } = input;
  if (warm) await warmUpBefore(input, isAborted);
  const load = scenario.load;
  const plannedMs = totalDurationMs(load);
  const { pools, close: closePools } = await openPools(targets, {
    ...connectionPlan(input),
    requestTimeoutMs: input.requestTimeoutMs,
  });
  const history = new HistoryWriter(input.historyPath);
  const seconds = Math.max(1, Math.ceil(plannedMs / 1000));
  const tally = new Tally(scenario, seconds);
  const { t0, startLateMs } = await startTime(input, waitForStart, post);
  const sender = new Sender({
    t0,
    seconds,
    cap: load.maxInFlight,
    // A separate stream for arrival times, so Poisson gaps do not shift the request sequence.
    arrivals: arrivalOffsets(load, createRng(seed ^ 0x5eed1e55)),
    nextRequest: input.service
      ? createServiceRequestGenerator(scenario, input.service, seed)
      : createRequestGenerator(scenario, seed),
    pools,
    tally,
    history,
    isAborted,
  });
  await waitUntil(t0, isAborted);
  const cpu0 = processCpuMicros();
  const progressTimer = reportProgress(t0, tally, pools, post);
  await sender.run();
  const aborted = isAborted();
  // Arrivals left unscheduled by an abort are neither sent nor dropped: the run is cut short.
  // In-flight requests are bounded by the request timeout.
  await sender.drain(aborted ? 2000 : input.requestTimeoutMs + 2000);
  const endedAt = now();
  const cpuMicros = processCpuMicros() - cpu0;
  clearInterval(progressTimer);
  await closePools();
  await history.close();

  const lastSendOffset = sender.lastSendOffset;
  const durationMs = Math.max(aborted ? lastSendOffset : plannedMs, lastSendOffset);
  const perSecond = tally.perSecond.result();
  return {
    load: loadStats(load, tally, { plannedMs, durationMs, cpuMicros, elapsedMs: endedAt - t0 }),
    series: { t0, ...perSecond },
    hottestKeys: tally.keys.top(20),
    loadStartedAt: t0,
    aborted,
    startLateMs,
  };
}

/**
 * The driver process: takes its input over IPC, reports progress and the result, then waits for
 * the next input or to be let go (so the parent can read its peak memory while it still exists).
 * Ctrl-C reaches the whole process group; the parent turns it into an abort, so this process
 * ignores SIGINT and keeps what it measured. When the parent goes away, the channel closes and it exits at once.
 */
function main(): void {
  const send = (m: WorkerMessage) => {
    if (process.connected) process.send?.(m);
  };
  // Per load: the parent sends the next input only after this one reported.
  let abortFlag = false;
  let startResolve: ((startAt: number) => void) | undefined;
  let startGiven = Promise.resolve(0);
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'input') {
      abortFlag = false;
      startGiven = new Promise<number>((r) => {
        startResolve = r;
      });
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
