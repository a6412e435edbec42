// Redis access for the service. Every call is fail-open: it resolves to { ok: false } instead of
// throwing when Redis is slow, down or unreachable, so callers answer from PostgreSQL.
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';

// Stores a value loaded from the database only if no write touched the key since the loader read
// its generation (KEYS[2]): a writer bumps the generation after its commit, so a reader that read
// the old row cannot put it back after the writer's DEL. Generations live without a TTL (one small
// counter per key ever written): one that expired mid-load could read as unchanged.
const SET_IF_UNCHANGED = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`;

// Releases a rebuild lock only if this caller still holds it (its token), so a holder whose lock
// expired cannot release the next holder's lock.
const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export function createCache({ redisUrl, redisTimeoutMs, log }) {
  let lastErrorLogged = 0;
  const logError = (message) => {
    // Reconnect attempts error every few hundred ms during an outage: log at most once a second.
    const now = Date.now();
    if (now - lastErrorLogged > 1000) {
      lastErrorLogged = now;
      log.warn({ err: message }, 'redis error (answering from PostgreSQL)');
    }
  };

  let client;
  let openedAt = 0;
  let closed = false;
  function open() {
    openedAt = Date.now();
    client = createClient({
      url: redisUrl,
      // No offline queue: while Redis is unreachable a command fails at once instead of waiting.
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 500) },
    });
    client.on('error', (error) => logError(error.message));
    return client.connect().then(
      () => undefined,
      (error) => logError(error.message),
    );
  }
  // node-redis times a command out only while it waits to be written; one already sent waits for
  // its reply for ever, and a late reply would be matched to the next command in line. So a
  // command that outlives redisTimeoutMs condemns its connection: it is destroyed and a new one
  // opened, and until that one is ready every call fails at once (answered from PostgreSQL).
  function reopen(stale) {
    if (closed || stale !== client) return;
    logError(`no reply within ${redisTimeoutMs} ms; reconnecting`);
    stale.destroy();
    void open();
  }
  // A connection whose handshake hangs (Redis black-holed) never becomes ready on its own.
  const watchdog = setInterval(() => {
    if (!client.isReady && Date.now() - openedAt > 2000) reopen(client);
  }, 500);
  watchdog.unref();

  async function attempt(fn) {
    const current = client;
    if (!current.isReady) return { ok: false };
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => {
        reopen(current);
        resolve({ ok: false });
      }, redisTimeoutMs);
    });
    try {
      return await Promise.race([fn(current).then((value) => ({ ok: true, value })), timeout]);
    } catch {
      return { ok: false };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    // Resolves once connected, or after connectTimeout: the service starts even with Redis down.
    connect: open,
    close: () => {
      closed = true;
      clearInterval(watchdog);
      return client.isOpen ? client.close().catch(() => undefined) : Promise.resolve();
    },
    get: async (key) => {
      const r = await attempt((c) => c.get(key));
      return r.ok ? { ok: true, value: r.value === null ? undefined : JSON.parse(r.value) } : r;
    },
    set: (key, value, ttlMs) =>
      attempt((c) => c.set(key, JSON.stringify(value), { expiration: { type: 'PX', value: ttlMs } })),
    // The generation of `key` as a string ('0' before its first write), for setIfUnchanged.
    generation: async (key) => {
      const r = await attempt((c) => c.get(`gen:${key}`));
      return r.ok ? { ok: true, value: r.value ?? '0' } : r;
    },
    setIfUnchanged: (key, value, generation, ttlMs) =>
      attempt(
        async (c) =>
          (await c.eval(SET_IF_UNCHANGED, {
            keys: [key, `gen:${key}`],
            arguments: [JSON.stringify(value), generation, String(ttlMs)],
          })) === 1,
      ),
    // After a committed write: bump the generation first (refusing in-flight loads), then drop the value.
    invalidate: (key) => attempt((c) => c.multi().incr(`gen:${key}`).del(key).exec()),
    del: (key) => attempt((c) => c.del(key)),
    // { ok, value: token | null }: the token when this caller took the lock.
    lock: async (key, ttlMs) => {
      const token = randomUUID();
      const r = await attempt((c) =>
        c.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }),
      );
      return r.ok ? { ok: true, value: r.value === 'OK' ? token : null } : r;
    },
    unlock: (key, token) => attempt((c) => c.eval(RELEASE_LOCK, { keys: [key], arguments: [token] })),
  };
}
