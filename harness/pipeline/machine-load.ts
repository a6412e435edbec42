/**
 * How busy the machine was with work that is not the run's own, during a cell's load.
 *
 * Latency is measured on a shared machine: a compile, a browser or another benchmark on the same
 * cores moves p50 and p99 as much as a code change does (the gate-noise bench's same-vs-same
 * latency case raised 4 false alarms in 10 when other jobs started mid-bench). The validity
 * checks cannot see that from the target's figures, so the harness measures it directly:
 *
 *   foreign CPU = CPU time the whole machine spent busy (/proc/stat, every state but idle and
 *                 iowait) − CPU time of the run's own process trees (this process and every
 *                 process it started, local services included, with their reaped children)
 *
 * over the load window, in cores. Linux only (reads /proc); elsewhere, or when the services
 * are not our processes (containers, --infra external: their CPU would count as foreign), the
 * figure is null and nothing is judged on it. Two readings per cell, a few ms each.
 */
import fs from 'node:fs';
import { procStat, STAT, TICKS_PER_SECOND } from '../infra/procfs.ts';

export interface MachineLoad {
  /** Average cores used by processes outside the run's process trees during the load. */
  foreignCores: number;
  /** Average cores used by the run's own processes (harness, driver, targets, local services). */
  ownCores: number;
  cpus: number;
  seconds: number;
}

interface Reading {
  at: number;
  busyTicks: number;
  ownTicks: number;
}

function hostBusyTicks(): number | null {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 5 || f.some((x) => !Number.isFinite(x))) return null;
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
  const [user, nice, system, , , irq = 0, softirq = 0, steal = 0] = f;
  return user! + nice! + system! + irq + softirq + steal;
}

/**
 * utime+stime+cutime+cstime summed over every live process in the trees rooted at `roots`. An
 * exited child's time sits in its reaper's cutime once, a live child's in its own utime: each
 * tick is counted once as long as the reaper is in the tree.
 */
function treeTicks(roots: number[]): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = procStat(pid);
    if (!f) continue; // gone between readdir and read
    parent.set(pid, Number(f[STAT.ppid]));
    ticks.set(
      pid,
      Number(f[STAT.utime]) + Number(f[STAT.stime]) + Number(f[STAT.cutime]) + Number(f[STAT.cstime]),
    );
  }
  const inTree = new Set(roots.filter((p) => ticks.has(p)));
  // Parents precede children in most listings but not all: iterate until nothing is added.
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!inTree.has(pid) && inTree.has(ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let sum = 0;
  for (const pid of inTree) sum += ticks.get(pid) ?? 0;
  return sum;
}

function read(roots: number[]): Reading | null {
  const busyTicks = hostBusyTicks();
  if (busyTicks === null) return null;
  return { at: performance.now(), busyTicks, ownTicks: treeTicks(roots) };
}

/**
 * Starts a measurement; `stop()` returns the averages since the start, or null where it cannot
 * be measured. `roots`: PIDs whose process trees are the run's own besides this process (local
 * services that detach from it, e.g. a daemonised postmaster).
 */
export function startMachineLoad(roots: number[], cpus: number): { stop(): MachineLoad | null } {
  const all = [process.pid, ...roots];
  let start: Reading | null = null;
  try {
    start = process.platform === 'linux' ? read(all) : null;
  } catch {
    start = null;
  }
  return {
    stop() {
      if (!start) return null;
      let end: Reading | null;
      try {
        end = read(all);
      } catch {
        return null;
      }
      if (!end) return null;
      const seconds = (end.at - start.at) / 1000;
      if (seconds <= 0) return null;
      const own = Math.max(0, end.ownTicks - start.ownTicks) / TICKS_PER_SECOND / seconds;
      const busy = Math.max(0, end.busyTicks - start.busyTicks) / TICKS_PER_SECOND / seconds;
      return { foreignCores: Math.max(0, busy - own), ownCores: own, cpus, seconds };
    },
  };
}
