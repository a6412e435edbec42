/**
 * The machine-stall observer (harness/pipeline/machine-stalls.ts) reports the time the kernel did
 * not run it, and only that: a process stopped with SIGSTOP for 300 ms shows one late wake-up of
 * about that length; the same process keeping its own main thread busy for 300 ms shows none
 * (the observer is its own thread, so the measured program's pauses are not the machine's).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { MachineStalls } from '../harness/pipeline/machine-stalls.ts';

const root = path.resolve(import.meta.dirname, '..');

/** A child that watches, waits for 'stop' (after `busyMs` of blocking its main thread), and reports. */
const CHILD = `
const { watchMachineStalls } = await import(${JSON.stringify(path.join(root, 'harness/pipeline/machine-stalls.ts'))});
const w = watchMachineStalls(10);
process.send('watching');
process.on('message', async (m) => {
  if (m.busyMs) { const end = performance.now() + m.busyMs; while (performance.now() < end); }
  if (m.stop) { process.send(await w.stop()); process.exit(0); }
});`;

async function observe(during: (pid: number) => Promise<void>, busyMs = 0): Promise<MachineStalls> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (c) => reject(new Error(`observer child exited (${c})`)));
    });
    await sleep(100);
    if (busyMs) child.send({ busyMs });
    await during(child.pid as number);
    await sleep(busyMs + 100);
    const result = new Promise<MachineStalls>((resolve) =>
      child.once('message', (m) => resolve(m as MachineStalls)),
    );
    child.send({ stop: true });
    return await result;
  } finally {
    child.kill();
  }
}

describe('machine-stall observer', () => {
  it('sees a 300 ms SIGSTOP of its process as one late wake-up of about that length', async () => {
    const s = await observe(async (pid) => {
      process.kill(pid, 'SIGSTOP');
      await sleep(300);
      process.kill(pid, 'SIGCONT');
    });
    expect(s.longestMs).toBeGreaterThanOrEqual(250);
    expect(s.longestMs).toBeLessThan(2000);
    expect(s.events.filter((e) => e.ms >= 250)).toHaveLength(1);
    expect(s.thresholdMs).toBe(10);
    expect(s.watchedMs).toBeGreaterThan(400);
  });

  it('does not count its own process keeping the main thread busy for 300 ms', async () => {
    const s = await observe(async () => {}, 300);
    expect(s.watchedMs).toBeGreaterThan(400);
    expect(s.events.filter((e) => e.ms >= 250)).toHaveLength(0);
  });
});
