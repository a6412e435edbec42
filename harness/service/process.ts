/**
 * The service's processes: the setup command (schema, seed) and the service itself, a fresh
 * process per cell. Both run in their own process group under the run's state dir (pid files
 * for the reaper), so whatever they spawn is stopped with them — on success, failure and Ctrl-C.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { registerCleanup } from '../infra/cleanup.ts';
import { readTail, type ServiceProcess, spawnService, waitUntil } from '../infra/processes.ts';
import { recordPid } from '../infra/reaper.ts';

/** `node` → /usr/bin/node: the reaper compares exact executables. */
export function resolveCommand(cmd: string, cwd: string, envPath = process.env.PATH ?? ''): string {
  if (cmd.includes('/')) return path.resolve(cwd, cmd);
  for (const dir of envPath.split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return cmd;
}

function lastLine(file: string): string {
  const lines = readTail(file, 600).trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Runs `argv` to completion; rejects (naming the log file and its last line) on a non-zero exit or timeout. */
export async function runSetup(o: {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  stateDir: string;
  timeoutMs: number;
}): Promise<void> {
  const command = resolveCommand(o.argv[0]!, o.cwd, o.env.PATH);
  const out = fs.openSync(o.logFile, 'a');
  const child = spawn(command, o.argv.slice(1), {
    cwd: o.cwd,
    env: o.env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`setup: could not start ${o.argv[0]}`);
  const pid = child.pid;
  recordPid(o.stateDir, { pid, name: 'service setup', command });
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  };
  const unregister = registerCleanup('service setup', async () => killGroup(), killGroup);
  try {
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        killGroup();
        resolve('timeout');
      }, o.timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        resolve(e.message);
      });
      child.once('exit', (c, sig) => {
        clearTimeout(timer);
        resolve(c ?? sig ?? 'killed');
      });
    });
    if (code === 'timeout')
      throw new Error(
        `setup (${o.argv.join(' ')}) did not finish within ${o.timeoutMs} ms; log ${o.logFile}`,
      );
    if (code !== 0)
      throw new Error(
        `setup (${o.argv.join(' ')}) failed (${typeof code === 'number' ? `code ${code}` : code}): ${lastLine(o.logFile)} — log ${o.logFile}`,
      );
  } finally {
    killGroup();
    unregister();
  }
}

async function answers(url: string): Promise<boolean> {
  const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await r.body?.cancel();
  return r.ok;
}

/** A service cachebench did not start (service.baseUrl) must answer its ready path, or the cell fails naming it. */
export async function waitReady(baseUrl: string, readyPath: string, timeoutMs: number): Promise<void> {
  await waitUntil(`service at ${baseUrl}${readyPath}`, () => answers(`${baseUrl}${readyPath}`), {
    timeoutMs,
    intervalMs: 100,
  });
}

export interface StartedService {
  proc: ServiceProcess;
  baseUrl: string;
  stop(): Promise<void>;
}

/** Starts the service and resolves once `readyPath` answers 2xx; a service that exits first fails it. */
export async function startService(o: {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  port: number;
  readyPath: string;
  readyTimeoutMs: number;
  logFile: string;
  stateDir: string;
  name: string;
}): Promise<StartedService> {
  const proc = spawnService({
    name: o.name,
    command: resolveCommand(o.argv[0]!, o.cwd, o.env.PATH),
    args: o.argv.slice(1),
    logFile: o.logFile,
    stateDir: o.stateDir,
    env: o.env,
    cwd: o.cwd,
  });
  const baseUrl = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    await proc.stop('SIGTERM', 5000);
    // Whatever the service spawned (a shell wrapper's child) is in its group: end it too.
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {}
  };
  try {
    await waitUntil(`service ${o.name}`, () => answers(`${baseUrl}${o.readyPath}`), {
      timeoutMs: o.readyTimeoutMs,
      proc,
      intervalMs: 100,
    });
  } catch (e) {
    await stop();
    const msg = (e as Error).message.split('\n')[0]!;
    throw new Error(`${msg}: ${lastLine(o.logFile)} — log ${o.logFile}`, { cause: e });
  }
  return { proc, baseUrl, stop };
}
