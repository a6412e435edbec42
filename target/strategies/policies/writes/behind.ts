/**
 * behind counter policy (write-behind): increments are buffered in Redis (INCRBY on
 * `<prefix>counter:<id>:pending`) and a flush loop moves them to the DB, one DB write per counter
 * per flush. (The default, `direct` in direct.ts, makes every increment one DB write.)
 *
 * Write-behind never counts an increment twice: a flush first moves the pending amount into this
 * flusher's in-flight entry `seq:n` (one Lua step, GETDEL semantics), writes n to the DB, then
 * clears exactly that entry. A lost reply at any step is safe: a retried take returns the same
 * entry instead of taking more, and a committed entry is only ever cleared, never re-applied.
 *
 * What happens to an increment when Redis fails (fail-open):
 *   - not sent (breaker open, socket not writable): written straight to the DB, so not lost;
 *     counted as a `fallback('counter')`.
 *   - sent but unanswered (timeout, connection lost mid-flight): Redis may or may not have applied
 *     it, and writing it to the DB as well could count it twice. It is reported with
 *     `writeBehindLost(by)` ("lost or at risk"): if Redis did apply it, a later flush still moves it,
 *     so DB total ∈ [acknowledged − lost, acknowledged].
 * Under fail-closed both cases throw CACHE_UNAVAILABLE instead.
 * The buffers live on `env.coordination` (the cache server unless the target was given a second
 * Redis, where a response cache's memory pressure cannot evict them).
 * Not detected: pending amounts that vanish inside Redis (restart without persistence, eviction,
 * FLUSHALL), and a process that dies between its DB write and clearing its entry (its entry stays
 * and inflates `pending` in reads; it is never re-applied).
 *
 * Reads: value = DB value + pending + in flight. This process remembers the DB value for
 * counterBaseTtlMs (refreshed from the DB after that and after each of its own flushes), so with
 * several instances a read can miss another instance's flush for at most counterBaseTtlMs.
 */
import { randomBytes } from 'node:crypto';
import type { CacheClient, CacheError } from '../../../cache-client.ts';
import type { CounterValue, IncrementRequest } from '../../../strategy.ts';
import { CacheUnavailableError } from '../../parts/errors.ts';
import { inflightCounterKey, pendingCounterKey } from '../../parts/key-names.ts';
import {
  BUFFER_INCREMENT,
  CLEAR_INFLIGHT,
  evalScript,
  READ_BUFFER,
  TAKE_PENDING,
} from '../../parts/scripts.ts';
import type { CounterHooks, CounterPolicy, PolicyEnv } from '../types.ts';

interface CounterState {
  incrementInDb: (by: number) => Promise<number>;
  readDb: () => Promise<number>;
  base?: { value: number; at: number };
  /** An in-flight entry already written to the DB whose clearing failed: clear it, never re-take. */
  committed?: string;
}

const BREAKER_OPEN: CacheError = { kind: 'breaker-open', message: 'circuit breaker open', sent: false };

export function behind(): CounterPolicy {
  return {
    name: 'behind',
    provides: ['increment', 'readCounter', 'close'],
    options: ['flushIntervalMs', 'counterBaseTtlMs'],
    create: (env) => new WriteBehind(env),
  };
}

const toPair = (v: unknown): [number, number] => {
  const a = v as [unknown, unknown];
  return [Number(a[0]), Number(a[1])];
};

class WriteBehind implements CounterHooks {
  private readonly env: PolicyEnv;
  /** Where the buffers live: the coordination client. */
  private readonly redis: CacheClient;
  /** Unique per process, so a restarted instance never adopts (and re-applies) an old entry. */
  private readonly field: string;
  private readonly counters = new Map<number, CounterState>();
  private readonly dirty = new Set<number>();
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(env: PolicyEnv) {
    this.env = env;
    this.redis = env.coordination;
    this.field = `${env.instanceId}:${randomBytes(4).toString('hex')}`;
    this.timer = setInterval(() => {
      if (!this.closed) void this.flush();
    }, env.options.flushIntervalMs);
    this.timer.unref();
  }

