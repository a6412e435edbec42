/**
 * The run directory and its canonical results.json. Written atomically (tmp + fsync + rename)
 * after every cell, so an interrupted run keeps its finished cells and `--resume` can complete it.
 *
 * A run directory is cachebench's own: it carries a marker file, and a run holds an exclusive
 * lock file in it while it writes, so `--out` never overwrites someone else's files, never
 * replaces a finished run by accident, and two runs never write into one directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { procStartTime } from '../infra/reaper.ts';
import { type CellResult, RESULTS_SCHEMA_VERSION, type RunResults } from '../results/schema.ts';

export const RESULTS_FILE = 'results.json';
/** Present in every run directory; its absence means "not ours". */
export const RUN_MARKER = '.cachebench-run';
/** Held (created exclusively) by the run writing into the directory. */
export const RUN_LOCK = '.cachebench-run.lock';
const TMP_RE = /\.\d+\.tmp$/;

/** Writes files so that each is either its old or its complete new content, even on power loss. */
export function writeFilesAtomic(files: { path: string; data: string }[]): void {
  const tmps = files.map((f) => {
    const tmp = `${f.path}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, f.data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return tmp;
  });
  // The renames are synchronous and back to back: a signal handler (which runs on the event
  // loop) sees either none or all of them done.
  for (const [i, f] of files.entries()) fs.renameSync(tmps[i]!, f.path);
  for (const dir of new Set(files.map((f) => path.dirname(f.path)))) {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

export function writeResults(runDir: string, results: RunResults): void {
  writeFilesAtomic([{ path: path.join(runDir, RESULTS_FILE), data: JSON.stringify(results) }]);
}

export type ClaimMode = 'new' | 'resume' | 'force';

interface LockInfo {
  pid: number;
  start?: number;
}

function lockHolder(lockFile: string): LockInfo | undefined {
  let info: Partial<LockInfo>;
  try {
    info = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Being written right now by its holder (create, then write): treat as held.
    return { pid: 0 };
  }
  if (typeof info.pid !== 'number') return { pid: 0 };
  const start = procStartTime(info.pid);
  if (start === undefined || (info.start !== undefined && start !== info.start)) return undefined;
  return { pid: info.pid, start: info.start };
}

function locked(flag: string, dir: string, pid: number): UsageError {
  return new UsageError(
    'OUT_LOCKED',
    `${flag}: ${dir} is in use by another cachebench run (pid ${pid || 'unknown'}); nothing was touched (wait for it, or choose another directory)`,
  );
}

/**
 * Makes `dir` this process's run directory, before anything is started or written: refuses a
 * file, a non-empty directory that is not a cachebench run, an existing run (unless `resume` or
 * `force`) and a directory another run holds. Returns the release function (idempotent; also
 * runs on process exit). Stray temp files of an earlier writer are removed.
 */
export function claimRunDir(dir: string, mode: ClaimMode, flag = '--out'): () => void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {}
  if (st && !st.isDirectory()) {
    throw new UsageError(
      'BAD_OUT',
      `${flag}: ${dir} is a file (allowed: a new or empty directory, or a cachebench run directory)`,
    );
  }
  const entries = st ? fs.readdirSync(dir) : [];
  const isRun = entries.includes(RUN_MARKER) || (mode === 'resume' && entries.includes(RESULTS_FILE));
  if (entries.length > 0 && !isRun) {
    throw new UsageError(
      'OUT_NOT_A_RUN',
      `${flag}: ${dir} is not empty and not a cachebench run directory (no ${RUN_MARKER}); nothing was touched (allowed: a new or empty directory)`,
    );
  }
  const lockFile = path.join(dir, RUN_LOCK);
  // A run in progress is named first: whatever the mode, this directory is someone's right now.
  const current = isRun ? lockHolder(lockFile) : undefined;
  if (current) throw locked(flag, dir, current.pid);
  if (isRun && mode === 'new') {
    throw new UsageError(
      'OUT_IS_A_RUN',
      `${flag}: ${dir} already holds a cachebench run; nothing was touched (allowed: --resume ${dir} to complete it, --force to replace it, or a new directory)`,
    );
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError('BAD_OUT', `${flag}: ${dir}: cannot create (${(e as Error).message})`);
  }
  const take = () => {
    const fd = fs.openSync(lockFile, 'wx', 0o644);
    fs.writeSync(fd, JSON.stringify({ pid: process.pid, start: procStartTime(process.pid) }));
    fs.closeSync(fd);
  };
  try {
    take();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const holder = lockHolder(lockFile);
    if (holder) throw locked(flag, dir, holder.pid);
    // Its holder is gone (killed): take it over. Exclusive create again, so of two runs that
    // both found it stale only one wins.
    fs.rmSync(lockFile, { force: true });
    try {
      take();
    } catch {
      throw locked(flag, dir, lockHolder(lockFile)?.pid ?? 0);
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (lockHolder(lockFile)?.pid === process.pid) fs.rmSync(lockFile, { force: true });
    } catch {}
  };
  process.on('exit', release);
  if (mode === 'force') {
    for (const e of fs.readdirSync(dir)) {
      if (e !== RUN_LOCK) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
    }
  }
  for (const e of fs.readdirSync(dir)) {
    if (TMP_RE.test(e)) fs.rmSync(path.join(dir, e), { force: true });
  }
  fs.writeFileSync(
    path.join(dir, RUN_MARKER),
    `${JSON.stringify({ format: 'cachebench-run', note: 'written by cachebench run; do not remove' })}\n`,
  );
  return release;
}

export function readResults(dirOrFile: string): { runDir: string; results: RunResults } {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, RESULTS_FILE);
  if (!fs.existsSync(file)) {
    throw new UsageError(
      'NO_RESULTS',
      `${dirOrFile}: no ${RESULTS_FILE} found (expected a run directory written by 'cachebench run')`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError('BAD_RESULTS', `${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = parsed as Partial<RunResults>;
  if (r.schemaVersion !== RESULTS_SCHEMA_VERSION || !Array.isArray(r.cells) || !r.run) {
    throw new UsageError(
      'BAD_RESULTS',
      `${file}: schemaVersion ${String(r.schemaVersion)} is not supported (allowed: ${RESULTS_SCHEMA_VERSION})`,
    );
  }
  const bad = badCell(r.cells);
  if (bad) throw new UsageError('BAD_RESULTS', `${file}: ${bad}`);
  return { runDir: path.dirname(file), results: parsed as RunResults };
}

const STATUSES = ['ok', 'failed', 'interrupted'];
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first structural problem of the cells (what the reports rely on), or undefined. */
function badCell(cells: unknown[]): string | undefined {
  for (const [i, c] of cells.entries()) {
    const where = `cells[${i}]`;
    if (!isObject(c)) return `${where}: expected a cell object, got ${JSON.stringify(c)}`;
    for (const k of ['id', 'scenario', 'strategy'] as const) {
      if (typeof c[k] !== 'string')
        return `${where}.${k}: expected a string, got ${JSON.stringify(c[k]) ?? 'nothing'}`;
    }
    if (!Number.isInteger(c.repeat))
      return `${where}.repeat: expected an integer, got ${JSON.stringify(c.repeat) ?? 'nothing'}`;
    if (!STATUSES.includes(c.status as string)) {
      return `${where}.status: ${JSON.stringify(c.status) ?? 'nothing'} is not allowed (allowed: ${STATUSES.join(', ')})`;
    }
    for (const k of ['load', 'series', 'target', 'scenario_spec'] as const) {
      if (!isObject(c[k]))
        return `${where}.${k}: expected an object, got ${JSON.stringify(c[k]) ?? 'nothing'}`;
    }
    if (!Array.isArray(c.faults))
      return `${where}.faults: expected a list, got ${JSON.stringify(c.faults) ?? 'nothing'}`;
    if (c.status === 'ok' && (!isObject(c.analysis) || !isObject(c.analysis.validity))) {
      return `${where}.analysis: expected the analysis object of an ok cell (with validity), got ${JSON.stringify(c.analysis)?.slice(0, 60) ?? 'nothing'}`;
    }
  }
  return undefined;
}

export function cellId(scenario: string, strategy: string, repeat: number): string {
  return `${scenario}/${strategy}/${repeat}`;
}

/** Directory for a cell's raw files; strategy specs may contain '+' or a path, so sanitize. */
export function cellDir(runDir: string, cell: Pick<CellResult, 'scenario' | 'strategy' | 'repeat'>): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9+._-]/g, '_');
  return path.join(runDir, 'cells', `${safe(cell.scenario)}--${safe(cell.strategy)}--${cell.repeat}`);
}
