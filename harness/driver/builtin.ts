/**
 * The built-in load driver: runs a scenario's open-model load against 1..N target instances in a
 * process of its own (builtin-worker.ts) and returns the normalized LoadStats, the per-second
 * series and the hottest keys; the operation history goes to an NDJSON file as it happens.
 *
 * A process rather than a worker thread: its CPU and memory are the driver's alone (the harness's
 * heap is not counted, and the driver's peak RSS is read here from /proc, not self-reported), and
 * the harness's garbage collection can never pause a send.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../../scenarios/types.ts';
import type { ServiceRequestPlan } from '../service/operations.ts';
import type {
  ParentMessage,
  WorkerInput,
  WorkerMessage,
  WorkerProgress,
  WorkerResult,
} from './builtin-worker.ts';
import { driverImportFlag, strippedGraphFile } from './stripped.ts';

const WORKER = fileURLToPath(new URL('./builtin-worker.ts', import.meta.url));
/**
 * V8 settings that keep the footprint small: a 2 MB semi-space makes scavenges frequent and short
 * (the live set per request is tiny), and the old generation stays well below the cap.
 * `--no-allocation-site-pretenuring`: V8 otherwise learns from the start-up (when many requests
 * are in flight at once) to allocate some per-request objects straight into the old generation;
 * at 10,000 req/s that roughly halved the mark-compacts (9 → 4 in 10 s) and their pauses.
 * `--optimize-for-size`: without it V8 let the old generation fill with the little each request
 * promotes (6.7 → 13.5 MB used, 18 MB committed, before its first mark-compact at 29 s at 10,000
 * req/s); with it, 1 M operations peaked at 75.6-77.8 MB instead of 78.5-82.3 MB, CPU per request
 * unchanged (docs/architecture.md).
 * `--v8-pool-size=1`: one V8 background thread instead of four. The driver shares the machine with
 * what it measures, and the work V8 runs in the background (compiler and garbage collector tasks) on four threads
 * took both cores of this machine from the driver's and the server's main threads for ~40 ms at a
 * time (`perf record -e sched:sched_switch`, ~1 s into a 10,000 req/s run): responses stopped,
 * the in-flight cap filled and arrivals were dropped. With one, scheduling lag p99 at 10,000 req/s
 * went from 2.1-3.2 ms to 1.2-2.9 ms over 6 interleaved runs each, latency p99 from 8-73 ms to
 * 3-26 ms, CPU per request unchanged (docs/architecture.md).
 * `--expose-gc`: the driver collects the warm-up's garbage before the load starts. TurboFan stays
 * on: capping the tier-up at Maglev saved ~5-7 MB of peak RSS but cost CPU per request
 * (docs/architecture.md "Built-in load driver").
 */
const NODE_FLAGS = [
  '--max-semi-space-size=2',
  '--no-allocation-site-pretenuring',
  '--max-old-space-size=256',
  '--optimize-for-size',
  '--v8-pool-size=1',
  '--expose-gc',
];
/**
 * glibc keeps a malloc arena per thread that allocates (V8's compiler and GC helpers, libuv's
 * file-write pool), and freed memory stays in them: two arenas bound that part of the resident set.
 */
const MALLOC_ENV = { MALLOC_ARENA_MAX: '2' };

/** The tool cache (built tools, the driver's stripped modules, Node's compile cache). */
function toolCacheDir(): string {
  return (
    process.env.CACHEBENCH_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cachebench')
  );
}

/** Node's compile cache: V8's code cache of the driver's modules, so it starts without compiling. */
function compileCacheDir(): string {
  return process.env.NODE_COMPILE_CACHE ?? join(toolCacheDir(), 'node-compile-cache');
}

export type LoadProgress = WorkerProgress;

