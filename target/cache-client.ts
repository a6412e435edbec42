/**
 * The only way strategies talk to Redis. Every call goes through `run`, which applies the failure
 * budget (fail-fast ioredis settings + a circuit breaker), classifies the error, and counts it.
 * Strategies therefore never see an exception from Redis: they get an outcome and decide.
 *
 * Interface first (shared by target and strategies); the implementation lives below it.
 */
import type { Redis } from 'ioredis';
import { connectRedis, deleteKeys, type RedisConnectOptions } from './redis-connect.ts';

export type CacheErrorKind = 'timeout' | 'connection' | 'breaker-open' | 'command';

export interface CacheError {
  kind: CacheErrorKind;
  message: string;
  /**
   * false when Redis provably never received the command (breaker open, socket not writable);
   * true or absent = it may have been applied (a timeout, a connection lost mid-flight).
   */
  sent?: boolean;
}

export type CacheOutcome<T> = { ok: true; value: T } | { ok: false; error: CacheError };

export interface CacheClient {
  /** Runs one Redis interaction (a command, a pipeline, a script) under the failure budget. */
  run<T>(op: string, fn: (redis: Redis) => Promise<T>): Promise<CacheOutcome<T>>;
  get(key: string): Promise<CacheOutcome<string | null>>;
  /** SET key value PX ttlMs [NX]; value true when set. */
  set(key: string, value: string, ttlMs: number, opts?: { nx?: boolean }): Promise<CacheOutcome<boolean>>;
  del(...keys: string[]): Promise<CacheOutcome<number>>;
  /** False while the breaker is open (Redis known down): callers skip Redis entirely. */
  available(): boolean;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Implementation: ioredis made fail-fast (a per-command timeout, no offline queue, no per-request
// retries, no resend after a reconnect, endless background reconnects with a small backoff cap)
// behind a circuit breaker; docs/design.md (Fail-open) says why.
// ---------------------------------------------------------------------------------------------
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CacheClientOptions {
  url: string;
  /** How Redis runs (default standalone: `url` is the server); see redis-connect.ts. */
  topology?: Omit<RedisConnectOptions, 'url'>;
  /** Per-command budget; a blackholed Redis costs a request at most this much. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** A socket silent this long is destroyed and reconnected (blackhole detection). */
  socketTimeoutMs?: number;
  /** Upper bound of the background reconnect backoff. */
  reconnectMaxDelayMs?: number;
  breaker?: { failureThreshold?: number; openMs?: number };
  onError?: (kind: CacheErrorKind) => void;
  onBreakerOpen?: () => void;
}

/** The returned client: the shared interface plus introspection for tests and /stats. */
export interface FailFastCacheClient extends CacheClient {
  breakerState(): BreakerState;
  /** The ioredis connection status ('ready', 'reconnecting', …). */
  connectionStatus(): string;
}

export const CACHE_CLIENT_DEFAULTS = {
  commandTimeoutMs: 75,
  connectTimeoutMs: 500,
  socketTimeoutMs: 1000,
  reconnectMaxDelayMs: 500,
  failureThreshold: 5,
  openMs: 1000,
} as const;

/** Messages ioredis uses when a command was rejected before being written to the socket. */
const NOT_SENT_MESSAGES = ["Stream isn't writeable", 'enableOfflineQueue'];
const CONNECTION_MESSAGES = [
  'Connection is closed',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTCONN',
  'EHOSTUNREACH',
  'socket',
  'max retries per request',
  'MaxRetriesPerRequest',
  ...NOT_SENT_MESSAGES,
];

class BudgetExceeded extends Error {}

/** Classifies an ioredis rejection. `sent: false` only when Redis provably never saw the command. */
export function classifyRedisError(err: unknown): CacheError {
  const e = err instanceof Error ? err : new Error(String(err));
  const message = e.message;
  if (e instanceof BudgetExceeded || message.includes('Command timed out')) {
    return { kind: 'timeout', message, sent: true };
  }
  if (e.name === 'ReplyError') return { kind: 'command', message, sent: true };
  if (CONNECTION_MESSAGES.some((m) => message.includes(m))) {
    const sent = !NOT_SENT_MESSAGES.some((m) => message.includes(m));
    return { kind: 'connection', message, sent };
  }
  return { kind: 'command', message, sent: true };
}

/** What the breaker says to one call (numbers, not objects: no allocation per command). */
type Admission = 0 | 1 | 2;
const REJECTED: Admission = 0;
const ADMITTED: Admission = 1;
const PROBE: Admission = 2;

/**
 * closed → open after `failureThreshold` consecutive timeout/connection failures, or at once when
 * the connection closes; open → one probe after `openMs`, or as soon as ioredis reports 'ready'
 * again; the probe's outcome closes or re-opens it. Command (reply) errors prove Redis is alive,
 * so they never trip it.
 */
class Breaker {
  state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private readyAfterOpen = false;
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly onOpen: () => void;

  constructor(threshold: number, openMs: number, onOpen: () => void) {
    this.threshold = threshold;
    this.openMs = openMs;
    this.onOpen = onOpen;
  }

  private probeDue(now: number): boolean {
    return this.state === 'open' && (this.readyAfterOpen || now - this.openedAt >= this.openMs);
  }

  /** The clock is read only when the breaker is not closed (the hit path's usual case). */
  available(): boolean {
    return this.state === 'closed' || this.probeDue(Date.now());
  }

  /** Whether a call may go to Redis now, and whether it is the half-open probe. */
  admit(now: number): Admission {
    if (this.state === 'closed') return ADMITTED;
    if (this.probeDue(now)) {
      this.state = 'half-open';
      return PROBE;
    }
    return REJECTED;
  }

  success(probe: boolean): void {
    if (probe || this.state === 'closed') {
      this.state = 'closed';
      this.failures = 0;
    }
  }

  failure(probe: boolean, now: number): void {
    if (probe) {
      this.trip(now);
      return;
    }
    if (this.state !== 'closed') return;
    this.failures += 1;
    if (this.failures >= this.threshold) this.trip(now);
  }

  /**
   * Opens now: after N failures, a failed probe, a failed first connect, or a lost connection.
   * onOpen counts outages (closed → open), not every failed probe.
   */
  trip(now: number): void {
    const wasClosed = this.state === 'closed';
    this.state = 'open';
    this.openedAt = now;
    this.readyAfterOpen = false;
    this.failures = 0;
    if (wasClosed) this.onOpen();
  }

  connectionReady(): void {
    if (this.state === 'open') this.readyAfterOpen = true;
  }
}

/**
 * One interaction awaiting its reply: settled by the reply (`reply`, `fail`) or, at `deadline`,
 * by the watchdog (`expire`). A class with the outcome handling as methods, so an
 * interaction costs one object and the two reply callbacks, not a closure per way it can end.
 */
class Interaction<T> {
  /** Epoch ms it was sent. */
  sentAt: number;
  /** Epoch ms its budget ends. */
  readonly deadline: number;
  /** The caller has its outcome (the reply, or the timeout). */
  settled = false;
  /** ioredis answered it (a reply or an error), even after the deadline. */
  replied = false;
  private readonly probe: boolean;
  private readonly budgetMs: number;
  private readonly ends: OutcomeSink;
  private resolve: ((o: CacheOutcome<T>) => void) | undefined = undefined;

  constructor(now: number, budgetMs: number, probe: boolean, ends: OutcomeSink) {
    this.sentAt = now;
    this.deadline = now + budgetMs;
    this.budgetMs = budgetMs;
    this.probe = probe;
    this.ends = ends;
  }

  /** The caller's outcome: the reply's, or the timeout's when the budget ends first. */
  outcome(sent: Promise<T>): Promise<CacheOutcome<T>> {
    return new Promise<CacheOutcome<T>>((resolve) => {
      this.resolve = resolve;
      sent.then(
        (value) => this.reply(value),
        (err: unknown) => this.fail(err),
      );
    });
  }

  private reply(value: T): void {
    this.replied = true;
    if (this.settled) return;
    this.settled = true;
    this.ends.succeeded(this.probe);
    this.settle({ ok: true, value });
  }

  private fail(err: unknown): void {
    this.replied = true;
    if (this.settled) return;
    this.settled = true;
    this.settle(this.ends.failed(err, this.probe));
  }

  /** The watchdog's: the budget ended before the reply (a later reply is ignored). */
  expire(): void {
    this.settle(this.ends.failed(new BudgetExceeded(`no reply within ${this.budgetMs} ms`), this.probe));
  }

  /**
   * Hands over the outcome and lets go of the caller's promise: the watchdog keeps an answered
   * interaction until its next sweep, and it should not keep the reply alive that long.
   */
  private settle(o: CacheOutcome<T>): void {
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.(o);
  }
}

/** How an interaction's end reaches the breaker and the error count (the client's `failed`). */
interface OutcomeSink {
  succeeded(probe: boolean): void;
  failed<T>(err: unknown, probe: boolean): CacheOutcome<T>;
}

type Pending = Interaction<unknown>;

/**
 * The failure budget of every interaction in flight, and the silent-socket check, enforced with
 * one timer: armed for the earliest moment something is due, it expires interactions past their
 * budget, calls `onSilent` once when one has waited `silentMs` for its reply (a connection that
 * swallows bytes: the socket is replaced), and re-arms. Per interaction the cost is one small
 * object and an array push, instead of ioredis' setTimeout/clearTimeout pair per command (and,
 * for the silent socket, a timer and a `once('data')` listener per reply batch).
 */
class Watchdog {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined = undefined;
  /** The moment the timer is armed for. */
  private armedAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private readonly silentMs: number;
  private readonly onSilent: (() => void) | undefined;

  constructor(silentMs: number, onSilent: (() => void) | undefined) {
    this.silentMs = silentMs;
    this.onSilent = onSilent;
  }

  track(p: Pending): void {
    this.pending.push(p);
    // Budgets differ (a command's is shorter than a run's): re-arm only for an earlier moment.
    const due = this.due(p);
    if (due < this.armedAt && !this.stopped) this.arm(due);
  }

  /** When `p` next needs a look: its deadline, then (still unanswered) the silent-socket bound. */
  private due(p: Pending): number {
    const silentAt = this.onSilent === undefined ? Number.POSITIVE_INFINITY : p.sentAt + this.silentMs;
    return p.settled ? silentAt : Math.min(p.deadline, silentAt);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - Date.now()));
  }