  async increment(req: IncrementRequest): Promise<CounterValue> {
    const { events } = this.env;
    const cache = this.redis;
    const s = this.remember(req);
    if (!cache.available()) return this.notBuffered(req, s, BREAKER_OPEN);
    const r = await cache.run('wb-incr', (redis) =>
      evalScript(redis, BUFFER_INCREMENT, this.keysOf(req.counterId), [req.by]),
    );
    if (!r.ok) return this.notBuffered(req, s, r.error);
    this.dirty.add(req.counterId);
    events.writeBehindIncrement(req.by);
    const [pending, inflight] = toPair(r.value);
    return { value: (await this.base(s)) + pending + inflight, pending: pending + inflight };
  }

  async readCounter(req: IncrementRequest): Promise<CounterValue> {
    const { events } = this.env;
    const cache = this.redis;
    const s = this.remember(req);
    const r = cache.available()
      ? await cache.run('wb-read', (redis) => evalScript(redis, READ_BUFFER, this.keysOf(req.counterId), []))
      : ({ ok: false, error: BREAKER_OPEN } as const);
    if (!r.ok) {
      if (this.env.failClosed) throw new CacheUnavailableError(`read counter ${req.counterId}`, r.error);
      events.fallback('counter');
      return { value: await req.readDb(), pending: 0 };
    }
    const [pending, inflight] = toPair(r.value);
    return { value: (await this.base(s)) + pending + inflight, pending: pending + inflight };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }

  flush(): Promise<void> {
    this.flushing ??= (async () => {
      const ids = new Set(this.dirty);
      for (const [id, s] of this.counters) if (s.committed !== undefined) ids.add(id);
      for (const id of ids) {
        if (!this.redis.available()) return;
        await this.flushOne(id);
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private remember(req: IncrementRequest): CounterState {
    let s = this.counters.get(req.counterId);
    if (!s) {
      s = { incrementInDb: req.incrementInDb, readDb: req.readDb };
      this.counters.set(req.counterId, s);
    }
    return s;
  }

  private async base(s: CounterState): Promise<number> {
    const now = Date.now();
    if (s.base && now - s.base.at < this.env.options.counterBaseTtlMs) return s.base.value;
    const value = await s.readDb();
    s.base = { value, at: now };
    return value;
  }

  private keysOf(id: number): string[] {
    return [pendingCounterKey(id, this.env.prefix), inflightCounterKey(id, this.env.prefix)];
  }

  private clear(id: number, entry: string) {
    const inflight = inflightCounterKey(id, this.env.prefix);
    return this.redis.run('wb-clear', (r) => evalScript(r, CLEAR_INFLIGHT, [inflight], [this.field, entry]));
  }

  private async flushOne(id: number): Promise<void> {
    const s = this.counters.get(id);
    if (!s) return;
    if (s.committed !== undefined) {
      if (!(await this.clear(id, s.committed)).ok) return;
      s.committed = undefined;
    }
    this.seq += 1;
    const t = await this.redis.run('wb-take', (r) =>
      evalScript(r, TAKE_PENDING, this.keysOf(id), [this.field, `${Date.now().toString(36)}.${this.seq}`]),
    );
    if (!t.ok) return; // maybe taken: the next take returns the same entry
    if (t.value === null || t.value === undefined) {
      this.dirty.delete(id);
      return;
    }
    const entry = String(t.value);
    const n = Number(entry.slice(entry.lastIndexOf(':') + 1));
    let dbValue: number;
    try {
      dbValue = await s.incrementInDb(n);
    } catch {
      return; // the entry stays in flight and is retried as is
    }
    this.env.events.writeBehindFlushed(n);
    s.committed = entry;
    if ((await this.clear(id, entry)).ok) s.committed = undefined;
    // Only now: until the entry is cleared, DB value + entry would count n twice.
    s.base = { value: dbValue, at: Date.now() };
  }

  private async notBuffered(
    req: IncrementRequest,
    s: CounterState,
    error: CacheError,
  ): Promise<CounterValue> {
    const { events } = this.env;
    if (this.env.failClosed) throw new CacheUnavailableError(`increment counter ${req.counterId}`, error);
    if (error.sent === false) {
      events.fallback('counter');
      const value = await req.incrementInDb(req.by);
      events.writeBehindDirect(req.by);
      return { value, pending: 0 };
    }
    this.dirty.add(req.counterId); // if Redis did apply it, it must still be flushed
    events.writeBehindLost(req.by);
    return { value: await this.base(s), pending: 0 };
  }
}