export interface BuiltinLoadOptions {
  scenario: Scenario;
  /** Base URLs of the target instances; requests are spread round-robin. */
  targets: string[];
  seed: number;
  /** NDJSON file for the operation history (HistoryRecord per line), created or truncated. */
  historyPath: string;
  /**
   * Epoch ms at which the first arrival is due, so a fault timeline can share the origin. The
   * driver process needs ~0.5–1 s to start, warm up and connect (more on a heavily loaded machine;
   * a late boot shortens the warm-up first): give at least now + 1500. If it is late anyway,
   * the origin is kept (faults stay aligned) and overdue arrivals go out at once, with their lag.
   */
  startAt?: number;
  /**
   * Instead of a fixed `startAt`: called once the driver has booted, warmed up and opened its
   * connections; returns the start time.
   * Lets the caller align faults to a start that is only a few ms ahead, with no boot guesswork.
   */
  onReady?: () => number;
  onProgress?: (p: LoadProgress) => void;
  /** Aborting stops new arrivals, waits up to 2 s for in-flight requests, and resolves with what was measured (`aborted: true`). */
  signal?: AbortSignal;
  /** Per request; a timeout is an error with status 0. Default 10 s. */
  requestTimeoutMs?: number;
  /** Cap on connections per target; default 512. */
  maxConnectionsPerTarget?: number;
  /** Service mode: run the mix as a service profile's operations. */
  service?: ServiceRequestPlan;
}

/** What the worker measured (see WorkerResult); `aborted` is true when the signal cut it short. */
export type BuiltinLoadResult = WorkerResult;

export class LoadDriverError extends Error {
  readonly code = 'LOAD_DRIVER_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoadDriverError';
  }
}

/** The high-water mark of a process's resident set (MB), from /proc; undefined off Linux or once it exited. */
export function peakRssMB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's peak RSS (VmHWM) to its current RSS, so the next load's peak is its own. */
export function clearPeakRss(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not allowed: the peak then spans the process's earlier loads too.
  }
}

function workerInput(opts: BuiltinLoadOptions): WorkerInput {
  const input: WorkerInput = {
    scenario: opts.scenario,
    targets: opts.targets,
    seed: opts.seed,
    historyPath: opts.historyPath,
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
    maxConnectionsPerTarget: opts.maxConnectionsPerTarget ?? 512,
  };
  if (opts.startAt !== undefined) input.startAt = opts.startAt;
  if (opts.service) input.service = opts.service;
  if (opts.onReady) input.waitForStart = true;
  return input;
}

/** The load in progress on a driver process: its callbacks and how it settles. */
interface PendingLoad {
  /** The process running it: a retired process's late exit must not settle the next load. */
  child: ChildProcess;
  opts: BuiltinLoadOptions;
  resolve: (r: BuiltinLoadResult) => void;
  reject: (e: unknown) => void;
  onAbort: () => void;
}

/**
 * One driver process that runs loads one after another. A run keeps one for all its cells
 * (reuse what stays independent, docs/architecture.md "What a cell costs and why"): each load
 * gets fresh connections, tallies and history, the warm-up's JIT state stays, and the peak RSS
 * is reset before each load so it is that load's. Node's boot, the module loading and the
 * warm-up (~0.4 s a cell on a quiet 2-core machine) are paid once.
 *
 * A process that failed, was aborted or exited is not reused: the next load starts a new one.
 * `close()` lets it go and resolves once it is gone; so does the parent exiting (the worker
 * exits when its IPC channel closes).
 */
export class BuiltinDriverProcess {
  private child: ChildProcess | undefined;
  private pending: PendingLoad | undefined;
  /** Per process: its SIGKILL deadline once it was told to stop, and its exit. */
  private readonly killTimers = new Map<ChildProcess, NodeJS.Timeout>();
  private readonly exits = new Set<Promise<void>>();
  /** Loads this instance has run, and processes it started (tests check the reuse). */
  loads = 0;
  processes = 0;
  get pid(): number | undefined {
    return this.child?.pid;
  }

  run(opts: BuiltinLoadOptions): Promise<BuiltinLoadResult> {
    if (opts.targets.length === 0)
      return Promise.reject(new LoadDriverError('load driver: no target URLs given'));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    if (this.pending) return Promise.reject(new LoadDriverError('load driver: a load is already running'));
    let child: ChildProcess;
    try {
      child = this.child ?? this.spawn();
    } catch (err) {
      return Promise.reject(new LoadDriverError(`load driver: ${(err as Error).message}`, { cause: err }));
    }
    return new Promise<BuiltinLoadResult>((resolve, reject) => {
      const onAbort = () => {
        this.send({ type: 'abort' });
        // It drains for at most 2 s after an abort; past that it is stuck: stop it.
        this.killLater(child);
      };
      this.pending = { child, opts, resolve, reject, onAbort };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.loads++;
      clearPeakRss(child.pid);
      this.send({ type: 'input', input: workerInput(opts) });
    });
  }

