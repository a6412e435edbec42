/**
 * Coordination keys (locks, lease tokens, write-behind buffers) on a second Redis, against real
 * servers: the local provisioner's second redis-server, and the lock/lease guards and write-behind
 * losing (shared) or keeping (separate) what a FLUSHALL of the cache Redis — the limit of an
 * eviction — takes away.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isUsageError } from '../harness/errors.ts';
import { startInfra } from '../harness/infra/index.ts';
import { startLocalInfra } from '../harness/infra/local.ts';
import { isAlive } from '../harness/infra/processes.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { watchEvictions } from '../harness/pipeline/eviction-watch.ts';
import { ScenarioError, validateScenario } from '../scenarios/schema.ts';
import { envOf, resolveTargetOptions } from '../target/config.ts';
import { targetArgs, targetEnv } from '../target/instance.ts';
import { leaseKey, lockKey } from '../target/keys.ts';
import { redisPing } from './helpers/infra.ts';
import { StrategyFixture, sleep } from './helpers/strategy-fixture.ts';

async function untilTrue(what: string, fn: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('coordination settings (pure)', () => {
  const base = {
    question: 'test fixture?',
    load: { phases: [{ duration: '2s', rate: 10 }] },
    keys: { type: 'uniform' },
    mix: { 'read-user': 1 },
  };
  it('redis.coordination: shared (default) or separate; anything else is one line naming it', () => {
    expect(validateScenario({ name: 'x', ...base, redis: { coordination: 'separate' } }, 'x').redis).toEqual({
      coordination: 'separate',
    });
    expect(validateScenario({ name: 'x', ...base }, 'x').redis).toBeUndefined();
    const bad = () =>
      validateScenario({ name: 'x', ...base, redis: { coordination: 'elsewhere' } }, 'x.yaml');
    expect(bad).toThrow(ScenarioError);
    expect(bad).toThrow(/^x\.yaml: redis\.coordination: expected one of shared, separate, got "elsewhere"$/);
    try {
      bad();
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('the target option coordinationRedisUrl: empty = the cache Redis; a URL must be redis:', () => {
    const common = { redisUrl: 'redis://127.0.0.1:1', postgresUrl: 'postgres://x@127.0.0.1:1/x' };
    expect(resolveTargetOptions(common).coordinationRedisUrl).toBe('');
    expect(
      resolveTargetOptions({ ...common, coordinationRedisUrl: 'redis://127.0.0.1:2' }).coordinationRedisUrl,
    ).toBe('redis://127.0.0.1:2');
    expect(() => resolveTargetOptions({ ...common, coordinationRedisUrl: 'http://127.0.0.1:2' })).toThrow(
      /^coordinationRedisUrl: "http:\/\/127.0.0.1:2" has protocol http:; expected redis: or rediss:$/,
    );
    expect(envOf('coordinationRedisUrl')).toBe('CACHEBENCH_TARGET_COORDINATION_REDIS_URL');
    // A URL carries the password: the environment, never the command line.
    const url = 'redis://:secret@127.0.0.1:2';
    expect(targetArgs({ ...common, coordinationRedisUrl: url }).join(' ')).not.toContain('secret');
    expect(targetEnv({ ...common, coordinationRedisUrl: url }).CACHEBENCH_TARGET_COORDINATION_REDIS_URL).toBe(
      url,
    );
  });
});

describe('local provisioner: a second Redis for coordination keys', () => {
  it('starts an authenticated second redis-server and stops it with the rest', async () => {
    const infra = await startLocalInfra({ coordination: true });
    let stopped = false;
    try {
      expect(infra.coordinationRedisUrl).toBeDefined();
      const url = infra.coordinationRedisUrl!;
      expect(url).not.toBe(infra.redisUrl);
      expect(infra.pids).toHaveLength(4);
      expect(infra.pids.every(isAlive)).toBe(true);
      expect(await redisPing(url)).toBe('PONG');
      // Authenticated like the cache Redis: without the password it refuses.
      // A raw socket: a client library would hide the refusal behind its own reconnect logic.
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => s.write('GET x\r\n'));
        s.once('data', (d) => {
          resolve(d.toString());
          s.destroy();
        });
        s.once('error', reject);
      });
      expect(reply).toMatch(/^-NOAUTH Authentication required/);
      // Its own server: a key written to it is not on the cache Redis, and it has no maxmemory.
      const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await c.connect();
      await c.set('probe', '1');
      expect(((await c.config('GET', 'maxmemory')) as string[])[1]).toBe('0');
      c.disconnect();
      const r = new Redis(infra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect();
      expect(await r.exists('probe')).toBe(0);
      r.disconnect();
      const pids = [...infra.pids];
      await infra.stop();
      stopped = true;
      expect(pids.filter(isAlive)).toEqual([]);
      await expect(redisPing(url)).rejects.toThrow();
    } finally {
      if (!stopped) await infra.stop();
    }
  }, 60_000);

  it('without coordination: no second server', async () => {
    const infra = await startLocalInfra();
    try {
      expect(infra.coordinationRedisUrl).toBeUndefined();
      expect(infra.pids).toHaveLength(3);
    } finally {
      await infra.stop();
    }
  }, 60_000);

  it('external without --coordination-redis-url, and containers: one-line usage errors', async () => {
    const external = startInfra({
      infra: 'external',
      coordinationFor: 'coordination-eviction-separate',
      external: {
        redisUrl: 'redis://127.0.0.1:1',
        postgresUrl: 'postgres://x@127.0.0.1:1/x',
        toxiproxyUrl: 'http://127.0.0.1:1',
      },
    });
    await expect(external).rejects.toThrow(
      /^--coordination-redis-url is required with --infra external: scenario coordination-eviction-separate/,
    );
    await external.catch((e) => expect(isUsageError(e)).toBe(true));
    const containers = startInfra({ infra: 'containers', coordinationFor: 'coordination-eviction-separate' });
    await expect(containers).rejects.toThrow(/not supported with --infra containers yet/);
  });
});

describe('guards and write-behind with coordination keys shared or on a second Redis', () => {
  let infra: InfraHandle;
  let coord: Redis;
  const fx = new StrategyFixture(() => infra);
  beforeAll(async () => {
    infra = await startLocalInfra({ coordination: true });
    await fx.setup();
    coord = new Redis(infra.coordinationRedisUrl!, { maxRetriesPerRequest: 1 });
  }, 60_000);
  afterAll(async () => {
    await fx.teardown();
    coord?.disconnect();
    await infra?.stop();
  }, 30_000);
  beforeEach(async () => {
    await fx.reset();
    await coord.flushall();
  });

  for (const [guard, keyOf] of [
    ['lock', lockKey],
    ['lease', leaseKey],
  ] as const) {
    for (const mode of ['shared', 'separate'] as const) {
      const expected = mode === 'shared' ? 2 : 1;
      it(`${guard}, coordination ${mode}: a FLUSHALL of the cache Redis during a rebuild → ${expected} load(s)`, async () => {
        const coordinationUrl = mode === 'separate' ? infra.coordinationRedisUrl : undefined;
        const options = { waitMs: 5_000, pollMs: 10 };
        const a = await fx.make(guard, { options, coordinationUrl, instanceId: 'a' });
        const b = await fx.make(guard, { options, coordinationUrl, instanceId: 'b' });
        const guardRedis = mode === 'separate' ? coord : fx.redis;
        let release!: () => void;
        const held = new Promise<void>((r) => {
          release = r;
        });
        // A takes the guard and loads; its load returns only when released.
        const first = a.strategy.read(fx.itemRead(1, { afterQuery: () => held }));
        await untilTrue('the guard key', async () => (await guardRedis.exists(keyOf('item:1'))) === 1);
        // Memory pressure at its limit: everything on the cache Redis is evicted.
        await fx.redis.flushall();
        const second = b.strategy.read(fx.itemRead(1));
        // B has either started its own load (guard lost) or is waiting for A's value.
        await sleep(200);
        release();
        const [ra, rb] = await Promise.all([first, second]);
        expect(ra.value.item.id).toBe(1);
        expect(rb.value.item.id).toBe(1);
        expect(fx.loadsOf('item:1')).toBe(expected);
        if (mode === 'separate') expect(rb.source).toBe('cache');
        // The guard key never lands on the cache Redis when coordination is separate.
        if (mode === 'separate') expect(await fx.redis.keys('*:lock')).toEqual([]);
      });
    }
  }

  it('lease, coordination separate: a write during the rebuild still rejects the late, stale value', async () => {
    const coordinationUrl = infra.coordinationRedisUrl;
    const a = await fx.make('lease', { coordinationUrl, options: { waitMs: 5_000 } });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = a.strategy.read(fx.itemRead(1, { afterQuery: () => held }));
    await untilTrue('the lease', async () => (await coord.exists(leaseKey('item:1'))) === 1);
    await a.strategy.write(fx.itemWrite(1, 'renamed'));
    expect(await coord.exists(leaseKey('item:1'))).toBe(0);
    release();
    expect((await first).value.item.version).toBe(1);
    // The holder's value (version 1) was written before the commit's version 2: not kept.
    expect(await fx.redis.get('item:1')).toBeNull();
    const after = await a.strategy.read(fx.itemRead(1));
    expect(after.value.item.version).toBe(2);
  });

  it('evictions by namespace: Redis keyspace events, locks and buffers apart; the setting is put back', async () => {
    const r = fx.redis;
    const before = ((await r.config('GET', 'notify-keyspace-events')) as string[])[1];
    const watch = await watchEvictions([infra.redisUrl]);
    try {
      await r.config('SET', 'maxmemory-policy', 'allkeys-random');
      await r.set('cb:team-report:1:lock', 't', 'PX', 60_000);
      await r.incrby('cb:counter:1:pending', 5);
      // Room for a few values above what Redis uses now: every further SET evicts.
      const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
      await r.config('SET', 'maxmemory', String(used + 400_000));
      const big = 'x'.repeat(100_000);
      for (let i = 0; i < 60; i++) await r.set(`cb:team-members:${i}`, big, 'PX', 60_000);
    } finally {
      await r.config('SET', 'maxmemory', '0');
      await r.config('SET', 'maxmemory-policy', 'noeviction');
    }
    const counts = await watch.stop();
    expect(counts['team-members']).toBeGreaterThan(0);
    const evicted = Number(/evicted_keys:(\d+)/.exec(await r.info('stats'))![1]);
    expect(Object.values(counts).reduce((a, n) => a + n, 0)).toBeLessThanOrEqual(evicted);
    // Whatever Redis evicted of the two coordination keys is counted under its own namespace.
    expect(counts['team-report-lock'] ?? 0).toBe(1 - (await r.exists('cb:team-report:1:lock')));
    expect(counts['counter-pending'] ?? 0).toBe(1 - (await r.exists('cb:counter:1:pending')));
    expect(((await r.config('GET', 'notify-keyspace-events')) as string[])[1]).toBe(before);
    expect(await watch.stop()).toEqual(counts);
  });

  for (const mode of ['shared', 'separate'] as const) {
    it(`write-behind, coordination ${mode}: buffered increments ${mode === 'shared' ? 'are lost' : 'survive'} a FLUSHALL of the cache Redis`, async () => {
      const coordinationUrl = mode === 'separate' ? infra.coordinationRedisUrl : undefined;
      const h = await fx.make('write-behind', { coordinationUrl, options: { flushIntervalMs: 60_000 } });
      for (let i = 0; i < 20; i++) await h.strategy.increment(fx.counter(1));
      expect((await h.strategy.readCounter(fx.counter(1))).pending).toBe(20);
      await fx.redis.flushall();
      await h.strategy.close?.();
      expect(await fx.dbCounter(1)).toBe(mode === 'shared' ? 0 : 20);
    });
  }
});
