/**
 * The harness's side door into one target instance: counters, the rebuild log, reset. It is a
 * separate server bound to 127.0.0.1 only — never the API's interface — because it exposes
 * internals and a reset that would falsify a run if the load could reach it.
 *
 * Loopback is reachable by every local user and by any web page in a local browser, so every
 * request must also carry the per-process random token as the first path segment (the URL the
 * harness gets over IPC is `http://127.0.0.1:<port>/<token>`, so clients append routes to it),
 * name 127.0.0.1/localhost as Host (no DNS rebinding), carry no Origin (browsers always send one
 * cross-origin), and send JSON or no body at all (no form or text/plain "simple" requests).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TargetInstrumentation } from './instrumentation.ts';
import type { TargetMetrics } from './metrics.ts';

export const CONTROL_HOST = '127.0.0.1';

export interface ControlServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ControlInfo {
  instanceId: string;
  strategy: string;
  policy: string;
  pid: number;
  url: string;
  /**
   * Whether the cache client would use Redis now (connected and breaker not open), and the
   * breaker's state: the harness waits for it before the load, so a breaker a slow warm-up
   * tripped does not open the measured load with fallbacks whose cause the counter reset erased.
   */
  cacheAvailable: boolean;
  breaker: string;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** Why a request is not the harness's, or undefined. Checked before any route runs. */
export function refuse(
  req: http.IncomingMessage,
  token: string,
  port: number,
): { status: number; error: string } | undefined {
  const host = req.headers.host ?? '';
  if (host !== `${CONTROL_HOST}:${port}` && host !== `localhost:${port}`) {
    return {
      status: 403,
      error: `host: ${JSON.stringify(host)} is not allowed (allowed: ${CONTROL_HOST}:${port})`,
    };
  }
  if (req.headers.origin !== undefined) {
    return { status: 403, error: 'origin: cross-origin requests are not allowed' };
  }
  const type = req.headers['content-type'];
  if (req.method !== 'GET' && type !== undefined && !JSON_TYPE.test(type)) {
    return {
      status: 415,
      error: `content-type: ${JSON.stringify(type)} is not allowed (allowed: application/json or none)`,
    };
  }
  const given = Buffer.from((req.url ?? '').split(/[/?]/)[1] ?? '');
  const want = Buffer.from(token);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    return {
      status: 401,
      error: 'token: missing or wrong (the control URL carries it as its first path segment)',
    };
  }
  return undefined;
}

export async function startControlServer(opts: {
  port: number;
  events: TargetInstrumentation;
  metrics: TargetMetrics;
  info: () => ControlInfo;
  /** Extra work on reset (e.g. forgetting per-process state); counters are reset here. */
  onReset?: () => void;
  /** The secret path segment; random per process when omitted. */
  token?: string;
}): Promise<ControlServer> {
  const { events, metrics } = opts;
  const token = opts.token ?? randomBytes(24).toString('base64url');
  let port = 0;
  const server = http.createServer((req, res) => {
    const refused = refuse(req, token, port);
    if (refused) return send(res, refused.status, { error: refused.error });
    const url = new URL((req.url ?? '/').slice(token.length + 1) || '/', 'http://control');
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case 'GET /healthz':
          return send(res, 200, { ok: true, ...opts.info() });
        case 'GET /stats':
          return send(res, 200, events.snapshot());
        case 'GET /rebuilds': {
          const raw = url.searchParams.get('since');
          const since = raw === null ? 0 : Number(raw);
          if (!Number.isFinite(since) || since < 0) {
            return send(res, 400, {
              error: `since: ${JSON.stringify(raw)} is not allowed; expected epoch milliseconds >= 0`,
            });
          }
          res.setHeader('x-dropped-events', String(events.droppedEvents));
          return send(res, 200, events.rebuildsSince(since));
        }
        case 'POST /reset':
          events.reset();
          opts.onReset?.();
          return send(res, 200, { ok: true });
        case 'GET /metrics':
          metrics.render().then(
            ({ contentType, body }) => {
              res.writeHead(200, { 'content-type': contentType });
              res.end(body);
            },
            (err: Error) => send(res, 500, { error: err.message }),
          );
          return;
        default:
          return send(res, 404, {
            error: `no control route ${route}; try GET /stats, GET /rebuilds, POST /reset`,
          });
      }
    } catch (err) {
      send(res, 500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, CONTROL_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${CONTROL_HOST}:${port}/${token}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
