/**
 * Faults of the `cluster` topology (local/redis-cluster.ts). Each kind owns its apply/remove like
 * the Sentinel faults (faults/failover.ts) and records what it saw on the fault's record
 * (`observed`, epoch ms and counts), measured over the harness's own direct connections and a
 * Cluster client of its own on the target's path:
 *
 * - `cluster-failover` (needs `redis.replicasPerMaster: 1`): the master serving slot 16383 is
 *   SIGKILLed at `at`; its replica promotes itself once the other masters flag the dead one
 *   (`cluster-node-timeout`, 2 s locally). Observed: `killedAt`; `promotedAt`, when the replica
 *   says `myself,master` and every live node says cluster_state:ok; `firstWriteAt`, the first SET
 *   to a key in the dead master's slots a Cluster client got acknowledged through the proxies
 *   (as the target connects) and that is then found on the promoted node. At `at + for`
 *   the killed node is started again (its nodes.conf kept) and rejoins as a replica (`rejoinedAt`).
 * - `cluster-replica-partition` (needs `redis.replicasPerMaster: 1` and a `cluster-failover`
 *   inside its window): the master serving slot 16383 is cut from its replica at `at` — its link
 *   proxy `redis-<i>-link`, which carries replication only, is disabled — while clients keep
 *   writing to it through its client proxy and the cluster bus still sees it alive. The
 *   cluster-failover then kills that master and the stale replica is promoted by the cluster's
 *   own failover (no CLUSTER FAILOVER TAKEOVER: docs/measurements.md "Cluster faults"). What the
 *   promotion loses is measured as for the Sentinel partition (lost-writes.ts): the master's
 *   keyevents after the cut against a snapshot of the frozen replica, judged just before the
 *   kill — `deletesDuringPartition` / `lostDeletes`, `setsDuringPartition` / `lostOverwrites`,
 *   `incrsDuringPartition` / `lostIncrs` — with `PROBE_KEYS` DELs through the master's client
 *   proxy as the cross-check (`probeDeletes`, `probeLostDeletes`, checked on the promoted node).
 *   Removed (link enabled) at `at + for`.
 * - `slot-migration`: at `at` the masters are watched (MONITOR, 1 s) for the keys the load uses;
 *   the hottest slots (the fault's `slots`, default 16; fewer when fewer saw traffic) then move
 *   to the next master as `redis-cli --cluster reshard`
 *   moves them (local/redis-cluster.ts `migrateSlot`), so clients meet ASK and MOVED mid-load.
 *   Observed: `startedAt`, `slotsRequested`, `finishedAt`, `slotsMoved`, `keysMoved` and `helperKeysMoved` (lock
 *   and lease keys: hash-tagged with their value key, they move in the same slot as it). `remove`
 *   waits for the move; the window is the fault's.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../target/redis-connect.ts';
import { lostDeletes } from '../analysis/failover.ts';
import type { FaultKind, FaultStep } from '../faults.ts';
import {
  type ClusterNode,
  clusterOk,
  clusterView,
  migrateSlot,
  onNode,
  parseClusterNodes,
} from '../infra/local/redis-cluster.ts';
import { linkProxyName, passwordOf } from '../infra/local/redis-replicated.ts';
import { targetTopologyOptions } from '../infra/topology.ts';
import type { InfraProcesses, RedisTopologyInfo } from '../infra/types.ts';
import { setProxyEnabled } from './failover.ts';
import { judgmentFigures, type LostWriteWatch, watchLostWrites } from './lost-writes.ts';

const now = () => performance.timeOrigin + performance.now();
/** How long a promotion (node timeout + election) or a rejoin may take before the fault fails. */
const PROMOTION_TIMEOUT_MS = 30_000;
/** The slot whose master cluster-failover kills: the last one, so not the target's seed node. */
const VICTIM_SLOT = 16_383;
const PROBE_PREFIX = 'cachebench:cluster-probe:';
/** DELs the partition's probe sends through the cut-off master's client proxy. */
const PROBE_KEYS = 20;
/** How long slot-migration watches the masters for hot keys before it moves their slots. */
const SAMPLE_MS = 1_000;
/** Slots slot-migration moves when its fault names no `slots` (the hottest it saw). */
export const DEFAULT_MIGRATED_SLOTS = 16;
/** Commands whose first argument is not a key (or that carry none). */
const NOT_KEYED = new Set([
  'AUTH',
  'HELLO',
  'PING',
  'INFO',
  'CLUSTER',
  'CLIENT',
  'COMMAND',
  'SELECT',
  'READONLY',
  'READWRITE',
  'ASKING',
  'SCRIPT',
  'MULTI',
  'EXEC',
  'DISCARD',
  'FUNCTION',
  'CONFIG',
  'DBSIZE',
  'SCAN',
  'FLUSHALL',
  'FLUSHDB',
  'MONITOR',
  'MIGRATE',
  'RESTORE-ASKING',
]);

