/**
 * The built-in load driver: runs a scenario's open-model load against 1..N target instances on a
 * worker thread (builtin-worker.ts) and returns the normalized LoadStats, the per-second series
 * and the hottest keys; the operation history goes to an NDJSON file as it happens.
 */
import { Worker } from 'node:worker_threads';
import type { Scenario } from '../../scenarios/types.ts';
import type {
  StartMessage,
  WorkerInput,
  WorkerMessage,
  WorkerProgress,
  WorkerResult,
} from './builtin-worker.ts';

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
   * worker needs ~0.5–1 s to start and warm up: give at least now + 1500. If it is late anyway,
   * the origin is kept (faults stay aligned) and overdue arrivals go out at once, with their lag.
   */
  startAt?: number;
  /**
   * Instead of a fixed `startAt`: called once the worker has booted; returns the start time.
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
  if (opts.onReady) input.waitForStart = true;
  return new Promise((resolve, reject) => {
    // Heap limits keep the driver's footprint bounded (1M operations within ~300 MB RSS for the
    // whole process): the live set is small (histograms, per-key counts, in-flight requests), so
    // a tighter old generation just makes V8 collect sooner instead of growing the heap.
    const worker = new Worker(new URL('./builtin-worker.ts', import.meta.url), {
      workerData: input,
      resourceLimits: { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 160 },
    });
    let settled = false;
    const onAbort = () => worker.postMessage({ type: 'abort' });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready')
        worker.postMessage({ type: 'start', startAt: opts.onReady!() } satisfies StartMessage);
      else if (m.type === 'progress') opts.onProgress?.(m.progress);
      else if (m.type === 'done') settle(() => resolve(m.result));
      else if (m.type === 'error') settle(() => reject(new LoadDriverError(`load driver: ${m.message}`)));
    });
    worker.on('error', (err) =>
      settle(() => reject(new LoadDriverError(`load driver: ${err.message}`, { cause: err }))),
    );
    worker.on('exit', (code) =>
      settle(() => reject(new LoadDriverError(`load driver: worker exited (code ${code}) without a result`))),
    );
  });
}