  private sweep(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const left: Pending[] = [];
    let next = Number.POSITIVE_INFINITY;
    let silent = false;
    for (const p of this.pending) {
      if (p.replied) continue;
      if (!p.settled && p.deadline <= now) {
        p.settled = true;
        p.expire();
      }
      if (this.onSilent === undefined && p.settled) continue;
      if (now - p.sentAt >= this.silentMs) silent = true;
      left.push(p);
      const due = this.due(p);
      if (due < next) next = due;
    }
    this.pending = left;
    if (silent) {
      this.onSilent?.();
      // The close rejects what the old socket still owed; only unexpired budgets remain to watch,
      // and their silence is counted from now (the old socket's silence is dealt with).
      this.pending = left.filter((p) => !p.settled);
      next = Number.POSITIVE_INFINITY;
      for (const p of this.pending) {
        p.sentAt = now;
        next = Math.min(next, this.due(p));
      }
    }
    if (this.pending.length > 0 && !this.stopped) this.arm(next);
  }

  /** On close: expires nothing more (ioredis rejects what is still in flight when it closes). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Creates the client and tries one connect within the connect timeout. Never throws because
 * Redis is down: the target must start and serve from the database, and ioredis keeps
 * reconnecting in the background.
 */
export async function createCacheClient(opts: CacheClientOptions): Promise<FailFastCacheClient> {
  const commandTimeoutMs = opts.commandTimeoutMs ?? CACHE_CLIENT_DEFAULTS.commandTimeoutMs;
  const connectTimeoutMs = opts.connectTimeoutMs ?? CACHE_CLIENT_DEFAULTS.connectTimeoutMs;
  const socketTimeoutMs = opts.socketTimeoutMs ?? CACHE_CLIENT_DEFAULTS.socketTimeoutMs;
  const reconnectMaxDelayMs = opts.reconnectMaxDelayMs ?? CACHE_CLIENT_DEFAULTS.reconnectMaxDelayMs;
  const onError = opts.onError ?? (() => {});
  const breaker = new Breaker(
    opts.breaker?.failureThreshold ?? CACHE_CLIENT_DEFAULTS.failureThreshold,
    opts.breaker?.openMs ?? CACHE_CLIENT_DEFAULTS.openMs,
    opts.onBreakerOpen ?? (() => {}),
  );
  let closed = false;

  const topology = opts.topology ?? {
    redisTopology: 'standalone',
    redisNatMap: {},
    redisSentinels: '',
    redisMasterName: '',
  };
  const cluster = topology.redisTopology === 'cluster';
  const redis = connectRedis(
    { ...topology, url: opts.url },
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // No ioredis commandTimeout: it arms and clears one timer per command (the largest cost of
      // a cache hit beyond the floor's); the watchdog below enforces the same budget with one.
      // Cluster: ioredis watches each node's socket. Otherwise the watchdog does (one timer).
      socketTimeout: cluster ? socketTimeoutMs : undefined,
      connectTimeout: connectTimeoutMs,
      // Never give up: a target outlives any Redis outage. Small cap so recovery is quick.
      retryStrategy: (times) => (closed ? null : Math.min(50 * times, reconnectMaxDelayMs)),
    },
  );
  // Without a listener ioredis would print every reconnect failure; the breaker already counts them.
  redis.on('error', () => {});
  redis.on('ready', () => breaker.connectionReady());
  // A lost connection is a known outage: skip Redis at once instead of after N failed calls.
  redis.on('close', () => {
    if (!closed) breaker.trip(Date.now());
  });

