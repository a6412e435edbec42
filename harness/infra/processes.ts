/**
 * Long-running service processes (redis-server, postgres, toxiproxy-server, target instances).
 * Spawned with node:child_process rather than execa because we need the raw PID for pid files,
 * our own process group (so a terminal Ctrl-C reaches the harness first, and the harness stops
 * services in order) and uid/gid switching for PostgreSQL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { registerCleanup } from './cleanup.ts';
import { recordPid } from './reaper.ts';

export interface ServiceProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  /** Sends `signal`, waits up to graceMs, then SIGKILL. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnServiceOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  stateDir: string;
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stopSignal?: NodeJS.Signals;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function spawnService(o: SpawnServiceOptions): ServiceProcess {
  const out = fs.openSync(o.logFile, 'a');
  const child = spawn(o.command, o.args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: o.env ?? process.env,
    cwd: o.cwd,
    uid: o.uid,
    gid: o.gid,
  });
  fs.closeSync(out);
  if (child.pid === undefined) {
    throw new Error(`could not start ${o.name} (${o.command}): see ${o.logFile}`);
  }
  const pid = child.pid;
  recordPid(o.stateDir, { pid, name: o.name, command: o.command, uid: o.uid ?? process.getuid?.() });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals = o.stopSignal ?? 'SIGTERM', graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
        await exited;
      }
    })();
    return stopping;
  };
  const unregister = registerCleanup(
    o.name,
    () => stop(),
    () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    },
  );
  exited.then(() => unregister());
  return { name: o.name, pid, child, logFile: o.logFile, exited, stop };
}

/** Polls `check` until it resolves true, the process dies, or the deadline passes. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; proc?: ServiceProcess; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (opts.proc && opts.proc.child.exitCode !== null) {
      const tail = readTail(opts.proc.logFile);
      throw new Error(
        `${what} exited with code ${opts.proc.child.exitCode} while starting; log ${opts.proc.logFile}:\n${tail}`,
      );
    }
    try {
      if (await check()) return;
    } catch (e) {
      lastError = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
  throw new Error(
    `${what} did not become ready within ${opts.timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`,
  );
}

export function readTail(file: string, bytes = 2000): string {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  } catch {
    return '(no log)';
  }
}
