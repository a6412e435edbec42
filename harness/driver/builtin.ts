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
import { readFileSync } from 'node:fs';
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
 * `--expose-gc`: the driver collects the warm-up's garbage before the load starts. TurboFan stays
 * on: capping the tier-up at Maglev saved ~5-7 MB of peak RSS but cost CPU per request
 * (docs/architecture.md "Built-in load driver").
 */
const NODE_FLAGS = [
  '--max-semi-space-size=2',
  '--no-allocation-site-pretenuring',
  '--max-old-space-size=256',
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
function peakRssMB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function runBuiltinLoad(opts: BuiltinLoadOptions): Promise<BuiltinLoadResult> {
  if (opts.targets.length === 0)
    return Promise.reject(new LoadDriverError('load driver: no target URLs given'));
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
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
  return new Promise((resolve, reject) => {
    let importFlag: string;
    try {
      importFlag = driverImportFlag(strippedGraphFile(WORKER, toolCacheDir()));
    } catch (err) {
      reject(new LoadDriverError(`load driver: ${(err as Error).message}`, { cause: err }));
      return;
    }
    // A profiling aid (docs/architecture.md): extra V8/Node flags for the driver process, e.g. --cpu-prof.
    const extra = process.env.CACHEBENCH_DRIVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    const child: ChildProcess = spawn(process.execPath, [...NODE_FLAGS, ...extra, importFlag, WORKER], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...MALLOC_ENV, NODE_COMPILE_CACHE: compileCacheDir() },
    });
    const send = (m: ParentMessage) => {
      if (child.connected) child.send(m);
    };
    let outcome: { result: BuiltinLoadResult } | { error: LoadDriverError } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      send({ type: 'abort' });
      // It drains for at most 2 s after an abort; past that it is stuck: stop it.
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), 5000);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') send({ type: 'start', startAt: opts.onReady!() });
      else if (m.type === 'progress') opts.onProgress?.(m.progress);
      else if (m.type === 'done') {
        // Read from outside, while the process still exists; its own figure is the fallback.
        const peak = peakRssMB(child.pid);
        if (peak !== undefined) m.result.load.driverPeakRssMB = Math.round(peak * 10) / 10;
        outcome ??= { result: m.result };
        send({ type: 'exit' });
      } else if (m.type === 'error') {
        outcome ??= { error: new LoadDriverError(`load driver: ${m.message}`) };
        send({ type: 'exit' });
      }
    });
    child.on('error', (err) => {
      outcome ??= { error: new LoadDriverError(`load driver: ${err.message}`, { cause: err }) };
    });
    // Settle only once the process is gone: nothing is left running behind a result.
    child.on('close', (code, sig) => {
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (outcome && 'result' in outcome) resolve(outcome.result);
      else
        reject(
          outcome?.error ??
            new LoadDriverError(`load driver: process exited (${sig ?? `code ${code}`}) without a result`),
        );
    });
    send({ type: 'input', input });
  });
}
