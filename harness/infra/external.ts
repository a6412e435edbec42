/**
 * `--infra external`: Redis, PostgreSQL and Toxiproxy someone else runs (a staging stack, the
 * docker-compose.yml stack). Nothing is started; the handle only checks that each service answers,
 * makes sure the `redis` and `postgres` proxies exist, and on stop() deletes only the proxies it
 * created itself.
 */

import { CachebenchError, UsageError } from '../errors.ts';
import { assertListenerOwned } from './listener.ts';
import { postgresVersion, redisVersion } from './probes.ts';
import { redactSecrets } from './redact.ts';
import type { InfraHandle } from './types.ts';

export interface ExternalInfraOptions {
  redisUrl: string;
  postgresUrl: string;
  toxiproxyUrl: string;
  /** Where the `redis` proxy is reachable from here; read from Toxiproxy when omitted. */
  redisProxyUrl?: string;
  postgresProxyUrl?: string;
  /** A second Redis for coordination keys (`--coordination-redis-url`), used directly. */
  coordinationRedisUrl?: string;
  log?: (line: string) => void;
}

/** Listen ports used when the proxies must be created (outside the ephemeral range). */
export const DEFAULT_PROXY_PORTS = { redis: 16379, postgres: 15432 } as const;

interface ToxiproxyProxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

function parseUrl(flag: string, value: string, protocols: string[]): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(
      'BAD_URL',
      `${flag} '${redactSecrets(value)}' is not a URL; expected ${protocols[0]}//host:port`,
    );
  }
  if (!protocols.includes(u.protocol) || !u.hostname) {
    throw new UsageError(
      'BAD_URL',
      `${flag} '${redactSecrets(value)}' is not valid; expected ${protocols.join(' or ')}//host:port (got protocol ${u.protocol})`,
    );
  }
  return u;
}

function unreachable(flag: string, url: string, e: unknown): CachebenchError {
  const why = e instanceof Error ? e.message || e.name : String(e);
  return new CachebenchError(
    'INFRA_UNREACHABLE',
    `${flag} ${redactSecrets(url)} did not answer: ${redactSecrets(why)}`,
    {
      cause: e,
    },
  );
}

/** Listen address "0.0.0.0:16379" / "[::]:16379" / "127.0.0.1:16379" → its port. */
export function listenPort(listen: string): number {
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0)
    throw new Error(`unexpected Toxiproxy listen address '${listen}'`);
  return port;
}

/**
 * Where a proxy is reachable from this process: the Toxiproxy host (that is where it listens)
 * and the proxy's listen port, keeping the service URL's credentials and database.
 */
export function proxyUrlFor(serviceUrl: URL, toxiproxyUrl: URL, listen: string): string {
  const u = new URL(serviceUrl.href);
  u.hostname = toxiproxyUrl.hostname;
  u.port = String(listenPort(listen));
  return u.href;
}

// Someone else's services may be farther away than loopback: longer budgets than a local start.
const redisCheck = (url: string) => redisVersion(url, 2_000);
const postgresCheck = (url: string) => postgresVersion(url, { connectMs: 3_000, queryMs: 5_000 });