/** The cluster fault names (scenarios' `process:` values). */
export const CLUSTER_FAULTS = ['cluster-failover', 'cluster-replica-partition', 'slot-migration'] as const;

interface Context {
  t: RedisTopologyInfo;
  password: string;
  processes: InfraProcesses;
}

function context(s: FaultStep): Context {
  const t = s.redisTopology;
  if (t?.kind !== 'cluster')
    throw new Error(
      `${s.spec.process} needs the cluster Redis topology (redis.topology: cluster), not ${t?.kind ?? 'standalone'}`,
    );
  if (!s.redisUrl) throw new Error(`${s.spec.process}: no direct Redis URL`);
  if (!s.processes?.supports('redis-0'))
    throw new Error(`${s.spec.process} needs process control of the cluster's nodes (--infra local)`);
  return { t, password: passwordOf(s.redisUrl), processes: s.processes };
}

/**
 * A Cluster client as the target builds one: seeded by a node's proxy, every node through the
 * client proxy it announces (`commandTimeout` the target's fail-fast budget unless given).
 */
export function clusterClient(
  t: RedisTopologyInfo,
  password: string,
  seed: number,
  commandTimeout = 200,
): Redis {
  const p = t.proxiedNodes[seed]!;
  const r = connectRedis(
    {
      url: `redis://:${encodeURIComponent(password)}@${p.host}:${p.port}`,
      redisTopology: 'cluster',
      redisNatMap: targetTopologyOptions({ redisTopology: t }).redisNatMap ?? {},
      redisSentinels: '',
      redisMasterName: '',
    },
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
      connectTimeout: 500,
      retryStrategy: (times) => Math.min(20 * times, 200),
    },
  );
  r.on('error', () => {});
  return r;
}

/** `count` probe keys in `node`'s slots (CLUSTER KEYSLOT, so no hashing of our own). */
async function keysIn(
  t: RedisTopologyInfo,
  password: string,
  node: ClusterNode,
  tag: string,
  count: number,
): Promise<string[]> {
  const owns = (slot: number) => node.slots.some(([a, b]) => slot >= a && slot <= b);
  return onNode(t.nodes[node.index]!, password, async (r) => {
    const out: string[] = [];
    for (let n = 0; n < 1_000 * count && out.length < count; n++) {
      const key = `${PROBE_PREFIX}${tag}:${n}`;
      if (owns(Number(await r.call('CLUSTER', 'KEYSLOT', key)))) out.push(key);
    }
    if (out.length < count) throw new Error(`no probe key found in the slots of redis-${node.index}`);
    return out;
  });
}

const keyIn = async (t: RedisTopologyInfo, password: string, node: ClusterNode, tag: string) =>
  (await keysIn(t, password, node, tag, 1))[0]!;

