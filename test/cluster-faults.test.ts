/**
 * The Cluster faults (harness/faults/cluster.ts) on a real local Cluster of three masters with one
 * replica each: a cluster-failover promotes the killed master's replica and writes then land on
 * the promoted node through its own proxy; a slot-migration moves the hottest slots with their
 * keys (lock keys beside their value keys) while a client keeps reading and writing without an
 * error; the cluster's reset puts the formed layout back; nothing is left running after stop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultLabel } from '../harness/analysis/fail-open.ts';
import { clusterClient, keyOfCommand, monitorArgs } from '../harness/faults/cluster.ts';
import { runFaultTimeline, unsupportedFaults } from '../harness/faults.ts';
import {
  type ClusterNode,
  clusterView,
  migrateSlot,
  onNode,
  parseClusterNodes,
  slotOwners,
  slotRanges,
} from '../harness/infra/local/redis-cluster.ts';
import { passwordOf } from '../harness/infra/local/redis-replicated.ts';
import { startLocalInfra } from '../harness/infra/local.ts';
import { withFailFastRedis } from '../harness/infra/probes.ts';
import { isAlive } from '../harness/infra/processes.ts';
import { redisMasterUrls, redisShape } from '../harness/infra/topology.ts';
import type { InfraHandle, InfraProcesses, RedisTopologyInfo } from '../harness/infra/types.ts';
import { loadScenario, parseScenarioYaml } from '../scenarios/load.ts';
import type { FaultSpec } from '../scenarios/types.ts';
import { MINIMAL } from './helpers/scenario.ts';

let infra: InfraHandle;
let t: RedisTopologyInfo;
let password: string;
/** Every redis-server PID seen (restarted nodes get new ones), checked dead after stop. */
const pids = new Set<number>();

async function notePids(): Promise<void> {
  for (const n of t.nodes) {
    const info = await onNode(n, password, (r) => r.info('server'));
    pids.add(Number(/process_id:(\d+)/.exec(info)?.[1]));
  }
}

/** Node i as it sees itself (a node's own line is never stale; other nodes learn by gossip). */
async function ownView(i: number): Promise<ClusterNode> {
  const view = await onNode(t.nodes[i]!, password, async (r) =>
    parseClusterNodes((await r.call('CLUSTER', 'NODES')) as string, t.nodes),
  );
  return view.find((n) => n.index === i)!;
}