  /** Lets the process go; resolves once it has exited. */
  async close(): Promise<void> {
    const child = this.child;
    if (child) {
      this.send({ type: 'exit' });
      // A worker still busy with a load gets the abort path's grace, then SIGKILL.
      this.killLater(child);
    }
    await Promise.all(this.exits);
  }

  private killLater(child: ChildProcess): void {
    if (!this.killTimers.has(child))
      this.killTimers.set(
        child,
        setTimeout(() => child.kill('SIGKILL'), 5000),
      );
  }

  /** Ends the process at once (a last-resort cleanup on exit). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  private send(m: ParentMessage): void {
    if (this.child?.connected) this.child.send(m);
  }

  private spawn(): ChildProcess {
    const importFlag = driverImportFlag(strippedGraphFile(WORKER, toolCacheDir()));
    // A profiling aid (docs/architecture.md): extra V8/Node flags for the driver process, e.g. --cpu-prof.
    const extra = process.env.CACHEBENCH_DRIVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    const child: ChildProcess = spawn(process.execPath, [...NODE_FLAGS, ...extra, importFlag, WORKER], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...MALLOC_ENV, NODE_COMPILE_CACHE: compileCacheDir() },
    });
    this.child = child;
    this.processes++;
    let outcome: { error: LoadDriverError } | undefined;
    child.on('message', (m: WorkerMessage) => {
      const p = this.pending;
      if (!p || p.child !== child) return;
      if (m.type === 'ready') this.send({ type: 'start', startAt: p.opts.onReady!() });
      else if (m.type === 'progress') p.opts.onProgress?.(m.progress);
      else if (m.type === 'done') {
        // Read from outside, while the process still exists; its own figure is the fallback.
        const peak = peakRssMB(child.pid);
        if (peak !== undefined) m.result.load.driverPeakRssMB = Math.round(peak * 10) / 10;
        // An aborted load ends the process's use: the run is stopping.
        if (m.result.aborted) this.retire();
        this.settle(child, (q) => q.resolve(m.result));
      } else if (m.type === 'error') {
        outcome = { error: new LoadDriverError(`load driver: ${m.message}`) };
        this.retire();
      }
    });
    child.on('error', (err) => {
      outcome ??= { error: new LoadDriverError(`load driver: ${err.message}`, { cause: err }) };
    });
    // A load that has not reported settles only once the process is gone: nothing is left
    // running behind a failed load.
    const exited = new Promise<void>((resolve) => {
      child.on('close', (code, sig) => {
        clearTimeout(this.killTimers.get(child));
        this.killTimers.delete(child);
        this.exits.delete(exited);
        if (this.child === child) this.child = undefined;
        this.settle(child, (q) =>
          q.reject(
            outcome?.error ??
              new LoadDriverError(`load driver: process exited (${sig ?? `code ${code}`}) without a result`),
          ),
        );
        resolve();
      });
    });
    this.exits.add(exited);
    return child;
  }

  /** This process takes no more loads: it is let go, and the next load starts a new one. */
  private retire(): void {
    const child = this.child;
    this.send({ type: 'exit' });
    if (child) this.killLater(child);
    this.child = undefined;
  }

  private settle(child: ChildProcess, f: (p: PendingLoad) => void): void {
    const p = this.pending;
    if (!p || p.child !== child) return;
    this.pending = undefined;
    p.opts.signal?.removeEventListener('abort', p.onAbort);
    f(p);
  }
}

/**
 * One load: on `on` (a run's shared process) when given, else in a process of its own, which is
 * gone when the promise settles.
 */
export async function runBuiltinLoad(
  opts: BuiltinLoadOptions,
  on?: BuiltinDriverProcess,
): Promise<BuiltinLoadResult> {
  if (on) return on.run(opts);
  const d = new BuiltinDriverProcess();
  try {
    return await d.run(opts);
  } finally {
    await d.close();
  }
}
