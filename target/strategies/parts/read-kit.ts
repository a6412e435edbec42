/**
 * The per-instance helpers the read pipeline and the guards share: load (one counted rebuild),
 * stamp (freshness + TTL), decode a cached string, and the fallback that ends a read's use of
 * Redis (fail-open: load from the DB, coalesced if the guard coalesces; fail-closed: throw).
 */
import type { CacheError } from '../../cache-client.ts';
import type { ReadRequest, ReadResult, Versioned } from '../../strategy.ts';
import type {
  FreshnessHooks,
  GuardHooks,
  Loaded,
  Miss,
  PolicyEnv,
  RebuildReason,
} from '../policies/types.ts';
import { decodeEntry, type Entry } from './envelope.ts';
import { CacheUnavailableError } from './errors.ts';

/** A value key's content that decoded and holds valid JSON (its value is parsed only on use). */
export interface Cached {
  entry: Entry;
}

/**
 * The answer of a read served from a cached string. The route sends `json` as is, so on a hit
 * nothing needs the parsed object: `value` is parsed on first access (strategies, tests) and kept.
 */
class CachedResult<T> implements ReadResult<T> {
  readonly source: 'cache' | 'stale';
  readonly json: string;
  private parsed: { v: T } | undefined = undefined;
  constructor(json: string, source: 'cache' | 'stale') {
    this.json = json;
    this.source = source;
  }
  get value(): T {
    this.parsed ??= { v: JSON.parse(this.json) as T };
    return this.parsed.v;
  }
}

/**
 * Strings already proven to be JSON. A corrupt cached value must read as a miss, so every hit
 * needs its text checked; a hot key returns the same text over and over, and a set lookup (hash
 * and compare the bytes) costs a fraction of JSON.parse building the object again. Bounded by
 * total length: when full it starts over (the next hits just parse once more).
 */
export class ValidJson {
  private readonly seen = new Set<string>();
  private chars = 0;
  private readonly maxChars: number;
  constructor(maxChars = 4_000_000) {
    this.maxChars = maxChars;
  }
  /** The text proven last: a hot key's next hit compares bytes with it, without hashing. */
  private last: string | undefined = undefined;
  check(json: string): boolean {
    if (json === this.last) return true;
    if (this.seen.has(json)) {
      this.last = json;
      return true;
    }
    try {
      JSON.parse(json);
    } catch {
      return false;
    }
    this.last = json;
    if (json.length > this.maxChars) return true;
    if (this.chars + json.length > this.maxChars) {
      this.seen.clear();
      this.chars = 0;
    }
    this.seen.add(json);
    this.chars += json.length;
    return true;
  }
}

export class ReadKit {
  /** Last observed load time per namespace: δ for values written through (xfetch). */
  private readonly lastLoad = new Map<string, number>();
  private readonly env: PolicyEnv;
  private readonly guard: GuardHooks;
  private readonly freshness: FreshnessHooks;
  private readonly validJson = new ValidJson();

  constructor(env: PolicyEnv, guard: GuardHooks, freshness: FreshnessHooks) {
    this.env = env;
    this.guard = guard;
    this.freshness = freshness;
  }

  async load<T extends Versioned>(req: ReadRequest<T>, reason: RebuildReason): Promise<Loaded<T>> {
    const t0 = performance.now();
    const value = await this.env.events.rebuild(req.key, reason, req.load);
    const loadMs = performance.now() - t0;
    this.lastLoad.set(req.namespace, loadMs);
    return { value, json: JSON.stringify(value), loadMs };
  }

  lastLoadMs(namespace: string): number {
    return this.lastLoad.get(namespace) ?? 0;
  }

  /** Freshness stamp and PX of a value of `namespace` (its TTL: options.ts `ttlFor`). */
  stamp(json: string, loadMs: number, namespace: string): { raw: string; pxMs: number } {
    return this.freshness.stamp(json, loadMs, this.freshness.ttl(namespace), Date.now());
  }

  /** A value key's content, or null when it cannot be read (then it is treated as a miss). */
  decode(raw: string | null): Cached | null {
    const entry = raw === null ? null : decodeEntry(raw);
    if (!entry || !this.validJson.check(entry.json)) return null;
    return { entry };
  }

  fromCache<T>(c: Cached, source: 'cache' | 'stale'): ReadResult<T> {
    return new CachedResult<T>(c.entry.json, source);
  }

  fromDb<T>(l: Loaded<T>): ReadResult<T> {
    return { value: l.value, source: 'db', json: l.json };
  }

  async fallback<T extends Versioned>(req: ReadRequest<T>, error: CacheError): Promise<ReadResult<T>> {
    if (this.env.failClosed) throw new CacheUnavailableError(`read ${req.key}`, error);
    this.env.events.fallback(req.namespace);
    // single-flight keeps protecting the DB while Redis is down; the other guards live in Redis.
    const value = await this.guard.coalesce(`fallback\0${req.key}`, () =>
      this.env.events.rebuild(req.key, 'fallback', req.load),
    );
    return { value, source: 'fallback' };
  }

  /** The miss of `key` as the guard sees it. */
  miss<T extends Versioned>(req: ReadRequest<T>, key: string): Miss<T> {
    return {
      req,
      key,
      load: (reason) => this.load(req, reason),
      stamp: (l) => this.stamp(l.json, l.loadMs, req.namespace),
      store: (l) => {
        const { raw, pxMs } = this.stamp(l.json, l.loadMs, req.namespace);
        return this.env.cache.set(key, raw, pxMs);
      },
      hit: (raw) => {
        const c = this.decode(raw);
        return c ? this.fromCache(c, 'cache') : null;
      },
      fromDb: (l) => this.fromDb(l),
      fallback: (error) => this.fallback(req, error),
    };
  }
}
