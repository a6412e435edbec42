/**
 * Each strategy's signature (docs/design.md), measured with real concurrency against real Redis
 * (through Toxiproxy) and PostgreSQL. Figures are printed as evidence; assertions are the
 * properties, not the figures.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lockKey } from '../target/keys.ts';
import { useInfra } from './helpers/infra.ts';
import { type Harnessed, StrategyFixture, sleep, teamOf } from './helpers/strategy-fixture.ts';

const infra = useInfra();
const fx = new StrategyFixture(infra);
beforeAll(() => fx.setup());
afterAll(() => fx.teardown());
beforeEach(() => fx.reset());

const log = (line: string) => console.log(`[signature] ${line}`);

describe('stampede: 100 concurrent reads of one cold key whose load takes 200 ms', () => {
  const COLD = 7;

  async function stampede(spec: string, instances = 1) {
    const hs: Harnessed[] = [];
    for (let i = 0; i < instances; i++) hs.push(await fx.make(spec, { instanceId: `i${i}` }));
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, n) =>
        hs[n % instances]!.strategy.read(fx.itemRead(COLD, { sleepS: 0.2 })),
      ),
    );
    const ms = performance.now() - t0;
    const db = await fx.dbItem(COLD);
    for (const r of results) expect(r.value.versions[`item:${COLD}`]).toBe(db.version);
    const loads = fx.loadsOf(`item:${COLD}`);
    const maxConcurrent = Math.max(...hs.map((h) => h.events.maxConcurrentRebuilds));
    const sources = results.reduce<Record<string, number>>((a, r) => {
      a[r.source] = (a[r.source] ?? 0) + 1;
      return a;
    }, {});
    log(
      `${spec} ×${instances} instance(s): DB loads=${loads}, max concurrent rebuilds/instance=${maxConcurrent}, ` +
        `sources=${JSON.stringify(sources)}, wall=${ms.toFixed(0)} ms`,
    );
    return { loads, hs };
  }

  it('cache-aside: many simultaneous rebuilds', async () => {
    const { loads } = await stampede('cache-aside');
    expect(loads).toBeGreaterThan(1);
  });

  it('lock: exactly one rebuild; the others wait and re-read', async () => {
    const { loads, hs } = await stampede('lock');
    expect(loads).toBe(1);
    expect(hs[0]!.events.lockWaits).toBeGreaterThan(0);
    log(
      `lock: ${hs[0]!.events.lockWaits} waiters, mean wait ${(hs[0]!.events.lockWaitMs / hs[0]!.events.lockWaits).toFixed(0)} ms`,
    );
  });

  it('lease: exactly one rebuild', async () => {
    const { loads, hs } = await stampede('lease');
    expect(loads).toBe(1);
    expect(hs[0]!.events.rebuildsOf('lease')).toBe(1);
  });

  it('single-flight: one rebuild per instance (two instances, two cache clients)', async () => {
    expect((await stampede('single-flight', 1)).loads).toBe(1);
    await fx.reset();
    expect((await stampede('single-flight', 2)).loads).toBe(2);
  });

  it('single-flight+lock: one rebuild across two instances', async () => {
    expect((await stampede('single-flight+lock', 2)).loads).toBe(1);
  });
});

describe('composition', () => {
  it('jitter+lock: one rebuild for a stampede, and jittered TTLs', async () => {
    const { strategy } = await fx.make('jitter+lock');
    const results = await Promise.all(
      Array.from({ length: 50 }, () => strategy.read(fx.itemRead(8, { sleepS: 0.2 }))),
    );
    expect(results.every((r) => r.value.item.id === 8)).toBe(true);
    for (let id = 1; id <= 10; id++) await strategy.read(fx.itemRead(id));
    const pttls = await Promise.all(Array.from({ length: 10 }, (_, i) => fx.redis.pttl(`item:${i + 1}`)));
    const spread = Math.max(...pttls) - Math.min(...pttls);
    log(
      `jitter+lock: 50 concurrent cold reads → DB loads=${fx.loadsOf('item:8')}; PTTL spread over 10 keys ${spread} ms`,
    );
    expect(fx.loadsOf('item:8')).toBe(1);
    expect(Math.min(...pttls)).toBeGreaterThan(25_000);
    expect(Math.max(...pttls)).toBeLessThanOrEqual(36_000);
    expect(spread).toBeGreaterThan(500);
  });

  it('xfetch+lock: early recomputes never overlap (the lock coordinates them), still 0 misses', async () => {
    const { strategy, events } = await fx.make('xfetch+lock', { options: { ttlMs: 600 } });
    await strategy.read(fx.itemRead(10, { sleepS: 0.1 }));
    const end = performance.now() + 3_000;
    const reader = async () => {
      while (performance.now() < end) {
        await strategy.read(fx.itemRead(10, { sleepS: 0.1 }));
        await sleep(2);
      }
    };
    await Promise.all([reader(), reader(), reader(), reader()]);
    const early = events.rebuildsOf('early');
    log(
      `xfetch+lock (ttl 600 ms, load 100 ms, 3000 ms): misses after warm-up=${events.misses - 1}, early=${early}`,
    );
    expect(events.misses - 1).toBe(0);
    expect(events.maxConcurrentRebuilds).toBe(1);
  });
});

describe('xfetch: a hot key read continuously over several TTLs', () => {
  const HOT = 3;
  const TTL = 800;
  const RUN_MS = 4_000;
  const LOAD_S = 0.1;

  async function hotLoop(spec: string) {
    const { strategy, events } = await fx.make(spec, { options: { ttlMs: TTL } });
    await strategy.read(fx.itemRead(HOT, { sleepS: LOAD_S })); // warm
    const warmMisses = events.misses;
    const end = performance.now() + RUN_MS;
    let reads = 0;
    const reader = async () => {
      while (performance.now() < end) {
        await strategy.read(fx.itemRead(HOT, { sleepS: LOAD_S }));
        reads += 1;
        await sleep(2);
      }
    };
    await Promise.all([reader(), reader(), reader(), reader()]);
    const misses = events.misses - warmMisses;
    log(
      `${spec} (ttl ${TTL} ms, load ${LOAD_S * 1000} ms, β=1, ${RUN_MS} ms): reads=${reads}, misses after warm-up=${misses}, ` +
        `early recomputes=${events.rebuildsOf('early')}, DB loads=${fx.loadsOf(`item:${HOT}`)}`,
    );
    return { misses, early: events.rebuildsOf('early') };
  }

  it('xfetch keeps the hot key at 0 misses; cache-aside misses at every expiry', async () => {
    const aside = await hotLoop('cache-aside');
    await fx.reset();
    const xf = await hotLoop('xfetch');
    expect(aside.misses).toBeGreaterThanOrEqual(RUN_MS / TTL - 2);
    expect(xf.misses).toBe(0);
    expect(xf.early).toBeGreaterThanOrEqual(RUN_MS / TTL - 2);
  });
});

describe('versioning: aggregates fresh right after a member update', () => {
  it('a writer that only bumps the aggregate namespace still makes the aggregate fresh', async () => {
    const id = 6;
    const team = teamOf(id);
    const outcome: Record<string, number> = {};
    for (const spec of ['versioning', 'cache-aside']) {
      await fx.reset();
      const { strategy } = await fx.make(spec);
      await strategy.read(fx.teamRead(team)); // cached
      const w = await strategy.write(fx.itemWrite(id, 'x', { declareAggregates: false }));
      const agg = await strategy.read(fx.teamRead(team));
      outcome[spec] = agg.value.versions[`item:${id}`]!;
      log(
        `${spec}: member written at v${w.item.version}; aggregate read right after reflects v${outcome[spec]}`,
      );
      if (spec === 'versioning') {
        expect(outcome[spec]).toBe(w.item.version);
        const keys = await fx.redis.keys(`team-members:${team}*`);
        log(
          `versioning: keys for the aggregate after one bump: ${keys.length} (the old one orphaned until TTL)`,
        );
        expect(keys.length).toBe(2);
      } else {
        expect(outcome[spec]).toBe(w.item.version - 1); // the contrast: stale without a DEL
      }
    }
  });
});

describe('write-through: a read after a write is a fresh hit', () => {
  it('serves the written version from the cache without a DB load', async () => {
    const { strategy } = await fx.make('write-through');
    await strategy.read(fx.itemRead(4));
    const loadsBefore = fx.loadsOf('item:4');
    const w = await strategy.write(fx.itemWrite(4, 'through'));
    const r = await strategy.read(fx.itemRead(4));
    log(
      `write-through: read after write source=${r.source} version=${r.value.item.version} (written v${w.item.version})`,
    );
    expect(r.source).toBe('cache');
    expect(r.value.item.version).toBe(w.item.version);
    expect(fx.loadsOf('item:4')).toBe(loadsBefore);
  });
});

describe('write-behind: buffered counters', () => {
  it('< 0.1 DB writes per increment; after a flush the DB total equals the increments', async () => {
    const { strategy, events } = await fx.make('write-behind', { options: { flushIntervalMs: 200 } });
    const N = 400;
    let sum = 0;
    for (let batch = 0; batch < N / 20; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const by = 1 + ((batch + i) % 3);
          sum += by;
          return strategy.increment(fx.counter(2, by));
        }),
      );
      await sleep(25); // spread over ~3 flush intervals
    }
    const read = await strategy.readCounter(fx.counter(2));
    expect(read.value).toBe(sum);
    const writesBeforeClose = fx.counterDbWrites;
    await strategy.close?.();
    const db = await fx.dbCounter(2);
    log(
      `write-behind: ${N} increments (total ${sum}), DB writes=${fx.counterDbWrites} ` +
        `(${(fx.counterDbWrites / N).toFixed(3)} per increment; ${writesBeforeClose} before close), ` +
        `DB total after final flush=${db}, flushed=${events.wbFlushed}, lost=${events.wbLost}`,
    );
    expect(fx.counterDbWrites / N).toBeLessThan(0.1);
    expect(db).toBe(sum);
    expect(events.wbFlushed).toBe(sum);
  });

  it('two instances flushing the same counter never count an increment twice', async () => {
    const a = await fx.make('write-behind', { instanceId: 'a', options: { flushIntervalMs: 50 } });
    const b = await fx.make('write-behind', { instanceId: 'b', options: { flushIntervalMs: 50 } });
    let sum = 0;
    const end = performance.now() + 1_000;
    const worker = async (s: typeof a) => {
      while (performance.now() < end) {
        await s.strategy.increment(fx.counter(3, 1));
        sum += 1;
        await sleep(1);
      }
    };
    await Promise.all([worker(a), worker(a), worker(b), worker(b)]);
    await a.strategy.close?.();
    await b.strategy.close?.();
    const db = await fx.dbCounter(3);
    log(
      `write-behind ×2 instances: ${sum} increments, DB total=${db}, DB writes=${fx.counterDbWrites}, ` +
        `flushed a=${a.events.wbFlushed} b=${b.events.wbFlushed}`,
    );
    expect(db).toBe(sum);
    expect(a.events.wbFlushed + b.events.wbFlushed).toBe(sum);
  });
});

describe('lease: a late stale SET after a write is rejected', () => {
  /**
   * Deterministic race: reader R misses and loads v1 from the DB, then is held; a write commits
   * v2 and invalidates; then R is released and tries to SET v1.
   */
  async function race(spec: string) {
    const { strategy } = await fx.make(spec);
    const id = 9;
    let loaded!: () => void;
    const loadedP = new Promise<void>((r) => {
      loaded = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const reader = strategy.read(
      fx.itemRead(id, {
        afterQuery: async () => {
          loaded();
          await gate;
        },
      }),
    );
    await loadedP;
    const w = await strategy.write(fx.itemWrite(id, 'after-race'));
    release();
    const r = await reader;
    expect(r.value.item.version).toBe(1); // R started before the write: v1 is a legal answer for R
    const cached = await fx.redis.get(`item:${id}`);
    const next = await strategy.read(fx.itemRead(id));
    log(
      `${spec}: reader loaded v1, write committed v${w.item.version}; cached afterwards: ` +
        `${cached === null ? 'nothing' : `v${JSON.parse(cached).item.version}`}; next read returns v${next.value.item.version}`,
    );
    return { written: w.item.version, next: next.value.item.version, cached };
  }

  it('lease rejects it; cache-aside and lock keep the stale value (the race lease exists for)', async () => {
    const lease = await race('lease');
    expect(lease.cached).toBeNull();
    expect(lease.next).toBe(lease.written);
    await fx.reset();
    const aside = await race('cache-aside');
    expect(aside.next).toBe(1);
    await fx.reset();
    const lock = await race('lock');
    expect(lock.next).toBe(1);
  });
});

