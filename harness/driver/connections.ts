/**
 * The driver's connections: opened before the first arrival and handed to undici's pools.
 */
import { createRequire } from 'node:module';
import { connect as netConnect, type Socket } from 'node:net';
import type { buildConnector as BuildConnectorT, Pool as PoolT } from 'undici';

// Only undici's connection pool and connector: the package index also loads fetch, WebSocket,
// caches and mocks, about 15 MB of RSS this process never uses.
const requireCjs = createRequire(import.meta.url);
// The targets are plain http://, and HTTP/2 is only ever chosen by TLS ALPN: undici's HTTP/2
// client is never used here, yet loading it loads node:http2 (~6 MB of RSS). Its module slot is
// filled with a function that fails loudly if undici ever calls it.
const h2 = requireCjs.resolve('undici/lib/dispatcher/client-h2.js');
requireCjs.cache[h2] ??= Object.assign(new (requireCjs('node:module') as typeof import('node:module'))(h2), {
  filename: h2,
  loaded: true,
  exports: () => {
    throw new Error('load driver: HTTP/2 is not supported (targets are plain http://)');
  },
});
const Pool = requireCjs('undici/lib/dispatcher/pool.js') as typeof PoolT;
const buildConnector = requireCjs('undici/lib/core/connect.js') as typeof BuildConnectorT;

/**
 * Opens connections to a target before the first arrival, so second 0 pays no TCP handshakes and
 * no burst of extra connections opened while the first ones are still connecting. Connect-only:
 * the target sees sockets but no requests, so its counters stay the run's own. A failed connect
 * is left to the pool (the requests then fail or connect as usual).
 */
class Preconnected {
  private readonly spare: Socket[] = [];
  private readonly fallback: ReturnType<typeof BuildConnectorT>;
  private static readonly onIdleError = function (this: Socket) {
    this.destroy();
  };
  constructor(connectTimeoutMs: number) {
    this.fallback = buildConnector({ timeout: connectTimeoutMs });
  }
  async open(url: string, n: number, timeoutMs: number): Promise<void> {
    const u = new URL(url);
    const port = Number(u.port || 80);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve) => {
            const socket = netConnect({ host, port });
            const timer = setTimeout(() => socket.destroy(), timeoutMs);
            socket.setNoDelay(true).setKeepAlive(true, 60_000);
            socket.on('error', Preconnected.onIdleError);
            socket.once('connect', () => {
              clearTimeout(timer);
              this.spare.push(socket);
              resolve();
            });
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
  /** The pool's connector: a spare open socket when there is one, else a new connection. */
  readonly connect: BuildConnectorT.connector = (opts, callback) => {
    for (let s = this.spare.pop(); s; s = this.spare.pop()) {
      if (s.destroyed || s.readyState !== 'open') continue;
      s.off('error', Preconnected.onIdleError);
      const socket = s;
      // Asynchronously, as undici's own connector answers.
      process.nextTick(() => callback(null, socket));
      return;
    }
    this.fallback(opts, callback);
  };
  close(): void {
    for (const s of this.spare.splice(0)) s.destroy();
  }
}

export interface PoolOptions {
  /** Cap on connections per target. */
  connections: number;
  /** Connections opened per target before the first arrival. */
  preconnect: number;
  requestTimeoutMs: number;
}

export interface TargetPools {
  pools: PoolT[];
  close(): Promise<void>;
}

/** One pool per target, each with `preconnect` connections already open. */
export async function openPools(targets: string[], o: PoolOptions): Promise<TargetPools> {
  const connectTimeout = Math.min(5000, o.requestTimeoutMs);
  const preconnected = targets.map(() => new Preconnected(connectTimeout));
  await Promise.all(targets.map((url, i) => preconnected[i]?.open(url, o.preconnect, connectTimeout)));
  const pools = targets.map(
    (url, i) =>
      new Pool(url, {
        connections: o.connections,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        headersTimeout: o.requestTimeoutMs,
        bodyTimeout: o.requestTimeoutMs,
        connect: (preconnected[i] as Preconnected).connect,
      }),
  );
  return {
    pools,
    async close() {
      await Promise.allSettled(pools.map((p) => p.destroy()));
      for (const p of preconnected) p.close();
    },
  };
}