  // A silent socket (replies swallowed, connection kept open) is destroyed, as ioredis'
  // socketTimeout would: the close fails what it still owed, trips the breaker and reconnects.
  const destroySilent = () =>
    redis.stream?.destroy(new Error(`Socket timeout: no reply in ${socketTimeoutMs} ms`));
  const watchdog = new Watchdog(socketTimeoutMs, cluster ? undefined : destroySilent);
  if (!cluster) {
    // The handshake (ready check, before any interaction of ours) gets the same bound: a
    // connection that accepted but never answers is replaced instead of waiting forever.
    redis.on('connect', () => {
      const t = setTimeout(() => {
        if (redis.status !== 'ready' && !closed) destroySilent();
      }, socketTimeoutMs);
      const clear = () => clearTimeout(t);
      redis.once('ready', clear);
      redis.once('close', clear);
    });
  }

  // Wait for the first connect at most a little longer than its timeout. A refused connect opens
  // the breaker; a slow one (e.g. a blackhole answering nothing) just leaves the client not
  // 'ready', which available() reports, until ioredis gets there or gives up and retries.
  const connectBudget = connectTimeoutMs + 100;
  await Promise.race([
    redis.connect().catch(() => breaker.trip(Date.now())),
    new Promise<void>((resolve) => setTimeout(resolve, connectBudget).unref()),
  ]);
  if (cluster && redis.status === 'ready') {
    // A Cluster client opens its connection to each node on that node's first command: inside a
    // command budget, so the first reads after start timed out and tripped the breaker. Every
    // node is reached now, before the target serves anything.
    const nodes = (redis as unknown as { nodes(role: 'all'): Redis[] }).nodes('all');
    await Promise.race([
      Promise.allSettled(nodes.map((n) => n.ping())),
      new Promise<void>((resolve) => setTimeout(resolve, connectBudget).unref()),
    ]);
  }