describe('stale-while-revalidate: flat latency through expiry, one background refresh', () => {
  it('serves stale at once after the soft TTL and refreshes once across two instances', async () => {
    const opts = { options: { ttlMs: 300, staleTtlMs: 10_000 } };
    const a = await fx.make('stale-while-revalidate', { ...opts, instanceId: 'a' });
    const b = await fx.make('stale-while-revalidate', { ...opts, instanceId: 'b' });
    const id = 12;
    await a.strategy.read(fx.itemRead(id, { sleepS: 0.2 }));
    await sleep(350); // past the soft TTL, well inside the hard one
    const lat: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        const t0 = performance.now();
        const r = await (n % 2 ? a : b).strategy.read(fx.itemRead(id, { sleepS: 0.2 }));
        lat.push(performance.now() - t0);
        return r;
      }),
    );
    await sleep(400); // let the refresh land
    const after = await b.strategy.read(fx.itemRead(id));
    const refreshes = a.events.backgroundRefreshes + b.events.backgroundRefreshes;
    const max = Math.max(...lat);
    log(
      `stale-while-revalidate: 40 reads after soft expiry (load 200 ms): sources=${JSON.stringify(
        results.reduce<Record<string, number>>((acc, r) => {
          acc[r.source] = (acc[r.source] ?? 0) + 1;
          return acc;
        }, {}),
      )}, max latency ${max.toFixed(1)} ms, background refreshes=${refreshes} (a=${a.events.backgroundRefreshes}, ` +
        `b=${b.events.backgroundRefreshes}), DB loads=${fx.loadsOf(`item:${id}`)}, next read: ${after.source}`,
    );
    expect(results.every((r) => r.source === 'stale')).toBe(true);
    expect(max).toBeLessThan(150); // nobody waited for the 200 ms load
    expect(refreshes).toBe(1);
    expect(fx.loadsOf(`item:${id}`)).toBe(2);
    expect(after.source).toBe('cache');
  });
});

