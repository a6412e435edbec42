/**
 * The harness's side door into one target instance: counters, the rebuild log, reset. It is a
 * separate server bound to 127.0.0.1 only — never the API's interface — because it exposes
 * internals and a reset that would falsify a run if the load could reach it.
 */
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
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startControlServer(opts: {
  port: number;
  events: TargetInstrumentation;
  metrics: TargetMetrics;
  info: () => ControlInfo;
  /** Extra work on reset (e.g. forgetting per-process state); counters are reset here. */
  onReset?: () => void;
}): Promise<ControlServer> {
  const { events, metrics } = opts;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
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
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${CONTROL_HOST}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
