/**
 * The local provisioner's Redis Cluster (topology cluster): three masters with every slot served,
 * authenticated, private data dirs, each node behind its own Toxiproxy proxy so a fault can hit
 * one node, harness steps on every master, network faults on `redis` on every node's proxy, and
 * nothing left running after stop. Real processes throughout.
 */
import fs from 'node:fs';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFaultTimeline } from '../harness/faults.ts';
import { startInfra } from '../harness/infra/index.ts';
import { slotRanges } from '../harness/infra/local/redis-cluster.ts';
import { startLocalInfra } from '../harness/infra/local.ts';
import { isAlive } from '../harness/infra/processes.ts';
import {
  redisMasterUrls,
  redisShape,
  targetTopologyOptions,
  withAddress,
} from '../harness/infra/topology.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { watchEvictions } from '../harness/pipeline/eviction-watch.ts';
import { leaderboardCounters, leaderboardTotals } from '../harness/pipeline/leaderboard.ts';
import { createCacheClient, type FailFastCacheClient } from '../target/cache-client.ts';
import { seedDatabase } from '../target/db.ts';
import { DEFAULT_KEY_PREFIX } from '../target/keys.ts';
import { leaderboardKey } from '../target/leaderboard.ts';
import { toxiproxy } from './helpers/infra.ts';

let infra: InfraHandle;
let client: FailFastCacheClient;
beforeAll(async () => {
  infra = await startLocalInfra({ topology: 'cluster' });
  const o = targetTopologyOptions(infra);
  client = await createCacheClient({
    url: infra.redisProxyUrl,
    commandTimeoutMs: 500,
    topology: { redisSentinels: '', redisMasterName: 'mymaster', ...o } as never,
  });
}, 90_000);
afterAll(async () => {
  await client?.close();
  await infra?.stop();
}, 30_000);

function direct(url: string): Redis {
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  return r;
}

/** The reply to a GET sent without AUTH, over a raw socket (no client library in between). */
function unauthenticatedGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET x\r\n'));
    sock.once('data', (d) => {
      resolve(d.toString());
      sock.destroy();
    });
    sock.once('error', reject);
  });
}

/** A key owned by node `i` (the master serving slot range i). */
async function keyOnNode(i: number): Promise<string> {
  const [from, to] = slotRanges(3)[i]!;
  const r = direct(infra.redisUrl);
  await r.connect();
  try {
    for (let n = 0; ; n++) {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', `k${n}`));
      if (slot >= from && slot <= to) return `k${n}`;
    }
  } finally {
    r.disconnect();
  }
}

/** A Cluster client on the direct addresses (the nodes announce those). */
async function clusterClient(): Promise<InstanceType<typeof Redis.Cluster>> {
  const u = new URL(infra.redisUrl);
  const c = new Redis.Cluster(
    infra.redisTopology!.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: {
        password: decodeURIComponent(u.password),
        username: decodeURIComponent(u.username) || undefined,
      },
      lazyConnect: true,
    },
  );
  await c.connect();
  return c;
}