/** The master serving `VICTIM_SLOT` and its live replicas (none: the scenario has no replicas). */
async function victimOf(
  c: Context,
  fault: string,
): Promise<{ victim: ClusterNode; replicas: ClusterNode[] }> {
  const view = await clusterView(c.t.nodes, c.password);
  const victim = view.find((n) => n.master && n.slots.some(([a, b]) => VICTIM_SLOT >= a && VICTIM_SLOT <= b));
  if (!victim) throw new Error(`no master serves slot ${VICTIM_SLOT}`);
  const replicas = view.filter((n) => n.masterId === victim.id && !n.failing);
  if (replicas.length === 0)
    throw new Error(`${fault}: redis-${victim.index} has no replica (scenario redis.replicasPerMaster: 1)`);
  return { victim, replicas };
}

/** Node i says it is a master (its own line: never stale). */
async function isMaster(c: Context, i: number): Promise<boolean> {
  const mine = await onNode(c.t.nodes[i]!, c.password, async (x) =>
    parseClusterNodes((await x.call('CLUSTER', 'NODES')) as string, c.t.nodes),
  );
  return mine.find((n) => n.index === i)?.master === true;
}

/**
 * The partition in progress (cluster-replica-partition), so the cluster-failover inside its
 * window kills the cut-off master and judges its lost writes first, while it still answers.
 */
let partitioned: { victim: number; watch: LostWriteWatch } | undefined;

/** Resolves with the node index once a replica of `victim` is master and the live nodes agree. */
async function promotion(c: Context, victim: ClusterNode, replicas: ClusterNode[], deadline: number) {
  const live = c.t.nodes.filter((_, i) => i !== victim.index);
  while (now() < deadline) {
    for (const r of replicas) {
      try {
        const mine = await onNode(c.t.nodes[r.index]!, c.password, async (x) =>
          parseClusterNodes((await x.call('CLUSTER', 'NODES')) as string, c.t.nodes),
        );
        if (mine.find((n) => n.index === r.index)?.master && (await clusterOk(live, c.password)))
          return r.index;
      } catch {}
    }
    await sleep(50);
  }
  throw new Error(`no replica of redis-${victim.index} was promoted within ${PROMOTION_TIMEOUT_MS} ms`);
}

/**
 * The first SET to `key` through a Cluster client on the target's path that lands on the promoted
 * node (epoch ms). A client that has not written for 500 ms is replaced by a fresh one, so the
 * figure is the topology's time to take writes again, not one client's slot-refresh schedule.
 */
async function firstWriteOn(
  c: Context,
  key: string,
  seed: number,
  promoted: Promise<number>,
  deadline: number,
): Promise<number> {
  const fresh = () => {
    const client = clusterClient(c.t, c.password, seed);
    client.connect().catch(() => {});
    return { client, since: now() };
  };
  let cur = fresh();
  try {
    for (let n = 0; now() < deadline; n++) {
      const value = `${n}:${now()}`;
      try {
        if ((await cur.client.set(key, value)) === 'OK') {
          const at = now();
          // Acknowledged — but by whom? Only a write the promoted node holds counts.
          const p = await promoted;
          if ((await onNode(c.t.nodes[p]!, c.password, (r) => r.get(key))) === value) return at;
        }
      } catch {}
      if (now() - cur.since > 500) {
        cur.client.disconnect();
        cur = fresh();
      }
      await sleep(10);
    }
    throw new Error('no write reached the promoted node before the deadline');
  } finally {
    cur.client.disconnect();
  }
}

interface Pending {
  victim: number;
  done: Promise<PromiseSettledResult<unknown>[]>;
}
const pending = new Map<string, Pending>();

