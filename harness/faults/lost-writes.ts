/**
 * The writes a partitioned primary acknowledged that its replica never got, per strategy and
 * observed from Redis, not from the target: during a `replica-partition` (Sentinel) or a
 * `cluster-replica-partition` (a Cluster master and its replica) the harness subscribes (its own
 * direct connection) to the cut-off primary's keyevent notifications and records every key the
 * target's writes deleted, set or incremented after the cut. Right after the cut it takes a
 * snapshot of the frozen replica (SCAN + PTTL + GET over a direct connection: the replica gets
 * nothing more until it is promoted), and the judgment (analysis/failover.ts `lostWrites`) is made
 * at the replica's promotion — before the target can write to it — or, whichever comes first,
 * just before a `sentinel-failover` or `cluster-failover` kills the cut-off primary. On a Cluster
 * both are one node each (a master's keyevents are its own slots'; its replica holds the same
 * slots), and the replica connection says READONLY so a Cluster replica answers the snapshot's
 * keyed reads instead of redirecting them to its master.
 *
 * The server's `notify-keyspace-events` is extended with the classes needed (E keyevent, g DEL,
 * $ SET/INCRBY, h HINCRBY) and put back at the judgment. Pub/sub is at most once, so the
 * harness's own DEL probe doubles as the check that the watch saw everything: a probe DEL that
 * was acknowledged but not notified fails the fault instead of undercounting silently.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { keyNamespace } from '../../target/keys.ts';
import {
  LOST_DELETES_NS,
  type LostWrites,
  lostWrites,
  type ReplicaEntry,
  type WriteKind,
} from '../analysis/failover.ts';
import { failFastRedis } from '../infra/probes.ts';
import type { Endpoint } from '../infra/types.ts';

const now = () => performance.timeOrigin + performance.now();
const FLAGS = 'Eg$h';
const KEYEVENTS = '__keyevent@0__:*';
const MARKER = 'cachebench:lost-writes-marker';
const KIND_OF: Record<string, WriteKind> = {
  del: 'del',
  set: 'set',
  incrby: 'incr',
  decrby: 'incr',
  incrbyfloat: 'incr',
  hincrby: 'incr',
  hincrbyfloat: 'incr',
};
/** A replica snapshot larger than this is not taken (the figure would cost more than the cell). */
const MAX_SNAPSHOT_KEYS = 500_000;

export interface LostWriteJudgment extends LostWrites {
  /** Epoch ms of the judgment (the promotion seen, or the moment before the kill). */
  judgedAt: number;
  /** Keys in the replica snapshot. */
  snapshotKeys: number;
  /** The probe's keys among the judged DELs, and how many of them the replica still held. */
  probeDeletesSeen: number;
  probeLostDeletes: number;
}

/**
 * A judgment as the figures a fault observes (lost DELs per namespace under LOST_DELETES_NS,
 * the writes seen during the partition), the same for a Sentinel and a Cluster partition.
 */
export function judgmentFigures(j: LostWriteJudgment): Record<string, number> {
  const { judgedAt, deletes, sets, incrs, probeDeletesSeen, lostDeletesByNamespace, ...lost } = j;
  return {
    ...lost,
    ...Object.fromEntries(
      Object.entries(lostDeletesByNamespace ?? {}).map(([ns, n]) => [`${LOST_DELETES_NS}${ns}`, n]),
    ),
    judgedAt,
    deletesDuringPartition: deletes,
    setsDuringPartition: sets,
    incrsDuringPartition: incrs,
  };
}

export interface LostWriteWatch {
  /** Call right after the cut: records from now on and snapshots the frozen replica. */
  start(): Promise<void>;
  /** Idempotent: stops recording, judges, restores the server's setting. */
  judge(): Promise<LostWriteJudgment>;
  /** Judges as soon as the replica reports itself a primary (polled); the promise never rejects. */
  judgeOnPromotion(): void;
  /** Disconnects everything (after a failed start, or when the fault ends unjudged). */
  close(): Promise<void>;
}

function conn(e: Endpoint, password: string): Redis {
  return failFastRedis({ host: e.host, port: e.port, password }, { connectMs: 5_000, commandMs: 5_000 });
}

/** SCAN + PTTL + GET of every key the replica holds (direct connection, read-only commands). */
async function snapshot(r: Redis): Promise<Map<string, ReplicaEntry>> {
  const out = new Map<string, ReplicaEntry>();
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const at = now();
    const p = r.pipeline();
    for (const k of keys) p.pttl(k).get(k);
    const res = (await p.exec()) ?? [];
    keys.forEach((k, i) => {
      const [, ttl] = res[2 * i] ?? [];
      const [getErr, value] = res[2 * i + 1] ?? [];
      if (typeof ttl !== 'number' || ttl === -2) return;
      out.set(k, {
        value: getErr ? null : ((value as string | null) ?? null),
        ...(ttl >= 0 ? { expiresAt: at + ttl } : {}),
      });
    });
    if (out.size > MAX_SNAPSHOT_KEYS) throw new Error(`the replica holds over ${MAX_SNAPSHOT_KEYS} keys`);
  } while (cursor !== '0');
  return out;
}

