/**
 * Invalidations that failed because Redis was unreachable (DEL after a write, a version bump).
 * Without them a value cached before the outage would be served stale after Redis returns, for
 * up to its TTL. They are retried as soon as the breaker lets Redis back in; until then a read of
 * a key with a pending repair goes to the database. In-process only: another instance does not
 * know about them (documented limit), and the set is bounded.
 */
import type { CacheClient, CacheError } from '../../cache-client.ts';
import { versionKey } from './key-names.ts';
import { BUMP_VERSIONS, evalPerKey } from './scripts.ts';

const MAX_PENDING = 10_000;
const CHUNK = 500;

export class Repairs {
  private readonly keys = new Set<string>();
  private readonly bumps = new Set<string>();
  private running: Promise<void> | null = null;
  private readonly cache: CacheClient;
  private readonly prefix: string;
  /** Repairs dropped because the set was full (their keys may be stale until TTL). */
  dropped = 0;

  constructor(cache: CacheClient, prefix: string) {
    this.cache = cache;
    this.prefix = prefix;
  }

  get size(): number {
    return this.keys.size + this.bumps.size;
  }

  addKeys(keys: string[]): void {
    for (const k of keys) {
      if (this.size >= MAX_PENDING) this.dropped += 1;
      else this.keys.add(k);
    }
  }

  /** Aggregate names (e.g. `team:12`), not version keys. */
  addBumps(aggregates: string[]): void {
    for (const a of aggregates) {
      if (this.size >= MAX_PENDING) this.dropped += 1;
      else this.bumps.add(a);
    }
  }

  touches(key: string, dependsOn: string[]): boolean {
    return this.keys.has(key) || dependsOn.some((d) => this.bumps.has(d));
  }

  /** One repair pass at a time; resolves when it is over (successful or not). */
  flush(): Promise<void> {
    if (this.size === 0 || !this.cache.available()) return Promise.resolve();
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const keys = [...this.keys];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      const r = await this.cache.del(...chunk);
      if (!r.ok) return;
      for (const k of chunk) this.keys.delete(k);
    }
    const bumps = [...this.bumps];
    for (let i = 0; i < bumps.length; i += CHUNK) {
      const chunk = bumps.slice(i, i + CHUNK);
      const r = (await bumpVersions(this.cache, chunk, this.prefix)) === null;
      if (!r) return;
      for (const a of chunk) this.bumps.delete(a);
    }
  }
}

/** Bumps aggregate versions; returns the failure, or null on success. */
export async function bumpVersions(
  cache: CacheClient,
  aggregates: string[],
  prefix: string,
): Promise<CacheError | null> {
  const r = await cache.run('bump-versions', (redis) =>
    evalPerKey(
      redis,
      BUMP_VERSIONS,
      aggregates.map((a) => versionKey(a, prefix)),
      [Date.now()],
    ),
  );
  return r.ok ? null : r.error;
}
