/**
 * Failover and partition faults of the `replicated` topology (local/redis-replicated.ts). Each
 * kind owns its apply/remove like the process faults in faults.ts, and records what it saw on
 * the fault's record (`observed`, epoch ms), measured by the harness over its own connections:
 *
 * - `sentinel-failover`: the primary is SIGKILLed at `at`; the Sentinels promote the replica.
 *   Observed: `killedAt`; `promotedAt`, when every Sentinel names the new primary; `switchMasterAt`,
 *   when a Sentinel published +switch-master; `firstWriteAt`, the first SET a Sentinel-backed client
 *   (the target's path: the Sentinels, then the new primary's Toxiproxy proxy) got acknowledged and
 *   that is then found on the new primary. At `at + for` the old primary is started again and
 *   rejoins as the replica of the new one.
 * - `replica-partition`: the primary's link proxy (`redis-N-link`: replication and Sentinel traffic)
 *   is disabled at `at`; clients still reach the primary through `redis-N` and keep writing to it,
 *   and nothing they write reaches the replica. Removed (link enabled) at `at + for`. What that
 *   costs each strategy is measured from Redis (lost-writes.ts): the target's DELs, SETs and
 *   INCRs on the cut-off primary after the cut (its keyevent notifications), judged against a
 *   snapshot of the frozen replica at its promotion or just before a sentinel-failover's kill:
 *   `deletesDuringPartition` / `lostDeletes`, `setsDuringPartition` / `lostOverwrites`,
 *   `incrsDuringPartition` / `lostIncrs`. A DEL probe cross-checks the measure in every cell:
 *   `PROBE_KEYS` keys are set and replicated before the cut, deleted through the primary's client
 *   proxy after it (`probeDeletes` acknowledged); at the removal `probeLostDeletes` counts those
 *   the then-primary still holds, and the watch must have seen and judged every one the same way.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { lostDeletes } from '../analysis/failover.ts';
import type { FaultKind, FaultStep } from '../faults.ts';
import {
  agreedPrimary,
  linkProxyName,
  passwordOf,
  type ReplicatedTopology,
  replicatedTopology,
  waitForPromotion,
  withConnection,
} from '../infra/local/redis-replicated.ts';
import type { InfraProcesses } from '../infra/types.ts';
import { judgmentFigures, type LostWriteWatch, watchLostWrites } from './lost-writes.ts';

const now = () => performance.timeOrigin + performance.now();
/** How long a failover may take before the fault counts as failed (Sentinel needs ~2-4 s). */
const PROMOTION_TIMEOUT_MS = 30_000;
const PROBE_KEYS = 20;
const PROBE_PREFIX = 'cachebench:failover-probe:';

/** The failover/partition fault names (scenarios' `process:` values). */
export const FAILOVER_FAULTS = ['sentinel-failover', 'replica-partition'] as const;

function context(s: FaultStep): { t: ReplicatedTopology; password: string; processes: InfraProcesses } {
  const t = replicatedTopology(s.redisTopology);
  if (!s.redisUrl) throw new Error(`${s.spec.process}: no direct Redis URL`);
  if (!s.processes?.supports('redis-0')) {
    throw new Error(`${s.spec.process} needs process control of the replicated nodes (--infra local)`);
  }
  return { t, password: passwordOf(s.redisUrl), processes: s.processes };
}

async function currentPrimary(t: ReplicatedTopology, password: string): Promise<number> {
  const p = await agreedPrimary(t, password);
  if (p === undefined) throw new Error('the Sentinels do not agree on a primary');
  return p;
}