/**
 * Subscribes to the primary's keyevents (before the cut, so nothing after it is missed); keys
 * under `probePrefix` are the harness's own probe and are judged apart from the target's writes;
 * other keys under `ignorePrefix` (the harness's own) are not the target's and are left out.
 */
export async function watchLostWrites(o: {
  primary: Endpoint;
  replica: Endpoint;
  password: string;
  probePrefix: string;
  ignorePrefix: string;
  /** A Cluster replica: READONLY before the snapshot (else every GET/PTTL is a MOVED). */
  cluster?: boolean;
}): Promise<LostWriteWatch> {
  const admin = conn(o.primary, o.password);
  const sub = conn(o.primary, o.password);
  const replica = conn(o.replica, o.password);
  let original: string | undefined;
  const written = new Map<string, Set<WriteKind>>();
  const probeDeleted = new Set<string>();
  let recording = false;
  let markerSeen: (() => void) | undefined;
  let replicaAtCut: Map<string, ReplicaEntry> | undefined;
  let judged: Promise<LostWriteJudgment> | undefined;
  let closed = false;

  const close = async () => {
    closed = true;
    admin.disconnect();
    sub.disconnect();
    replica.disconnect();
  };
  try {
    await Promise.all([admin.connect(), sub.connect(), replica.connect()]);
    if (o.cluster) await replica.call('READONLY');
    original = ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
    // Keep whatever the server already publishes (an eviction watch's E + e, say).
    await admin.config('SET', 'notify-keyspace-events', [...new Set(`${original}${FLAGS}`)].join(''));
    sub.on('pmessage', (_pattern: string, channel: string, key: string) => {
      if (!recording) return;
      const kind = KIND_OF[channel.slice(channel.indexOf(':') + 1)];
      if (!kind) return;
      if (key.startsWith(o.probePrefix)) {
        if (kind === 'del') probeDeleted.add(key);
        return;
      }
      if (key.startsWith(o.ignorePrefix)) return;
      const kinds = written.get(key) ?? new Set<WriteKind>();
      kinds.add(kind);
      written.set(key, kinds);
    });
    sub.on('message', (channel: string) => {
      if (channel === MARKER) markerSeen?.();
    });
    await sub.psubscribe(KEYEVENTS);
    await sub.subscribe(MARKER);
  } catch (e) {
    await restore();
    await close();
    throw e;
  }

  async function restore(): Promise<void> {
    if (original !== undefined && admin.status === 'ready') {
      await admin.config('SET', 'notify-keyspace-events', original).catch(() => {});
    }
  }

  async function judgeNow(): Promise<LostWriteJudgment> {
    const at = now();
    try {
      if (!replicaAtCut) throw new Error('lost-write watch: judged before the replica snapshot');
      // Pub/sub is ordered per connection: once our marker arrives, every keyevent the primary
      // published before it has arrived too.
      const seen = new Promise<void>((resolve) => {
        markerSeen = resolve;
      });
      await admin.publish(MARKER, String(at));
      const timeout = sleep(5_000).then(() => 'timeout' as const);
      if ((await Promise.race([seen, timeout])) === 'timeout') {
        throw new Error('lost-write watch: the keyevent subscription stopped answering');
      }
      recording = false;
      // The primary's value now, for the SET and INCR judgments (DELs need only the replica).
      const keys = [...written].filter(([, k]) => k.has('set') || k.has('incr')).map(([k]) => k);
      const values = new Map<string, string | null>();
      if (keys.length > 0) {
        const p = admin.pipeline();
        for (const k of keys) p.get(k);
        const res = (await p.exec()) ?? [];
        keys.forEach((k, i) => {
          const [err, v] = res[i] ?? [];
          values.set(k, err ? null : ((v as string | null) ?? null));
        });
      }
      const probe = lostWrites(
        new Map([...probeDeleted].map((k) => [k, new Set<WriteKind>(['del'])])),
        replicaAtCut,
        new Map(),
        at,
      );
      return {
        ...lostWrites(written, replicaAtCut, values, at, (k) => keyNamespace(k)),
        judgedAt: at,
        snapshotKeys: replicaAtCut.size,
        probeDeletesSeen: probe.deletes,
        probeLostDeletes: probe.lostDeletes,
      };
    } finally {
      await restore();
      await close();
    }
  }

  return {
    async start() {
      recording = true;
      replicaAtCut = await snapshot(replica);
      // The snapshot is only the frozen state while the replica is still a replica.
      const role = /role:(\w+)/.exec(await replica.info('replication'))?.[1];
      if (role !== 'slave')
        throw new Error(`lost-write watch: the replica was already ${role} at the snapshot`);
    },
    judge() {
      judged ??= judgeNow();
      return judged;
    },
    judgeOnPromotion() {
      const poll = async () => {
        const watcher = conn(o.replica, o.password);
        try {
          await watcher.connect();
          while (!closed && !judged) {
            const role = /role:(\w+)/.exec(await watcher.info('replication'))?.[1];
            if (role === 'master') {
              judged ??= judgeNow();
              return;
            }
            await sleep(25);
          }
        } finally {
          watcher.disconnect();
        }
      };
      poll().catch(() => {});
    },
    close: async () => {
      await restore();
      await close();
    },
  };
}