describe('lock: a holder that died stops blocking when its lock expires', () => {
  it('a waiter takes the expired lock and rebuilds', async () => {
    const { strategy } = await fx.make('lock', { options: { waitMs: 3_000 } });
    await fx.redis.set(lockKey('item:11'), 'dead-holder', 'PX', 300);
    const t0 = performance.now();
    const r = await strategy.read(fx.itemRead(11));
    const ms = performance.now() - t0;
    log(`lock: orphaned lock (PX 300) → read answered after ${ms.toFixed(0)} ms from ${r.source}`);
    expect(r.source).toBe('db');
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(1_000);
    expect(fx.loadsOf('item:11')).toBe(1);
    expect(await fx.redis.get('item:11')).not.toBeNull();
  });
});

describe('jitter: mass expiry', () => {
  async function massExpiry(spec: string) {
    const { strategy, events } = await fx.make(spec, { options: { ttlMs: 300, jitterFraction: 1 } });
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    await Promise.all(ids.map((id) => strategy.read(fx.itemRead(id))));
    const start = Date.now();
    while (Date.now() - start < 900) {
      await Promise.all(ids.map((id) => strategy.read(fx.itemRead(id))));
      await sleep(5);
    }
    // Peak of rebuild starts in any sliding 50 ms window after the fill.
    const starts = events.rebuilds
      .filter((r) => r.start >= start)
      .map((r) => r.start)
      .sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i]! - starts[j]! >= 50) j += 1;
      peak = Math.max(peak, i - j + 1);
    }
    log(
      `${spec}: 20 keys filled together (ttl 300 ms): ${starts.length} rebuilds in 900 ms, peak in 50 ms = ${peak}`,
    );
    return peak;
  }

  it('spreads the expiries of keys filled together', async () => {
    const aside = await massExpiry('cache-aside');
    await fx.reset();
    const jit = await massExpiry('jitter');
    expect(aside).toBeGreaterThanOrEqual(15);
    expect(jit).toBeLessThan(aside);
  });
});
