/**
 * The contract kit (target/strategies/contract/) run on every catalog strategy, against real
 * Redis (through the Toxiproxy `redis` proxy) and PostgreSQL — the same checks
 * `cachebench check-strategy` runs on a user's module — plus what only the catalog promises:
 * no-cache never caches, and only write-behind saves counter DB writes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerStrategyContract } from '../target/strategies/contract/index.ts';
import { strategyNames } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';
import { StrategyFixture } from './helpers/strategy-fixture.ts';

const infra = useInfra();
const fx = new StrategyFixture(infra);
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());

for (const name of strategyNames()) {
  registerStrategyContract(
    { describe, it, beforeAll, afterAll, beforeEach },
    { strategy: name, infra, fixture: fx },
  );
}

describe('catalog specifics', () => {
  beforeEach(() => fx.reset());

  it.each(strategyNames())(
    '%s: a second read comes from the cache unless the strategy is no-cache',
    async (name) => {
      const { strategy } = await fx.make(name);
      await strategy.read(fx.itemRead(1));
      expect((await strategy.read(fx.itemRead(1))).source).toBe(name === 'no-cache' ? 'db' : 'cache');
    },
  );

  it.each(strategyNames())('%s: counter DB writes (only write-behind saves any)', async (name) => {
    const { strategy } = await fx.make(name, { options: { flushIntervalMs: 100 } });
    for (let i = 0; i < 12; i++) await strategy.increment(fx.counter(1, 2));
    await strategy.close?.();
    expect(await fx.dbCounter(1)).toBe(24);
    if (name === 'write-behind') expect(fx.counterDbWrites).toBeLessThan(12);
    else expect(fx.counterDbWrites).toBe(12);
  });
});
