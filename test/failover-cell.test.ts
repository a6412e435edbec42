/**
 * One cell end to end on `--topology replicated`: the local provisioner starts the primary, the
 * replica and three Sentinels, the target connects through Sentinel (natMap → the node proxies),
 * a replica-partition then a sentinel-failover run mid-load, and the analysis carries the
 * failover figures measured by the harness. The infra stops with no process left.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeCell } from '../harness/analysis/index.ts';
import { listenersOn } from '../harness/infra/listener.ts';
import { agreedPrimary, passwordOf, replicatedTopology } from '../harness/infra/local/redis-replicated.ts';
import { startLocalInfra } from '../harness/infra/local.ts';
import { isAlive } from '../harness/infra/processes.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { runCell } from '../harness/pipeline/cell.ts';
import { loadScenario } from '../scenarios/load.ts';
import { loadStrategyModule } from '../target/strategies/index.ts';

describe('a failover cell on the replicated topology', () => {
  let infra: InfraHandle;
  beforeAll(async () => {
    infra = await startLocalInfra({ topology: 'replicated' });
  }, 120_000);
  afterAll(async () => {
    await infra?.stop();
  }, 30_000);

  it('measures the failover, loses the partitioned DELs, and fails back for the next cell', async () => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-failover-'));
    try {
      const scenario = loadScenario(path.resolve(import.meta.dirname, 'fixtures', 'failover-tiny.yaml'));
      const cell = await runCell({
        runDir,
        infra,
        scenario,
        strategy: 'write-behind',
        strategyDefaults: (await loadStrategyModule('write-behind')).defaults,
        repeat: 1,
        seed: 7,
        instances: 1,
        driver: 'builtin',
      });
      for (const f of cell.faults) expect(f.error, f.spec.process).toBeUndefined();
      const a = await analyzeCell(cell, runDir);
      const fo = a.failover!;
      expect(fo.failoverMs!).toBeGreaterThanOrEqual(500);
      expect(fo.failoverMs!).toBeLessThan(15_000);
      expect(fo.probeDeletes).toBe(20);
      expect(fo.probeLostDeletes).toBe(20);
      // The target's own writes after the cut, seen on the primary's keyevents: update-user
      // invalidates by DEL and the load refills by SET, so both happened; a lost one is one of them.
      expect(fo.deletesDuringPartition!).toBeGreaterThan(0);
      expect(fo.setsDuringPartition!).toBeGreaterThan(0);
      expect(fo.lostDeletes!).toBeLessThanOrEqual(fo.deletesDuringPartition!);
      expect(fo.lostOverwrites!).toBeLessThanOrEqual(fo.setsDuringPartition!);
      // Every lost DEL is in exactly one key namespace.
      const byNs = Object.values(fo.lostDeletesByNamespace ?? {});
      expect(byNs.reduce((a, b) => a + b, 0)).toBe(fo.lostDeletes);
      expect(fo.requestsDuring).toBeGreaterThan(0);
      // The load went on after the failover: requests succeeded against the promoted replica.
      expect(cell.load.completed - cell.load.errors).toBeGreaterThan(cell.load.completed / 2);
      // The next cell's reset puts redis-0 back as primary.
      await infra.resetRedisTopology?.();
      const t = replicatedTopology(infra.redisTopology);
      expect(await agreedPrimary(t, passwordOf(infra.redisUrl))).toBe(0);
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('stop ends every process the topology started', async () => {
    // Two nodes, three Sentinels, PostgreSQL, Toxiproxy. A node restarted by the failover has a
    // PID of its own (and redis-server rewrites its environ): its port tells whether it is gone.
    const t = replicatedTopology(infra.redisTopology);
    const ports = [...t.nodes, ...t.sentinels, ...t.proxiedNodes].map((e) => e.port);
    expect(infra.pids.length).toBeGreaterThanOrEqual(7);
    for (const p of ports) expect(listenersOn(p).length, `port ${p}`).toBeGreaterThan(0);
    await infra.stop();
    for (const p of infra.pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    for (const p of ports) expect(listenersOn(p), `port ${p}`).toEqual([]);
  }, 30_000);
});
