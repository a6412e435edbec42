/**
 * Fail-open, measured: with the Toxiproxy `redis` proxy disabled (refused connections) and with a
 * blackhole (`timeout` toxic, timeout 0: replies dropped), every caching strategy still answers
 * reads from the database, each within the Redis command budget plus DB time; fail-closed throws
 * CACHE_UNAVAILABLE; after the fault ends the breaker lets the cache back in within a bound.
 * Figures (p99 per strategy, recovery times) are printed as evidence.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_CLIENT_DEFAULTS } from '../target/cache-client.ts';
import { strategyNames } from '../target/strategies/index.ts';
import { useInfra } from './helpers/infra.ts';
import { type Harnessed, percentile, StrategyFixture, sleep } from './helpers/strategy-fixture.ts';

const infra = useInfra();
// The real default budget: this file measures it.
const fx = new StrategyFixture(infra, { commandTimeoutMs: CACHE_CLIENT_DEFAULTS.commandTimeoutMs });
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());
beforeEach(() => fx.reset());

const log = (line: string) => console.log(`[fail-open] ${line}`);
const CACHING = strategyNames().filter((n) => n !== 'no-cache');
const READS = 40;
/** Scheduling noise on 2 shared cores (other test files run in parallel). */
const SLACK_MS = 100;
const OP_BUDGET = CACHE_CLIENT_DEFAULTS.commandTimeoutMs + 25;
/** The breaker probes after openMs (or at once on reconnect); reconnect backoff ≤ 500 ms. */
const RECOVERY_BOUND_MS = CACHE_CLIENT_DEFAULTS.openMs + CACHE_CLIENT_DEFAULTS.reconnectMaxDelayMs + 1_000;

/** DB time of one item read on this machine now (p99, max), to set the latency bound. */
async function dbTime(): Promise<{ p99: number; max: number }> {
  const { strategy } = await fx.make('no-cache', { instanceId: 'baseline' });
  const lat: number[] = [];
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now();
    await strategy.read(fx.itemRead((i % 10) + 1));
    lat.push(performance.now() - t0);
  }
  return { p99: percentile(lat, 99), max: Math.max(...lat) };
}

async function makeAll(): Promise<Map<string, Harnessed>> {
  const all = new Map<string, Harnessed>();
  for (const name of CACHING)
    all.set(name, await fx.make(name, { instanceId: name, options: { flushIntervalMs: 100 } }));
  for (const [, h] of all) for (let id = 1; id <= 10; id++) await h.strategy.read(fx.itemRead(id)); // warm
  return all;
}

/** 40 sequential reads per strategy during the fault; checks data and returns p99/max. */
async function readsDuringFault(all: Map<string, Harnessed>, fault: string, bound: number) {
  const versions = new Map<number, number>();
  for (let id = 1; id <= 10; id++) versions.set(id, (await fx.dbItem(id)).version);
  const rows: string[] = [];
  for (const [name, h] of all) {
    const lat: number[] = [];
    const fallbacksBefore = h.events.fallbacks;
    for (let i = 0; i < READS; i++) {
      const id = (i % 10) + 1;
      const t0 = performance.now();
      const r = await h.strategy.read(fx.itemRead(id));
      lat.push(performance.now() - t0);
      expect(r.value.item.version).toBe(versions.get(id));
      expect(r.source).toBe('fallback');
    }
    const p99 = percentile(lat, 99);
    rows.push(
      `${name.padEnd(24)} p50=${percentile(lat, 50).toFixed(1)} p99=${p99.toFixed(1)} max=${Math.max(...lat).toFixed(1)} ms ` +
        `fallbacks=${h.events.fallbacks - fallbacksBefore} breaker=${h.cache.breakerState()}`,
    );
    expect(Math.max(...lat)).toBeLessThan(bound);
    expect(h.cache.breakerState()).not.toBe('closed'); // known down: requests skip Redis
  }
  log(`${fault}: ${READS} reads per strategy, bound ${bound.toFixed(0)} ms\n  ${rows.join('\n  ')}`);
}

/** From the fault's end until each strategy's read is served from the cache again. */
async function recovery(all: Map<string, Harnessed>, fault: string, endedAt: number): Promise<void> {
  const times = await Promise.all(
    [...all].map(async ([name, h]) => {
      while (performance.now() - endedAt < 10_000) {
        const r = await h.strategy.read(fx.itemRead(1));
        if (r.source === 'cache') return [name, performance.now() - endedAt] as const;
        await sleep(20);
      }
      return [name, Number.POSITIVE_INFINITY] as const;
    }),
  );
  log(
    `${fault}: time from fault removal to the first cache hit (bound ${RECOVERY_BOUND_MS} ms): ` +
      times.map(([n, t]) => `${n}=${t.toFixed(0)}`).join(', '),
  );
  for (const [, t] of times) expect(t).toBeLessThan(RECOVERY_BOUND_MS);
}

