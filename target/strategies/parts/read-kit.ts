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

export interface Cached {
  entry: Entry;
  value: unknown;
}

export class ReadKit {
  /** Last observed load time per namespace: δ for values written through (xfetch). */
  private readonly lastLoad = new Map<string, number>();
  private readonly env: PolicyEnv;
  private readonly guard: GuardHooks;
  private readonly freshness: FreshnessHooks;

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
    if (!entry) return null;
    try {
      return { entry, value: JSON.parse(entry.json) };
    } catch {
      return null;
    }
  }

  fromCache<T>(c: Cached, source: 'cache' | 'stale'): ReadResult<T> {
    return { value: c.value as T, source, json: c.entry.json };
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