async function toxiproxyCall(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.trim()}`);
  return text ? JSON.parse(text) : undefined;
}

export async function connectExternalInfra(opts: ExternalInfraOptions): Promise<InfraHandle> {
  const log = opts.log ?? (() => {});
  const redisU = parseUrl('--redis-url', opts.redisUrl, ['redis:', 'rediss:']);
  const pgU = parseUrl('--postgres-url', opts.postgresUrl, ['postgres:', 'postgresql:']);
  const tpU = parseUrl('--toxiproxy-url', opts.toxiproxyUrl, ['http:', 'https:']);
  if (opts.redisProxyUrl) parseUrl('--redis-proxy-url', opts.redisProxyUrl, ['redis:', 'rediss:']);
  if (opts.postgresProxyUrl)
    parseUrl('--postgres-proxy-url', opts.postgresProxyUrl, ['postgres:', 'postgresql:']);
  if (opts.coordinationRedisUrl) {
    parseUrl('--coordination-redis-url', opts.coordinationRedisUrl, ['redis:', 'rediss:']);
    await redisCheck(opts.coordinationRedisUrl).catch((e) => {
      throw unreachable('--coordination-redis-url', opts.coordinationRedisUrl!, e);
    });
  }
  const toxiproxyUrl = tpU.origin;
  // Toxiproxy's API has no authentication: on this machine it must be ours (or root's, e.g. a
  // container engine's port forwarder), never another local user's listener.
  if (['127.0.0.1', 'localhost', '[::1]'].includes(tpU.hostname)) {
    const uid = process.getuid?.();
    assertListenerOwned('--toxiproxy-url', Number(tpU.port || (tpU.protocol === 'https:' ? 443 : 80)), {
      uids: uid === undefined ? [0] : [uid, 0],
    });
  }

  const versions: InfraHandle['versions'] = {};
  const checks = await Promise.allSettled([
    redisCheck(opts.redisUrl).then((v) => {
      versions.redis = v;
    }),
    postgresCheck(opts.postgresUrl).then((v) => {
      versions.postgres = v;
    }),
    toxiproxyCall(toxiproxyUrl, 'GET', '/version').then((v) => {
      versions.toxiproxy =
        typeof v === 'object' && v !== null ? String((v as { version: unknown }).version) : String(v);
    }),
  ]);
  const flags: [string, string][] = [
    ['--redis-url', opts.redisUrl],
    ['--postgres-url', opts.postgresUrl],
    ['--toxiproxy-url', opts.toxiproxyUrl],
  ];
  checks.forEach((c, i) => {
    if (c.status === 'rejected') throw unreachable(flags[i]![0], flags[i]![1], c.reason);
  });

  // The proxies: read them, create the missing ones, re-enable one a crashed run left disabled.
  const existing = (await toxiproxyCall(toxiproxyUrl, 'GET', '/proxies')) as Record<string, ToxiproxyProxy>;
  const created: string[] = [];
  const wanted = [
    { name: 'redis', service: redisU, proxyUrl: opts.redisProxyUrl, defaultPort: DEFAULT_PROXY_PORTS.redis },
    {
      name: 'postgres',
      service: pgU,
      proxyUrl: opts.postgresProxyUrl,
      defaultPort: DEFAULT_PROXY_PORTS.postgres,
    },
  ] as const;
  const proxyUrls: Record<string, string> = {};
  for (const w of wanted) {
    let p = existing[w.name];
    if (!p) {
      const port = w.proxyUrl ? Number(new URL(w.proxyUrl).port) : w.defaultPort;
      // The upstream is the service as this process reaches it: right when Toxiproxy runs on
      // the same host; a remote Toxiproxy should come with its proxies already defined.
      const body = {
        name: w.name,
        listen: `${tpU.hostname === 'localhost' ? '127.0.0.1' : tpU.hostname}:${port}`,
        upstream: `${w.service.hostname}:${w.service.port || (w.name === 'redis' ? 6379 : 5432)}`,
        enabled: true,
      };
      p = (await toxiproxyCall(toxiproxyUrl, 'POST', '/proxies', body)) as ToxiproxyProxy;
      created.push(w.name);
      log(`created toxiproxy proxy '${w.name}' ${p.listen} → ${p.upstream}`);
    } else if (!p.enabled) {
      await toxiproxyCall(toxiproxyUrl, 'POST', `/proxies/${w.name}`, { enabled: true });
      log(`toxiproxy proxy '${w.name}' was disabled (left by an interrupted run?); enabled it`);
    }
    // Toxics left over from an interrupted run would silently skew the first cell.
    const toxics = (await toxiproxyCall(toxiproxyUrl, 'GET', `/proxies/${w.name}/toxics`)) as {
      name: string;
    }[];
    for (const t of toxics) {
      await toxiproxyCall(toxiproxyUrl, 'DELETE', `/proxies/${w.name}/toxics/${t.name}`);
      log(`removed leftover toxic '${t.name}' from proxy '${w.name}'`);
    }
    proxyUrls[w.name] = w.proxyUrl ?? proxyUrlFor(w.service, tpU, p.listen);
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const name of created) {
        await toxiproxyCall(toxiproxyUrl, 'DELETE', `/proxies/${name}`).catch(() => {});
      }
    })();
    return stopping;
  };

  try {
    // Through the proxies, as the target will connect: a wrong listen/host mapping shows here.
    await redisCheck(proxyUrls.redis!).catch((e) => {
      throw unreachable("the 'redis' proxy", proxyUrls.redis!, e);
    });
    await postgresCheck(proxyUrls.postgres!).catch((e) => {
      throw unreachable("the 'postgres' proxy", proxyUrls.postgres!, e);
    });
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    kind: 'external',
    redisUrl: opts.redisUrl,
    redisProxyUrl: proxyUrls.redis!,
    ...(opts.coordinationRedisUrl ? { coordinationRedisUrl: opts.coordinationRedisUrl } : {}),
    postgresUrl: opts.postgresUrl,
    postgresProxyUrl: proxyUrls.postgres!,
    toxiproxyUrl,
    versions,
    pids: [],
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
