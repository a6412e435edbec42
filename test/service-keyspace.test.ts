/**
 * Stampedes black-box: keyspace notifications on a real Redis become rebuild events, grouped into
 * one episode per expiry / delete by the shared stampede analysis. Keys that match no cacheKey
 * template (locks) are not rebuilds. The old notify-keyspace-events setting is restored.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { groupEpisodes } from '../harness/analysis/stampede.ts';
import { cacheKeyMatcher, rebuildsFromEvents, watchKeyspace } from '../harness/service/keyspace.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();
const now = () => performance.timeOrigin + performance.now();

describe('keyspace-notification rebuild counting', () => {
  it('matches cache keys by template only', () => {
    const m = cacheKeyMatcher(['user:{id}', 'team-report:{id}']);
    expect(m('user:42')).toBe(true);
    expect(m('team-report:7')).toBe(true);
    expect(m('lock:user:42')).toBe(false);
    expect(m('user:42:extra')).toBe(false);
    expect(cacheKeyMatcher([])('user:1')).toBe(false);
  });

  it('counts the SETs after each expiry or delete of a key as that episode’s rebuilds', async () => {
    const url = infra().redisUrl;
    const r = new Redis(url);
    try {
      await r.config('SET', 'notify-keyspace-events', 'Kl');
      const zero = now();
      const watch = await watchKeyspace(url, cacheKeyMatcher(['item:{id}']));
      expect(((await r.config('GET', 'notify-keyspace-events')) as string[])[1]).toMatch(/x/);
      // Cold: one SET. Then it expires and three concurrent misses each SET it (a stampede).
      await r.set('item:1', 'v1', 'PX', 150);
      await r.set('lock:item:1', '1', 'PX', 1000);
      await sleep(300);
      await r.get('item:1'); // an expired key is removed (and notified) on access at the latest
      await Promise.all([r.set('item:1', 'a'), r.set('item:1', 'b'), r.set('item:1', 'c')]);
      await sleep(100);
      // A write invalidates: one rebuild after the delete. Another key is cold once.
      await r.del('item:1');
      await sleep(100);
      await r.set('item:1', 'd');
      await r.set('item:2', 'x');
      await sleep(200);
      const events = watch.events();
      await watch.stop();
      expect(events.every((e) => e.key.startsWith('item:'))).toBe(true);
      const kinds = events.filter((e) => e.key === 'item:1').map((e) => e.event);
      expect(kinds).toEqual(['set', 'expired', 'set', 'set', 'set', 'del', 'set']);
      const rebuilds = rebuildsFromEvents(events, zero);
      expect(rebuilds.filter((x) => x.key === 'item:1')).toHaveLength(5);
      const episodes = groupEpisodes(rebuilds).filter((e) => e.key === 'item:1');
      expect(episodes.map((e) => e.rebuilds.length)).toEqual([1, 3, 1]);
      expect(
        groupEpisodes(rebuilds)
          .filter((e) => e.key === 'item:2')
          .map((e) => e.rebuilds.length),
      ).toEqual([1]);
      // The setting the server had is back.
      expect(((await r.config('GET', 'notify-keyspace-events')) as string[])[1]).toBe('lK');
    } finally {
      await r.config('SET', 'notify-keyspace-events', '');
      r.disconnect();
    }
  });

  it('ignores events before the zero point and starts a key’s first episode there', () => {
    const ev = [
      { key: 'k:1', event: 'set' as const, at: 5 },
      { key: 'k:1', event: 'expired' as const, at: 20 },
      { key: 'k:1', event: 'set' as const, at: 30 },
      { key: 'k:2', event: 'set' as const, at: 40 },
    ];
    const out = rebuildsFromEvents(ev, 10);
    expect(out.map((r) => [r.key, r.start])).toEqual([
      ['k:1', 20],
      ['k:2', 10],
    ]);
  });
});
