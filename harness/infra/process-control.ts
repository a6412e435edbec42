/**
 * Process control of the services a provisioner started: planned process faults (kill a service,
 * start it again) and health (every exit nobody planned is an incident that fails the cell).
 *
 * A provisioner registers each service with the recipe that started it and a readiness check;
 * a planned restart re-runs the recipe on the same ports and data dir, so clients reconnect to
 * the same address. The pipeline never restarts a service that died unplanned: its numbers would
 * mix two environments, so the cell fails and names the component instead.
 */
import fs from 'node:fs';
import type { ServiceProcess } from './processes.ts';
import type { HealthIncident, InfraProcesses, ProcessService } from './types.ts';

const now = () => performance.timeOrigin + performance.now();

export interface ManagedService {
  /** The component name in messages (redis-server, postgres, toxiproxy-server). */
  name: string;
  /** Which planned faults may address it; undefined = health only. */
  service?: ProcessService;
  proc: ServiceProcess;
  /** Starts the service again on the same ports and data (planned restarts). */
  respawn?: (o: { persistence: boolean }) => ServiceProcess;
  /** Resolves when the restarted service answers. */
  ready?: (p: ServiceProcess) => Promise<void>;
  /** The signal a planned kill sends: SIGKILL (a crash) unless the service needs another. */
  killSignal?: NodeJS.Signals;
  /** Directories whose data a restart without persistence must not find (Redis AOF/RDB). */
  volatileData?: string[];
}

/** How a child ended, as people read it: the signal name or `code N`. */
export function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ?? `code ${code}`;
}

export function incidentMessage(i: HealthIncident, origin: number): string {
  const rel = (i.at - origin) / 1000;
  return `${i.component} exited (${i.how}) at ${rel >= 0 ? '+' : '−'}${Math.abs(rel).toFixed(1)} s`;
}

/**
 * Watches `services` and returns the control the fault executor and the pipeline use.
 * `onReplace` lets the provisioner swap a restarted process into its stop list.
 */
export function watchServices(
  services: ManagedService[],
  onReplace: (old: ServiceProcess, next: ServiceProcess) => void,
): InfraProcesses {
  const incidents: HealthIncident[] = [];
  const planned = new Set<ServiceProcess>();
  let stopping = false;

  const watch = (s: ManagedService) => {
    const proc = s.proc;
    proc.child.once('exit', (code, signal) => {
      if (stopping || planned.has(proc)) return;
      incidents.push({ component: s.name, how: exitDescription(code, signal), at: now(), pid: proc.pid });
    });
  };
  for (const s of services) watch(s);

  const find = (service: ProcessService): ManagedService => {
    const s = services.find((x) => x.service === service);
    if (!s) throw new Error(`no ${service} process is under this provisioner's control`);
    return s;
  };

  return {
    supports: (service) => services.some((s) => s.service === service && s.respawn),
    async kill(service) {
      const s = find(service);
      planned.add(s.proc);
      await s.proc.stop(s.killSignal ?? 'SIGKILL', 5_000);
    },
    async start(service, o) {
      const s = find(service);
      if (!s.respawn) throw new Error(`${s.name} cannot be restarted by this provisioner`);
      if (s.proc.child.exitCode === null && s.proc.child.signalCode === null) {
        throw new Error(`${s.name} is still running (pid ${s.proc.pid}); kill it first`);
      }
      if (!o.persistence) {
        for (const p of s.volatileData ?? []) fs.rmSync(p, { recursive: true, force: true });
      }
      try {
        const next = s.respawn(o);
        onReplace(s.proc, next);
        s.proc = next;
        watch(s);
        await s.ready?.(next);
      } catch (e) {
        // A service that did not come back is as dead as one that crashed: later cells must say so.
        const reason = (e as Error).message.split('\n')[0];
        incidents.push({ component: s.name, how: `not restarted: ${reason}`, at: now() });
        throw e;
      }
    },
    health: async () => [...incidents],
    stopWatching() {
      stopping = true;
    },
  };
}