describe('local Redis Cluster', () => {
  it('slot ranges cover 0..16383 without gaps', () => {
    const r = slotRanges(3);
    expect(r[0]![0]).toBe(0);
    expect(r[2]![1]).toBe(16383);
    expect(r[1]![0]).toBe(r[0]![1] + 1);
    expect(r[2]![0]).toBe(r[1]![1] + 1);
  });

  it('three masters, each node behind its own proxy redis-<i>, every master asked by the harness', async () => {
    const t = infra.redisTopology!;
    expect(t.kind).toBe('cluster');
    expect(t.nodes).toHaveLength(3);
    const proxies = (await toxiproxy(infra.toxiproxyUrl, 'GET', '/proxies')) as Record<
      string,
      { listen: string; upstream: string }
    >;
    for (let i = 0; i < 3; i++) {
      expect(proxies[`redis-${i}`]!.upstream).toBe(`127.0.0.1:${t.nodes[i]!.port}`);
      expect(proxies[`redis-${i}`]!.listen).toBe(`127.0.0.1:${t.proxiedNodes[i]!.port}`);
    }
    const masters = await redisMasterUrls(infra);
    expect(masters.map((u) => Number(new URL(u).port)).sort()).toEqual(t.nodes.map((n) => n.port).sort());
    // Reports label this one "cluster (3 masters, no replicas)".
    expect(await redisShape(infra)).toEqual({ masters: 3, replicas: 0 });
  });

  it('every node requires the password and keeps its data in a 0700 dir', async () => {
    for (const n of infra.redisTopology!.nodes) {
      expect(await unauthenticatedGet(n.port)).toMatch(/^-NOAUTH/);
      const r = direct(withAddress(infra.redisUrl, n.host, n.port));
      await r.connect();
      const dir = ((await r.config('GET', 'dir')) as string[])[1]!;
      r.disconnect();
      expect(fs.statSync(dir).mode & 0o077).toBe(0);
    }
  });

  it('the target client reaches each node through its proxy: one node down fails only its keys', async () => {
    const [k0, k1] = [await keyOnNode(0), await keyOnNode(1)];
    expect((await client.set(k0, 'a', 60_000)).ok).toBe(true);
    expect((await client.set(k1, 'b', 60_000)).ok).toBe(true);
    await toxiproxy(infra.toxiproxyUrl, 'PATCH', '/proxies/redis-1', { enabled: false });
    try {
      expect(await client.get(k0)).toEqual({ ok: true, value: 'a' });
      expect((await client.get(k1)).ok).toBe(false);
    } finally {
      await toxiproxy(infra.toxiproxyUrl, 'PATCH', '/proxies/redis-1', { enabled: true });
    }
  });

  it('a DEL of keys on several nodes is split per key (one DEL would be refused with CROSSSLOT)', async () => {
    const keys = [await keyOnNode(0), await keyOnNode(1), await keyOnNode(2)];
    for (const k of keys) await client.set(k, 'v', 60_000);
    const raw = await client.run('raw-del', (r) => r.del(...keys));
    expect(raw.ok).toBe(false);
    if (!raw.ok) expect(raw.error.message).toMatch(/CROSSSLOT/);
    expect(await client.del(...keys)).toEqual({ ok: true, value: 3 });
  });

  it('a network fault on `redis` hits every node proxy; redis-flushall empties every master', async () => {
    const keys = [await keyOnNode(0), await keyOnNode(1), await keyOnNode(2)];
    for (const k of keys) await client.set(k, 'v', 60_000);
    const t0 = Date.now();
    const timeline = runFaultTimeline({
      toxiproxyUrl: infra.toxiproxyUrl,
      redisUrl: infra.redisUrl,
      redisTopology: infra.redisTopology,
      faults: [
        { at: 0, for: 600, proxy: 'redis', down: true },
        { at: 700, for: 100, process: 'redis-flushall' },
      ],
      loadStartedAt: t0,
    });
    await new Promise((r) => setTimeout(r, 300));
    const during = (await toxiproxy(infra.toxiproxyUrl, 'GET', '/proxies')) as Record<
      string,
      { enabled: boolean }
    >;
    expect([0, 1, 2].map((i) => during[`redis-${i}`]!.enabled)).toEqual([false, false, false]);
    const records = await timeline;
    expect(records.map((r) => r.ok)).toEqual([true, true]);
    let total = 0;
    for (const url of await redisMasterUrls(infra)) {
      const r = direct(url);
      await r.connect();
      total += await r.dbsize();
      r.disconnect();
    }
    expect(total).toBe(0);
  });

  it('the cache client reaches every node before serving, so the first reads do not pay the connects', async () => {
    const clientsPerNode = async () => {
      const out: number[] = [];
      for (const n of infra.redisTopology!.nodes) {
        const r = direct(withAddress(infra.redisUrl, n.host, n.port));
        await r.connect();
        out.push(Number(/connected_clients:(\d+)/.exec(await r.info('clients'))?.[1]) - 1);
        r.disconnect();
      }
      return out;
    };
    const before = await clientsPerNode();
    const fresh = await createCacheClient({
      url: infra.redisProxyUrl,
      commandTimeoutMs: 500,
      topology: { redisSentinels: '', redisMasterName: 'mymaster', ...targetTopologyOptions(infra) } as never,
    });
    try {
      const after = await clientsPerNode();
      for (let i = 0; i < after.length; i++) expect(after[i]).toBeGreaterThan(before[i]!);
    } finally {
      await fresh.close();
    }
  });

  it('the eviction watch hears every master, not only the first', async () => {
    const masters = await redisMasterUrls(infra);
    const watch = await watchEvictions(masters);
    const keys = await Promise.all([1, 2].map((i) => keyOnNode(i)));
    const c = await clusterClient();
    try {
      for (const url of masters) {
        const r = direct(url);
        await r.connect();
        await r.config('SET', 'maxmemory-policy', 'allkeys-random');
        r.disconnect();
      }
      // Fill nodes 1 and 2 only (hash-tagged keys stay on their node), then squeeze them.
      for (const k of keys) {
        for (let n = 0; n < 200; n++) await c.set(`{${k}}:cb:user:${n}`, 'x'.repeat(1000));
      }
      for (const url of masters) {
        const r = direct(url);
        await r.connect();
        await r.config(
          'SET',
          'maxmemory',
          String((await r.info('memory')).match(/used_memory:(\d+)/)?.[1] ?? 0),
        );
        r.disconnect();
      }
      for (const k of keys) {
        for (let n = 200; n < 260; n++) await c.set(`{${k}}:cb:user:${n}`, 'x'.repeat(1000)).catch(() => {});
      }
    } finally {
      c.disconnect();
      for (const url of masters) {
        const r = direct(url);
        await r.connect();
        await r.config('SET', 'maxmemory', '0');
        await r.config('SET', 'maxmemory-policy', 'noeviction');
        await r.flushall();
        r.disconnect();
      }
    }
    const counts = await watch.stop();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it("leaderboard reconciliation reads the board on the master that owns its slot, and every master's counters", async () => {
    await seedDatabase(infra.postgresUrl, { users: 10, teams: 2, counters: 2 }, 1);
    const masters = await redisMasterUrls(infra);
    const zero = await leaderboardCounters(masters, 'zset');
    const key = leaderboardKey(DEFAULT_KEY_PREFIX, 'main', 'zset');
    const c = await clusterClient();
    try {
      for (let i = 1; i <= 5; i++) await c.zincrby(key, i, `m${i}`);
      const totals = await leaderboardTotals(
        { redisUrls: masters, postgresUrl: infra.postgresUrl },
        'zset',
        zero,
      );
      expect(totals.redisTotal).toBe(15);
      expect(totals.redisMembers).toBe(5);
      expect(totals.updatesApplied).toBe(5);
      await c.del(key);
    } finally {
      c.disconnect();
    }
  });

  it('containers and external refuse a non-standalone topology in one line (exit 2)', async () => {
    await expect(startInfra({ infra: 'containers', topology: 'cluster' })).rejects.toMatchObject({
      message:
        'topology cluster is not supported with --infra containers (allowed: standalone; use --infra local for cluster)',
      exitCode: 2,
    });
  });
});

describe('stop', () => {
  it('ends every node it started', async () => {
    const other = await startLocalInfra({ topology: 'cluster' });
    const pids = [...other.pids];
    expect(pids.length).toBe(5); // three nodes, PostgreSQL, Toxiproxy
    await other.stop();
    for (const p of pids) expect(isAlive(p)).toBe(false);
  }, 90_000);
});
