import { describe, expect, it } from 'vitest';
import {
  analyzeStampede,
  groupEpisodes,
  maxConcurrency,
  overlappingRebuilds,
} from '../harness/analysis/stampede.ts';
import type { RebuildEvent } from '../harness/results/schema.ts';
import { synthCell } from './fixtures/synthetic.ts';

const ev = (key: string, instance: string, start: number, end: number): RebuildEvent => ({
  key,
  instance,
  start,
  end,
  reason: 'miss',
});

describe('stampede episodes', () => {
  it('groups overlapping rebuilds of a key across two instances into one episode', () => {
    const events = [
      ev('k', 'i1', 1000, 1035),
      ev('k', 'i2', 1004, 1040),
      ev('k', 'i1', 1010, 1045),
      ev('k', 'i2', 1044, 1080), // starts while the previous one runs
      ev('k', 'i1', 3000, 3035), // next expiry
    ];
    const eps = groupEpisodes(events, 50);
    expect(eps).toHaveLength(2);
    expect(eps[0]!.rebuilds).toHaveLength(4);
    expect(eps[0]!.maxConcurrent).toBe(3);
    expect(eps[1]!.rebuilds).toHaveLength(1);
  });

  it('a rebuild starting within the grace gap after the episode drained joins it; later ones do not', () => {
    const events = [ev('k', 'i1', 0, 30), ev('k', 'i2', 60, 90), ev('k', 'i1', 200, 230)];
    const eps = groupEpisodes(events, 50);
    expect(eps.map((e) => e.rebuilds.length)).toEqual([2, 1]);
    expect(eps[0]!.maxConcurrent).toBe(1);
    expect(groupEpisodes(events, 0).map((e) => e.rebuilds.length)).toEqual([1, 1, 1]);
  });

  it('overlapping rebuilds: only those that began while another of the key still loaded', () => {
    const events = [
      ev('k', 'i1', 0, 50),
      ev('k', 'i2', 20, 70), // inside i1's load: a guard would have stopped it
      ev('k', 'i1', 60, 65), // inside i2's load (i1's first one had ended)
      ev('k', 'i2', 80, 120), // after every load ended, within the grace: the value was lost again
      ev('k', 'i1', 120, 130), // starts the instant the previous one ended: not inside it
      ev('other', 'i1', 10, 40), // another key never overlaps this one
    ];
    expect(overlappingRebuilds(events)).toBe(2);
    const { cell } = synthCell({ scenario: 'hot-key', strategy: 'lock', seconds: 4 });
    cell.rebuilds = events.map((e) => ({
      ...e,
      start: cell.loadStartedAt + e.start,
      end: cell.loadStartedAt + e.end,
    }));
    const a = analyzeStampede(cell, 50);
    // 6 rebuilds in 2 episodes: 4 beyond the first, 2 of them overlapping, 2 repeated.
    expect([a.rebuilds, a.episodes, a.overlappingRebuilds, a.repeatedRebuilds]).toEqual([6, 2, 2, 2]);
  });

  it('different keys never share an episode', () => {
    const eps = groupEpisodes([ev('a', 'i1', 0, 30), ev('b', 'i1', 5, 30)], 50);
    expect(eps).toHaveLength(2);
  });

  it('max concurrency: touching intervals do not overlap', () => {
    expect(maxConcurrency([ev('k', 'i1', 0, 10), ev('k', 'i2', 10, 20)])).toBe(1);
    expect(maxConcurrency([ev('k', 'i1', 0, 10), ev('k', 'i2', 9, 20), ev('k', 'i2', 9.5, 9.8)])).toBe(3);
  });

  it("headline rebuilds per expiry is the hot key's; cold one-rebuild keys do not dilute it", () => {
    const { cell } = synthCell({ scenario: 'hot-key', strategy: 'cache-aside', seconds: 4 });
    cell.rebuilds = [];
    for (let e = 0; e < 3; e++)
      for (let k = 0; k < 4; k++)
        cell.rebuilds.push(
          ev(
            'team-report:1',
            k % 2 ? 'i2' : 'i1',
            cell.loadStartedAt + e * 1000 + k,
            cell.loadStartedAt + e * 1000 + 35,
          ),
        );
    for (let u = 0; u < 100; u++)
      cell.rebuilds.push(ev(`user:${u}`, 'i1', cell.loadStartedAt + u * 30, cell.loadStartedAt + u * 30 + 2));
    const s = analyzeStampede(cell);
    expect(s.hotKey).toBe('team-report:1');
    expect(s.rebuildsPerExpiry).toBe(4);
    expect(s.rebuildsPerExpiryAllKeys).toBeCloseTo(112 / 103, 9);
    expect(s.maxConcurrentPerKey).toBe(4);
    expect(s.episodesWithMultiple).toBe(3);
  });

  it('fallback loads are not expiry rebuilds; with no cache hit at all the per-expiry figures do not apply', () => {
    const { cell } = synthCell({ scenario: 'redis-outage', strategy: 'cache-aside', seconds: 4 });
    const t = cell.loadStartedAt;
    cell.rebuilds = [
      ev('user:1', 'i1', t, t + 30),
      ...Array.from({ length: 6 }, (_, k) => ({
        ...ev('user:1', 'i2', t + 1000 + k, t + 1030),
        reason: 'fallback' as const,
      })),
    ];
    const s = analyzeStampede(cell);
    expect(s).toMatchObject({
      applies: true,
      rebuilds: 1,
      fallbackLoads: 6,
      episodes: 1,
      rebuildsPerExpiry: 1,
    });
    expect(s.byReason).toEqual({ miss: 1, fallback: 6 });
    // no-cache: the target counts every read as a miss and a rebuild, but nothing was ever cached.
    const nc = synthCell({ scenario: 'hot-key', strategy: 'no-cache', seconds: 4 }).cell;
    nc.rebuilds = Array.from({ length: 5 }, (_, k) => ev('user:1', 'i1', t + k, t + 40));
    nc.target.cache.misses = 5;
    const sn = analyzeStampede(nc);
    expect(sn).toMatchObject({
      applies: false,
      rebuilds: 5,
      rebuildsPerExpiry: null,
      rebuildsPerExpiryAllKeys: null,
    });
  });

  it('cell analysis: cache-aside stampedes, lock keeps ~1 rebuild per expiry', () => {
    const ca = analyzeStampede(synthCell({ scenario: 'hot-key', strategy: 'cache-aside', seed: 1 }).cell);
    const lock = analyzeStampede(synthCell({ scenario: 'hot-key', strategy: 'lock', seed: 1 }).cell);
    expect(ca.maxRebuildsPerExpiry).toBeGreaterThanOrEqual(3);
    expect(ca.episodesWithMultiple).toBeGreaterThan(0);
    expect(ca.hottestKeys[0]!.key).toBe('team-report:1');
    expect(Object.keys(ca.byInstance).sort()).toEqual(['i1', 'i2']);
    expect(lock.rebuildsPerExpiry).toBe(1);
    expect(lock.episodesWithMultiple).toBe(0);
    expect(ca.rebuildsPerExpiry!).toBeGreaterThan(lock.rebuildsPerExpiry!);
    expect(ca.dbPeakAroundExpiries).not.toBeNull();
  });
});
