/**
 * Pure parts of the target: key naming, option validation, instrumentation bookkeeping.
 * (Everything that talks to PostgreSQL/Redis is in target-db / target-api / target-bad-input.)
 */
import { describe, expect, it } from 'vitest';
import { resolveTargetOptions, TargetOptionError } from '../target/config.ts';
import {
  currentEndpoint,
  endpointContext,
  mergeTargetStats,
  ReadScope,
  TargetInstrumentation,
} from '../target/instrumentation.ts';
import {
  createKeys,
  entityKey,
  keyNamespace,
  namespaceVersionKey,
  paramSuffix,
  parseEntityKey,
  withVersion,
} from '../target/keys.ts';

describe('keys', () => {
  it('builds entity keys for versions maps and parses them back', () => {
    expect(entityKey('user', 42)).toBe('user:42');
    expect(entityKey('counter', 3)).toBe('counter:3');
    expect(parseEntityKey('team:7')).toEqual({ kind: 'team', id: 7 });
    expect(parseEntityKey('user:0')).toBeNull();
    expect(parseEntityKey('cb:user:1')).toBeNull();
  });

  it('namespaces cache keys entity first with a configurable prefix', () => {
    const k = createKeys();
    expect(k.user(42)).toBe('cb:user:42');
    expect(k.teamReport(7)).toBe('cb:team:7:report');
    expect(k.teamMembers(7)).toBe('cb:team:7:members');
    expect(k.counter(3)).toBe('cb:counter:3');
    expect(k.teamNamespace(7)).toBe('team:7');
    expect(k.namespaceVersion('team:7')).toBe('cb:team:7:ver');
    expect(createKeys('bench2:').user(1)).toBe('bench2:user:1');
    expect(namespaceVersionKey('team:1', 'x:')).toBe('x:team:1:ver');
  });

  it('normalizes pagination: sorted, defaults dropped, so equal pages share a key', () => {
    const k = createKeys();
    expect(k.teamMembers(7, { limit: 1000, offset: 0 })).toBe(k.teamMembers(7));
    expect(k.teamMembers(7, { offset: 20, limit: 10 })).toBe('cb:team:7:members:limit=10:offset=20');
    expect(k.teamMembers(7, { offset: 0, limit: 10 })).toBe('cb:team:7:members:limit=10');
    expect(paramSuffix({ b: 2, a: 'x y', c: undefined }, { b: 3 })).toBe(':a=x%20y:b=2');
  });

  it('puts the aggregate version into the key and groups keys by namespace', () => {
    expect(withVersion('cb:team:7:members', 3)).toBe('cb:team:7:members:v3');
    expect(withVersion('cb:team:7:report', [3, 5])).toBe('cb:team:7:report:v3.5');
    expect(keyNamespace('cb:team:7:members:v3')).toBe('team-members');
    expect(keyNamespace('cb:team:7:members:limit=10:v2')).toBe('team-members');
    expect(keyNamespace('cb:user:42')).toBe('user');
    expect(keyNamespace('cb:user:42:lock')).toBe('user-lock');
    expect(keyNamespace('lock:cb:user:42')).toBe('lock-user');
    expect(keyNamespace('wb:pending:3')).toBe('wb-pending');
    expect(keyNamespace('x:user:1', 'x:')).toBe('user');
  });
});

describe('target options', () => {
  const base = { redisUrl: 'redis://127.0.0.1:6379', postgresUrl: 'postgres://u@127.0.0.1:5432/db' };

  it('applies defaults', () => {
    const o = resolveTargetOptions(base);
    expect(o.policy).toBe('fail-open');
    expect(o.host).toBe('127.0.0.1');
    expect(o.keyPrefix).toBe('cb:');
    expect(o.strategy).toBe('cache-aside');
  });

  it.each([
    [{ port: 70000 }, 'port'],
    [{ port: -1 }, 'port'],
    [{ policy: 'fail-sideways' }, 'policy'],
    [{ redisUrl: 'http://x' }, 'redisUrl'],
    [{ postgresUrl: 'not a url' }, 'postgresUrl'],
    [{ instanceId: 'has space' }, 'instanceId'],
    [{ reportCostMs: 1.5 }, 'reportCostMs'],
    [{ keyPrefix: 'a b' }, 'keyPrefix'],
    [{ strategy: ' ' }, 'strategy'],
  ])('rejects %j naming the field', (bad, field) => {
    let caught: unknown;
    try {
      resolveTargetOptions({ ...base, ...(bad as object) });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TargetOptionError);
    expect((caught as TargetOptionError).option).toBe(field);
    expect((caught as Error).message.startsWith(field)).toBe(true);
    expect((caught as Error).message).not.toContain('\n');
  });
});

