/**
 * The local provisioner's `replicated` Redis topology: a primary (redis-0), one replica (redis-1)
 * and three Sentinels on loopback, as production runs a cache with automatic failover.
 *
 * Two Toxiproxy proxies per node, so a fault can hit one path and not the other:
 * - `redis-N` carries client traffic (the target reaches every node only through these);
 * - `redis-N-link` carries replication and Sentinel traffic. Each node announces its link port
 *   (`replica-announce-port`) and the Sentinels monitor the primary at its link address, so the
 *   addresses Sentinel hands out are link addresses; clients map them to the client proxy
 *   (ioredis `natMap`, see `natMap` below). Disabling the primary's link proxy cuts it from its
 *   replica and the Sentinels while clients still write to it: the partition `replica-partition`
 *   needs.
 *
 * Authentication as on standalone: one per-run password for nodes (requirepass + masterauth) and
 * Sentinels (requirepass + auth-pass; Sentinels use their own requirepass towards each other),
 * written to 0600 config files (never argv), private 0700 data dirs. A restarted node always
 * rejoins as the replica of its peer: with two nodes, the one that was killed lost the primary
 * role to the other.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { assertListenerOwned } from '../listener.ts';
import { redisVersion, withFailFastRedis } from '../probes.ts';
import type { ManagedService } from '../process-control.ts';
import { spawnService, waitUntil } from '../processes.ts';
import type { Endpoint, RedisTopologyInfo } from '../types.ts';
import { startRedis } from './redis.ts';
import type { LocalRedisTopology } from './redis-cluster.ts';
import type { LocalService } from './service.ts';

/** The Sentinel master name of the replicated topology. */
export const MASTER_NAME = 'cachebench';
/** Sentinel timing: a primary silent for 1 s is down; a stuck failover is abandoned after 3 s. */
export const DOWN_AFTER_MS = 1_000;
export const FAILOVER_TIMEOUT_MS = 3_000;
const SENTINELS = 3;
const QUORUM = 2;
const HOST = '127.0.0.1';

/** The replicated topology as the harness sees it: natMap and Sentinels always present. */
export type ReplicatedTopology = RedisTopologyInfo & {
  sentinels: Endpoint[];
  masterName: string;
  natMap: Record<string, string>;
};

const ep = (port: number): Endpoint => ({ host: HOST, port });
const addr = (e: Endpoint) => `${e.host}:${e.port}`;

/** The name of node i's link proxy (replication and Sentinel traffic). */
export const linkProxyName = (i: number) => `redis-${i}-link`;

