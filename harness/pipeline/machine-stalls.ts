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
 * One thread runs on one vCPU at a time, so a stall of the *other* vCPU alone (its host
 * descheduled it) does not make it late. After each wake-up it therefore also reads every vCPU's
 * steal time from /proc/stat (Linux; accounted in 10 ms ticks when the vCPU runs again): a vCPU
 * that gained `thresholdMs` or more since the last reading (20 ms before) was away that long.
 *
 * Both kinds are kept as events (at most MAX_EVENTS), and the total steal time over the watch.
 * Cost: ~200 wake-ups and 50 reads a second; the whole bench process measured 2-6 % of a core.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { TICKS_PER_SECOND } from '../infra/procfs.ts';

export interface MachineStalls {
  /** How long the observer watched (ms). */
  watchedMs: number;
  /** The latest wake-up: how much later than asked the observer ran (ms). */
  longestMs: number;
  /** The most steal time one vCPU gained between two wake-ups (ms; 0 where /proc/stat is unreadable). */
  longestStealMs: number;
  /**
   * In order, at most MAX_EVENTS: `late`, a wake-up later than the threshold (`at`: when the
   * sleep began); `steal`, a vCPU that gained at least the threshold of steal time between two
   * wake-ups (`at`: when that much time before the reading began).
   */
  events: MachineStall[];
  /** Events beyond MAX_EVENTS that were counted but not kept. */
  moreEvents: number;
  thresholdMs: number;
  /** CPU time the hypervisor took from this VM while watching (ms summed over CPUs), null where unknown. */
  stealMs: number | null;
}

export interface MachineStall {
  at: number;
  ms: number;
  kind: 'late' | 'steal';
  cpu?: number;
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
const fs = process.getBuiltinModule('node:fs');
const flag = new Int32Array(workerData.flag);
const origin = performance.timeOrigin;
const threshold = workerData.thresholdMs, max = workerData.maxEvents, PERIOD = workerData.periodMs, TICK_MS = workerData.tickMs;
const events = [];
let longest = 0, longestSteal = 0, more = 0, wakeups = 0;
const note = (e) => { if (events.length < max) events.push(e); else more++; };
// Per-vCPU steal, read from a descriptor kept open (one pread of ~1 KB: ~11 µs).
let statFd = -1;
try { statFd = fs.openSync('/proc/stat', 'r'); } catch {}
const buf = Buffer.alloc(16384);
const steal = [];
const readSteal = (at, record) => {
  if (statFd < 0) return;
  let n = 0;
  try { n = fs.readSync(statFd, buf, 0, buf.length, 0); } catch { return; }
  const lines = buf.toString('latin1', 0, n).split('\\n');
  for (const line of lines) {
    if (!line.startsWith('cpu') || line[3] === ' ') continue;
    const f = line.split(' ');
    const cpu = Number(f[0].slice(3)), v = Number(f[8]);
    const prev = steal[cpu];
    steal[cpu] = v;
    if (!record || prev === undefined) continue;
    const ms = (v - prev) * TICK_MS;
    if (ms > longestSteal) longestSteal = ms;
    if (ms >= threshold) note({ at: Math.round(at - ms), ms, kind: 'steal', cpu });
  }
};
const start = performance.now();
readSteal(origin + start, false);
while (Atomics.load(flag, 0) === 0) {
  const t0 = performance.now();
  Atomics.wait(flag, 0, 0, PERIOD);
  const t1 = performance.now();
  const late = t1 - t0 - PERIOD;
  if (late > longest) longest = late;
  if (late >= threshold) note({ at: Math.round(origin + t0), ms: Math.round(late * 10) / 10, kind: 'late' });
  // Every 4th wake-up (20 ms): steal is accounted in 10 ms ticks, and the read is most of the cost.
  if (++wakeups % 4 === 0) readSteal(origin + t1, true);
}
if (statFd >= 0) fs.closeSync(statFd);
parentPort.postMessage({ watchedMs: performance.now() - start, longestMs: Math.round(longest * 10) / 10, longestStealMs: longestSteal, events, moreEvents: more });
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
    workerData: {
      flag,
      thresholdMs,
      maxEvents: MAX_EVENTS,
      periodMs: PERIOD_MS,
      tickMs: 1000 / TICKS_PER_SECOND,
    },
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
