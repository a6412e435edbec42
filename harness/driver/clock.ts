/**
 * The driver's clock and its waits. Times are epoch ms (floats) from the same clock the harness,
 * the target and the fault timeline use, so records from every process can be merged.
 */
// Read once: the getter allocates a number on every call, and this runs several times per request.
const ORIGIN = performance.timeOrigin;
export const now = (): number => ORIGIN + performance.now();

const parking = new Int32Array(new SharedArrayBuffer(4));
/** How long one fine-grained nap blocks the thread; responses wait at most this long to be read. */
const NAP_MS = 0.2;

/**
 * Waits out a gap before the next arrival. Timers fire up to ~1 ms late, so a timer covers the gap
 * minus 1 ms; the rest is spent in short blocking naps (Atomics.wait, sub-millisecond and
 * precise) alternating with an event-loop turn so responses keep being read. A pure setImmediate
 * spin would be as precise but burns a whole core that the target on this machine needs.
 */
export function afterGap(gap: number, then: () => void): void {
  if (gap > 1.5) {
    setTimeout(then, gap - 1);
    return;
  }
  Atomics.wait(parking, 0, 0, Math.min(gap, NAP_MS));
  setImmediate(then);
}

/** afterGap as a promise, for waits that happen once (the start), not once per arrival. */
export function pause(gap: number): Promise<void> {
  return new Promise((resolve) => afterGap(gap, resolve));
}

export async function waitUntil(epochMs: number, isAborted: () => boolean): Promise<void> {
  for (;;) {
    const gap = epochMs - now();
    if (gap <= 0 || isAborted()) return;
    await pause(Math.min(gap, 50));
  }
}

/** The whole process's CPU time (µs): this thread, GC helpers and libuv's pool. */
export function processCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