function sentinelService(o: {
  bin: string;
  stateDir: string;
  index: number;
  port: number;
  password: string;
  primaryLinkPort: number;
}): LocalService {
  const name = `redis-sentinel-${o.index}`;
  const dir = path.join(o.stateDir, name);
  fs.mkdirSync(dir, { mode: 0o700 });
  // Sentinel rewrites its config file (discovered peers, epochs): it lives in the private dir.
  const conf = path.join(dir, 'sentinel.conf');
  const lines = [
    `port ${o.port}`,
    `bind ${HOST}`,
    `dir ${dir}`,
    'protected-mode yes',
    // Also what this Sentinel presents to the others: every Sentinel has the same one.
    `requirepass ${o.password}`,
    `sentinel announce-ip ${HOST}`,
    `sentinel monitor ${MASTER_NAME} ${HOST} ${o.primaryLinkPort} ${QUORUM}`,
    `sentinel auth-pass ${MASTER_NAME} ${o.password}`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`,
    '',
  ];
  fs.writeFileSync(conf, lines.join('\n'), { mode: 0o600 });
  const proc = spawnService({
    name,
    command: o.bin,
    args: [conf, '--sentinel'],
    logFile: path.join(o.stateDir, `${name}.log`),
    stateDir: o.stateDir,
  });
  const url = (port: number) => `redis://:${o.password}@${HOST}:${port}`;
  let version: string | undefined;
  const managed: ManagedService = { name, proc };
  return {
    managed,
    url,
    async ready() {
      await waitUntil(
        name,
        async () => {
          version = await redisVersion(url(o.port));
          return version !== undefined;
        },
        { timeoutMs: 10_000, proc },
      );
      return version;
    },
    assertOwned: () => assertListenerOwned(name, o.port, { pid: proc.pid }),
  };
}

/**
 * Starts redis-0 (primary), redis-1 (its replica, through redis-0's link proxy) and three
 * Sentinels. The proxies are created by the caller from `proxies`; ready() needs them.
 */
export async function startRedisReplicated(o: {
  bin: string;
  stateDir: string;
  port: () => Promise<number>;
  timeoutMs?: number;
}): Promise<LocalRedisTopology> {
  const password = randomBytes(18).toString('base64url');
  const nodePorts = [await o.port(), await o.port()];
  const proxyPorts = [await o.port(), await o.port()];
  const linkPorts = [await o.port(), await o.port()];
  const sentinelPorts: number[] = [];
  for (let i = 0; i < SENTINELS; i++) sentinelPorts.push(await o.port());
  const url = (port: number) => `redis://:${password}@${HOST}:${port}`;

  const services: LocalService[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const extraConfig = [
        // Sentinel and the peer know this node by its link proxy, so a partition can cut them.
        `replica-announce-ip ${HOST}`,
        `replica-announce-port ${linkPorts[i]}`,
        // A replica cut from its primary keeps serving what it has (the failover's stale state).
        'replica-serve-stale-data yes',
        ...(i === 1 ? [`replicaof ${HOST} ${linkPorts[0]}`] : []),
      ];
      const node = startRedis({
        bin: o.bin,
        port: nodePorts[i]!,
        stateDir: o.stateDir,
        node: { name: `redis-${i}`, password, extraConfig },
      });
      // A restarted node always rejoins as the replica of its peer (with two nodes, the killed one
      // lost the primary role to the other). startRedis rewrites the config from extraConfig on
      // every respawn, so the line added now applies to restarts only.
      if (i === 0) extraConfig.push(`replicaof ${HOST} ${linkPorts[1]}`);
      // Planned faults address one node by name (failover and partition faults).
      node.managed.service = `redis-${i}`;
      services.push(node);
    }
    for (let i = 0; i < SENTINELS; i++) {
      services.push(
        sentinelService({
          bin: o.bin,
          stateDir: o.stateDir,
          index: i,
          port: sentinelPorts[i]!,
          password,
          primaryLinkPort: linkPorts[0]!,
        }),
      );
    }
  } catch (e) {
    for (const s of services) await s.managed.proc.stop('SIGKILL', 1_000);
    throw e;
  }

  const natMap: Record<string, string> = {};
  for (let i = 0; i < 2; i++) {
    natMap[addr(ep(linkPorts[i]!))] = addr(ep(proxyPorts[i]!));
    // A node's own port too: a client that learns it some other way still goes through the proxy.
    natMap[addr(ep(nodePorts[i]!))] = addr(ep(proxyPorts[i]!));
  }
  const info: ReplicatedTopology = {
    kind: 'replicated',
    nodes: nodePorts.map(ep),
    proxiedNodes: proxyPorts.map(ep),
    sentinels: sentinelPorts.map(ep),
    masterName: MASTER_NAME,
    natMap,
  };
  const timeoutMs = o.timeoutMs ?? 20_000;
  return {
    services,
    proxies: [0, 1].flatMap((i) => [
      { name: `redis-${i}`, port: proxyPorts[i]!, upstreamPort: nodePorts[i]! },
      { name: linkProxyName(i), port: linkPorts[i]!, upstreamPort: nodePorts[i]! },
    ]),
    url,
    info,
    async ready() {
      const versions = await Promise.all(services.map((s) => s.ready()));
      // Sentinel learns the replica from the primary's INFO, which it asks for every 10 s; its
      // first ask came before the replica could connect (the link proxies did not exist yet).
      // Once the replica is in sync, SENTINEL RESET makes each ask again at once.
      await waitUntil('redis-1 in sync with redis-0', () => inSync(info, password, 0), {
        timeoutMs,
        intervalMs: 50,
      });
      await Promise.all(
        info.sentinels.map((e) =>
          withConnection(e, password, (r) => r.call('SENTINEL', 'RESET', MASTER_NAME)),
        ),
      );
      await waitForTopology(info, password, 0, timeoutMs);
      return versions[0];
    },
    reset: () => resetReplicated(info, url(nodePorts[0]!)),
  };
}

