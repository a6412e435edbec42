/**
 * What the pipeline needs to know of a Redis topology: which one a cell runs on, the target
 * options that make its client reach every node through that node's proxy, and the direct URLs
 * of every master for the harness's own steps (FLUSHALL, CONFIG SET, INFO, SCAN), which must see
 * the whole keyspace, not node 0's third of it.
 */
import type { TargetOptions } from '../../target/config.ts';
import { failFastRedis } from './probes.ts';
import type { InfraHandle, RedisTopology } from './types.ts';

/** A scenario's own `redis.topology` wins; otherwise `run --topology`; otherwise standalone. */
export function cellTopology(
  scenario: { redis?: { topology?: RedisTopology } },
  flag?: RedisTopology,
): RedisTopology {
  return scenario.redis?.topology ?? flag ?? 'standalone';
}

/** The infra's topology (a handle without `redisTopology` is standalone). */
export function topologyOf(infra: Pick<InfraHandle, 'redisTopology'>): RedisTopology {
  return infra.redisTopology?.kind ?? 'standalone';
}

type TopologyOptions = Pick<
  TargetOptions,
  'redisTopology' | 'redisNatMap' | 'redisSentinels' | 'redisMasterName'
>;

/**
 * Target options for the infra's topology: each announced node address mapped to its proxy —
 * none for a node that announces its proxy already (the local Cluster: a natMap there sends a
 * MOVED's retry to a random node, docs/architecture.md "Redis topologies").
 */
export function targetTopologyOptions(infra: Pick<InfraHandle, 'redisTopology'>): Partial<TopologyOptions> {
  const t = infra.redisTopology;
  if (!t) return {};
  const natMap: Record<string, string> = {};
  t.nodes.forEach((n, i) => {
    const p = t.proxiedNodes[i];
    if (p && n.announcedPort !== p.port) natMap[`${n.host}:${n.port}`] = `${p.host}:${p.port}`;
  });
  return {
    redisTopology: t.kind,
    redisNatMap: t.natMap ?? natMap,
    ...(t.sentinels ? { redisSentinels: t.sentinels.map((s) => `${s.host}:${s.port}`).join(',') } : {}),
    ...(t.masterName ? { redisMasterName: t.masterName } : {}),
  };
}

/** `url` with its host and port replaced (the credentials kept). */
export function withAddress(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString().replace(/\/$/, '');
}

/** Masters in a CLUSTER NODES reply: `<id> <ip:port@bus> <flags> …`, flags containing "master". */
export function clusterMasters(nodes: string): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  for (const line of nodes.trim().split('\n')) {
    const [, addr, flags] = line.split(' ');
    const f = flags?.split(',') ?? [];
    if (!addr || !f.includes('master') || f.includes('fail')) continue;
    const hostPort = addr.split('@')[0]!;
    const i = hostPort.lastIndexOf(':');
    out.push({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
  }
  return out;
}

/** Masters and replicas in a CLUSTER NODES reply (failed nodes left out). */
export function clusterShape(nodes: string): { masters: number; replicas: number } {
  let masters = 0;
  let replicas = 0;
  for (const line of nodes.trim().split('\n')) {
    const f = line.split(' ')[2]?.split(',') ?? [];
    if (f.includes('fail') || f.includes('noaddr')) continue;
    if (f.includes('master')) masters++;
    else if (f.includes('slave')) replicas++;
  }
  return { masters, replicas };
}

/**
 * How many masters and replicas a Cluster has, asked of it now (CLUSTER NODES on the first node
 * that answers); undefined for another topology. What a cell records as `topologyShape`.
 */
export async function redisShape(
  infra: Pick<InfraHandle, 'redisUrl' | 'redisTopology'>,
): Promise<{ masters: number; replicas: number } | undefined> {
  if (infra.redisTopology?.kind !== 'cluster') return undefined;
  let lastError: unknown;
  for (const n of infra.redisTopology.nodes) {
    const r = failFastRedis(withAddress(infra.redisUrl, n.host, n.port), {
      connectMs: 1_000,
      commandMs: 2_000,
    });
    try {
      await r.connect();
      return clusterShape((await r.call('CLUSTER', 'NODES')) as string);
    } catch (e) {
      lastError = e;
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`no cluster node answered CLUSTER NODES: ${(lastError as Error)?.message}`);
}

/**
 * Direct URLs of every master, asked of the topology now (a failover or a migration may have
 * moved them): standalone and replicated the one primary (`redisUrl`), cluster every master
 * CLUSTER NODES lists.
 */
export async function redisMasterUrls(
  infra: Pick<InfraHandle, 'redisUrl' | 'redisTopology'>,
): Promise<string[]> {
  if (infra.redisTopology?.kind !== 'cluster') return [infra.redisUrl];
  const known = infra.redisTopology.nodes;
  let lastError: unknown;
  // Ask node after node: the one in redisUrl may be the one a fault killed.
  for (const n of known) {
    const url = withAddress(infra.redisUrl, n.host, n.port);
    const r = failFastRedis(url, { connectMs: 1_000, commandMs: 2_000 });
    try {
      await r.connect();
      const masters = clusterMasters((await r.call('CLUSTER', 'NODES')) as string);
      // A node announces its client proxy's port: its direct address is the one to use.
      return masters.map((m) => {
        const direct = known.find((k) => k.announcedPort === m.port);
        return direct
          ? withAddress(infra.redisUrl, direct.host, direct.port)
          : withAddress(infra.redisUrl, m.host, m.port);
      });
    } catch (e) {
      lastError = e;
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`no cluster node answered CLUSTER NODES: ${(lastError as Error)?.message}`);
}