export async function setProxyEnabled(toxiproxyUrl: string, name: string, enabled: boolean): Promise<void> {
  const r = await fetch(`${toxiproxyUrl.replace(/\/+$/, '')}/proxies/${encodeURIComponent(name)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enabled }),
    signal: AbortSignal.timeout(5_000),
  });
  if (!r.ok) throw new Error(`toxiproxy PATCH ${name}: HTTP ${r.status} ${(await r.text()).trim()}`);
}

/** A client on the target's path: asks the Sentinels for the primary, connects via its proxy. */
export function sentinelClient(t: ReplicatedTopology, password: string): Redis {
  const natMap = Object.fromEntries(
    Object.entries(t.natMap).map(([from, to]) => {
      const i = to.lastIndexOf(':');
      return [from, { host: to.slice(0, i), port: Number(to.slice(i + 1)) }];
    }),
  );
  const r = new Redis({
    sentinels: t.sentinels,
    name: t.masterName,
    role: 'master',
    password,
    sentinelPassword: password,
    natMap,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 200,
    connectTimeout: 500,
    sentinelCommandTimeout: 500,
    failoverDetector: true,
    retryStrategy: (times) => Math.min(20 * times, 200),
    sentinelRetryStrategy: (times) => Math.min(20 * times, 200),
  });
  r.on('error', () => {});
  return r;
}

/** Resolves at the first +switch-master a Sentinel publishes (epoch ms), or undefined at close. */
function watchSwitchMaster(t: ReplicatedTopology, password: string) {
  const subs = t.sentinels.map(
    (s) => new Redis({ host: s.host, port: s.port, password, lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  let resolve!: (at: number | undefined) => void;
  const first = new Promise<number | undefined>((r) => {
    resolve = r;
  });
  const ready = Promise.all(
    subs.map(async (sub) => {
      sub.on('error', () => {});
      sub.on('message', (channel) => {
        if (channel === '+switch-master') resolve(now());
      });
      await sub.connect();
      await sub.subscribe('+switch-master');
    }),
  );
  return {
    ready,
    first,
    close() {
      resolve(undefined);
      for (const s of subs) s.disconnect();
    },
  };
}

/**
 * The first SET through a Sentinel-backed client that lands on the promoted primary (epoch ms).
 * A client that has not become ready for a while is replaced by a fresh one, so the figure is
 * the topology's time to serve writes again, not one client's reconnect backoff.
 */
async function firstWriteOn(
  t: ReplicatedTopology,
  password: string,
  expectPrimary: Promise<number>,
  deadline: number,
): Promise<number> {
  const fresh = () => {
    const c = sentinelClient(t, password);
    c.connect().catch(() => {});
    return { c, since: now() };
  };
  let client = fresh();
  try {
    for (let n = 0; now() < deadline; n++) {
      const value = `${n}:${now()}`;
      try {
        if ((await client.c.set(`${PROBE_PREFIX}write`, value)) === 'OK') {
          const at = now();
          // Acknowledged — but by whom? Only a write the new primary holds counts.
          const p = await expectPrimary;
          const held = await withConnection(t.nodes[p]!, password, (r) => r.get(`${PROBE_PREFIX}write`));
          if (held === value) return at;
        }
      } catch {}
      if (client.c.status !== 'ready' && now() - client.since > 500) {
        client.c.disconnect();
        client = fresh();
      }
      await sleep(10);
    }
    throw new Error('no write reached the new primary before the deadline');
  } finally {
    client.c.disconnect();
  }
}

interface Pending {
  old: number;
  done: Promise<unknown>;
  close(): void;
}
const pending = new Map<string, Pending>();
/**
 * The node a replica-partition cut off, while it lasts: Sentinel may promote the replica before a
 * sentinel-failover in the same timeline fires, and that fault must then kill the isolated node
 * clients still write to, not the freshly promoted one.
 */
let partitioned: number | undefined;
/** The lost-write watch of the partition in progress: a kill must judge it before it fires. */
let partitionWatch: LostWriteWatch | undefined;

const sentinelFailover: FaultKind = {
  name: 'sentinel-failover',
  async apply(s) {
    const { t, password, processes } = context(s);
    const old = partitioned ?? (await currentPrimary(t, password));
    // The cut-off primary's writes are judged while it still answers (the judgment reads them).
    // A failed judgment is the partition's error (its remove reports it), never a reason to skip the kill.
    await partitionWatch?.judge().catch(() => {});
    const watch = watchSwitchMaster(t, password);
    await watch.ready;
    await processes.kill(`redis-${old}`);
    const killedAt = now();
    s.observe?.({ killedAt, primaryBefore: old });
    const promoted = waitForPromotion(t, password, old, PROMOTION_TIMEOUT_MS).then((p) => {
      s.observe?.({ promotedAt: now(), primaryAfter: p });
      return p;
    });
    promoted.catch(() => {});
    watch.first.then((at) => at !== undefined && s.observe?.({ switchMasterAt: at }));
    const done = Promise.allSettled([
      promoted,
      firstWriteOn(t, password, promoted, killedAt + PROMOTION_TIMEOUT_MS).then((at) =>
        s.observe?.({ firstWriteAt: at }),
      ),
      // +switch-master comes with the promotion; none comes when the Sentinels had already
      // promoted the replica during a partition (they cannot see the cut-off node), so waiting
      // for it is bounded.
      Promise.race([watch.first, promoted.then(() => sleep(2_000))]),
    ]);
    done.catch(() => {});
    pending.set(s.id, { old, done, close: () => watch.close() });
  },
  async remove(s) {
    const p = pending.get(s.id);
    pending.delete(s.id);
    if (!p) return;
    // The old primary comes back only as a replica of a promoted one: wait for the promotion.
    const outcomes = (await p.done) as PromiseSettledResult<unknown>[];
    p.close();
    await context(s).processes.start(`redis-${p.old}`, { persistence: false });
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  },
};

const replicaPartition: FaultKind = {
  name: 'replica-partition',
  async apply(s) {
    const { t, password } = context(s);
    const old = await currentPrimary(t, password);
    const keys = Array.from({ length: PROBE_KEYS }, (_, i) => `${PROBE_PREFIX}del:${s.id}:${i}`);
    // The probe keys exist on both nodes before the cut: any that survive a DEL later were lost.
    await withConnection(t.nodes[old]!, password, async (r) => {
      await r.mset(Object.fromEntries(keys.map((k) => [k, 'before-partition'])));
      if (Number(await r.call('WAIT', '1', '2000')) < 1)
        throw new Error('the replica did not take the probe keys');
    });
    // Subscribed before the cut so nothing the target writes after it is missed.
    const watch = await watchLostWrites({
      primary: t.nodes[old]!,
      replica: t.nodes[1 - old]!,
      password,
      probePrefix: `${PROBE_PREFIX}del:`,
      ignorePrefix: PROBE_PREFIX,
    });
    try {
      await setProxyEnabled(s.toxiproxyUrl, linkProxyName(old), false);
      partitioned = old;
      partitionWatch = watch;
      s.observe?.({ cutAt: now(), partitionedNode: old });
      await watch.start();
    } catch (e) {
      await watch.close();
      throw e;
    }
    watch.judgeOnPromotion();
    // Deleted the way the target deletes: through the primary's client proxy, one DEL each.
    const proxy = t.proxiedNodes[old]!;
    const acknowledged = await withConnection(proxy, password, async (r) => {
      const acks: { key: string; at: number }[] = [];
      for (const k of keys) if ((await r.del(k)) === 1) acks.push({ key: k, at: now() });
      return acks;
    });
    s.observe?.({ probeDeletes: acknowledged.length });
    pending.set(s.id, {
      old,
      done: Promise.resolve({ acknowledged, watch }),
      close: () => {},
    });
  },
  async remove(s) {
    const p = pending.get(s.id);
    pending.delete(s.id);
    const { t, password } = context(s);
    const name = linkProxyName(p?.old ?? 0);
    partitioned = undefined;
    partitionWatch = undefined;
    if (!p) return setProxyEnabled(s.toxiproxyUrl, name, true);
    const { acknowledged, watch } = (await p.done) as {
      acknowledged: { key: string; at: number }[];
      watch: LostWriteWatch;
    };
    try {
      // Judged on the node the Sentinels promoted in place of the cut-off one (they do, since the
      // cut hides it from them), before the link heals: a slow promotion is waited for.
      const primary = await waitForPromotion(t, password, p.old, PROMOTION_TIMEOUT_MS);
      // Judged already at the promotion or before a kill; otherwise now, the replica promoted.
      const j = await watch.judge();
      s.observe?.(judgmentFigures(j));
      const held = await withConnection(t.nodes[primary]!, password, async (r) => {
        const vals = await r.mget(...acknowledged.map((a) => a.key));
        return acknowledged.filter((_, i) => vals[i] !== null).map((a) => a.key);
      });
      const probeLost = lostDeletes(acknowledged, new Set(held));
      s.observe?.({ probeLostDeletes: probeLost, judgedOn: primary });
      // The probe is the watch's check: every acknowledged probe DEL notified, judged as found.
      if (j.probeDeletesSeen !== acknowledged.length || j.probeLostDeletes !== probeLost) {
        throw new Error(
          `lost-write watch disagrees with the DEL probe: saw ${j.probeDeletesSeen} of ${acknowledged.length} probe DELs, judged ${j.probeLostDeletes} lost where the promoted primary shows ${probeLost}`,
        );
      }
    } finally {
      await watch.close();
      await setProxyEnabled(s.toxiproxyUrl, name, true);
    }
  },
};

export const FAILOVER_FAULT_KINDS: readonly FaultKind[] = [sentinelFailover, replicaPartition];