/** The replicated view of a topology handed to faults and analysis; throws for any other kind. */
export function replicatedTopology(t: RedisTopologyInfo | undefined): ReplicatedTopology {
  if (
    t?.kind !== 'replicated' ||
    !t.sentinels ||
    !t.masterName ||
    !(t as Partial<ReplicatedTopology>).natMap
  ) {
    throw new Error(
      `needs the replicated Redis topology (--topology replicated), not ${t?.kind ?? 'standalone'}`,
    );
  }
  return t as ReplicatedTopology;
}

/** Node index of an address Sentinel hands out (a link address), or -1. */
export function nodeOfAddress(t: ReplicatedTopology, host: string, port: number): number {
  const proxied = t.natMap[`${host}:${port}`];
  return t.proxiedNodes.findIndex((p) => addr(p) === proxied);
}

// --- Inspection and control (direct connections, the harness's own) ------------------------------

/** The password inside a redis:// URL (the topology's nodes and Sentinels share it). */
export function passwordOf(redisUrl: string): string {
  return decodeURIComponent(new URL(redisUrl).password);
}

/** One short-lived, fail-fast connection for a few commands. */
export async function withConnection<T>(
  e: Endpoint,
  password: string,
  run: (r: Redis) => Promise<T>,
): Promise<T> {
  // Generous: the harness's own steps must not fail because a loaded machine is slow to connect.
  return withFailFastRedis(
    { host: e.host, port: e.port, password },
    { connectMs: 5_000, commandMs: 5_000 },
    run,
  );
}

/**
 * What each reachable Sentinel names as the master: the node index (by link address), or -1 for
 * an address that is no node of ours. Unreachable Sentinels are left out.
 */
export async function sentinelMasters(t: ReplicatedTopology, password: string): Promise<number[]> {
  const out: number[] = [];
  await Promise.all(
    t.sentinels.map(async (s) => {
      try {
        const a = (await withConnection(s, password, (r) =>
          r.call('SENTINEL', 'get-master-addr-by-name', t.masterName),
        )) as [string, string] | null;
        if (!a) return;
        out.push(nodeOfAddress(t, a[0], Number(a[1])));
      } catch {}
    }),
  );
  return out;
}

/** The node every Sentinel names as master, or undefined while they disagree or some is silent. */
export async function agreedPrimary(t: ReplicatedTopology, password: string): Promise<number | undefined> {
  const m = await sentinelMasters(t, password);
  if (m.length !== t.sentinels.length || m[0] === undefined || m[0] < 0) return undefined;
  return m.every((x) => x === m[0]) ? m[0] : undefined;
}

async function roleOf(e: Endpoint, password: string): Promise<string> {
  const info = await withConnection(e, password, (r) => r.info('replication'));
  return /role:(\w+)/.exec(info)?.[1] ?? '?';
}