async function toggleProxy(name: string, enabled: boolean): Promise<void> {
  const r = await fetch(`${infra.toxiproxyUrl}/proxies/${name}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enabled }),
  });
  expect(r.ok).toBe(true);
}

function runFault(spec: FaultSpec) {
  return runFaultTimeline({
    toxiproxyUrl: infra.toxiproxyUrl,
    redisUrl: infra.redisUrl,
    processes: infra.processes,
    redisTopology: infra.redisTopology,
    faults: [spec],
    loadStartedAt: performance.timeOrigin + performance.now(),
  });
}

/** A key whose slot `node` serves, found with CLUSTER KEYSLOT. */
async function keyOwnedBy(node: ClusterNode, prefix: string): Promise<string> {
  return onNode(t.nodes[node.index]!, password, async (r) => {
    for (let n = 0; ; n++) {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', `${prefix}${n}`));
      if (node.slots.some(([a, b]) => slot >= a && slot <= b)) return `${prefix}${n}`;
    }
  });
}

describe('Cluster faults', () => {
  // Only the tests on real processes start the cluster.
  beforeAll(async () => {
    infra = await startLocalInfra({ topology: 'cluster', replicasPerMaster: 1 });
    t = infra.redisTopology!;
    password = passwordOf(infra.redisUrl);
    for (const p of infra.pids) pids.add(p);
  }, 120_000);
  afterAll(async () => {
    await infra?.stop();
  }, 30_000);

  it('forms three masters with one replica each', async () => {
    const view = await clusterView(t.nodes, password);
    expect(view).toHaveLength(6);
    const masters = view.filter((n) => n.master);
    expect(masters.map((m) => m.index)).toEqual([0, 1, 2]);
    for (const m of masters) expect(view.filter((n) => n.masterId === m.id)).toHaveLength(1);
    // What a cell records and reports label it with: "cluster (3 masters × 1 replica)".
    expect(await redisShape(infra)).toEqual({ masters: 3, replicas: 3 });
  });

  it('reads the key a monitored command acts on', () => {
    expect(keyOfCommand(['GET', 'cb:user:1'])).toBe('cb:user:1');
    expect(keyOfCommand(['evalsha', 'abc', '2', '{cb:user:1}:lock', 'cb:user:1'])).toBe('{cb:user:1}:lock');
    expect(keyOfCommand(['EVAL', 'return 1', '0'])).toBeUndefined();
    expect(keyOfCommand(['CLUSTER', 'NODES'])).toBeUndefined();
    expect(
      monitorArgs('+1796170340.151102 [0 127.0.0.1:60684] "set" "{cb:user:4}:lock" "a \\"b\\"" "PX"'),
    ).toEqual(['set', '{cb:user:4}:lock', 'a "b"', 'PX']);
  });

  it('cluster-failover: the replica is promoted and a later write lands on it through its proxy', async () => {
    const before = await clusterView(t.nodes, password);
    const [rec] = await runFault({ at: 0, for: 6_000, process: 'cluster-failover' });
    expect(rec!.error).toBeUndefined();
    expect(rec!.ok).toBe(true);
    const o = rec!.observed!;
    const victim = before.find((n) => n.index === o.killedNode)!;
    // The master of slot 16383, and the node promoted is its replica.
    expect(victim.master).toBe(true);
    expect(victim.slots.some(([, b]) => b === 16_383)).toBe(true);
    expect(before.find((n) => n.index === o.promotedNode)!.masterId).toBe(victim.id);
    expect(o.promotedAt! - o.killedAt!).toBeGreaterThan(1_000); // cluster-node-timeout is 2 s
    expect(o.firstWriteAt!).toBeGreaterThan(o.killedAt!);
    expect(o.rejoinedAt!).toBeGreaterThan(o.firstWriteAt!);

    const promoted = await ownView(o.promotedNode!);
    expect(promoted.master).toBe(true);
    expect(promoted.slots).toEqual(victim.slots);
    // The killed node came back under its own id, as the promoted node's replica.
    const back = await ownView(o.killedNode!);
    expect(back.id).toBe(victim.id);
    expect(back.masterId).toBe(promoted.id);
    await notePids();

    // A write to a key in the dead master's slots, through a Cluster client on the target's path:
    // found on the promoted node; with that node's proxy down it does not get through.
    const key = await keyOwnedBy(promoted, 'after-failover:');
    const c = clusterClient(t, password, 0);
    await c.connect();
    try {
      expect(await c.set(key, 'v1')).toBe('OK');
      expect(await onNode(t.nodes[promoted.index]!, password, (r) => r.get(key))).toBe('v1');
      await toggleProxy(`redis-${promoted.index}`, false);
      await expect(c.set(key, 'v2')).rejects.toThrow();
      await toggleProxy(`redis-${promoted.index}`, true);
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++)
        ok = await c.set(key, 'v3').then(
          (r) => r === 'OK',
          () => sleep(100).then(() => false),
        );
      expect(ok).toBe(true);
      expect(await onNode(t.nodes[promoted.index]!, password, (r) => r.get(key))).toBe('v3');
    } finally {
      c.disconnect();
    }

    // Before the next cell: the formed layout again (the killed node master of its slots).
    await infra.resetRedisTopology!();
    expect((await ownView(o.killedNode!)).master).toBe(true);
    expect((await ownView(o.promotedNode!)).masterId).toBe(victim.id);
    // Every node agrees: "every master" steps (FLUSHALL between cells) meet no demoted node.
    const masters = await redisMasterUrls(infra);
    expect(masters).toHaveLength(3);
    for (const u of masters)
      expect(await withFailFastRedis(u, { connectMs: 1_000, commandMs: 2_000 }, (r) => r.flushall())).toBe(
        'OK',
      );
  }, 90_000);

  it("cluster-replica-partition + cluster-failover: a DEL, an overwrite and an INCR through the target's client after the cut are counted lost, nothing before it", async () => {
    const view = await clusterView(t.nodes, password);
    const victim = view.find((n) => n.master && n.slots.some(([, b]) => b === 16_383))!;
    const replica = view.find((n) => n.masterId === victim.id)!;
    // Replication flows through the master's link proxy (127.0.0.2, the client proxy's port), not
    // its client proxy or its direct port: what the partition cuts.
    const repl = await onNode(t.nodes[replica.index]!, password, (r) => r.info('replication'));
    expect(repl).toContain('master_host:127.0.0.2');
    expect(repl).toContain(`master_port:${t.proxiedNodes[victim.index]!.port}`);
    // One hash tag in the victim's slots, so the keys share a slot (MSET) on the master cut off.
    const tag = await keyOwnedBy(victim, 'lw');
    const k = (name: string) => `lw:{${tag}}:${name}`;
    const c = clusterClient(t, password, 0);
    await c.connect();
    try {
      await c.mset({ [k('before')]: 'x', [k('during')]: 'x', [k('over')]: 'old', [k('ctr')]: '5' });
      expect(await c.del(k('before'))).toBe(1);
      await onNode(t.nodes[victim.index]!, password, async (r) => {
        await r.set(k('sync'), '1');
        expect(Number(await r.call('WAIT', '1', '2000'))).toBe(1);
      });
      let cutDone!: () => void;
      const cut = new Promise<void>((r) => {
        cutDone = r;
      });
      const timeline = runFaultTimeline({
        toxiproxyUrl: infra.toxiproxyUrl,
        redisUrl: infra.redisUrl,
        processes: infra.processes,
        redisTopology: infra.redisTopology,
        faults: [
          { at: 0, for: 12_000, process: 'cluster-replica-partition' },
          { at: 2_500, for: 7_000, process: 'cluster-failover' },
        ],
        loadStartedAt: performance.timeOrigin + performance.now(),
        onEvent: (e) => e.index === 0 && cutDone(),
      });
      await Promise.race([cut, timeline]);
      // After the cut, through the client on the target's path: acknowledged by the cut-off master.
      expect(await c.del(k('during'), k('never'))).toBe(1);
      expect(await c.set(k('over'), 'new')).toBe('OK');
      expect(await c.incr(k('ctr'))).toBe(6);
      expect(await c.set(k('fill'), 'fresh')).toBe('OK');
      // The replica got none of it: its link is down while the master serves.
      const cutRepl = await onNode(t.nodes[replica.index]!, password, (r) => r.info('replication'));
      expect(cutRepl).toContain('master_link_status:down');
      const records = await timeline;
      for (const r of records) expect(r.error, r.spec.process).toBeUndefined();
      const o = records[0]!.observed!;
      expect(o).toMatchObject({
        partitionedNode: victim.index,
        deletesDuringPartition: 1,
        lostDeletes: 1,
        setsDuringPartition: 2,
        lostOverwrites: 1,
        incrsDuringPartition: 1,
        lostIncrs: 1,
        probeDeletes: 20,
        probeLostDeletes: 20,
        judgedOn: replica.index,
      });
      expect(o.judgedAt!).toBeGreaterThan(o.cutAt!);
      expect(o.judgedAt!).toBeLessThanOrEqual(records[1]!.observed!.killedAt!);
      expect(records[1]!.observed).toMatchObject({ killedNode: victim.index, promotedNode: replica.index });
      // What the measure predicted is what the promoted replica serves.
      const on = (key: string) => onNode(t.nodes[replica.index]!, password, (r) => r.get(key));
      expect(await on(k('during'))).toBe('x');
      expect(await on(k('over'))).toBe('old');
      expect(await on(k('ctr'))).toBe('5');
      expect(await on(k('before'))).toBeNull();
      expect(await on(k('fill'))).toBeNull();
      await notePids();
    } finally {
      c.disconnect();
    }
    // The link is back and the next cell starts from the formed layout.
    await infra.resetRedisTopology!();
    expect((await ownView(victim.index)).master).toBe(true);
    expect((await ownView(replica.index)).masterId).toBe(victim.id);
  }, 120_000);

  it('slot-migration: the hottest slots move with their keys while a client reads and writes without errors', async () => {
    const before = slotOwners(await clusterView(t.nodes, password));
    // Two clients on the target's path (each node's client proxy, which the nodes announce),
    // seeded by different nodes: neither the migration protocol nor the redirects may cost an
    // error. A 1 s command budget: the claim is about redirects, not a busy machine's 200 ms.
    const first = clusterClient(t, password, 0, 1_000);
    const second = clusterClient(t, password, 1, 1_000);
    await Promise.all([first.connect(), second.connect()]);
    // Value keys with their lock keys (hash-tagged as the strategies tag them), hottest first.
    const keys = Array.from({ length: 40 }, (_, i) => `cb:user:${i}`);
    let stop = false;
    let ops = 0;
    const errors: string[] = [];
    const worker = async (w: number) => {
      const c = w % 2 === 0 ? first : second;
      for (let n = 0; !stop; n++) {
        // Zipf-like: low ids far more often, so the first keys' slots are the hottest.
        const k = keys[Math.floor(keys.length * Math.random() ** 3)]!;
        const v = `${w}:${n}`;
        try {
          await c.set(k, v);
          await c.set(`{${k}}:lock`, v, 'PX', 60_000);
          // Another worker may have written since; a read must never see nothing.
          if ((await c.get(k)) === null) errors.push(`${k}: read nothing after a write`);
          ops++;
        } catch (e) {
          errors.push(`${k}: ${(e as Error).message}`);
        }
        await sleep(2);
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    let rec: Awaited<ReturnType<typeof runFault>>[number] | undefined;
    try {
      await sleep(300);
      [rec] = await runFault({ at: 0, for: 4_000, process: 'slot-migration', slots: 3 });
    } finally {
      stop = true;
      await Promise.all(workers);
      first.disconnect();
      second.disconnect();
    }
    // A MOVED names the client proxy the client already reaches the node by: no redirection
    // chase (redis/ioredis#1582, docs/measurements.md "Cluster faults"), no lost write.
    expect(errors).toEqual([]);
    expect(ops).toBeGreaterThan(100);
    expect(rec!.error).toBeUndefined();
    expect(rec!.ok).toBe(true);
    const o = rec!.observed!;
    // The scenario's `slots`: the three hottest of the ~40 slots the load touches.
    expect(o.slotsRequested).toBe(3);
    expect(o.slotsMoved).toBe(3);
    expect(faultLabel(rec!)).toBe(`slot-migration: 3 of 3 slots moved, ${o.keysMoved} keys`);
    expect(o.keysMoved).toBeGreaterThan(0);
    // Lock keys moved (beside their value keys: checked on the hottest key below).
    expect(o.helperKeysMoved).toBeGreaterThan(0);
    expect(o.helperKeysMoved! * 2).toBeLessThanOrEqual(o.keysMoved! + 2);
    expect(o.finishedAt!).toBeGreaterThanOrEqual(o.startedAt!);

    const view = await clusterView(t.nodes, password);
    const after = slotOwners(view);
    const hot = await onNode(t.nodes[0]!, password, (r) => r.call('CLUSTER', 'KEYSLOT', keys[0]!));
    expect(after[Number(hot)]).not.toBe(before[Number(hot)]);
    const moved = after.filter((owner, slot) => owner !== before[slot]).length;
    expect(moved).toBe(o.slotsMoved);
    // The hottest key and its lock key are both on the new owner, holding a value written.
    const owner = t.nodes[after[Number(hot)]!]!;
    const [value, lock] = await onNode(owner, password, (r) => r.mget(keys[0]!, `{${keys[0]}}:lock`));
    expect(value).toMatch(/^\d+:\d+$/);
    expect(lock).toMatch(/^\d+:\d+$/);

    // Before the next cell: every slot back on the master that served it when the cluster formed.
    await infra.resetRedisTopology!();
    const reset = slotOwners(await clusterView(t.nodes, password));
    const ranges = slotRanges(3);
    for (const [i, [a, b]] of ranges.entries())
      expect(reset.slice(a, b + 1).every((x) => x === i)).toBe(true);
  }, 90_000);

  it("a client on the target's path follows a moved slot to its new master without running out of redirections", async () => {
    // ioredis answers a MOVED by recording the announced address, then looks its connection up by
    // that address; when the announced address is not the one it connects to (a natMap), the
    // lookup misses and the command goes to a random node (redis/ioredis#1582) until the slot
    // refresh lands. Many commands at once right after the move run out of redirections.
    const view = await clusterView(t.nodes, password);
    const masters = view.filter((n) => n.master && !n.failing);
    const from = masters[0]!;
    const to = masters[1]!;
    const key = await keyOwnedBy(from, 'moved:');
    const slot = Number(
      await onNode(t.nodes[from.index]!, password, (r) => r.call('CLUSTER', 'KEYSLOT', key)),
    );
    // The target's client, with a command budget roomy enough for 300 at once on a busy machine.
    const c = clusterClient(t, password, 2, 3_000);
    await c.connect();
    const errors: string[] = [];
    try {
      expect(await c.set(key, 'before')).toBe('OK');
      await migrateSlot(t.nodes, password, slot, from, to, masters);
      const results = await Promise.allSettled(
        Array.from({ length: 300 }, (_, i) => (i % 2 ? c.get(key) : c.set(key, `v${i}`))),
      );
      for (const r of results) if (r.status === 'rejected') errors.push((r.reason as Error).message);
    } finally {
      c.disconnect();
      await infra.resetRedisTopology!();
    }
    expect(errors.length, `${errors.length} of 300 failed, first: ${errors[0]}`).toBe(0);
  }, 60_000);

  it('stops every process it started, restarted nodes included', async () => {
    await notePids();
    expect(pids.size).toBeGreaterThanOrEqual(9); // six nodes, PostgreSQL, Toxiproxy, one restart
    await infra.stop();
    for (const p of pids) expect(isAlive(p), `pid ${p}`).toBe(false);
  }, 30_000);
});

/** The one-line message a scenario with `extra` YAML is refused with. */
function refusal(extra: string): string {
  try {
    parseScenarioYaml(`${MINIMAL}${extra}`, 'scenarios/x.yaml', 'x');
  } catch (e) {
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected the scenario to be refused');
}

describe('redis.replicasPerMaster and the Cluster faults in a scenario', () => {
  it('reaches the scenario as 0 or 1 with topology cluster', () => {
    expect(loadScenario('cluster-failover').redis).toEqual({ topology: 'cluster', replicasPerMaster: 1 });
    expect(loadScenario('cluster-slot-migration').faults[0]!.process).toBe('slot-migration');
  });

  it('refuses bad values and faults without their topology in one line naming the field', () => {
    expect(refusal('redis: { topology: cluster, replicasPerMaster: 2 }\n')).toBe(
      'scenarios/x.yaml: redis.replicasPerMaster: expected 0 or 1 (replicas per master, topology cluster), got 2',
    );
    expect(refusal('redis: { topology: replicated, replicasPerMaster: 1 }\n')).toBe(
      'scenarios/x.yaml: redis.replicasPerMaster: expected only with redis.topology: cluster (topology is replicated), got 1',
    );
    expect(refusal('faults:\n  - { at: 1s, for: 1s, process: slot-migration }\n')).toBe(
      'scenarios/x.yaml: faults[0].process: expected only with redis.topology: cluster (topology is unset), got "slot-migration"',
    );
    expect(
      refusal('redis: { topology: cluster }\nfaults:\n  - { at: 1s, for: 1s, process: cluster-failover }\n'),
    ).toBe(
      'scenarios/x.yaml: faults[0].process: expected redis.replicasPerMaster: 1 with it (a master needs a replica to fail over to), got "cluster-failover"',
    );
    // slot-migration's slot count: 1 to 16384, and only on slot-migration.
    const migration = 'redis: { topology: cluster }\nfaults:\n  - { at: 1s, for: 5s, process: slot-migration';
    expect(parseScenarioYaml(`${MINIMAL}${migration}, slots: 40 }\n`, 'x.yaml', 'x').faults[0]).toEqual({
      at: 1000,
      for: 5000,
      process: 'slot-migration',
      slots: 40,
    });
    expect(refusal(`${migration}, slots: 0 }\n`)).toBe(
      'scenarios/x.yaml: faults[0].slots: expected an integer from 1 to 16384, got 0',
    );
    expect(refusal(`${migration}, slots: 20000 }\n`)).toBe(
      'scenarios/x.yaml: faults[0].slots: expected an integer from 1 to 16384, got 20000',
    );
    expect(refusal(`${migration}, slots: many }\n`)).toBe(
      'scenarios/x.yaml: faults[0].slots: expected an integer from 1 to 16384, got "many"',
    );
    expect(
      refusal(
        'redis: { topology: cluster, replicasPerMaster: 1 }\nfaults:\n  - { at: 1s, for: 1s, process: cluster-failover, slots: 4 }\n',
      ),
    ).toBe(
      'scenarios/x.yaml: faults[0].slots: expected only with process: slot-migration (the slots it moves), got 4',
    );
    // A partition the cluster never fails over (no kill inside it) promotes nothing to judge.
    expect(
      refusal(
        'redis: { topology: cluster, replicasPerMaster: 1 }\nfaults:\n  - { at: 1s, for: 2s, process: cluster-replica-partition }\n  - { at: 3s, for: 1s, process: cluster-failover }\n',
      ),
    ).toBe(
      'scenarios/x.yaml: faults[0].process: expected a cluster-failover starting inside its window (1000 to 3000 ms), which kills the cut-off master, got "cluster-replica-partition"',
    );
    expect(loadScenario('cluster-failover-write-race').faults.map((f) => f.process)).toEqual([
      'cluster-replica-partition',
      'cluster-failover',
    ]);
  });

  it('refuses a Cluster fault on another topology, and a Sentinel fault on a Cluster, in one line', () => {
    const nodes = {
      supports: (x: string) => x === 'redis-0' || x === 'postgres',
    } as unknown as InfraProcesses;
    const failover: FaultSpec = { at: 1000, for: 1000, process: 'cluster-failover' };
    expect(unsupportedFaults([failover], nodes, 'cluster')).toBeUndefined();
    expect(unsupportedFaults([failover], nodes, 'replicated')).toBe(
      'process: "cluster-failover" needs the cluster Redis topology started by the harness (--infra local, redis.topology: cluster)',
    );
    expect(unsupportedFaults([{ ...failover, process: 'slot-migration' }], undefined)).toMatch(
      /^process: "slot-migration" needs the cluster Redis topology/,
    );
    expect(unsupportedFaults([{ ...failover, process: 'sentinel-failover' }], nodes, 'cluster')).toMatch(
      /^process: "sentinel-failover" needs the replicated Redis topology/,
    );
  });
});
