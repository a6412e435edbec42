/** The pre-warm job's hot-key counter (space-saving top-N): pure logic. */
import { describe, expect, it } from 'vitest';
import { HotKeys } from '../target/strategies/prewarm/hot-keys.ts';

describe('HotKeys', () => {
  it('stays within its capacity while a hot key survives a long tail of one-off keys', () => {
    const h = new HotKeys<number>(8);
    for (let i = 0; i < 10_000; i++) {
      h.touch('hot', i);
      if (i % 2 === 0) h.touch('warm', i);
      h.touch(`tail-${i}`, i); // every tail key is read once
      expect(h.size).toBeLessThanOrEqual(8);
    }
    const top = h.top(2);
    expect(top.map((t) => t.key)).toEqual(['hot', 'warm']);
    expect(top[0]!.payload).toBe(9_999); // the latest request is kept
  });

  it('decay halves counts and forgets keys that fall below one access, so the set follows the present', () => {
    const h = new HotKeys<null>(4);
    for (let i = 0; i < 100; i++) h.touch('old', null);
    h.touch('once', null);
    h.decay();
    expect(h.top(4).map((t) => [t.key, t.count])).toEqual([['old', 50]]);
    for (let d = 0; d < 5; d++) h.decay();
    for (let i = 0; i < 10; i++) h.touch('new', null);
    expect(h.top(1)[0]!.key).toBe('new');
  });

  it('refuses a capacity below one', () => {
    expect(() => new HotKeys(0)).toThrow(/capacity must be ≥ 1, got 0/);
  });
});
