/**
 * Pid files, so a run that was SIGKILLed (no chance to clean up) is cleaned up by the next one.
 * Each run owns a state dir `<root>/<id>/` holding owner.json (the harness PID and its start
 * time) and pids.ndjson (every service it spawned). A later run reaps every dir whose owner is
 * gone, killing only recorded PIDs whose /proc entry still shows the recorded command and that
 * started after the owner did (so a recycled PID is never hit).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PidRecord {
  pid: number;
  name: string;
  command: string;
  startTime?: number;
}

export function stateRoot(): string {
  // One root per user: another user's root is not writable, and their processes are not ours to reap.
  return process.env.CACHEBENCH_STATE_DIR ?? path.join(os.tmpdir(), `cachebench-state-${os.userInfo().uid}`);
}

/** Kernel start time of a process (clock ticks since boot), or undefined if it is gone. */
export function procStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; fields after the last ')' are space separated.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

export function createStateDir(prefix = 'run'): string {
  const root = stateRoot();
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  const dir = fs.mkdtempSync(path.join(root, `${prefix}-`));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(
    path.join(dir, 'owner.json'),
    JSON.stringify({ ownerPid: process.pid, ownerStart: procStartTime(process.pid) }),
  );
  return dir;
}

export function recordPid(stateDir: string, rec: PidRecord): void {
  const withStart = { ...rec, startTime: procStartTime(rec.pid) };
  fs.appendFileSync(path.join(stateDir, 'pids.ndjson'), `${JSON.stringify(withStart)}\n`);
}

export function readPids(stateDir: string): PidRecord[] {
  try {
    return fs
      .readFileSync(path.join(stateDir, 'pids.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PidRecord);
  } catch {
    return [];
  }
}

function ownerAlive(stateDir: string): boolean {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(stateDir, 'owner.json'), 'utf8')) as {
      ownerPid: number;
      ownerStart?: number;
    };
    const start = procStartTime(o.ownerPid);
    return start !== undefined && (o.ownerStart === undefined || start === o.ownerStart);
  } catch {
    // No owner file yet: a run that is being created right now. Leave it alone.
    return true;
  }
}

export interface ReapReport {
  dirs: string[];
  killed: PidRecord[];
}

/** Kills what dead runs left behind and removes their state dirs. */
export function reapLeftovers(): ReapReport {
  const report: ReapReport = { dirs: [], killed: [] };
  const root = stateRoot();
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return report;
  }
  for (const name of entries) {
    const dir = path.join(root, name);
    if (ownerAlive(dir)) continue;
    for (const rec of readPids(dir)) {
      const start = procStartTime(rec.pid);
      if (start === undefined) continue;
      if (rec.startTime !== undefined && start !== rec.startTime) continue;
      if (!cmdline(rec.pid)?.includes(path.basename(rec.command))) continue;
      try {
        process.kill(rec.pid, 'SIGKILL');
        report.killed.push(rec);
      } catch {}
    }
    fs.rmSync(dir, { recursive: true, force: true });
    report.dirs.push(dir);
  }
  return report;
}
