/**
 * The cache client's watchdog (target/cache-client.ts) against real Redis through Toxiproxy:
 * one timer enforces every interaction's budget (a command's and a run's, whichever is due
 * first), and a connection that swallows replies is replaced — during use and during the
 * handshake — so the client comes back once the fault ends.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCacheClient, type FailFastCacheClient } from '../target/cache-client.ts';
import { toxiproxy, useInfra } from './helpers/infra.ts';

const infra = useInfra();
const COMMAND_MS = 60;
const SOCKET_MS = 400;
/** Scheduling noise on 2 shared cores. */
const SLACK_MS = 150;

const blackhole = () =>
  toxiproxy(infra().toxiproxyUrl, 'POST', '/proxies/redis/toxics', {
    name: 'watchdog-blackhole',
    type: 'timeout',
    stream: 'downstream',
    attributes: { timeout: 0 },
  });
const heal = () =>
  toxiproxy(infra().toxiproxyUrl, 'DELETE', '/proxies/redis/toxics/watchdog-blackhole').catch(() => {});

const clients: FailFastCacheClient[] = [];
async function client(): Promise<FailFastCacheClient> {
  const c = await createCacheClient({
    url: infra().redisProxyUrl,
    commandTimeoutMs: COMMAND_MS,
    socketTimeoutMs: SOCKET_MS,
    connectTimeoutMs: 300,
    reconnectMaxDelayMs: 100,
    breaker: { failureThreshold: 1000, openMs: 100 },
  });
  clients.push(c);
  return c;
}

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (await cond()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

afterEach(async () => {
  await heal();
  for (const c of clients.splice(0)) await c.close();
});
afterAll(heal);

describe('cache client watchdog', () => {
  it('a GET and a run under a blackhole each fail at their own budget, as timeouts', async () => {
    const c = await client();
    expect((await c.set('wd:k', 'v', 60_000)).ok).toBe(true);
    await blackhole();
    const t0 = performance.now();
    // The run (budget COMMAND_MS + 25) starts first; the GET after it is due earlier.
    const run = c.run('wd-run', (r) => r.get('wd:k')).then((o) => ({ o, ms: performance.now() - t0 }));
    const get = c.get('wd:k').then((o) => ({ o, ms: performance.now() - t0 }));
    const [g, r] = await Promise.all([get, run]);
    expect(g.o.ok).toBe(false);
    expect(r.o.ok).toBe(false);
    if (!g.o.ok) expect(g.o.error.kind).toBe('timeout');
    if (!r.o.ok) expect(r.o.error.kind).toBe('timeout');
    expect(g.ms).toBeGreaterThanOrEqual(COMMAND_MS - 2);
    expect(g.ms).toBeLessThan(COMMAND_MS + SLACK_MS);
    expect(r.ms).toBeGreaterThanOrEqual(COMMAND_MS + 25 - 2);
    expect(r.ms).toBeLessThan(COMMAND_MS + 25 + SLACK_MS);
    expect(g.ms).toBeLessThan(r.ms);
  });

  it('a silent socket is replaced, and the client serves again after the fault', async () => {
    const c = await client();
    expect((await c.set('wd:k', 'v', 60_000)).ok).toBe(true);
    await blackhole();
    expect((await c.get('wd:k')).ok).toBe(false);
    // No reply for SOCKET_MS: the socket is destroyed (the connection is no longer 'ready').
    await until('socket replaced', async () => c.connectionStatus() !== 'ready', SOCKET_MS + 500);
    await heal();
    const back = await until(
      'GET answered again',
      async () => {
        const o = await c.get('wd:k');
        return o.ok && o.value === 'v';
      },
      SOCKET_MS + 2_000,
    );
    console.log(`[watchdog] blackhole healed: GET answered again after ${back.toFixed(0)} ms`);
  });

  it('a connection that never finishes its handshake is replaced, so the client joins later', async () => {
    await blackhole();
    const c = await client();
    // TCP connects (Toxiproxy accepts) but the ready check is never answered: within the bound
    // the socket is destroyed and ioredis reconnects, instead of waiting in 'connect' forever.
    await until('handshake in progress', async () => c.connectionStatus() === 'connect', 2_000);
    const replaced = await until(
      'hung handshake replaced',
      async () => c.connectionStatus() !== 'connect',
      SOCKET_MS + SLACK_MS + 200,
    );
    await heal();
    const back = await until(
      'client ready',
      async () => (await c.set('wd:k2', 'v', 60_000)).ok,
      SOCKET_MS + 3_000,
    );
    console.log(
      `[watchdog] hung handshake replaced after ${replaced.toFixed(0)} ms; healed: client answered after ${back.toFixed(0)} ms`,
    );
  });
});
