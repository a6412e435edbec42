/**
 * The contract every catalog strategy keeps, against real Redis and PostgreSQL (Redis reached
 * through the Toxiproxy `redis` proxy): reads return the database's data with its version; after
 * a write completes, reads (entity and aggregate) return the new version; counters add up. None
 * of the catalog strategies documents staleness after a *completed* write (every write path
 * invalidates, bumps or writes through), so the bound asserted here is zero; write-behind's
 * documented lag applies to the DB alone, checked after a flush.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { strategyNames } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';
import { StrategyFixture, teamOf } from './helpers/strategy-fixture.ts';

const infra = useInfra();
const fx = new StrategyFixture(infra);
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());
beforeEach(() => fx.reset());

describe.each(strategyNames())('%s', (name) => {
  const caches = name !== 'no-cache';

  it('reads return the DB data with the version it reflects', async () => {
    const { strategy, events } = await fx.make(name);
    for (let pass = 0; pass < 2; pass++) {
      for (const id of [1, 2, 3]) {
        const r = await strategy.read(fx.itemRead(id));
        const db = await fx.dbItem(id);
        expect(r.value.item).toEqual(db);
        expect(r.value.versions).toEqual({ [`item:${id}`]: db.version });
        if (r.json !== undefined) expect(JSON.parse(r.json)).toEqual(r.value);
        if (pass === 1) expect(r.source).toBe(caches ? 'cache' : 'db');
      }
    }
    expect(fx.loadsOf('item:1')).toBe(caches ? 1 : 2);
    expect(events.fallbacks).toBe(0);
  });

  it('an unreadable cached value is treated as a miss and replaced', async () => {
    const { strategy } = await fx.make(name);
    await fx.redis.set('item:1', '{"not json', 'PX', 60_000);
    const r = await strategy.read(fx.itemRead(1));
    expect(r.value.item).toEqual(await fx.dbItem(1));
    if (caches)
      expect(JSON.parse((await fx.redis.get('item:1'))!.replace(/^~[^\n]*\n/, ''))).toEqual(r.value);
  });

  it('after a write completes, entity and aggregate reads return the new version', async () => {
    const { strategy } = await fx.make(name);
    const id = 5;
    const team = teamOf(id);
    await strategy.read(fx.itemRead(id));
    await strategy.read(fx.teamRead(team));
    for (let round = 1; round <= 3; round++) {
      const written = await strategy.write(fx.itemWrite(id, `renamed-${round}`));
      expect(written.item.version).toBe(1 + round);
      const entity = await strategy.read(fx.itemRead(id));
      expect(entity.value.versions[`item:${id}`]).toBe(written.item.version);
      expect(entity.value.item.name).toBe(`renamed-${round}`);
      const agg = await strategy.read(fx.teamRead(team));
      expect(agg.value.versions[`item:${id}`]).toBe(written.item.version);
      // Another member of the aggregate is unchanged and still correct.
      const other = agg.value.team.members.find((m) => m.id !== id)!;
      expect(other.version).toBe((await fx.dbItem(other.id)).version);
    }
  });

  it('counters: reads include every acknowledged increment; after close the DB has them all', async () => {
    const { strategy } = await fx.make(name, { options: { flushIntervalMs: 100 } });
    let last = 0;
    for (let i = 0; i < 12; i++) last = (await strategy.increment(fx.counter(1, 2))).value;
    expect(last).toBe(24);
    const read = await strategy.readCounter(fx.counter(1));
    expect(read.value).toBe(24);
    await strategy.close?.();
    expect(await fx.dbCounter(1)).toBe(24);
    if (name === 'write-behind') expect(fx.counterDbWrites).toBeLessThan(12);
    else expect(fx.counterDbWrites).toBe(12);
  });
});
