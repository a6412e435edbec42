/**
 * The contract every strategy keeps, as checks that run against real Redis (through the
 * Toxiproxy `redis` proxy) and PostgreSQL: reads return the database's data with its version;
 * an unreadable cached value is a miss; after a write completes, reads (entity and aggregate)
 * return the new version; counters add up; with Redis unreachable, reads and writes still
 * succeed (fail-open); after a delete neither the entity nor an aggregate embedding it is served.
 * No catalog strategy documents staleness after a *completed* write (every write path
 * invalidates, bumps or writes through), so the bound checked is zero; write-behind's documented
 * lag applies to the DB alone, checked after close() flushed.
 *
 * A check throws (node:assert) with a one-line message when the strategy breaks the contract.
 */
import assert from 'node:assert/strict';
import type { StrategyModule } from '../../strategy.ts';
import { type StrategyFixture, teamOf } from './fixture.ts';

/** Strict equality with a one-line message naming what differed, the value and the expectation. */
function eq(actual: unknown, expected: unknown, what: string): void {
  assert.ok(
    Object.is(actual, expected),
    `${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
  );
}

export type StrategySpec = string | StrategyModule;

export interface ContractCheck {
  name: string;
  run(fx: StrategyFixture, spec: StrategySpec): Promise<void>;
}

export const CONTRACT_CHECKS: readonly ContractCheck[] = [
  {
    name: 'reads return the DB data with the version it reflects, and a second read agrees',
    async run(fx, spec) {
      const { strategy, events } = await fx.make(spec);
      const second: string[] = [];
      for (let pass = 0; pass < 2; pass++) {
        for (const id of [1, 2, 3]) {
          const r = await strategy.read(fx.itemRead(id));
          const db = await fx.dbItem(id);
          assert.deepEqual(r.value.item, db, `read of item ${id} (pass ${pass + 1}) differs from the DB row`);
          assert.deepEqual(
            r.value.versions,
            { [`item:${id}`]: db.version },
            `read of item ${id}: wrong versions`,
          );
          if (r.json !== undefined)
            assert.deepEqual(JSON.parse(r.json), r.value, `read of item ${id}: json is not the value`);
          if (pass === 1) second.push(r.source);
        }
      }
      const caches = second[0] === 'cache';
      assert.ok(
        second.every((s) => s === (caches ? 'cache' : 'db')),
        `second reads must all come from the cache (or all from the DB for a strategy that does not cache); got ${second.join(', ')}`,
      );
      eq(fx.loadsOf('item:1'), caches ? 1 : 2, `DB loads of item 1 over two reads (${second[0]})`);
      eq(events.fallbacks, 0, 'fallbacks with Redis up');
    },
  },
  {
    name: 'an unreadable cached value is treated as a miss and replaced',
    async run(fx, spec) {
      const { strategy } = await fx.make(spec);
      await fx.redis.set('item:1', '{"not json', 'PX', 60_000);
      const r = await strategy.read(fx.itemRead(1));
      assert.deepEqual(r.value.item, await fx.dbItem(1), 'read over an unreadable cached value');
      const again = await strategy.read(fx.itemRead(1));
      assert.deepEqual(again.value, r.value, 'second read over an unreadable cached value');
      if (again.source === 'cache') {
        const raw = await fx.redis.get('item:1');
        assert.notEqual(raw, '{"not json', 'the unreadable value is still cached');
        assert.deepEqual(
          JSON.parse(raw!.replace(/^~[^\n]*\n/, '')),
          r.value,
          'the cached value is not the DB value',
        );
      }
    },
  },
  {
    name: 'after a write completes, entity and aggregate reads return the new version',
    async run(fx, spec) {
      const { strategy } = await fx.make(spec);
      const id = 5;
      const team = teamOf(id);
      await strategy.read(fx.itemRead(id));
      await strategy.read(fx.teamRead(team));
      for (let round = 1; round <= 3; round++) {
        const written = await strategy.write(fx.itemWrite(id, `renamed-${round}`));
        eq(written.item.version, 1 + round, `write ${round} returned the wrong version`);
        const entity = await strategy.read(fx.itemRead(id));
        eq(
          entity.value.versions[`item:${id}`],
          written.item.version,
          `entity read after write ${round} is stale`,
        );
        eq(entity.value.item.name, `renamed-${round}`, `entity read after write ${round}`);
        const agg = await strategy.read(fx.teamRead(team));
        eq(
          agg.value.versions[`item:${id}`],
          written.item.version,
          `aggregate read after write ${round} is stale`,
        );
        // Another member of the aggregate is unchanged and still correct.
        const other = agg.value.team.members.find((m) => m.id !== id)!;
        eq(other.version, (await fx.dbItem(other.id)).version, 'another aggregate member is wrong');
      }
    },
  },
  {
    name: 'after a delete completes, neither the entity nor an aggregate that embedded it is served',
    async run(fx, spec) {
      const { strategy } = await fx.make(spec);
      const id = 9;
      const team = teamOf(id);
      // Both cached first, so a strategy that forgets a dependent key keeps serving it.
      for (let pass = 0; pass < 2; pass++) {
        await strategy.read(fx.itemRead(id));
        await strategy.read(fx.teamRead(team));
      }
      await strategy.write(fx.itemDelete(id));
      await assert.rejects(
        strategy.read(fx.itemRead(id)),
        /not found/,
        `entity read after delete: item ${id} is still served`,
      );
      for (let pass = 1; pass <= 2; pass++) {
        const agg = await strategy.read(fx.teamRead(team));
        assert.ok(
          !agg.value.team.members.some((m) => m.id === id),
          `aggregate read ${pass} after delete still embeds item ${id} (a dependent key was not invalidated)`,
        );
      }
    },
  },
  {
    name: 'counters: reads include every acknowledged increment; after close the DB has them all',
    async run(fx, spec) {
      const { strategy } = await fx.make(spec, { options: { flushIntervalMs: 100 } });
      let last = 0;
      for (let i = 0; i < 12; i++) last = (await strategy.increment(fx.counter(1, 2))).value;
      eq(last, 24, 'value after 12 increments of 2');
      eq((await strategy.readCounter(fx.counter(1))).value, 24, 'counter read after 12 increments of 2');
      await strategy.close?.();
      eq(await fx.dbCounter(1), 24, 'DB value after close');
      assert.ok(fx.counterDbWrites <= 12, `${fx.counterDbWrites} DB writes for 12 increments`);
    },
  },
  {
    name: 'with Redis unreachable, reads return the DB data and writes commit (fail-open)',
    async run(fx, spec) {
      const { strategy } = await fx.make(spec);
      await strategy.read(fx.itemRead(2));
      await fx.redisDown();
      try {
        const r = await strategy.read(fx.itemRead(2));
        assert.deepEqual(r.value.item, await fx.dbItem(2), 'read with Redis down');
        const w = await strategy.write(fx.itemWrite(2, 'while-down'));
        eq(w.item.version, 2, 'write with Redis down');
        const after = await strategy.read(fx.itemRead(2));
        eq(after.value.item.version, 2, 'read after a write with Redis down is stale');
      } finally {
        await fx.redisUp();
      }
    },
  },
];
