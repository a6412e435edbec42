/**
 * The hottest keys of one process, in bounded memory: the space-saving algorithm (Metwally,
 * Agrawal, El Abbadi 2005), hand-written because it is a dozen lines and the pre-warm job's core.
 * At most `capacity` keys are counted; a new key when full replaces the least-counted one and
 * inherits its count + 1, so a key that is truly among the top `capacity` is never dropped while
 * a stream of one-off keys (a Zipf tail) cannot grow the map. Counts are halved on every
 * `decay()` so the set follows what is hot now, not what was hot an hour ago.
 *
 * Each key keeps a payload (the pre-warm job keeps the last read request: its load closure).
 */
export class HotKeys<P> {
  private readonly capacity: number;
  private readonly entries = new Map<string, { count: number; payload: P }>();

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`HotKeys capacity must be ≥ 1, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts one access (or `by`) to `key`, remembering its latest payload. */
  touch(key: string, payload: P, by = 1): void {
    const e = this.entries.get(key);
    if (e) {
      e.count += by;
      e.payload = payload;
      return;
    }
    if (this.entries.size < this.capacity) {
      this.entries.set(key, { count: by, payload });
      return;
    }
    // O(capacity) scan; capacity is a few times topN (tens to hundreds), and this only runs for a
    // key not yet counted.
    let minKey: string | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [k, v] of this.entries) {
      if (v.count < min) {
        min = v.count;
        minKey = k;
      }
    }
    if (minKey !== undefined) this.entries.delete(minKey);
    this.entries.set(key, { count: min + by, payload });
  }

  /** Halves every count and drops keys that fall below one access. */
  decay(): void {
    for (const [k, v] of this.entries) {
      v.count /= 2;
      if (v.count < 1) this.entries.delete(k);
    }
  }

  /** The n most-counted keys, hottest first. */
  top(n: number): { key: string; count: number; payload: P }[] {
    return [...this.entries]
      .map(([key, v]) => ({ key, count: v.count, payload: v.payload }))
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
      .slice(0, n);
  }
}
