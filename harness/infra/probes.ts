/**
 * The checks every provisioner uses to prove a service answers, and the Toxiproxy calls they
 * share. Each probe opens a fresh fail-fast connection, so a wait loop around it sees a refused
 * port or a loading server as an error to retry, never a hang.
 */
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';

/**
 * A fail-fast harness connection (not yet connected): no retries, no offline queue, no
 * reconnect, so a dead or loading server is an error at once rather than a hang.
 */
export function failFastRedis(
  target: string | RedisOptions,
  t: { connectMs: number; commandMs: number },
): Redis {
  const o: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: t.connectMs,
    commandTimeout: t.commandMs,
    retryStrategy: () => null,
  };
  const r = typeof target === 'string' ? new Redis(target, o) : new Redis({ ...target, ...o });
  r.on('error', () => {});
  return r;
}

/** One short-lived fail-fast connection for a few commands, closed on every path. */
export async function withFailFastRedis<T>(
  target: string | RedisOptions,
  t: { connectMs: number; commandMs: number },
  run: (r: Redis) => Promise<T>,
): Promise<T> {
  const r = failFastRedis(target, t);
  try {
    await r.connect();
    return await run(r);
  } finally {
    r.disconnect();
  }
}

/** PING (must answer PONG: a server loading its AOF answers LOADING), then the server version. */
export async function redisVersion(url: string, timeoutMs = 1_000): Promise<string | undefined> {
  const c = failFastRedis(url, { connectMs: timeoutMs, commandMs: timeoutMs });
  try {
    await c.connect();
    const pong = await c.ping();
    if (pong !== 'PONG') throw new Error(`PING answered '${pong}'`);
    const info = await c.info('server');
    return /(?:valkey|redis)_version:(\S+)/.exec(info)?.[1];
  } finally {
    c.disconnect();
  }
}

/** Connects and reads `server_version`; `prepare` runs first on the same connection. */
export async function postgresVersion(
  url: string,
  o: { connectMs?: number; queryMs?: number; prepare?: (c: pg.Client) => Promise<void> } = {},
): Promise<string | undefined> {
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: o.connectMs ?? 1_000,
    query_timeout: o.queryMs,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    await o.prepare?.(c);
    const r = await c.query<{ server_version: string }>('SHOW server_version');
    return r.rows[0]?.server_version;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The version Toxiproxy reports: JSON `{version}` from 2.6 on, plain text before. */
export function parseToxiproxyVersion(body: string): string {
  const text = body.trim();
  return text.startsWith('{') ? String((JSON.parse(text) as { version: unknown }).version) : text;
}

/** Toxiproxy's /version; throws unless it answers 2xx. */
export async function toxiproxyVersion(toxiproxyUrl: string): Promise<string> {
  const r = await fetch(`${toxiproxyUrl}/version`);
  if (!r.ok) throw new Error(`toxiproxy /version: HTTP ${r.status}`);
  return parseToxiproxyVersion(await r.text());
}

/** Creates (or replaces) the proxies in one /populate call, all enabled. */
export async function createProxies(
  toxiproxyUrl: string,
  proxies: { name: string; listen: string; upstream: string }[],
): Promise<void> {
  const r = await fetch(`${toxiproxyUrl}/populate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(proxies.map((p) => ({ ...p, enabled: true }))),
  });
  if (!r.ok) throw new Error(`toxiproxy /populate failed: ${r.status} ${await r.text()}`);
}
