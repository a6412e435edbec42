/**
 * The strategy contract (target/strategies/contract/) on a Redis Cluster: three masters from the
 * local provisioner, each behind its own Toxiproxy proxy, the strategies' client an ioredis
 * Cluster that reaches every node through its proxy. The same checks as on standalone
 * (strategies-contract.test.ts), so a strategy whose keys cross slots (CROSSSLOT) fails here.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerStrategyContract } from '../target/strategies/contract/index.ts';
import { strategyNames } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';
import { StrategyFixture, teamOf } from './helpers/strategy-fixture.ts';

const infra = useInfra({ topology: 'cluster' });
const fx = new StrategyFixture(infra);
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());

describe('cluster topology', () => {
  it('three masters, every slot served, each node behind its own proxy', async () => {
    const t = infra().redisTopology!;
    expect(t.kind).toBe('cluster');
    expect(t.nodes).toHaveLength(3);
    expect(t.proxiedNodes.map((p) => p.port)).not.toContain(t.nodes[0]!.port);
    const info = (await fx.redis.call('CLUSTER', 'INFO')) as string;
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_slots_ok:16384/);
  });
});

for (const name of strategyNames()) {
  registerStrategyContract(
    { describe, it, beforeAll, afterAll, beforeEach },
    { strategy: name, infra, fixture: fx },
  );
}

describe('catalog specifics on cluster', () => {
  beforeEach(() => fx.reset());

  it.each(strategyNames())(
    '%s: a write invalidates keys in several slots, without a fallback to the DB (no CROSSSLOT)',
    async (name) => {
      const { strategy, events } = await fx.make(name);
      await strategy.read(fx.itemRead(1));
      await strategy.read(fx.teamRead(teamOf(1)));
      await strategy.write(fx.itemWrite(1, 'renamed'));
      expect((await strategy.read(fx.itemRead(1))).value.item.name).toBe('renamed');
      const team = (await strategy.read(fx.teamRead(teamOf(1)))).value.team;
      expect(team.members.find((m) => m.id === 1)?.name).toBe('renamed');
      // A Redis error (CROSSSLOT is one) would have sent the request to the DB as a fallback.
      expect(events.fallbacks).toBe(0);
    },
  );
});
