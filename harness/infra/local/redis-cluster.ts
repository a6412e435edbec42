/**
 * `topology: cluster` on the local provisioner: three masters (optionally one replica each) from
 * redis-server with `cluster-enabled yes` on loopback, each node its own standalone-style server
 * (local/redis.ts: 0600 config, private data dir, per-run password, also as `masterauth`). The
 * cluster is formed by hand (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE over the direct ports) rather
 * than with `redis-cli --cluster create`: no second binary, no password in a child's argv, and a
 * few hundred ms faster. Ready when every node's CLUSTER INFO says cluster_state:ok and every
 * node knows every other.
 *
 * Two Toxiproxy proxies per node, so a fault can cut replication and leave client traffic alone
 * (as the replicated topology's link proxies do):
 * - `redis-<i>` (127.0.0.1:P) carries client traffic. Node i announces it as its client address
 *   (`cluster-announce-hostname 127.0.0.1`, `cluster-announce-port P`, and
 *   `cluster-preferred-endpoint-type hostname`, so CLUSTER SLOTS and MOVED hand clients it):
 *   a client reaches every node through its proxy with no natMap, and a MOVED names the address
 *   the client already holds a connection to.
 * - `redis-<i>-link` (127.0.0.2:P, the same port on the second loopback address) carries
 *   replication: a Cluster replica connects to its master's announced IP and port, and the IP
 *   is `cluster-announce-ip 127.0.0.2`. Disabling it cuts the master from its replica while
 *   clients keep writing to it (the `cluster-replica-partition` fault).
 * The cluster bus stays direct: each node also binds 127.0.0.2 (bus port `cluster-announce-bus-port`),
 * so the masters keep seeing each other and a cut of replication is not a failure of the node.
 * The harness's own steps go to the direct ports (`nodes`); `announcedPort` maps a CLUSTER
 * NODES address back to its node.
 *
 * Node i is the process service `redis-<i>` (the Cluster faults kill and restart it; its
 * nodes.conf survives a restart, so it rejoins under its own id). `cluster-node-timeout` is 2 s:
 * a dead master's replica is promoted about 3 s after the kill. The slot primitives below
 * (`clusterView`, `migrateSlot`) are what the `slot-migration` fault and `reset` (the layout the
 * cluster started with, before each cell) move slots with.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { canBind } from '../ports.ts';
import { failFastRedis, withFailFastRedis } from '../probes.ts';
import { waitUntil } from '../processes.ts';
import type { Endpoint, RedisTopologyInfo } from '../types.ts';
import { startRedis } from './redis.ts';
import { linkProxyName } from './redis-replicated.ts';
import type { LocalService } from './service.ts';

/** The second loopback address: the nodes' announced IP (replication via the link proxies, bus). */
export const LINK_HOST = '127.0.0.2';

/** A port `port()` hands out that is free on the link address too (nodes and proxies bind both). */
async function portOnBoth(port: () => Promise<number>): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await port();
    if (await canBind(p, LINK_HOST)) return p;
  }
  throw new Error(`no port free on both 127.0.0.1 and ${LINK_HOST} after 50 tries`);
}

/** Every hash slot of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

export interface LocalRedisTopology {
  /** Every process this topology started, in start order. */
  services: LocalService[];
  /** Toxiproxy proxies to create: `redis-<i>` in front of node i (and its link proxy, if any). */
  proxies: { name: string; port: number; upstreamPort: number; host?: string }[];
  /** A URL with the topology's password for a port (a node's or a proxy's). */
  url(port: number): string;
  info: RedisTopologyInfo;
  /** Resolves with the Redis version once the topology is formed and serving. */
  ready(): Promise<string | undefined>;
  /** Before each cell's flush: put the topology back as it started (e.g. the original primary). */
  reset?(): Promise<void>;
}

export interface RedisClusterOptions {
  bin: string;
  stateDir: string;
  /** Allocates a free loopback port (local.ts's, so no two services share one). */
  port: () => Promise<number>;
  masters?: number;
  replicasPerMaster?: 0 | 1;
  /** Ready within this (formation included). */
  timeoutMs?: number;
}

/** Slot ranges of `n` masters: contiguous, as equal as possible (what `redis-cli --cluster create` does). */
export function slotRanges(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    out.push([Math.floor((i * CLUSTER_SLOTS) / n), Math.floor(((i + 1) * CLUSTER_SLOTS) / n) - 1]);
  }
  return out;
}

