/**
 * Pid files, so a run that was SIGKILLed (no chance to clean up) is cleaned up by the next one.
 * Each run owns a state dir `<root>/<id>/` holding owner.json (the harness PID and its start
 * time) and pids.ndjson (every service it spawned). A later run reaps every dir whose owner is
 * gone.
 *
 * The state root is private to the invoking user (0700, owned by them): a root that someone else
 * owns or can write is refused, because whoever can write a pid record there could make a run
 * kill their chosen processes. Even inside a private root a record is only acted on when the
 * process it names proves its identity from /proc: same start time, same executable, owned by
 * the invoking user or the service user we started it as. A partial record is never acted on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CachebenchError } from '../errors.ts';
import { procStat, STAT } from './procfs.ts';

export interface PidRecord {
  pid: number;
  name: string;
  /** Absolute path of the executable, as /proc/<pid>/exe shows it (symlinks resolved). */
  command: string;
  /** Kernel start time (clock ticks since boot); a record without it is never acted on. */
  startTime?: number;
  /** The uid the process runs as. */
  uid?: number;
}

/**
 * The state root: `CACHEBENCH_STATE_DIR`, else `$XDG_RUNTIME_DIR/cachebench` (per-user by design),
 * else `<tmpdir>/cachebench-<uid>`.
 */
export function stateRoot(): string {
  if (process.env.CACHEBENCH_STATE_DIR) return process.env.CACHEBENCH_STATE_DIR;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'cachebench');
  return path.join(os.tmpdir(), `cachebench-${process.getuid?.() ?? 'user'}`);
}

/**
 * Creates the state root (0700) or proves an existing one is ours: a real directory (not a
 * symlink), owned by the invoking user, not group/other accessible. Anything else is refused.
 */
export function ensurePrivateRoot(root = stateRoot()): string {
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CachebenchError('STATE_ROOT', `state root ${root}: cannot create (${(e as Error).message})`);
  }
  checkPrivateDir(root, 'state root');
  return root;
}