const clusterFailover: FaultKind = {
  name: 'cluster-failover',
  async apply(s) {
    const c = context(s);
    const { victim, replicas } = await victimOf(c, 'cluster-failover');
    if (partitioned && partitioned.victim !== victim.index)
      throw new Error(
        `cluster-failover: the partitioned master redis-${partitioned.victim} no longer serves slot ${VICTIM_SLOT}`,
      );
    const key = await keyIn(c.t, c.password, victim, s.id);
    const view = await clusterView(c.t.nodes, c.password);
    const seed = view.find((n) => n.master && n.index !== victim.index)!.index;
    // The cut-off master's writes are judged while it still answers (the judgment reads them). A
    // failed judgment is the partition's error (its remove reports it), never a reason to skip the kill.
    await partitioned?.watch.judge().catch(() => {});
    await c.processes.kill(`redis-${victim.index}`);
    const killedAt = now();
    s.observe?.({ killedAt, killedNode: victim.index });
    const deadline = killedAt + PROMOTION_TIMEOUT_MS;
    const promoted = promotion(c, victim, replicas, deadline).then((p) => {
      s.observe?.({ promotedAt: now(), promotedNode: p });
      return p;
    });
    promoted.catch(() => {});
    const done = Promise.allSettled([
      promoted,
      firstWriteOn(c, key, seed, promoted, deadline).then((at) => s.observe?.({ firstWriteAt: at })),
    ]);
    pending.set(s.id, { victim: victim.index, done });
  },
  async remove(s) {
    const p = pending.get(s.id);
    pending.delete(s.id);
    if (!p) return;
    const c = context(s);
    const outcomes = await p.done;
    await c.processes.start(`redis-${p.victim}`, { persistence: false });
    // Back as a replica of the node that took its slots, in sync, and the cluster whole again.
    const deadline = now() + PROMOTION_TIMEOUT_MS;
    for (;;) {
      try {
        const node = c.t.nodes[p.victim]!;
        const [nodes, repl] = await onNode(node, c.password, async (r) => [
          (await r.call('CLUSTER', 'NODES')) as string,
          await r.info('replication'),
        ]);
        const me = parseClusterNodes(nodes, c.t.nodes).find((n) => n.index === p.victim);
        if (
          me &&
          !me.master &&
          /master_link_status:up/.test(repl) &&
          (await clusterOk(c.t.nodes, c.password))
        )
          break;
      } catch {}
      if (now() > deadline)
        throw new Error(`redis-${p.victim} did not rejoin as a replica within ${PROMOTION_TIMEOUT_MS} ms`);
      await sleep(50);
    }
    s.observe?.({ rejoinedAt: now() });
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  },
};

interface PartitionPending {
  victim: number;
  replica: number;
  watch: LostWriteWatch;
  acknowledged: { key: string; at: number }[];
}
const partitions = new Map<string, PartitionPending>();