describe('Redis down (proxy disabled)', () => {
  it('every fail-open strategy serves reads from the DB; fail-closed throws; the cache comes back', async () => {
    const db = await dbTime();
    const all = await makeAll();
    const closed = await fx.make('cache-aside', { instanceId: 'closed', policy: 'fail-closed' });
    await closed.strategy.read(fx.itemRead(1));
    const wb = all.get('write-behind')!;
    const aside = all.get('cache-aside')!;

    await fx.redisDown();
    // Refused connections fail at once: the bound is DB time plus a small margin.
    await readsDuringFault(all, 'proxy disabled', OP_BUDGET + db.max + SLACK_MS);

    const t0 = performance.now();
    const err = await closed.strategy.read(fx.itemRead(1)).catch((e: unknown) => e);
    log(`fail-closed read: ${(err as Error).message} after ${(performance.now() - t0).toFixed(1)} ms`);
    expect(err).toMatchObject({ code: 'CACHE_UNAVAILABLE' });
    const werr = await closed.strategy.write(fx.itemWrite(1, 'refused')).catch((e: unknown) => e);
    expect(werr).toMatchObject({ code: 'CACHE_UNAVAILABLE' });
    expect((await fx.dbItem(1)).version).toBe(1); // refused before touching the DB

    // A write whose invalidation fails is repaired when Redis returns.
    const w = await aside.strategy.write(fx.itemWrite(2, 'during-outage'));
    // Increments Redis never received go straight to the DB: none lost.
    for (let i = 0; i < 10; i++) await wb.strategy.increment(fx.counter(4, 1));
    expect(wb.events.wbLost).toBe(0);
    expect(await fx.dbCounter(4)).toBe(10);

    await fx.redisUp();
    await recovery(all, 'proxy re-enabled', performance.now());
    const after = await aside.strategy.read(fx.itemRead(2));
    log(
      `write during outage: v${w.item.version}; read after recovery: v${after.value.item.version} (${after.source})`,
    );
    expect(after.value.item.version).toBe(w.item.version);
  });
});

describe('Redis blackholed (timeout toxic, replies dropped)', () => {
  it('reads wait at most one command budget, never SET after a failed GET, and recover', async () => {
    const db = await dbTime();
    const all = await makeAll();
    const closed = await fx.make('cache-aside', { instanceId: 'closed', policy: 'fail-closed' });
    const wb = all.get('write-behind')!;

    await wb.strategy.increment(fx.counter(5, 1)); // before the fault: the Lua script is loaded
    await fx.redisBlackhole();
    // Increments first, while the breaker is still closed: the first ones are sent and never
    // answered (reported lost or at risk; Redis did apply them, replies only are dropped), then the
    // breaker opens and the rest go straight to the DB.
    const acked = 20;
    for (let i = 0; i < acked; i++) await wb.strategy.increment(fx.counter(5, 1));
    const lost = wb.events.wbLost;
    // A key nobody cached: its fallback reads must not SET (the SET would reach Redis here).
    for (const [name, h] of all) {
      if (name === 'write-behind') continue; // its breaker is open already
      const r = await h.strategy.read(fx.itemRead(15));
      expect(r.source).toBe('fallback');
    }
    await readsDuringFault(all, 'blackhole', OP_BUDGET + db.max + SLACK_MS);

    const t0 = performance.now();
    const err = await closed.strategy.read(fx.itemRead(1)).catch((e: unknown) => e);
    const closedMs = performance.now() - t0;
    log(`fail-closed read under blackhole: CACHE_UNAVAILABLE after ${closedMs.toFixed(1)} ms`);
    expect(err).toMatchObject({ code: 'CACHE_UNAVAILABLE' });
    expect(closedMs).toBeLessThan(OP_BUDGET + 50);

    await fx.removeBlackhole();
    await recovery(all, 'blackhole removed', performance.now());
    expect(await fx.redis.get('item:15')).toBeNull();
    await wb.strategy.close?.();
    const total = await fx.dbCounter(5);
    log(
      `write-behind under blackhole: 1 + ${acked} increments acknowledged, ${lost} reported lost/at risk, ` +
        `DB total after recovery and final flush ${total}`,
    );
    expect(lost).toBeGreaterThan(0);
    expect(total).toBeGreaterThanOrEqual(1 + acked - lost);
    expect(total).toBeLessThanOrEqual(1 + acked);
  });
});

describe('starting while Redis is unreachable', () => {
  it.each([
    ['proxy disabled', () => fx.redisDown(), () => fx.redisUp()],
    ['blackhole', () => fx.redisBlackhole(), () => fx.removeBlackhole()],
  ])(
    '%s at start: the client is created at once, reads use the DB, the cache joins later',
    async (fault, apply, remove) => {
      await apply();
      const t0 = performance.now();
      const h = await fx.make('cache-aside', { instanceId: 'late' });
      const createMs = performance.now() - t0;
      const r = await h.strategy.read(fx.itemRead(1));
      expect(r.source).toBe('fallback');
      expect(r.value.item.version).toBe(1);
      await remove();
      const endedAt = performance.now();
      let joinedMs = Number.POSITIVE_INFINITY;
      let firstHitMs = Number.POSITIVE_INFINITY;
      while (performance.now() - endedAt < 10_000) {
        const x = await h.strategy.read(fx.itemRead(1));
        if (x.source === 'db' && joinedMs === Number.POSITIVE_INFINITY)
          joinedMs = performance.now() - endedAt;
        if (x.source === 'cache') {
          firstHitMs = performance.now() - endedAt;
          break;
        }
        await sleep(20);
      }
      log(
        `${fault} at start: client created in ${createMs.toFixed(0)} ms; after the fault ends the cache was ` +
          `filled after ${joinedMs.toFixed(0)} ms and hit after ${firstHitMs.toFixed(0)} ms`,
      );
      expect(createMs).toBeLessThan(CACHE_CLIENT_DEFAULTS.connectTimeoutMs + 300);
      expect(firstHitMs).toBeLessThan(RECOVERY_BOUND_MS);
    },
  );
});
