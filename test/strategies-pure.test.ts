/**
 * Pure logic of the strategy layer: registry and composition rules, option validation, the
 * stored-value envelope, the XFetch test, TTL jitter, and the cache client's behaviour when Redis
 * is unreachable (a closed loopback port: no infrastructure needed).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyRedisError, createCacheClient } from '../target/cache-client.ts';
import {
  defineStrategy,
  lease,
  loadStrategyModule,
  lock,
  singleFlight,
  strategyNames,
  xfetch,
} from '../target/strategies/index.ts';
import { decodeEntry, encodeEntry } from '../target/strategies/parts/envelope.ts';
import { readOptions } from '../target/strategies/parts/options.ts';
import { ValidJson } from '../target/strategies/parts/read-kit.ts';
import { jitter, type PolicyEnv, ttl, xfetchShouldRecompute } from '../target/strategies/policies/index.ts';

describe('registry', () => {
  it('lists the 12 catalog strategies, each loadable under its own name', async () => {
    const names = strategyNames();
    expect(names).toEqual([
      'no-cache',
      'cache-aside',
      'jitter',
      'lock',
      'versioning',
      'write-through',
      'single-flight',
      'stale-while-revalidate',
      'xfetch',
      'lease',
      'write-behind',
      'pre-warm',
    ]);
    for (const n of names) {
      const m = await loadStrategyModule(n);
      expect(m.name).toBe(n);
      expect(m.summary.length).toBeGreaterThan(10);
    }
  });

  it('rejects an unknown name with UNKNOWN_STRATEGY listing the valid names', async () => {
    const err = await loadStrategyModule('cache-asid').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNKNOWN_STRATEGY' });
    expect((err as Error).message).toContain("'cache-asid'");
    expect((err as Error).message).toContain('cache-aside, jitter, lock');
    expect((err as Error).message).not.toContain('\n');
  });

  it('composes parts and merges their defaults', async () => {
    const m = await loadStrategyModule('jitter+lock');
    expect(m.name).toBe('jitter+lock');
    expect(m.defaults).toMatchObject({ ttlMs: 30_000, jitterFraction: 0.2, lockTtlMs: 5_000, waitMs: 2_000 });
    const sf = await loadStrategyModule('single-flight+lease+xfetch+write-behind');
    expect(sf.defaults).toMatchObject({ leaseTtlMs: 5_000, beta: 1, flushIntervalMs: 1_000 });
  });

  it.each([
    ['lock+lease', 'rebuild guard'],
    ['stale-while-revalidate+xfetch', 'freshness policy'],
    ['no-cache+jitter', 'no cache'],
    ['lock+lock', 'listed twice'],
    ['jitter+nope', 'UNKNOWN'],
  ])('rejects %s with a one-line reason', async (spec, reason) => {
    const err = (await loadStrategyModule(spec).catch((e: unknown) => e)) as Error & { code: string };
    expect(`${err.code} ${err.message}`).toContain(reason);
    expect(err.message).not.toContain('\n');
  });

  it('reports an unusable user module path with INVALID_STRATEGY_MODULE', async () => {
    const err = await loadStrategyModule('./does-not-exist.ts').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_STRATEGY_MODULE' });
  });
});

describe('policies', () => {
  it('compose per slot when their hooks differ, with the union of their options as defaults', () => {
    const m = defineStrategy({
      name: 'sf-lease-xf',
      guard: [singleFlight(), lease()],
      freshness: [jitter(), xfetch()],
    });
    expect(Object.keys(m.defaults).sort()).toEqual(
      ['beta', 'jitterFraction', 'leaseTtlMs', 'pollMs', 'ttlMs', 'waitMs'].sort(),
    );
  });

  it('refuse two policies providing the same hook, naming the slot and both policies', () => {
    expect(() => defineStrategy({ name: 'both', guard: [lock(), lease()] })).toThrow(
      /cannot compose strategy 'both': .*both choose the rebuild guard \(lock vs lease\)/,
    );
  });

  it('refuse something that is not a policy, in one line', () => {
    const bad = { name: 'x' } as unknown as ReturnType<typeof lock>;
    expect(() => defineStrategy({ name: 'odd', guard: bad })).toThrow(/expected a policy \{name, provides/);
  });

  it('a policy whose create() lacks a hook it provides fails when the strategy is created', () => {
    const liar = { name: 'liar', provides: ['miss'] as const, create: () => ({}) };
    const m = defineStrategy({ name: 'liar', guard: liar });
    const ctx = { cache: {}, events: {}, instanceId: 'i', policy: 'fail-open', options: {} } as never;
    expect(() => m.create(ctx)).toThrow(
      /policy 'liar' says it provides miss but create\(\) returned no such function/,
    );
  });
});

describe('options', () => {
  it('fills defaults and accepts numeric strings from a CLI', () => {
    const o = readOptions('jitter', { ttlMs: '1500', unrelated: 'x' });
    expect(o.ttlMs).toBe(1500);
    expect(o.jitterFraction).toBe(0.2);
  });
  it.each([
    ['ttlMs', 0],
    ['ttlMs', 1.5],
    ['jitterFraction', -1],
    ['beta', 'abc'],
  ])('rejects %s=%s naming the field, the value and the range', (field, value) => {
    expect(() => readOptions('jitter', { [field]: value })).toThrow(
      new RegExp(`option ${field}=.*${JSON.stringify(value)}.*allowed`),
    );
  });
});

describe('envelope', () => {
  it('stores plain values as their exact JSON and round-trips metadata', () => {
    const json = JSON.stringify({ a: 1, versions: { 'user:1': 3 } });
    expect(encodeEntry({ json })).toBe(json);
    expect(decodeEntry(json)).toEqual({ json });
    expect(decodeEntry(encodeEntry({ json, softExpiresAt: 1234 }))).toEqual({ json, softExpiresAt: 1234 });
    expect(decodeEntry(encodeEntry({ json, deltaMs: 12.5, expiresAt: 99 }))).toEqual({
      json,
      deltaMs: 12.5,
      expiresAt: 99,
    });
    expect(decodeEntry('~xf nope\n{}')).toBeNull();
  });
});

describe('JSON validity of cached texts (ValidJson)', () => {
  it('passes JSON, fails anything else, whatever it checked just before', () => {
    const v = new ValidJson();
    const good = JSON.stringify({ user: { id: 1 }, versions: { 'user:1': 3 } });
    expect(v.check(good)).toBe(true);
    // The same bytes in a new string (what Redis returns on every hit): the fast path.
    expect(v.check(`${good.slice(0, 5)}${good.slice(5)}`)).toBe(true);
    expect(v.check('')).toBe(false);
    expect(v.check(`${good.slice(0, -1)}`)).toBe(false);
    expect(v.check('{"a":')).toBe(false);
    expect(v.check(good)).toBe(true);
    expect(v.check('not json')).toBe(false);
  });

  it('starts over when full, and still tells JSON from garbage', () => {
    const v = new ValidJson(20);
    for (let i = 0; i < 10; i++) expect(v.check(JSON.stringify({ i }))).toBe(true);
    expect(v.check('{"i":1')).toBe(false);
    expect(v.check(JSON.stringify({ i: 1 }))).toBe(true);
  });
});

describe('xfetch', () => {
  it('recomputes iff now − δ·β·ln(u) ≥ expiry', () => {
    // δ=100, β=1: with u = e^-1 the early window is exactly 100 ms.
    expect(xfetchShouldRecompute(900, 100, 1, 1000, Math.exp(-1))).toBe(true);
    expect(xfetchShouldRecompute(899, 100, 1, 1000, Math.exp(-1))).toBe(false);
    expect(xfetchShouldRecompute(999, 100, 1, 1000, 1)).toBe(false); // ln 1 = 0: only at expiry
    expect(xfetchShouldRecompute(1000, 100, 1, 1000, 1)).toBe(true);
    expect(xfetchShouldRecompute(800, 100, 2, 1000, Math.exp(-1))).toBe(true); // β=2 doubles it
  });

  it('recomputes with probability exp(−gap/(δβ)) (sampled)', () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const n = 20_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (xfetchShouldRecompute(900, 50, 1, 1000, 1 - rnd())) hits += 1;
    expect(hits / n).toBeGreaterThan(Math.exp(-2) - 0.01);
    expect(hits / n).toBeLessThan(Math.exp(-2) + 0.01);
  });
});

describe('ttl', () => {
  it('jitter stays within [ttl, ttl·(1+fraction)) and spreads', () => {
    const env = { options: readOptions('jitter', { ttlMs: 10_000, jitterFraction: 0.5 }) } as PolicyEnv;
    const next = jitter().create(env).ttl!;
    const values = Array.from({ length: 500 }, () => next('user'));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...values)).toBeLessThanOrEqual(15_000);
    expect(new Set(values).size).toBeGreaterThan(100);
    expect(ttl().create(env).ttl!('user')).toBe(10_000);
  });

  it('takes each namespace its own ttlMs, the rest `default` (else the strategy default)', () => {
    const per = readOptions('cache-aside', {
      ttlMs: { user: 60_000, 'team-report': '1000', default: 5_000 },
    });
    const hooks = ttl().create({ options: per } as PolicyEnv);
    expect(hooks.ttl!('user')).toBe(60_000);
    expect(hooks.ttl!('team-report')).toBe(1_000);
    expect(hooks.ttl!('team-members')).toBe(5_000);
    const noDefault = readOptions('cache-aside', { ttlMs: { user: 60_000 } });
    expect(ttl().create({ options: noDefault } as PolicyEnv).ttl!('team-members')).toBe(30_000);
    const jittered = jitter(() => 0.5).create({ options: { ...per, jitterFraction: 0.2 } } as PolicyEnv);
    expect(jittered.ttl!('team-report')).toBe(1_100);
    expect(() => readOptions('cache-aside', { ttlMs: { 'team-report': 0 } })).toThrow(
      /option ttlMs\.team-report=0 is invalid; allowed: an integer from 1/,
    );
  });
});

describe('cache client without Redis', () => {
  async function closedPort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it('starts, fails fast, opens the breaker and classifies errors', async () => {
    const kinds: string[] = [];
    let opens = 0;
    const t0 = performance.now();
    const c = await createCacheClient({
      url: `redis://127.0.0.1:${await closedPort()}`,
      onError: (k) => kinds.push(k),
      onBreakerOpen: () => {
        opens += 1;
      },
    });
    const startMs = performance.now() - t0;
    expect(startMs).toBeLessThan(700);
    expect(c.available()).toBe(false); // first connect failed: open at once
    const r = await c.get('k');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ kind: 'breaker-open', sent: false });
    expect(opens).toBe(1);
    expect(kinds).toContain('breaker-open');
    await c.close();
  });

  it('classifies ioredis errors', () => {
    expect(classifyRedisError(new Error('Command timed out'))).toMatchObject({ kind: 'timeout', sent: true });
    expect(
      classifyRedisError(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
    ).toMatchObject({ kind: 'connection', sent: false });
    expect(classifyRedisError(new Error('Connection is closed.'))).toMatchObject({
      kind: 'connection',
      sent: true,
    });
    const reply = Object.assign(new Error('WRONGTYPE Operation'), { name: 'ReplyError' });
    expect(classifyRedisError(reply)).toMatchObject({ kind: 'command' });
  });
});

describe('user strategy modules', () => {
  it('loads a module path exporting a StrategyModule as default', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cachebench-strategy-'));
    const file = path.join(dir, 'mine.mjs');
    fs.writeFileSync(
      file,
      `export default { name: 'mine', summary: 'always the DB', defaults: { ttlMs: 1 },
        create: () => ({ name: 'mine', read: async (r) => ({ value: await r.load(), source: 'db' }),
          write: (r) => r.write(), increment: async () => ({ value: 0, pending: 0 }),
          readCounter: async () => ({ value: 0, pending: 0 }) }) };\n`,
    );
    try {
      const m = await loadStrategyModule(file);
      expect(m.name).toBe('mine');
      expect(m.summary).toBe('always the DB');
      fs.writeFileSync(file, 'export default 42;\n');
      const bad = await loadStrategyModule(`${file}?v=2`).catch((e: unknown) => e);
      expect(bad).toBeDefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