const clusterReplicaPartition: FaultKind = {
  name: 'cluster-replica-partition',
  async apply(s) {
    const c = context(s);
    const { victim, replicas } = await victimOf(c, 'cluster-replica-partition');
    const replica = replicas[0]!.index;
    const keys = await keysIn(c.t, c.password, victim, `del:${s.id}`, PROBE_KEYS);
    // The probe keys exist on both nodes before the cut: any that survive a DEL later were lost.
    await onNode(c.t.nodes[victim.index]!, c.password, async (r) => {
      const p = r.pipeline();
      for (const k of keys) p.set(k, 'before-partition');
      await p.exec();
      if (Number(await r.call('WAIT', '1', '2000')) < 1)
        throw new Error('cluster-replica-partition: the replica did not take the probe keys');
    });
    // Subscribed before the cut so nothing the target writes after it is missed.
    const watch = await watchLostWrites({
      primary: c.t.nodes[victim.index]!,
      replica: c.t.nodes[replica]!,
      password: c.password,
      probePrefix: `${PROBE_PREFIX}del:`,
      ignorePrefix: PROBE_PREFIX,
      cluster: true,
    });
    try {
      await setProxyEnabled(s.toxiproxyUrl, linkProxyName(victim.index), false);
      partitioned = { victim: victim.index, watch };
      s.observe?.({ cutAt: now(), partitionedNode: victim.index });
      await watch.start();
    } catch (e) {
      partitioned = undefined;
      await watch.close();
      await setProxyEnabled(s.toxiproxyUrl, linkProxyName(victim.index), true).catch(() => {});
      throw e;
    }
    watch.judgeOnPromotion();
    // Deleted the way the target deletes: through the master's client proxy, one DEL each.
    const acknowledged = await onNode(c.t.proxiedNodes[victim.index]!, c.password, async (r) => {
      const acks: { key: string; at: number }[] = [];
      for (const k of keys) if ((await r.del(k)) === 1) acks.push({ key: k, at: now() });
      return acks;
    });
    s.observe?.({ probeDeletes: acknowledged.length });
    partitions.set(s.id, { victim: victim.index, replica, watch, acknowledged });
  },
  async remove(s) {
    const p = partitions.get(s.id);
    partitions.delete(s.id);
    partitioned = undefined;
    if (!p) return;
    const c = context(s);
    try {
      // The cluster promotes the stale replica once the cut-off master is killed (the
      // cluster-failover in this window); a slow promotion is waited for.
      const deadline = now() + PROMOTION_TIMEOUT_MS;
      while (!(await isMaster(c, p.replica).catch(() => false))) {
        if (now() > deadline)
          throw new Error(
            `cluster-replica-partition: redis-${p.replica} was not promoted within ${PROMOTION_TIMEOUT_MS} ms (a cluster-failover inside the partition kills the cut-off master)`,
          );
        await sleep(50);
      }
      // Judged already before the kill (or at the promotion); otherwise now.
      const j = await p.watch.judge();
      s.observe?.(judgmentFigures(j));
      // The probe keys' slots are the promoted node's now: asked there directly.
      const held = await onNode(c.t.nodes[p.replica]!, c.password, async (r) => {
        const pl = r.pipeline();
        for (const a of p.acknowledged) pl.exists(a.key);
        const res = (await pl.exec()) ?? [];
        return p.acknowledged.filter((_, i) => res[i]?.[1] === 1).map((a) => a.key);
      });
      const probeLost = lostDeletes(p.acknowledged, new Set(held));
      s.observe?.({ probeLostDeletes: probeLost, judgedOn: p.replica });
      // The probe is the watch's check: every acknowledged probe DEL notified, judged as found.
      if (j.probeDeletesSeen !== p.acknowledged.length || j.probeLostDeletes !== probeLost) {
        throw new Error(
          `lost-write watch disagrees with the DEL probe: saw ${j.probeDeletesSeen} of ${p.acknowledged.length} probe DELs, judged ${j.probeLostDeletes} lost where the promoted master shows ${probeLost}`,
        );
      }
    } finally {
      await p.watch.close();
      await setProxyEnabled(s.toxiproxyUrl, linkProxyName(p.victim), true);
    }
  },
};

/** The key a MONITOR line's command acts on first (EVAL/EVALSHA: its first key), if any. */
export function keyOfCommand(args: readonly string[]): string | undefined {
  const cmd = args[0]?.toUpperCase();
  if (!cmd || NOT_KEYED.has(cmd)) return undefined;
  if (cmd === 'EVAL' || cmd === 'EVALSHA' || cmd === 'EVAL_RO' || cmd === 'EVALSHA_RO')
    return Number(args[2]) > 0 ? args[3] : undefined;
  return args[1];
}

/** The arguments of one MONITOR line: `+<time> [<db> <addr>] "set" "k" "v"` → ["set", "k", "v"]. */
export function monitorArgs(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

/**
 * Counts the keys a node's commands act on over `ms`, over a raw MONITOR connection (a protocol
 * of lines, read as lines: no client library's command queue in between).
 */
function monitorKeys(
  n: { host: string; port: number },
  password: string,
  ms: number,
  perKey: Map<string, number>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(n.port, n.host);
    let buf = '';
    let lines = 0;
    const done = (e?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve();
    };
    const timer = setTimeout(() => done(), ms);
    const auth = `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`;
    sock.on('connect', () => sock.write(`${auth}*1\r\n$7\r\nMONITOR\r\n`));
    sock.on('error', (e) => done(new Error(`MONITOR on ${n.host}:${n.port}: ${e.message}`)));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        // The first two lines answer AUTH and MONITOR: +OK each, or an error.
        if (lines++ < 2) {
          if (line !== '+OK') done(new Error(`MONITOR on ${n.host}:${n.port}: ${line}`));
          continue;
        }
        const key = keyOfCommand(monitorArgs(line));
        if (key && !key.startsWith(PROBE_PREFIX)) perKey.set(key, (perKey.get(key) ?? 0) + 1);
      }
    });
  });
}