  // A whole interaction (a script, a pipeline) gets a little more than one command's budget.
  const opBudgetMs = commandTimeoutMs + 25;

  const rejectedByBreaker = <T>(): CacheOutcome<T> => {
    onError('breaker-open');
    return { ok: false, error: { kind: 'breaker-open', message: 'circuit breaker open', sent: false } };
  };
  const ends: OutcomeSink = {
    succeeded: (probe) => breaker.success(probe),
    failed<T>(err: unknown, probe: boolean): CacheOutcome<T> {
      const error = classifyRedisError(err);
      if (error.kind === 'command') breaker.success(probe);
      else breaker.failure(probe, Date.now());
      onError(error.kind);
      return { ok: false, error };
    },
  };
  /**
   * One interaction under its budget: a command (GET, SET, DEL; `commandTimeoutMs`) or a `run`
   * (`opBudgetMs`). Settled by whichever comes first, the reply or the watchdog's deadline; a
   * reply after the deadline is ignored (the breaker already counted the timeout). `send` may
   * throw synchronously (ioredis refusing a command): that is a failed interaction too.
   */
  const guarded = <T>(send: () => Promise<T>, budgetMs: number): Promise<CacheOutcome<T>> => {
    const now = Date.now();
    const admitted = breaker.admit(now);
    if (admitted === REJECTED) return Promise.resolve(rejectedByBreaker());
    let sent: Promise<T>;
    try {
      sent = send();
    } catch (err) {
      return Promise.resolve(ends.failed<T>(err, admitted === PROBE));
    }
    const p = new Interaction<T>(now, budgetMs, admitted === PROBE, ends);
    watchdog.track(p as Pending);
    return p.outcome(sent);
  };

  const client: FailFastCacheClient = {
    run<T>(_op: string, fn: (r: Redis) => Promise<T>): Promise<CacheOutcome<T>> {
      return guarded(() => fn(redis), opBudgetMs);
    },
    get(key) {
      return guarded(() => redis.get(key), commandTimeoutMs);
    },
    set(key, value, ttlMs, setOpts) {
      const px = Math.max(1, Math.round(ttlMs));
      return guarded(async () => {
        const reply = setOpts?.nx
          ? await redis.set(key, value, 'PX', px, 'NX')
          : await redis.set(key, value, 'PX', px);
        return reply === 'OK';
      }, commandTimeoutMs);
    },
    del(...keys) {
      if (keys.length === 0) return Promise.resolve({ ok: true, value: 0 });
      return guarded(() => deleteKeys(redis, keys), commandTimeoutMs);
    },
    available() {
      // A connection ioredis knows is down ('reconnecting') would reject at once anyway; saying so
      // lets fail-closed writes refuse before they commit. 'ready' re-admits via the breaker probe.
      return redis.status === 'ready' && breaker.available();
    },
    breakerState() {
      return breaker.state;
    },
    connectionStatus() {
      return redis.status;
    },
    async close() {
      if (closed) return;
      closed = true;
      watchdog.stop();
      await Promise.race([redis.quit().catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
      redis.disconnect();
    },
  };
  return client;
}