async function connect(url: string): Promise<Redis> {
  const r = failFastRedis(url, { connectMs: 1_000, commandMs: 2_000 });
  await r.connect();
  return r;
}

export async function startRedisCluster(o: RedisClusterOptions): Promise<LocalRedisTopology> {
  const masters = o.masters ?? 3;
  const total = masters * (1 + (o.replicasPerMaster ?? 0));
  const password = randomBytes(18).toString('base64url');
  const nodes: Endpoint[] = [];
  const proxiedNodes: Endpoint[] = [];
  const services: LocalService[] = [];
  const proxies: LocalRedisTopology['proxies'] = [];
  const busPorts: number[] = [];
  for (let i = 0; i < total; i++) {
    const port = await portOnBoth(o.port);
    const busPort = await portOnBoth(o.port);
    busPorts.push(busPort);
    const proxyPort = await portOnBoth(o.port);
    nodes.push({ host: '127.0.0.1', port, announcedPort: proxyPort });
    proxiedNodes.push({ host: '127.0.0.1', port: proxyPort });
    proxies.push(
      { name: `redis-${i}`, port: proxyPort, upstreamPort: port },
      { name: linkProxyName(i), port: proxyPort, upstreamPort: port, host: LINK_HOST },
    );
    services.push(
      startRedis({
        bin: o.bin,
        port,
        stateDir: o.stateDir,
        node: {
          name: `redis-${i}`,
          password,
          extraConfig: [
            'cluster-enabled yes',
            `cluster-port ${busPort}`,
            // In the node's private data dir (`dir`): nodes.conf is the node's cluster state.
            'cluster-config-file nodes.conf',
            'cluster-node-timeout 2000',
            // A replica promotes however long its link was down: the fault measures the failover,
            // not Redis's refusal to promote a replica it thinks is too stale.
            'cluster-replica-validity-factor 0',
            // A master without a replica that fails must not take the whole keyspace down with it.
            'cluster-require-full-coverage no',
            // A replica's first sync (and a rejoined node's) starts at once, not 5 s later.
            'repl-diskless-sync-delay 0',
            // Clients are handed the client proxy; replicas and the bus the link address.
            `bind 127.0.0.1 ${LINK_HOST}`,
            `cluster-announce-ip ${LINK_HOST}`,
            `cluster-announce-port ${proxyPort}`,
            `cluster-announce-bus-port ${busPort}`,
            'cluster-announce-hostname 127.0.0.1',
            'cluster-preferred-endpoint-type hostname',
          ],
        },
      }),
    );
    services[i]!.managed.service = `redis-${i}`;
  }
  const url = (port: number) => `redis://:${password}@127.0.0.1:${port}`;

  const form = async () => {
    const clients = await Promise.all(nodes.map((n) => connect(url(n.port))));
    try {
      const ids = await Promise.all(clients.map((c) => c.call('CLUSTER', 'MYID') as Promise<string>));
      const ranges = slotRanges(masters);
      await Promise.all(
        ranges.map(([from, to], i) => clients[i]!.call('CLUSTER', 'ADDSLOTSRANGE', from, to)),
      );
      // The bus port is not port + 10000 here (free ports are chosen at random): MEET names it.
      for (let i = 1; i < total; i++)
        await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', nodes[i]!.port, busPorts[i]!);
      // Replicas can only follow a master they already know of.
      await waitUntil(
        'redis cluster gossip',
        async () => {
          const known = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
          return known.every((k) => k.trim().split('\n').length === total);
        },
        { timeoutMs: o.timeoutMs ?? 15_000 },
      );
      for (let i = masters; i < total; i++) {
        await clients[i]!.call('CLUSTER', 'REPLICATE', ids[i % masters]!);
      }
      await waitUntil(
        'redis cluster (cluster_state:ok on every node)',
        async () => {
          const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
          // Every node must also know each replica as one: until gossip says so, a replica shows as a
          // master without slots, and a harness step sent to "every master" (FLUSHALL) meets READONLY.
          const views = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
          return (
            infos.every(
              (s) => /cluster_state:ok/.test(s) && /cluster_known_nodes:(\d+)/.exec(s)?.[1] === String(total),
            ) && views.every((v) => parseClusterNodes(v, nodes).filter((n) => n.master).length === masters)
          );
        },
        { timeoutMs: o.timeoutMs ?? 15_000 },
      );
      // Replicas in sync before a cell runs: a failover fault judges what they hold.
      await waitUntil(
        'redis cluster replicas in sync',
        async () => {
          const repl = await Promise.all(clients.slice(masters).map((c) => c.info('replication')));
          return repl.every((s) => /master_link_status:up/.test(s));
        },
        { timeoutMs: o.timeoutMs ?? 15_000 },
      );
    } finally {
      for (const c of clients) c.disconnect();
    }
  };

  const info: RedisTopologyInfo = { kind: 'cluster', nodes, proxiedNodes };
  /** Slot → node index of the formed cluster, and which nodes started as masters. */
  let layout: { owner: number[]; masters: number[] } | undefined;
  return {
    services,
    proxies,
    url,
    info,
    async ready() {
      const versions = await Promise.all(services.map((s) => s.ready()));
      await form();
      const v = await clusterView(nodes, password);
      layout = { owner: slotOwners(v), masters: v.filter((n) => n.master).map((n) => n.index) };
      return versions[0];
    },
    async reset() {
      if (layout) await restoreLayout(nodes, password, layout);
    },
  };
}