describe('instrumentation', () => {
  it('counts, snapshots as TargetStats, and resets while lifetime totals keep going', async () => {
    const ev = new TargetInstrumentation('t-1');
    ev.hit('user');
    ev.hit('user');
    ev.miss('team-report');
    ev.fallback('user');
    ev.staleServed('user');
    ev.dbQuery('read-user', 2.5);
    ev.dbQuery('read-user', 1.5);
    ev.dbQuery('update-user', 1);
    ev.poolWait(3);
    ev.redisError('timeout');
    ev.redisError('connection');
    ev.redisError('breaker-open');
    ev.breakerOpen();
    ev.lockWait(5);
    ev.writeBehindIncrement(4);
    ev.writeBehindFlushed(3);
    ev.writeBehindLost(1);
    ev.writeBehindDirect(2);
    ev.counterDbWrite();
    ev.httpRequest('read-user');
    // What the target observes around its closures (app.ts): two hits, a miss that loads (labelled
    // by the strategy's rebuild), a stale serve, a fallback, and a refresh after its read returned.
    await endpointContext.run('read-user', async () => {
      ev.settleRead(new ReadScope('cb:user:9', 'user'), 'cache');
      ev.settleRead(new ReadScope('cb:user:9', 'user'), 'cache');
      const miss = new ReadScope('cb:user:1', 'user');
      const v = await ev.rebuild('cb:user:1', 'miss', () => ev.observeLoad(miss, async () => 7));
      expect(v).toBe(7);
      ev.settleRead(miss, 'db');
      ev.settleRead(new ReadScope('cb:user:3', 'user'), 'stale');
      ev.settleRead(new ReadScope('cb:user:4', 'user'), 'fallback');
      const stale = new ReadScope('cb:user:2', 'user');
      ev.settleRead(stale, 'stale');
      await expect(
        ev.observeLoad(stale, async () => {
          throw new Error('db down');
        }),
      ).rejects.toThrow('db down');
    });

    const s = ev.snapshot();
    expect(s.dbQueries).toBe(3);
    expect(s.dbQueriesByEndpoint).toEqual({ 'read-user': 2, 'update-user': 1 });
    expect(s.dbTimeMs).toBe(5);
    expect(s.dbTimeMsByEndpoint).toEqual({ 'read-user': 4, 'update-user': 1 });
    expect(s.poolWaits).toBe(1);
    expect(s.poolWaitMs).toBe(3);
    expect(s.cache).toMatchObject({
      hits: 2,
      misses: 1,
      fallbacks: 1,
      staleServed: 2,
      redisErrors: 1,
      redisTimeouts: 1,
      breakerOpens: 1,
      lockWaits: 1,
    });
    expect(s.writeBehind).toEqual({
      increments: 4,
      flushed: 3,
      lost: 1,
      direct: 2,
      flushWrites: 1,
      dbWrites: 1,
    });

    // The strategy's own calls are kept apart, as claims.
    expect(s.reported).toEqual({ hits: 2, misses: 1, staleServed: 1, fallbacks: 1, rebuilds: 1 });
    expect(s.sources).toMatchObject({ loads: 2, loadsFailed: 1, loadsBackground: 1, reads: 6 });
    expect(s.sources?.callsByEndpoint).toEqual({ 'read-user': 1, background: 1 });
    const events = ev.rebuildsSince(0);
    expect(events.map((e) => [e.key, e.reason, e.instance, e.ok, e.background, e.inferred])).toEqual([
      ['cb:user:1', 'miss', 't-1', true, undefined, undefined],
      ['cb:user:2', 'refresh', 't-1', false, true, true],
    ]);
    for (const e of events) {
      expect(e.end).toBeGreaterThanOrEqual(e.start);
      // Epoch ms, comparable with Date.now() across processes.
      expect(Math.abs(e.start - Date.now())).toBeLessThan(5000);
    }
    expect(ev.rebuildsSince(events[1]!.end)).toHaveLength(1);
    expect(ev.rebuildsSince(events[1]!.end + 1)).toHaveLength(0);

    ev.reset();
    const z = ev.snapshot();
    expect(z.dbQueries).toBe(0);
    expect(z.cache.hits).toBe(0);
    expect(z.dbQueriesByEndpoint).toEqual({});
    expect(ev.rebuildsSince(0)).toEqual([]);
    ev.settleRead(new ReadScope('cb:user:1', 'user'), 'cache');
    expect(ev.lifetimeOf('hits').total).toBe(3);
    expect(ev.lifetimeOf('dbQueries').by.get('read-user')).toBe(2);
  });

  it('a read scope carries its endpoint: its load runs in that context, outside it the read pays none', async () => {
    const ev = new TargetInstrumentation('t-1');
    // As app.ts's read routes do: no endpoint context around the request, the endpoint in the scope.
    expect(currentEndpoint()).toBe('background');
    const scope = new ReadScope('cb:user:1', 'user', 'read-user');
    let seen: string | undefined;
    const v = await ev.observeLoad(scope, async () => {
      seen = currentEndpoint(); // what the pg wrapper attributes this load's queries to
      return 1;
    });
    expect(v).toBe(1);
    expect(seen).toBe('read-user');
    ev.settleRead(scope, 'db');
    // A hit: no load, nothing entered; a load after the read settled is background.
    ev.settleRead(new ReadScope('cb:user:2', 'user', 'read-user'), 'cache');
    await ev.observeLoad(scope, async () => {
      seen = currentEndpoint();
      return 2;
    });
    expect(seen).toBe('background');
    const s = ev.snapshot();
    expect(s.sources?.callsByEndpoint).toEqual({ 'read-user': 1, background: 1 });
    expect(s.cache).toMatchObject({ hits: 1, misses: 1 });
    expect(ev.rebuildsSince(0).map((e) => [e.reason, e.background])).toEqual([
      ['miss', undefined],
      ['refresh', true],
    ]);
  });

  it('merges per-instance stats by summing', () => {
    const a = new TargetInstrumentation('a');
    const b = new TargetInstrumentation('b');
    a.dbQuery('read-user', 1);
    b.dbQuery('read-user', 2);
    b.dbQuery('read-team-report', 3);
    a.settleRead(new ReadScope('cb:user:1', 'user'), 'cache');
    const m = mergeTargetStats([a.snapshot(), b.snapshot()]);
    expect(m.instances).toBe(2);
    expect(m.dbQueries).toBe(3);
    expect(m.dbQueriesByEndpoint).toEqual({ 'read-user': 2, 'read-team-report': 1 });
    expect(m.dbTimeMs).toBe(6);
    expect(m.cache.hits).toBe(1);
  });
});
