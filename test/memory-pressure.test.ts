/**
 * Memory pressure and memory by namespace, against a real local Redis (and, for the per-cell
 * tests, the real pipeline: target, PostgreSQL, Toxiproxy). The scenario's maxmemory/policy must
 * hold for its cell only; evictions and OOM refusals are counted by Redis, not by the target.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { memoryPressure } from '../harness/analysis/cache-health.ts';
import { isUsageError } from '../harness/errors.ts';
import { runCell } from '../harness/pipeline/cell.ts';
import {
  NAMESPACE_SAMPLE,
  namespaceMemory,
  redisBaseline,
  redisSnapshot,
} from '../harness/pipeline/collect.ts';
import { applyRedisConfig, checkRedisConfig, resetRedisConfig } from '../harness/pipeline/redis-config.ts';
import { parseBytes, ScenarioError, validateScenario } from '../scenarios/schema.ts';
import type { Scenario } from '../scenarios/types.ts';
import { synthCell } from './fixtures/synthetic.ts';
import { useInfra } from './helpers/infra.ts';

const BASE = {
  question: 'test fixture',
  load: { phases: [{ duration: '1500ms', rate: 100 }] },
  keys: { type: 'zipf', exponent: 1.1 },
  mix: { 'read-user': 100 },
  data: { users: 3000, teams: 10, counters: 5 },
  cache: { ttlMs: '30s' },
  start: 'warm',
};

function scenario(name: string, extra: Record<string, unknown> = {}): Scenario {
  return validateScenario({ name, ...BASE, ...extra }, 'test');
}

async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const configOf = async (url: string, name: string) =>
  withRedis(url, async (r) => ((await r.config('GET', name)) as string[])[1]);

describe('scenario redis: key (pure)', () => {
  it('parses sizes in Redis units', () => {
    expect(parseBytes('8mb')).toBe(8 * 1024 * 1024);
    expect(parseBytes('512KB')).toBe(512 * 1024);
    expect(parseBytes(2_000_000)).toBe(2_000_000);
    expect(parseBytes('8 furlongs')).toBeUndefined();
  });

  it('accepts a policy and a size', () => {
    const s = scenario('mp', { redis: { maxmemory: '8mb', maxmemoryPolicy: 'allkeys-lfu' } });
    expect(s.redis).toEqual({ maxmemory: 8 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lfu' });
  });

  it('rejects an unknown policy with one line naming the field, the value and the allowed ones', () => {
    let err: unknown;
    try {
      scenario('mp', { redis: { maxmemory: '8mb', maxmemoryPolicy: 'allkeys-random-ish' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    const msg = (err as ScenarioError).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toContain('redis.maxmemoryPolicy');
    expect(msg).toContain('"allkeys-random-ish"');
    expect(msg).toContain('noeviction, allkeys-lru, allkeys-lfu, volatile-lru, volatile-lfu, volatile-ttl');
  });

  it('rejects a size outside the limits and an unknown field', () => {
    expect(() => scenario('mp', { redis: { maxmemory: '10kb' } })).toThrow(
      /redis\.maxmemory: expected a size/,
    );
    expect(() => scenario('mp', { redis: { maxMemory: '8mb' } })).toThrow(/redis\.maxMemory: unknown field/);
  });

  it('summarises sampled sizes: total, estimate over all keys, nearest-rank percentiles', () => {
    const sizes = Array.from({ length: 100 }, (_, i) => (i + 1) * 10); // 10 … 1000
    const m = namespaceMemory(400, sizes);
    expect(m).toEqual({
      keys: 400,
      sampled: 100,
      sampledBytes: 50_500,
      estimatedBytes: 202_000,
      p50: 500,
      p99: 990,
      max: 1000,
    });
  });
});

describe('memory pressure against real Redis', () => {
  const infra = useInfra();

  it('samples memory per namespace: exact counts, bounded sample, sizes equal to MEMORY USAGE', async () => {
    const url = infra().redisUrl;
    const direct: number[] = [];
    await withRedis(url, async (r) => {
      await r.flushall();
      // 30 small user keys, 300 team-members keys with a 2 KB value (more than the sample bound).
      for (let i = 1; i <= 30; i++) await r.set(`cb:user:${i}`, 'u'.repeat(50));
      for (let i = 1; i <= 300; i++) await r.set(`cb:team:${i}:members`, 'm'.repeat(2048));
      for (let i = 1; i <= 30; i++) direct.push((await r.memory('USAGE', `cb:user:${i}`)) as number);
    });
    const snap = await redisSnapshot(url);
    const users = snap.namespaces?.user;
    const teams = snap.namespaces?.['team-members'];
    expect(snap.keysByNamespace).toEqual({ user: 30, 'team-members': 300 });
    expect(users).toBeDefined();
    expect(users!.keys).toBe(30);
    expect(users!.sampled).toBe(30);
    expect(users!.sampledBytes).toBe(direct.reduce((a, b) => a + b, 0));
    expect(users!.max).toBe(Math.max(...direct));
    expect(users!.estimatedBytes).toBe(users!.sampledBytes);
    expect(teams!.keys).toBe(300);
    expect(teams!.sampled).toBe(NAMESPACE_SAMPLE);
    // A 2 KB string costs at least its bytes; the estimate scales the sample to all 300 keys.
    expect(teams!.p50).toBeGreaterThanOrEqual(2048);
    expect(teams!.estimatedBytes).toBeGreaterThanOrEqual(300 * 2048);
    expect(teams!.estimatedBytes).toBeGreaterThan(users!.estimatedBytes * 10);
  });

  it('evicts under allkeys-lru when the written set is twice maxmemory, and resets to the default', async () => {
    const url = infra().redisUrl;
    const before = await configOf(url, 'maxmemory');
    await withRedis(url, (r) => r.flushall());
    await applyRedisConfig(url, { maxmemory: 4 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lru' });
    try {
      expect(await configOf(url, 'maxmemory')).toBe(String(4 * 1024 * 1024));
      expect(await configOf(url, 'maxmemory-policy')).toBe('allkeys-lru');
      const base = await redisBaseline(url);
      await withRedis(url, async (r) => {
        // 8 MiB of values: about twice maxmemory.
        for (let i = 0; i < 4096; i++) await r.set(`cb:user:${i}`, 'x'.repeat(2048));
      });
      const snap = await redisSnapshot(url, base);
      expect(snap.evictedDuringLoad).toBeGreaterThan(0);
      expect(snap.keys).toBeLessThan(4096);
      expect(snap.maxmemory).toBe(4 * 1024 * 1024);
      expect(snap.maxmemoryPolicy).toBe('allkeys-lru');
    } finally {
      await resetRedisConfig(url);
    }
    expect(await configOf(url, 'maxmemory')).toBe(before);
  });

  it('refusing CONFIG SET is not a concern for a server that allows it', async () => {
    await expect(
      checkRedisConfig(infra().redisUrl, [{ name: 'mp', redis: { maxmemoryPolicy: 'allkeys-lru' } }]),
    ).resolves.toBeUndefined();
  });

  it('a server that refuses CONFIG SET is one usage error naming the scenario, the option and the refusal', async () => {
    const url = infra().redisUrl;
    // A real refusal: an ACL user that may do everything but CONFIG (as a managed Redis does).
    await withRedis(url, (r) =>
      r.call('ACL', 'SETUSER', 'noconfig', 'on', '>noconfig-pw', '~*', '&*', '+@all', '-config'),
    );
    const limited = new URL(url);
    limited.username = 'noconfig';
    limited.password = 'noconfig-pw';
    let err: unknown;
    try {
      await checkRedisConfig(limited.toString(), [
        { name: 'steady-read' },
        { name: 'mp-lfu', redis: { maxmemory: 8 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lfu' } },
      ]);
    } catch (e) {
      err = e;
    }
    try {
      // A scenario without `redis:` needs no CONFIG at all: such a server still runs it.
      await expect(applyRedisConfig(limited.toString(), undefined)).resolves.toBeUndefined();
      const snap = await redisSnapshot(limited.toString());
      expect(snap.maxmemoryPolicy).toBeUndefined();
      expect(snap.namespaces).toBeDefined();
    } finally {
      await withRedis(url, (r) => r.call('ACL', 'DELUSER', 'noconfig'));
    }
    expect(isUsageError(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toMatch(
      /^scenario mp-lfu: redis\.maxmemory: the Redis server refused CONFIG SET maxmemory: NOPERM/,
    );
  });

  it('per cell: noeviction refuses SETs with OOM while fail-open reads succeed; the next cell sees the default', async () => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-mem-'));
    const common = {
      runDir,
      infra: infra(),
      strategy: 'cache-aside',
      strategyDefaults: { ttlMs: 30_000 },
      repeat: 1,
      seed: 1,
      instances: 1,
      driver: 'builtin' as const,
    };
    try {
      // 1 MiB is about what an empty Redis uses itself: nearly every SET is refused.
      const full = await runCell({
        ...common,
        scenario: scenario('mp-noeviction', { redis: { maxmemory: '1mb', maxmemoryPolicy: 'noeviction' } }),
      });
      expect(full.redis?.maxmemory).toBe(1024 * 1024);
      expect(full.redis?.maxmemoryPolicy).toBe('noeviction');
      expect(full.redis?.oomRejections).toBeGreaterThan(0);
      expect(full.target.cache.redisErrors).toBeGreaterThan(0);
      expect(full.load.completed).toBeGreaterThan(100);
      expect(full.load.errors).toBe(0);
      // Reset after the cell.
      expect(await configOf(infra().redisUrl, 'maxmemory')).toBe('0');

      const free = await runCell({ ...common, scenario: scenario('mp-default') });
      expect(free.redis?.maxmemory).toBe(0);
      expect(free.redis?.oomRejections).toBe(0);
      expect(free.redis?.evictedDuringLoad).toBe(0);
      expect(free.target.cache.redisErrors).toBe(0);
      expect(free.load.errors).toBe(0);
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('memory fields of the cache-health analysis (pure)', () => {
  function cellWith(evicted: number, redis?: Scenario['redis']) {
    const { cell } = synthCell({ scenario: 'steady-read', strategy: 'cache-aside', seconds: 4 });
    cell.redis = { ...cell.redis!, evictedDuringLoad: evicted, maxmemory: redis?.maxmemory ?? 0 };
    if (redis) cell.scenario_spec = { ...cell.scenario_spec, redis };
    return cell;
  }

  it('evictions per load second, flagged only without a scenario maxmemory', () => {
    const plain = cellWith(40);
    const seconds = plain.load.durationMs / 1000;
    expect(memoryPressure(plain).evictionsPerSecond).toBeCloseTo(40 / seconds, 9);
    expect(memoryPressure(plain).unexpectedEvictions).toBe(true);
    expect(memoryPressure(cellWith(0)).unexpectedEvictions).toBe(false);
    const constrained = cellWith(40, { maxmemory: 3 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lru' });
    expect(memoryPressure(constrained).unexpectedEvictions).toBe(false);
  });

  it('a result without the load-time count gives null, not 0', () => {
    const { cell } = synthCell({ scenario: 'steady-read', strategy: 'cache-aside', seconds: 4 });
    expect(memoryPressure(cell).evictionsPerSecond).toBeNull();
    expect(memoryPressure(cell).oomRejections).toBeNull();
  });
});
