/**
 * `topology: cluster` on the local provisioner: three masters (optionally one replica each) from
 * redis-server with `cluster-enabled yes` on loopback, each node its own standalone-style server
 * (local/redis.ts: 0600 config, private data dir, per-run password, also as `masterauth`). The
 * cluster is formed by hand (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE over the direct ports) rather
 * than with `redis-cli --cluster create`: no second binary, no password in a child's argv, and a
 * few hundred ms faster. Ready when every node's CLUSTER INFO says cluster_state:ok and every
 * node knows every other.
 *
 * Nodes announce their direct loopback address; the target reaches node i through the Toxiproxy
 * proxy `redis-<i>` by mapping the announced address to the proxy (ioredis `natMap`), so a fault
 * can hit one node while the harness's own steps go direct.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { failFastRedis } from '../probes.ts';
import { waitUntil } from '../processes.ts';
import type { Endpoint, RedisTopologyInfo } from '../types.ts';
import { startRedis } from './redis.ts';
import type { LocalService } from './service.ts';

/** Every hash slot of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

export interface LocalRedisTopology {
  /** Every process this topology started, in start order. */
  services: LocalService[];
  /** Toxiproxy proxies to create: `redis-<i>` in front of node i. */
  proxies: { name: string; port: number; upstreamPort: number }[];
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
    const port = await o.port();
    const busPort = await o.port();
    busPorts.push(busPort);
    const proxyPort = await o.port();
    nodes.push({ host: '127.0.0.1', port });
    proxiedNodes.push({ host: '127.0.0.1', port: proxyPort });
    proxies.push({ name: `redis-${i}`, port: proxyPort, upstreamPort: port });
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
            // A master without a replica that fails must not take the whole keyspace down with it.
            'cluster-require-full-coverage no',
            'cluster-announce-ip 127.0.0.1',
          ],
        },
      }),
    );
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
          return infos.every(
            (s) => /cluster_state:ok/.test(s) && /cluster_known_nodes:(\d+)/.exec(s)?.[1] === String(total),
          );
        },
        { timeoutMs: o.timeoutMs ?? 15_000 },
      );
    } finally {
      for (const c of clients) c.disconnect();
    }
  };

  return {
    services,
    proxies,
    url,
    info: { kind: 'cluster', nodes, proxiedNodes },
    async ready() {
      const versions = await Promise.all(services.map((s) => s.ready()));
      await form();
      return versions[0];
    },
  };
}
