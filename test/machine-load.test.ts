/**
 * harness/pipeline/machine-load.ts on the real /proc: CPU burnt by a process outside the run's
 * trees shows as foreign, the same work inside them as the run's own.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { startMachineLoad } from '../harness/pipeline/machine-load.ts';

// Spins until it has used the given CPU milliseconds (not wall time: on a loaded machine a wall
// clock spin gets a fraction of a core and proves nothing).
const BURN =
  'const ms = Number(process.argv[1]) * 1000; while (process.cpuUsage().user + process.cpuUsage().system < ms) {}';

/** Our child, spinning for `ms` of CPU; resolves when it has exited (and been reaped). */
function burn(ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', BURN, String(ms)], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(c.pid!));
  });
}

describe.skipIf(process.platform !== 'linux')('machine load (foreign vs own CPU)', () => {
  it("counts a child's busy loop as the run's own", async () => {
    const m = startMachineLoad([], os.cpus().length);
    await burn(600);
    const r = m.stop()!;
    expect(r).not.toBeNull();
    // 600 ms of CPU by a reaped child, counted through our cutime.
    expect(r.ownCores * r.seconds).toBeGreaterThan(0.5);
  });

  it('counts a process outside the trees as foreign', async () => {
    // A process started through a shell that exits at once is reparented away from us: its CPU
    // is someone else's, the way another user's build is.
    const { execFileSync } = await import('node:child_process');
    const m = startMachineLoad([], os.cpus().length);
    const pidFile = `${os.tmpdir()}/cb-machine-load-${process.pid}`;
    execFileSync('sh', [
      '-c',
      `setsid "${process.execPath}" -e '${BURN}' 600 >/dev/null 2>&1 & echo $! > ${pidFile}`,
    ]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    fs.rmSync(pidFile);
    // Wait for it to finish its 600 ms of CPU (it is not our child: poll /proc).
    const deadline = Date.now() + 20_000;
    while (fs.existsSync(`/proc/${pid}`) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const r = m.stop()!;
    expect(r.foreignCores * r.seconds).toBeGreaterThan(0.5);
    expect(r.ownCores * r.seconds).toBeLessThan(0.5);
  });
});