/** True when node `primary` is a primary with the other node online and at its offset. */
async function inSync(t: ReplicatedTopology, password: string, primary: number): Promise<boolean> {
  const p = await withConnection(t.nodes[primary]!, password, (r) => r.info('replication'));
  if (!/role:master/.test(p)) return false;
  const offset = Number(/master_repl_offset:(\d+)/.exec(p)?.[1] ?? -1);
  const replica = /slave0:[^\r\n]*state=online,offset=(\d+)/.exec(p);
  if (!replica || Number(replica[1]) < offset) return false;
  const r = await withConnection(t.nodes[1 - primary]!, password, (c) => c.info('replication'));
  return /master_link_status:up/.test(r);
}

/** How many other Sentinels and replicas each Sentinel knows of (discovery is complete at 2 and 1). */
async function sentinelsComplete(t: ReplicatedTopology, password: string): Promise<boolean> {
  const views = await Promise.all(
    t.sentinels.map((s) =>
      withConnection(s, password, async (r) => {
        const flat = (await r.call('SENTINEL', 'master', t.masterName)) as string[];
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
        return {
          others: Number(f.get('num-other-sentinels') ?? 0),
          replicas: Number(f.get('num-slaves') ?? 0),
          flags: f.get('flags') ?? '',
        };
      }),
    ),
  );
  return views.every((v) => v.others === t.sentinels.length - 1 && v.replicas >= 1 && v.flags === 'master');
}

/**
 * Waits until node `primary` is the primary, the replica is in sync and every Sentinel names it
 * and knows the other Sentinels: the state a cell may start from.
 */
export async function waitForTopology(
  t: ReplicatedTopology,
  password: string,
  primary: number,
  timeoutMs: number,
): Promise<void> {
  await waitUntil(
    'replicated Redis (replica in sync, Sentinels agreeing)',
    async () =>
      (await agreedPrimary(t, password)) === primary &&
      (await inSync(t, password, primary)) &&
      (await sentinelsComplete(t, password)),
    { timeoutMs, intervalMs: 100 },
  );
}

/**
 * Between cells: redis-0 is the primary again (a Sentinel-driven failover back when an earlier
 * cell failed over), the replica in sync, and the data set empty on both nodes.
 */
export async function resetReplicated(t: ReplicatedTopology, redisUrl: string): Promise<void> {
  const password = passwordOf(redisUrl);
  if ((await agreedPrimary(t, password)) !== 0 || (await roleOf(t.nodes[0]!, password)) !== 'master') {
    // The failed-over node must be a synced replica before Sentinel can promote it back.
    await waitUntil(
      'redis-0 back as a replica in sync',
      async () => (await agreedPrimary(t, password)) === 1 && (await inSync(t, password, 1)),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    await sentinelFailover(t, password);
  }
  await waitForTopology(t, password, 0, 20_000);
  await withConnection(t.nodes[0]!, password, async (r) => {
    await r.flushall();
    // Replicated before the cell starts: the replica must not serve the last cell's keys.
    await r.call('WAIT', '1', '2000');
  });
}

/**
 * SENTINEL FAILOVER, retried while the Sentinel has not yet judged the replica fit (NOGOODSLAVE:
 * its view of a replica refreshes on its own INFO period, after the replica is in sync) or
 * another failover is still running (INPROG).
 */
async function sentinelFailover(t: ReplicatedTopology, password: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await withConnection(t.sentinels[0]!, password, (r) => r.call('SENTINEL', 'failover', t.masterName));
      return;
    } catch (e) {
      const msg = (e as Error).message;
      if (!/NOGOODSLAVE|INPROG/.test(msg) || Date.now() > deadline) {
        throw new Error(`SENTINEL FAILOVER back to redis-0: ${msg}`);
      }
      await sleep(250);
    }
  }
}

/** Polls until the Sentinels agree on a primary other than `old`; resolves with its index. */
export async function waitForPromotion(
  t: ReplicatedTopology,
  password: string,
  old: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await agreedPrimary(t, password);
    if (p !== undefined && p !== old) return p;
    if (Date.now() > deadline) {
      throw new Error(`Sentinels did not promote a new primary within ${timeoutMs} ms`);
    }
    await sleep(25);
  }
}