export function checkPrivateDir(dir: string, what: string): void {
  const st = fs.lstatSync(dir);
  const uid = process.getuid?.();
  const fix = 'remove it or set CACHEBENCH_STATE_DIR to a private directory';
  if (!st.isDirectory()) {
    throw new CachebenchError(
      'STATE_ROOT',
      `${what} ${dir}: is not a directory (a symlink?); refusing (${fix})`,
    );
  }
  if (uid !== undefined && st.uid !== uid) {
    throw new CachebenchError(
      'STATE_ROOT',
      `${what} ${dir}: owned by uid ${st.uid}, not by you (uid ${uid}); refusing to use it (${fix})`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new CachebenchError(
      'STATE_ROOT',
      `${what} ${dir}: mode ${(st.mode & 0o777).toString(8)} lets other users in; refusing (allowed: 700; ${fix})`,
    );
  }
}

/** Kernel start time of a process (clock ticks since boot), or undefined if it is gone. */
export function procStartTime(pid: number): number | undefined {
  const t = Number(procStat(pid)?.[STAT.starttime]);
  return Number.isFinite(t) ? t : undefined;
}

/** The resolved executable of a process, or undefined (gone, or not ours to inspect). */
export function procExe(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** The real uid of a process. */
export function procUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function createStateDir(prefix = 'run'): string {
  const root = ensurePrivateRoot();
  const dir = fs.mkdtempSync(path.join(root, `${prefix}-`));
  fs.chmodSync(dir, 0o700);
  fs.writeFileSync(
    path.join(dir, 'owner.json'),
    JSON.stringify({ ownerPid: process.pid, ownerStart: procStartTime(process.pid) }),
    { mode: 0o600 },
  );
  return dir;
}

/** Records a spawned service. The executable is resolved now, so the reaper compares exact paths. */
export function recordPid(stateDir: string, rec: Omit<PidRecord, 'startTime'>): void {
  let command = rec.command;
  try {
    command = fs.realpathSync(rec.command);
  } catch {}
  const withStart: PidRecord = { ...rec, command, startTime: procStartTime(rec.pid) };
  fs.appendFileSync(path.join(stateDir, 'pids.ndjson'), `${JSON.stringify(withStart)}\n`, { mode: 0o600 });
}

/** Extra paths (outside the state dir) a run created and the reaper must remove. */
export function recordPath(stateDir: string, p: string): void {
  fs.appendFileSync(path.join(stateDir, 'paths.ndjson'), `${JSON.stringify({ path: p })}\n`, { mode: 0o600 });
}

function readNdjson<T>(file: string): T[] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as T];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

export function readPids(stateDir: string): PidRecord[] {
  return readNdjson<PidRecord>(path.join(stateDir, 'pids.ndjson'));
}

function ownerAlive(stateDir: string): boolean {
  let o: { ownerPid?: unknown; ownerStart?: unknown };
  try {
    o = JSON.parse(fs.readFileSync(path.join(stateDir, 'owner.json'), 'utf8'));
  } catch (e) {
    // No owner file yet: a run that is being created right now. Leave it alone.
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? true : !isStale(stateDir);
  }
  if (typeof o.ownerPid !== 'number') return !isStale(stateDir);
  const start = procStartTime(o.ownerPid);
  return start !== undefined && (typeof o.ownerStart !== 'number' || start === o.ownerStart);
}

/** A dir without a readable owner is only treated as dead after a minute (it may be mid-creation). */
function isStale(dir: string): boolean {
  try {
    return Date.now() - fs.statSync(dir).mtimeMs > 60_000;
  } catch {
    return false;
  }
}

/**
 * Why a record must not be acted on, or undefined when /proc proves it is the process we
 * started: complete record, same start time, same executable, owned by us or the service user.
 */
export function refuseReason(rec: Partial<PidRecord>, allowedUids: number[]): string | undefined {
  if (!Number.isInteger(rec.pid) || (rec.pid as number) <= 1) return 'no valid pid';
  const pid = rec.pid as number;
  if (typeof rec.command !== 'string' || !path.isAbsolute(rec.command)) return 'no absolute executable path';
  if (typeof rec.startTime !== 'number') return 'no start time';
  const start = procStartTime(pid);
  if (start === undefined) return 'gone';
  if (start !== rec.startTime) return `start time ${start} is not the recorded ${rec.startTime} (pid reused)`;
  const exe = procExe(pid);
  if (exe === undefined) return 'executable not readable';
  if (exe !== rec.command) return `executable ${exe} is not the recorded ${rec.command}`;
  const uid = procUid(pid);
  if (uid === undefined || !allowedUids.includes(uid)) return `owned by uid ${uid}, not by us`;
  return undefined;
}

export interface ReapReport {
  dirs: string[];
  killed: PidRecord[];
  /** Records not acted on, with the reason (a missing process is not listed). */
  refused: { rec: Partial<PidRecord>; reason: string }[];
}

/**
 * Kills what dead runs left behind and removes their state dirs. `serviceUids` are the uids we
 * run services as besides our own (the postgres user when we are root).
 */
export function reapLeftovers(serviceUids: number[] = []): ReapReport {
  const report: ReapReport = { dirs: [], killed: [], refused: [] };
  const root = ensurePrivateRoot();
  const uid = process.getuid?.();
  const allowed = [...(uid === undefined ? [] : [uid]), ...serviceUids];
  for (const name of fs.readdirSync(root)) {
    const dir = path.join(root, name);
    try {
      checkPrivateDir(dir, 'state dir');
    } catch (e) {
      report.refused.push({ rec: { name: dir }, reason: (e as Error).message });
      continue;
    }
    if (ownerAlive(dir)) continue;
    for (const rec of readPids(dir)) {
      const reason = refuseReason(rec, allowed);
      if (reason === 'gone') continue;
      if (reason) {
        report.refused.push({ rec, reason });
        continue;
      }
      try {
        process.kill(rec.pid, 'SIGKILL');
        report.killed.push(rec);
      } catch {}
    }
    const tmp = os.tmpdir();
    for (const { path: p } of readNdjson<{ path?: unknown }>(path.join(dir, 'paths.ndjson'))) {
      // Only paths this harness creates (mkdtemp under the temp dir with our prefix).
      if (typeof p === 'string' && path.dirname(p) === tmp && path.basename(p).startsWith('cachebench-pg-')) {
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    report.dirs.push(dir);
  }
  return report;
}
