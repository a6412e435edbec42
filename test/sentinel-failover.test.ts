/**
 * The replicated topology with real processes: redis-0 (primary), redis-1 (replica) and three
 * Sentinels behind a real Toxiproxy. It starts, fails over under the `sentinel-failover` fault (a
 * write afterwards lands on the new primary through that node's proxy), loses exactly the DELs
 * acknowledged inside a `replica-partition`, fails back on reset, and leaves no process behind.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  failoverFigures,
  failoverVerdict,
  lostDeletes,
  lostWrites,
  type ReplicaEntry,
  type WriteKind,
} from '../harness/analysis/failover.ts';
import { sentinelClient } from '../harness/faults/failover.ts';
import { runFaultTimeline } from '../harness/faults.ts';
import {
  agreedPrimary,
  passwordOf,
  type ReplicatedTopology,
  replicatedTopology,
  resetReplicated,
  startRedisReplicated,
  withConnection,
} from '../harness/infra/local/redis-replicated.ts';
import { startToxiproxy } from '../harness/infra/local/toxiproxy.ts';
import { findBinaries } from '../harness/infra/local.ts';
import { freePort } from '../harness/infra/ports.ts';
import { watchServices } from '../harness/infra/process-control.ts';
import { isAlive, type ServiceProcess } from '../harness/infra/processes.ts';
import { createStateDir } from '../harness/infra/reaper.ts';
import type { InfraProcesses } from '../harness/infra/types.ts';
import type { FaultSpec } from '../scenarios/types.ts';

interface Stack {
  t: ReplicatedTopology;
  redisUrl: string;
  toxiproxyUrl: string;
  processes: InfraProcesses;
  pids: () => number[];
  stop(): Promise<void>;
}

/** Toxiproxy + the replicated topology, composed the way the local provisioner does it. */
async function startStack(): Promise<Stack> {
  const bins = findBinaries();
  if (!bins.redis || !bins.toxiproxy) throw new Error('redis-server/toxiproxy-server not on PATH');
  const stateDir = createStateDir('sentinel-test');
  const taken = new Set<number>();
  const started: ServiceProcess[] = [];
  const stop = async () => {
    processes?.stopWatching();
    for (const p of [...started].reverse()) await p.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  };
  let processes: InfraProcesses | undefined;
  try {
    const topo = await startRedisReplicated({ bin: bins.redis, stateDir, port: () => freePort(taken) });
    for (const s of topo.services) started.push(s.managed.proc);
    const toxiproxy = startToxiproxy({ bin: bins.toxiproxy, port: await freePort(taken), stateDir });
    started.push(toxiproxy.managed.proc);
    await toxiproxy.ready();
    await toxiproxy.proxy(topo.proxies);
    await topo.ready();
    for (const s of topo.services) s.assertOwned();
    processes = watchServices([...topo.services.map((s) => s.managed), toxiproxy.managed], (old, next) =>
      started.splice(started.indexOf(old), 1, next),
    );
    const t = replicatedTopology(topo.info);
    return {
      t,
      redisUrl: topo.url(t.nodes[0]!.port),
      toxiproxyUrl: toxiproxy.url,
      processes,
      pids: () => started.map((p) => p.pid),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A fault timeline on the stack, starting now. */
function runFaults(
  s: Stack,
  faults: FaultSpec[],
  onEvent?: Parameters<typeof runFaultTimeline>[0]['onEvent'],
) {
  return runFaultTimeline({
    toxiproxyUrl: s.toxiproxyUrl,
    redisUrl: s.redisUrl,
    processes: s.processes,
    redisTopology: s.t,
    faults,
    loadStartedAt: Date.now(),
    ...(onEvent ? { onEvent } : {}),
  });
}

/** One SET through the target's path (Sentinels → natMap → proxy); the proxy port it used. */
async function writeThroughSentinels(s: Stack, key: string, value: string): Promise<number> {
  const c = sentinelClient(s.t, passwordOf(s.redisUrl));
  try {
    await c.connect();
    expect(await c.set(key, value)).toBe('OK');
    return c.stream.remotePort as number;
  } finally {
    c.disconnect();
  }
}

const getOn = (s: Stack, node: number, key: string) =>
  withConnection(s.t.nodes[node]!, passwordOf(s.redisUrl), (r) => r.get(key));

describe('replicated topology (primary, replica, three Sentinels)', () => {
  let s: Stack;
  const everPids = new Set<number>();
  beforeAll(async () => {
    s = await startStack();
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  }, 30_000);

  it('starts with redis-0 primary and writes reach it through its proxy', async () => {
    const password = passwordOf(s.redisUrl);
    expect(await agreedPrimary(s.t, password)).toBe(0);
    const port = await writeThroughSentinels(s, 'k:start', 'v0');
    expect(port).toBe(s.t.proxiedNodes[0]!.port);
    expect(await getOn(s, 0, 'k:start')).toBe('v0');
    for (const p of s.pids()) everPids.add(p);
  });

  it('fails over on sentinel-failover: the next write lands on redis-1 through its proxy', async () => {
    const faults: FaultSpec[] = [{ at: 0, for: 6_000, process: 'sentinel-failover' }];
    const records = await runFaults(s, faults);
    const rec = records[0]!;
    expect(rec.error).toBeUndefined();
    expect(rec.ok).toBe(true);
    const o = rec.observed!;
    expect(o.primaryBefore).toBe(0);
    expect(o.primaryAfter).toBe(1);
    // Sentinel needs down-after (1 s) plus an election; the write follows the promotion.
    expect(o.promotedAt! - o.killedAt!).toBeGreaterThanOrEqual(1_000);
    expect(o.firstWriteAt!).toBeGreaterThan(o.killedAt!);
    expect(o.switchMasterAt!).toBeGreaterThan(o.killedAt!);
    const f = failoverFigures(records, [])!;
    expect(f.failoverMs).toBe(o.firstWriteAt! - o.killedAt!);
    expect(f.failoverMs!).toBeGreaterThanOrEqual(1_000);
    expect(f.failoverMs!).toBeLessThan(15_000);
    // Both the figure and its cross-check describe the same event: within a second of each other.
    expect(Math.abs(f.switchMasterMs! - f.promotionMs!)).toBeLessThan(1_000);

    const port = await writeThroughSentinels(s, 'k:after', 'v1');
    expect(port).toBe(s.t.proxiedNodes[1]!.port);
    expect(await getOn(s, 1, 'k:after')).toBe('v1');
    // The old primary is back as the new primary's replica.
    await expect.poll(() => getOn(s, 0, 'k:after'), { timeout: 10_000, interval: 100 }).toBe('v1');
    for (const p of s.pids()) everPids.add(p);
  }, 120_000);

  it('reset fails back to redis-0 and empties both nodes', async () => {
    await resetReplicated(s.t, s.redisUrl);
    const password = passwordOf(s.redisUrl);
    expect(await agreedPrimary(s.t, password)).toBe(0);
    expect(await getOn(s, 0, 'k:after')).toBeNull();
    expect(await getOn(s, 1, 'k:after')).toBeNull();
    expect(await writeThroughSentinels(s, 'k:back', 'v2')).toBe(s.t.proxiedNodes[0]!.port);
  }, 120_000);

  it('loses exactly the DELs acknowledged after the partition when the primary dies', async () => {
    const faults: FaultSpec[] = [
      { at: 0, for: 9_000, process: 'replica-partition' },
      // After the probe's DELs (a few ms, longer on a loaded machine): the kill must not race them.
      { at: 1_500, for: 5_000, process: 'sentinel-failover' },
    ];
    const records = await runFaults(s, faults);
    for (const r of records) expect(r.error).toBeUndefined();
    const f = failoverFigures(records, [])!;
    expect(f.probeDeletes).toBe(20);
    // Every probe DEL was acknowledged by the cut-off primary and never replicated.
    expect(f.probeLostDeletes).toBe(20);
    // No target wrote: the keyevent watch counts the probe apart, nothing of the target's.
    expect(f).toMatchObject({ deletesDuringPartition: 0, lostDeletes: 0, lostOverwrites: 0, lostIncrs: 0 });
    expect(records[0]!.observed!.judgedOn).toBe(1);
    for (const p of s.pids()) everPids.add(p);
    await resetReplicated(s.t, s.redisUrl);
  }, 120_000);

  it("counts a DEL, an overwrite and an INCR through the target's client during the partition as lost, and nothing before the cut", async () => {
    const password = passwordOf(s.redisUrl);
    const c = sentinelClient(s.t, password);
    await c.connect();
    try {
      // Before the cut: five keys, replicated (WAIT), then `before` deleted — replicated too.
      await c.mset({ 'lw:before': 'x', 'lw:during': 'x', 'lw:over': 'old', 'lw:ctr': '5', 'lw:ttl': 'x' });
      await c.pexpire('lw:ttl', 700);
      expect(await c.del('lw:before')).toBe(1);
      // WAIT covers the connection's own writes: one write on it, after all the above in the stream.
      await withConnection(s.t.nodes[0]!, password, async (r) => {
        await r.set('lw:sync', '1');
        expect(Number(await r.call('WAIT', '1', '2000'))).toBe(1);
      });
      const faults: FaultSpec[] = [
        { at: 0, for: 9_000, process: 'replica-partition' },
        { at: 3_000, for: 5_000, process: 'sentinel-failover' },
      ];
      let partitioned!: () => void;
      const cut = new Promise<void>((r) => {
        partitioned = r;
      });
      const timeline = runFaults(s, faults, (e) => e.index === 0 && partitioned());
      // A timeline that ends without the partition applied fails below on its record's error.
      await Promise.race([cut, timeline]);
      // During the partition, through the Sentinel-backed client (the target's path): acknowledged
      // by the cut-off primary. `lw:ttl` expires on the replica before the judgment: not lost.
      expect(await c.del('lw:during', 'lw:ttl', 'lw:never')).toBe(2);
      expect(await c.set('lw:over', 'new')).toBe('OK');
      expect(await c.incr('lw:ctr')).toBe(6);
      expect(await c.set('lw:fill', 'fresh')).toBe('OK');
      const records = await timeline;
      for (const r of records) expect(r.error, r.spec.process).toBeUndefined();
      const o = records[0]!.observed!;
      expect(o).toMatchObject({
        deletesDuringPartition: 2,
        lostDeletes: 1,
        setsDuringPartition: 2,
        lostOverwrites: 1,
        incrsDuringPartition: 1,
        lostIncrs: 1,
        probeLostDeletes: 20,
        // By namespace (target/keys.ts keyNamespace): the one lost key, lw:during.
        'lostDeletes.lw-during': 1,
      });
      expect(o.judgedAt!).toBeGreaterThan(o.cutAt!);
      // What the measure predicted is what the promoted primary serves.
      expect(await getOn(s, 1, 'lw:during')).toBe('x');
      expect(await getOn(s, 1, 'lw:over')).toBe('old');
      expect(await getOn(s, 1, 'lw:ctr')).toBe('5');
      expect(await getOn(s, 1, 'lw:before')).toBeNull();
      expect(await getOn(s, 1, 'lw:fill')).toBeNull();
    } finally {
      c.disconnect();
      for (const p of s.pids()) everPids.add(p);
      await resetReplicated(s.t, s.redisUrl);
    }
  }, 120_000);

  it('the lost-write judgment counts what it is given', () => {
    const w = new Map<string, Set<WriteKind>>([
      ['a', new Set(['del'])],
      ['b', new Set(['del'])],
      ['c', new Set(['set'])],
      ['d', new Set(['set'])],
      ['e', new Set(['incr'])],
      ['f', new Set(['incr'])],
      ['g', new Set(['del', 'set'])],
    ]);
    const replica = new Map<string, ReplicaEntry>([
      ['a', { value: '1' }],
      ['b', { value: '1', expiresAt: 500 }],
      ['c', { value: 'old' }],
      ['d', { value: 'same' }],
      ['e', { value: '3' }],
      ['g', { value: 'old' }],
    ]);
    const primary = new Map<string, string | null>([
      ['c', 'new'],
      ['d', 'same'],
      ['e', '3'],
      ['f', '1'],
      ['g', 'refilled'],
    ]);
    expect(lostWrites(w, replica, primary, 1_000, (k) => (k === 'g' ? 'other' : 'value'))).toEqual({
      deletes: 3,
      lostDeletes: 2, // a, g (b expired on the replica before the judgment)
      sets: 3,
      lostOverwrites: 2, // c, g (d holds the same value)
      incrs: 2,
      lostIncrs: 1, // f restarts from nothing; e is equal
      lostDeletesByNamespace: { value: 1, other: 1 },
    });
  });

  it('the failover verdict names who stayed correct, and leaves untrusted cells unjudged', () => {
    const fig = (stale: number, lost: number, dels: number) => ({
      staleAfterFailover: stale,
      lostDeletes: lost,
      deletesDuringPartition: dels,
      requestsDuring: 100,
      errorsDuring: 0,
      failoverMs: 1_900,
    });
    const text = failoverVerdict([
      { strategy: 'a', figures: [fig(0, 2, 5)], duplicateRebuilds: [0], lostIncrements: [0], trusted: true },
      {
        strategy: 'b',
        figures: [fig(3, 4, 4)],
        duplicateRebuilds: [1],
        lostIncrements: [null],
        trusted: true,
      },
      { strategy: 'c', figures: [fig(0, 0, 0)], duplicateRebuilds: [0], lostIncrements: [2], trusted: true },
      { strategy: 'd', figures: [fig(0, 0, 0)], duplicateRebuilds: [0], lostIncrements: [0], trusted: false },
    ]);
    expect(text).toContain(
      'stayed correct (no stale read after it, no lost increment) — a (0 stale after, 2/5 DELs lost',
    );
    expect(text).toMatch(
      /not correct — b \(3 stale after, 4\/4 DELs lost, 1 duplicate rebuilds.*; c \(.*2 increments lost/,
    );
    expect(text).toMatch(/Not judged \(untrusted cells or no staleness check\): d \(/);
    expect(failoverVerdict([])).toBe('');
  });

  it('the DEL-loss and window measures count what they are given', () => {
    expect(lostDeletes([{ key: 'a' }, { key: 'b' }, { key: 'c' }], new Set(['b', 'x']))).toBe(1);
    const f = failoverFigures(
      [
        {
          spec: { at: 0, for: 1, process: 'sentinel-failover' },
          plannedAt: 0,
          plannedFor: 1,
          ok: true,
          observed: { killedAt: 1_000, promotedAt: 2_500, firstWriteAt: 3_000, switchMasterAt: 2_400 },
        },
      ],
      [
        {
          op: 'read-user',
          kind: 'read',
          key: 'user:1',
          scheduled: 900,
          start: 900,
          end: 905,
          status: 200,
          instance: 0,
        },
        {
          op: 'read-user',
          kind: 'read',
          key: 'user:1',
          scheduled: 1_100,
          start: 1_100,
          end: 1_180,
          status: 200,
          instance: 0,
        },
        {
          op: 'read-user',
          kind: 'read',
          key: 'user:2',
          scheduled: 1_200,
          start: 1_200,
          end: 1_210,
          status: 503,
          instance: 0,
        },
        {
          op: 'read-user',
          kind: 'read',
          key: 'user:3',
          scheduled: 3_100,
          start: 3_100,
          end: 3_101,
          status: 500,
          instance: 0,
        },
      ],
    )!;
    expect(f).toMatchObject({ failoverMs: 2_000, promotionMs: 1_500, switchMasterMs: 1_400 });
    expect(f).toMatchObject({ requestsDuring: 2, errorsDuring: 1, p99DuringMs: 80 });
  });

  it('stop leaves none of the processes it started', async () => {
    for (const p of s.pids()) everPids.add(p);
    expect(everPids.size).toBeGreaterThanOrEqual(6);
    await s.stop();
    for (const p of everPids) expect(isAlive(p), `pid ${p}`).toBe(false);
  }, 30_000);
});