/** Slots by how many commands the masters served on their keys over `ms` (MONITOR), hottest first. */
async function hottestSlots(c: Context, masters: ClusterNode[], ms: number): Promise<number[]> {
  const perKey = new Map<string, number>();
  await Promise.all(masters.map((m) => monitorKeys(c.t.nodes[m.index]!, c.password, ms, perKey)));
  const keys = [...perKey.keys()];
  if (keys.length === 0) return [];
  const slots = await onNode(c.t.nodes[masters[0]!.index]!, c.password, async (r) => {
    const p = r.pipeline();
    for (const k of keys) p.call('CLUSTER', 'KEYSLOT', k);
    return ((await p.exec()) ?? []).map(([err, v]) => (err ? -1 : Number(v)));
  });
  const perSlot = new Map<number, number>();
  keys.forEach((k, i) => {
    const slot = slots[i]!;
    if (slot >= 0) perSlot.set(slot, (perSlot.get(slot) ?? 0) + perKey.get(k)!);
  });
  return [...perSlot.entries()].sort((a, b) => b[1] - a[1]).map(([slot]) => slot);
}

/** Lock and lease keys (`{<value key>}:lock`): they carry their value key's slot in a hash tag. */
const HELPER_KEY = /^\{.+\}:(lock|lease)$/;

const slotMigration: FaultKind = {
  name: 'slot-migration',
  async apply(s) {
    const c = context(s);
    const view = await clusterView(c.t.nodes, c.password);
    const masters = view.filter((n) => n.master && !n.failing);
    if (masters.length < 2) throw new Error('slot-migration needs at least two live masters');
    const requested = (s.spec.process === 'slot-migration' && s.spec.slots) || DEFAULT_MIGRATED_SLOTS;
    const slots = (await hottestSlots(c, masters, SAMPLE_MS)).slice(0, requested);
    if (slots.length === 0)
      throw new Error(
        `slot-migration: the masters served no keyed command in ${SAMPLE_MS} ms (no load to move)`,
      );
    s.observe?.({ startedAt: now(), slotsRequested: requested });
    const move = async () => {
      let keys = 0;
      let helpers = 0;
      for (const slot of slots) {
        // Each slot's owner asked again: an earlier move in this loop may have changed the view.
        const current = (await clusterView(c.t.nodes, c.password)).filter((n) => n.master && !n.failing);
        const from = current.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
        if (!from) throw new Error(`slot ${slot}: no live master serves it`);
        const to = current[(current.indexOf(from) + 1) % current.length]!;
        const moved = await migrateSlot(c.t.nodes, c.password, slot, from, to, current);
        keys += moved.length;
        helpers += moved.filter((k) => HELPER_KEY.test(k)).length;
      }
      s.observe?.({ finishedAt: now(), slotsMoved: slots.length, keysMoved: keys, helperKeysMoved: helpers });
    };
    const done = Promise.allSettled([move()]);
    pending.set(s.id, { victim: -1, done });
  },
  async remove(s) {
    const p = pending.get(s.id);
    pending.delete(s.id);
    if (!p) return;
    const [outcome] = await p.done;
    if (outcome?.status === 'rejected') throw outcome.reason;
  },
};

export const CLUSTER_FAULT_KINDS: readonly FaultKind[] = [
  clusterFailover,
  clusterReplicaPartition,
  slotMigration,
];
