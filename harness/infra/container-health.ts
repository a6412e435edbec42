/**
 * Health of the containers `--infra containers` started: no exit event reaches us, so each check
 * inspects the containers' state. A container that is not running is an incident (the exit code
 * 128 + n reads as the signal, e.g. 137 → SIGKILL). No process faults: restarts are rejected up
 * front (supports() is false) because a restarted container may come back on other host ports.
 */
import os from 'node:os';
import type { StartedTestContainer } from 'testcontainers';
import type { HealthIncident, InfraProcesses } from './types.ts';

const SIGNALS = Object.entries(os.constants.signals) as [string, number][];

export function containerExitDescription(exitCode: number, oomKilled: boolean): string {
  if (oomKilled) return 'OOM-killed';
  const sig = exitCode > 128 ? SIGNALS.find(([, n]) => n === exitCode - 128)?.[0] : undefined;
  return sig ?? `code ${exitCode}`;
}

export function watchContainers(
  containers: { name: string; container: StartedTestContainer }[],
): InfraProcesses {
  let stopping = false;
  const refuse = async () => {
    throw new Error('process faults need --infra local (containers have no process control)');
  };
  return {
    supports: () => false,
    kill: refuse,
    start: refuse,
    async health() {
      if (stopping) return [];
      const { getContainerRuntimeClient } = await import('testcontainers');
      const docker = (await getContainerRuntimeClient()).container.dockerode;
      const out: HealthIncident[] = [];
      for (const c of containers) {
        const info = await docker
          .getContainer(c.container.getId())
          .inspect()
          .catch(() => undefined);
        const at = performance.timeOrigin + performance.now();
        if (!info) out.push({ component: c.name, how: 'removed', at });
        else if (!info.State.Running) {
          out.push({
            component: c.name,
            how: containerExitDescription(info.State.ExitCode, info.State.OOMKilled),
            at: Date.parse(info.State.FinishedAt) || at,
          });
        }
      }
      return out;
    },
    stopWatching() {
      stopping = true;
    },
  };
}
