/**
 * One reader of /proc/<pid>/stat for the harness (reaper identity, CPU of the load generator and
 * of the run's process trees, benches). Linux only: elsewhere, or once the process is gone, null.
 */
import fs from 'node:fs';

/** Clock ticks per second for /proc times (USER_HZ): 100 on every mainstream Linux build. */
export const TICKS_PER_SECOND = 100;

/** Fields of /proc/<pid>/stat after "(comm)", 0-based from the state field. */
export const STAT = {
  ppid: 1,
  utime: 11,
  stime: 12,
  cutime: 13,
  cstime: 14,
  starttime: 19,
  rss: 21,
} as const;

/**
 * The fields after the command name, which may hold spaces and parentheses: they start after the
 * last ')'. null when the process is gone or /proc is missing.
 */
export function procStat(pid: number | 'self'): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
