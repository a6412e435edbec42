import { describe, expect, it } from 'vitest';
import { createHistogram, percentileMs, recordMs } from '../harness/driver/histogram.ts';
import { KeyCounts, PerSecond } from '../harness/driver/tally.ts';

/** What the driver computed before it streamed: one histogram per second, kept to the end. */
function heldPercentiles(answers: { sec: number; ms: number }[], seconds: number) {
  const hs = Array.from({ length: seconds }, () => createHistogram('packed'));
  for (const a of answers) recordMs(hs[a.sec] as ReturnType<typeof createHistogram>, a.ms);
  return { p50: hs.map((h) => percentileMs(h, 50)), p99: hs.map((h) => percentileMs(h, 99)) };
}

describe('driver per-second figures', () => {
  it('settles a second once it is past and answered, recycles its histogram, and gives the same percentiles as histograms held to the end', () => {
    const seconds = 6;
    const s = new PerSecond(seconds);
    // Deterministic pseudo-random latencies; some answers come back seconds late.
    let x = 7;
    const rnd = () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x / 2147483648;
    };
    const pending: { sec: number; ms: number; at: number }[] = [];
    const answers: { sec: number; ms: number }[] = [];
    for (let t = 0; t < seconds * 100; t++) {
      const sec = Math.floor(t / 100);
      // One arrival in ten is dropped.
      if (t % 10 === 9) {
        s.dropped(sec);
        continue;
      }
      s.sent(sec);
      const ms = rnd() < 0.02 ? 1500 + rnd() * 1000 : rnd() * 5;
      pending.push({ sec, ms, at: t + Math.round(ms / 10) });
      for (const p of pending.filter((q) => q.at <= t)) {
        s.finished(p.sec, p.ms, p.ms > 1000);
        answers.push({ sec: p.sec, ms: p.ms });
      }
      pending.splice(0, pending.length, ...pending.filter((q) => q.at > t));
    }
    // Two answers never come (as after a drain timeout): their seconds keep what was answered.
    const lost = pending.splice(0, 2);
    for (const p of pending) {
      s.finished(p.sec, p.ms, p.ms > 1000);
      answers.push({ sec: p.sec, ms: p.ms });
    }
    expect(lost.length).toBe(2);
    const r = s.result();
    const held = heldPercentiles(answers, seconds);
    expect(r.p50).toEqual(held.p50);
    expect(r.p99).toEqual(held.p99);
    expect(r.p99.some((v) => v > 1000)).toBe(true);
    expect(r.dropped).toEqual(new Array(seconds).fill(10));
    expect(r.requests).toEqual(new Array(seconds).fill(90));
    expect(r.errors.reduce((a, b) => a + b, 0)).toBe(answers.filter((a) => a.ms > 1000).length);
  });

  it('gives 0 for a second whose arrivals were all dropped or never answered', () => {
    const s = new PerSecond(3);
    s.dropped(0);
    s.sent(1);
    s.sent(2);
    s.finished(2, 4, false);
    const r = s.result();
    expect(r.p99.slice(0, 2)).toEqual([0, 0]);
    expect(r.p99[2]).toBeCloseTo(4, 2);
    expect(r.requests).toEqual([0, 1, 1]);
  });
});

describe('driver key counts', () => {
  it('gives the most requested keys, ties in the order first requested, as a map of strings would', () => {
    const k = new KeyCounts({ user: 100, team: 5, counter: 3 });
    const seq = [
      'user:7',
      'team:2',
      'user:100',
      'user:7',
      'counter:3',
      'team:2',
      'user:1',
      'other:x',
      'other:x',
    ];
    const map = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      for (const key of seq) {
        k.add(key);
        map.set(key, (map.get(key) ?? 0) + 1);
      }
    }
    k.add('user:55');
    map.set('user:55', 1);
    const expected = [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([key, requests]) => ({ key, requests }));
    expect(k.top(20)).toEqual(expected);
    expect(k.top(3)).toEqual(expected.slice(0, 3));
    expect(k.top(3)[0]).toEqual({ key: 'user:7', requests: 10 });
  });

  it('counts keys outside a family range or not in canonical form by their string', () => {
    const k = new KeyCounts({ user: 10 });
    for (const key of ['user:11', 'user:011', 'user:-1', 'user:1.5', 'user:', 'user:11']) k.add(key);
    expect(k.top(10)).toEqual([
      { key: 'user:11', requests: 2 },
      { key: 'user:011', requests: 1 },
      { key: 'user:-1', requests: 1 },
      { key: 'user:1.5', requests: 1 },
      { key: 'user:', requests: 1 },
    ]);
  });
});
