/**
 * Stalls of the machine itself, seen by an observer that is not part of what is measured.
 *
 * A load driver that drops arrivals or schedules late may be at fault, or the machine may have
 * stopped running everything for a while (a VM's vCPU descheduled by its host shows as *steal*
 * time; on a saturated box a sleeping thread waits for a core). The driver's own figures cannot
 * tell the two apart, so the benches run a thread that does nothing but sleep 5 ms at a time and
 * note how late it woke up: a thread with no work, no allocation and its own V8 isolate (its
 * garbage collection is not the main thread's) is late only when the kernel did not run it.
 *
 * Wake-ups later than `thresholdMs` are kept as events (epoch ms of the sleep's start, ms late),
 * at most MAX_EVENTS of them; steal time comes from /proc/stat's aggregate line (Linux only,
 * else null). Cost: ~200 wake-ups a second, under 1 % of a core.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { TICKS_PER_SECOND } from '../infra/procfs.ts';

export interface MachineStalls {
  /** How long the observer watched (ms). */
  watchedMs: number;
  /** The latest wake-up: how much later than asked the observer ran (ms). */
  longestMs: number;
  /** Wake-ups later than the threshold, in order (at most MAX_EVENTS). */
  events: { at: number; ms: number }[];
  /** Events beyond MAX_EVENTS that were counted but not kept. */
  moreEvents: number;
  thresholdMs: number;
  /** CPU time the hypervisor took from this VM while watching (ms summed over CPUs), null where unknown. */
  stealMs: number | null;
}

const MAX_EVENTS = 1000;
/** How long the observer sleeps at a time (ms): a stall of S ms shows as S − 5 to S ms late, cheap enough to leave on. */
const PERIOD_MS = 5;

// Plain JavaScript in a string: the observer loads nothing (no type stripping, no modules), so
// its thread starts in a few ms and touches no more memory than a bare isolate. It reaches
// worker_threads with getBuiltinModule, which works whether the eval runs as CommonJS or (with
// --input-type=module in the parent's flags) as an ES module.
const OBSERVER = `
const { workerData, parentPort } = process.getBuiltinModule('node:worker_threads');
const flag = new Int32Array(workerData.flag);
const origin = performance.timeOrigin;
const threshold = workerData.thresholdMs, max = workerData.maxEvents, PERIOD = workerData.periodMs;
const events = [];
let longest = 0, more = 0;
const start = performance.now();
while (Atomics.load(flag, 0) === 0) {
  const t0 = performance.now();
  Atomics.wait(flag, 0, 0, PERIOD);
  const late = performance.now() - t0 - PERIOD;
  if (late > longest) longest = late;
  if (late >= threshold) {
    if (events.length < max) events.push({ at: Math.round(origin + t0), ms: Math.round(late * 10) / 10 });
    else more++;
  }
}
parentPort.postMessage({ watchedMs: performance.now() - start, longestMs: Math.round(longest * 10) / 10, events, moreEvents: more });
`;

/** Steal ticks of all CPUs (the 8th value of /proc/stat's "cpu" line), null where unreadable. */
function stealTicks(): number | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const v = Number(line.trim().split(/\s+/)[8]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Starts watching; `stop()` ends the observer thread and returns what it saw. */
export function watchMachineStalls(thresholdMs = 10): { stop(): Promise<MachineStalls> } {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(OBSERVER, {
    eval: true,
    workerData: { flag, thresholdMs, maxEvents: MAX_EVENTS, periodMs: PERIOD_MS },
    // Not the parent's flags (--cpu-prof, --input-type, …): the observer is not what is measured.
    execArgv: [],
    // A bare isolate: the observer allocates only its event list.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
  });
  worker.unref();
  const steal0 = stealTicks();
  const result = new Promise<Omit<MachineStalls, 'thresholdMs' | 'stealMs'>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`machine-stall observer exited (code ${code})`)));
  });
  return {
    async stop() {
      const f = new Int32Array(flag);
      Atomics.store(f, 0, 1);
      Atomics.notify(f, 0);
      const seen = await result;
      await worker.terminate();
      const steal1 = stealTicks();
      const stealMs =
        steal0 === null || steal1 === null ? null : ((steal1 - steal0) * 1000) / TICKS_PER_SECOND;
      return { ...seen, thresholdMs, stealMs };
    },
  };
}
