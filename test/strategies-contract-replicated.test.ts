/**
 * The strategy contract (target/strategies/contract/) on the replicated topology: a primary, a
 * replica and three Sentinels from the local provisioner, the strategies' client Sentinel-backed
 * (it asks the Sentinels for the primary and reaches it through that node's Toxiproxy proxy,
 * ioredis natMap) — the target's own path. The same checks as on standalone
 * (strategies-contract.test.ts); the Redis faults hit every node's client proxy.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerStrategyContract } from '../target/strategies/contract/index.ts';
import { strategyNames } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';
import { StrategyFixture } from './helpers/strategy-fixture.ts';

const infra = useInfra({ topology: 'replicated' });
const fx = new StrategyFixture(infra);
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());

describe('replicated topology', () => {
  beforeEach(() => fx.reset());

  it('the strategies reach the primary through the Sentinels and its client proxy', async () => {
    const t = infra().redisTopology!;
    expect(t.kind).toBe('replicated');
    expect(t.sentinels).toHaveLength(3);
    const { strategy, cache } = await fx.make('cache-aside');
    await strategy.read(fx.itemRead(1));
    // The Sentinel-backed client's data connection is node 0's client proxy, not the node itself.
    const port = await cache.run('port', async (r) => r.stream.remotePort);
    expect(port).toEqual({ ok: true, value: t.proxiedNodes[0]!.port });
    // What the strategy cached is on the primary (fx.redis is node 0, direct).
    expect(await fx.redis.exists('item:1')).toBe(1);
  });
});

for (const name of strategyNames()) {
  registerStrategyContract(
    { describe, it, beforeAll, afterAll, beforeEach },
    { strategy: name, infra, fixture: fx },
  );
}