/** One node of CLUSTER NODES, with the index of the `nodes` entry it is (by its port). */
export interface ClusterNode {
  id: string;
  index: number;
  master: boolean;
  /** fail or fail? flagged, or not connected: not a node to ask or to move slots to. */
  failing: boolean;
  /** The master's id, for a replica. */
  masterId?: string;
  slots: [number, number][];
}

/** CLUSTER NODES → nodes (those whose address is not among `nodes` are left out). */
export function parseClusterNodes(text: string, nodes: readonly Endpoint[]): ClusterNode[] {
  const out: ClusterNode[] = [];
  for (const line of text.trim().split('\n')) {
    const [id, addr, flags, masterId, , , , link, ...slots] = line.trim().split(' ');
    const port = Number(addr?.split('@')[0]?.split(':').pop());
    const index = nodes.findIndex((n) => n.port === port || n.announcedPort === port);
    if (!id || index < 0) continue;
    const f = flags?.split(',') ?? [];
    out.push({
      id,
      index,
      master: f.includes('master'),
      failing: f.includes('fail') || f.includes('fail?') || link !== 'connected',
      ...(masterId && masterId !== '-' ? { masterId } : {}),
      // Importing/migrating markers (`[5-<-id]`) are not owned ranges.
      slots: slots
        .filter((r) => !r.startsWith('['))
        .map((r) => {
          const [a, b] = r.split('-').map(Number);
          return [a!, b ?? a!] as [number, number];
        }),
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * The cluster as the first live node it asks sees it (direct connections). A node's own
 * CLUSTER NODES line says `myself`, never `fail`, so a live node's view is the one to trust.
 */
export async function clusterView(nodes: readonly Endpoint[], password: string): Promise<ClusterNode[]> {
  let last: unknown;
  for (const n of nodes) {
    try {
      return await onNode(n, password, async (r) =>
        parseClusterNodes((await r.call('CLUSTER', 'NODES')) as string, nodes),
      );
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no cluster node answered CLUSTER NODES: ${(last as Error)?.message}`);
}

/** The cluster as node i sees it. */
export function viewFrom(nodes: readonly Endpoint[], i: number, password: string): Promise<ClusterNode[]> {
  return onNode(nodes[i]!, password, async (r) =>
    parseClusterNodes((await r.call('CLUSTER', 'NODES')) as string, nodes),
  );
}

/** One short-lived fail-fast direct connection to a node. */
export function onNode<T>(n: Endpoint, password: string, run: (r: Redis) => Promise<T>): Promise<T> {
  return withFailFastRedis(
    { host: n.host, port: n.port, password },
    { connectMs: 1_000, commandMs: 5_000 },
    run,
  );
}

/** Slot → owning node index (-1: no one), from a view. */
export function slotOwners(view: readonly ClusterNode[]): number[] {
  const owner = new Array<number>(CLUSTER_SLOTS).fill(-1);
  for (const n of view) if (n.master) for (const [a, b] of n.slots) owner.fill(n.index, a, b + 1);
  return owner;
}

/** Keys MIGRATE moves per call (redis-cli --cluster reshard's default pipeline is 10). */
const MIGRATE_BATCH = 10;

/**
 * Moves one slot from master `from` to master `to` the way `redis-cli --cluster reshard` does:
 * IMPORTING on the target, MIGRATING on the source, MIGRATE (with AUTH) batch by batch until the
 * source holds none of the slot's keys, then SETSLOT … NODE on the target, the source and every
 * other master. Clients see ASK for keys already moved while it runs, MOVED after. Returns the
 * keys moved.
 */
export async function migrateSlot(
  nodes: readonly Endpoint[],
  password: string,
  slot: number,
  from: ClusterNode,
  to: ClusterNode,
  masters: readonly ClusterNode[],
): Promise<string[]> {
  const dest = nodes[to.index]!;
  const moved: string[] = [];
  try {
    await onNode(dest, password, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id));
    await onNode(nodes[from.index]!, password, async (r) => {
      await r.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
      for (;;) {
        const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', slot, MIGRATE_BATCH)) as string[];
        if (keys.length === 0) break;
        await r.call('MIGRATE', dest.host, dest.port, '', 0, 5_000, 'AUTH', password, 'KEYS', ...keys);
        moved.push(...keys);
      }
    });
  } catch (e) {
    // A half-moved slot must not stay IMPORTING/MIGRATING: clients would be redirected forever.
    for (const n of [from, to])
      await onNode(nodes[n.index]!, password, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'STABLE')).catch(
        () => {},
      );
    throw new Error(`slot ${slot} redis-${from.index} → redis-${to.index}: ${(e as Error).message}`);
  }
  const order = [to, from, ...masters.filter((m) => m.id !== to.id && m.id !== from.id)];
  for (const m of order)
    await onNode(nodes[m.index]!, password, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id));
  return moved;
}

/** Every node live, connected and saying cluster_state:ok. */
export async function clusterOk(nodes: readonly Endpoint[], password: string): Promise<boolean> {
  const infos = await Promise.all(
    nodes.map((n) => onNode(n, password, (r) => r.call('CLUSTER', 'INFO') as Promise<string>)),
  );
  return infos.every((s) => /cluster_state:ok/.test(s));
}

/**
 * Puts the cluster back as it formed (before each cell, so every strategy starts from the same
 * layout): a node that started as master and is a replica now (a cluster-failover) takes over
 * again with CLUSTER FAILOVER, and slots a slot-migration moved go back to their first owner.
 */
async function restoreLayout(
  nodes: readonly Endpoint[],
  password: string,
  layout: { owner: number[]; masters: number[] },
): Promise<void> {
  // Each node's own line: another node's view of it may lag behind by a gossip round.
  const self = async (i: number) => (await viewFrom(nodes, i, password)).find((v) => v.index === i);
  for (const i of layout.masters) {
    // A manual failover the cluster does not finish within its own 5 s (an election lost to a
    // busy machine) is abandoned by Redis without a word: asked again, up to three times.
    for (let attempt = 1; !(await self(i))?.master; attempt++) {
      await waitUntil(
        `redis-${i} in sync with its master`,
        async () =>
          /master_link_status:up/.test(await onNode(nodes[i]!, password, (r) => r.info('replication'))),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      await onNode(nodes[i]!, password, (r) => r.call('CLUSTER', 'FAILOVER'));
      try {
        await waitUntil(`redis-${i} master again`, async () => (await self(i))?.master === true, {
          timeoutMs: 8_000,
          intervalMs: 50,
        });
      } catch (e) {
        if (attempt >= 3) throw e;
      }
    }
  }
  // Every node must see exactly the formed masters (a demoted one no longer as a master, even
  // without slots) before slots move between them or a step goes to "every master".
  const want = [...layout.masters].sort().join(',');
  await waitUntil(
    'redis cluster: every node agrees on the masters',
    async () => {
      const views = await Promise.all(nodes.map((_, i) => viewFrom(nodes, i, password)));
      return views.every(
        (v) =>
          v
            .filter((x) => x.master && !x.failing)
            .map((x) => x.index)
            .sort()
            .join(',') === want,
      );
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  const view = await clusterView(nodes, password);
  const now = slotOwners(view);
  const masters = view.filter((v) => v.master && !v.failing);
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const want = layout.owner[slot]!;
    if (now[slot] === want) continue;
    const from = masters.find((m) => m.index === now[slot]);
    const to = masters.find((m) => m.index === want);
    if (!from || !to) throw new Error(`slot ${slot}: no live master to move it back to redis-${want}`);
    await migrateSlot(nodes, password, slot, from, to, masters);
  }
  await waitUntil('redis cluster (cluster_state:ok on every node)', () => clusterOk(nodes, password), {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
}
