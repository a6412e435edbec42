/**
 * The load driver's HTTP/1.1 connections (harness/driver/connections.ts) against raw loopback
 * servers that answer in the shapes a real server may use: split reads, chunked bodies, bodies
 * delimited by the end of the connection, interim 1xx answers, keep-alive connections the server
 * closes while idle, refused connections and responses that never come.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type OutgoingRequest,
  parserCounts,
  type ResponseHandler,
  TargetPool,
} from '../harness/driver/connections.ts';

interface Got {
  status: number;
  headers: readonly string[];
  body: string;
  error?: Error & { code?: string };
}

class Collect implements ResponseHandler {
  status = 0;
  headers: readonly string[] = [];
  chunks: Buffer[] = [];
  retried?: boolean;
  readonly done: Promise<Got>;
  private resolve!: (g: Got) => void;
  constructor() {
    this.done = new Promise((r) => {
      this.resolve = r;
    });
  }
  onResponse(status: number, raw: readonly string[]): void {
    this.status = status;
    this.headers = raw;
  }
  onData(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  keep(): void {
    this.chunks = this.chunks.map((c) => Buffer.from(c));
  }
  onEnd(): void {
    this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks).toString() });
  }
  onError(err: Error): void {
    this.resolve({ status: 0, headers: [], body: '', error: err });
  }
}

const servers: Server[] = [];
const pools: TargetPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A raw server: `answer` gets each request's head (and body) and the socket to write to. */
async function rawServer(
  answer: (req: { head: string; body: string; n: number }, s: Socket) => void,
): Promise<{ url: string; connections: () => number; requests: string[]; sockets: () => Socket[] }> {
  let connections = 0;
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    // Bytes as latin1 characters, so lengths are byte counts; bodies are decoded as UTF-8.
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = Buffer.from(buf.slice(end + 4, end + 4 + len), 'latin1').toString('utf8');
        buf = buf.slice(end + 4 + len);
        requests.push(head.split('\r\n')[0] as string);
        answer({ head, body, n: requests.length }, s);
      }
    });
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests,
    sockets: () => [...sockets],
  };
}

function pool(url: string, o: Partial<{ connections: number; requestTimeoutMs: number }> = {}): TargetPool {
  const p = new TargetPool(url, {
    connections: o.connections ?? 4,
    preconnect: 0,
    requestTimeoutMs: o.requestTimeoutMs ?? 5000,
  });
  pools.push(p);
  return p;
}

function send(p: TargetPool, req: OutgoingRequest): Promise<Got> {
  const c = new Collect();
  p.dispatch(req, c);
  return c.done;
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('driver connections', () => {
  it('sends method, path, host and a JSON body; reads status, headers and body; reuses the connection', async () => {
    const seen: { head: string; body: string }[] = [];
    const srv = await rawServer((req, s) => {
      seen.push(req);
      s.write(ok('{"id":1,"name":"é"}', 'ETag: "v7"\r\n'));
    });
    const p = pool(srv.url);
    const a = await send(p, { method: 'PUT', path: '/users/1', body: '{"name":"é"}' });
    const b = await send(p, { method: 'GET', path: '/users/1' });
    expect(a.status).toBe(200);
    expect(a.body).toBe('{"id":1,"name":"é"}');
    expect(a.headers).toContain('ETag');
    expect(a.headers[a.headers.indexOf('ETag') + 1]).toBe('"v7"');
    expect(seen[0]?.head).toMatch(/^PUT \/users\/1 HTTP\/1\.1\r\n/);
    expect(seen[0]?.head).toMatch(new RegExp(`host: ${new URL(srv.url).host}`));
    expect(seen[0]?.head).toMatch(/content-length: 13/); // "é" is two bytes of UTF-8
    expect(seen[0]?.body).toBe('{"name":"é"}');
    expect(b.status).toBe(200);
    expect(srv.connections()).toBe(1);
  });

  it('parses a response split across reads, a chunked body and a body delimited by the end of the connection', async () => {
    const srv = await rawServer((req, s) => {
      if (req.n === 1) {
        const r = ok('{"split":true}', 'x-a: 1\r\n');
        s.write(r.slice(0, 7));
        setTimeout(() => s.write(r.slice(7, 40)), 20);
        setTimeout(() => s.write(r.slice(40)), 40);
      } else if (req.n === 2) {
        s.write('HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\n');
        setTimeout(() => s.write('2\r\n1}\r\n0\r\n\r\n'), 20);
      } else {
        s.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n{"error":"gone"}');
      }
    });
    const p = pool(srv.url);
    expect(await send(p, { method: 'GET', path: '/a' })).toMatchObject({
      status: 200,
      body: '{"split":true}',
    });
    expect(await send(p, { method: 'GET', path: '/b' })).toMatchObject({ status: 201, body: '{"a":1}' });
    expect(await send(p, { method: 'GET', path: '/c' })).toMatchObject({
      status: 404,
      body: '{"error":"gone"}',
    });
  });

  it('skips interim 1xx answers', async () => {
    const srv = await rawServer((_req, s) => {
      s.write('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n');
      s.write(ok('{"v":1}'));
    });
    expect(await send(pool(srv.url), { method: 'GET', path: '/' })).toMatchObject({
      status: 200,
      body: '{"v":1}',
    });
  });

  it('sends a request again, once, when the server closed the idle keep-alive connection it went to', async () => {
    const srv = await rawServer((req, s) => {
      s.write(ok(`{"n":${req.n}}`));
      // The server drops the connection after answering, without saying so in the response.
      if (req.n === 1) setTimeout(() => s.destroy(), 10);
    });
    const p = pool(srv.url);
    expect((await send(p, { method: 'GET', path: '/1' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const again = await send(p, { method: 'GET', path: '/2' });
    expect(again).toMatchObject({ status: 200, body: '{"n":2}' });
    expect(srv.connections()).toBe(2);
  });

  it('fails a request the server resets mid-response, and does not send it again', async () => {
    const srv = await rawServer((_req, s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial');
      setTimeout(() => s.destroy(), 20);
    });
    const got = await send(pool(srv.url), { method: 'GET', path: '/' });
    expect(got.status).toBe(0);
    expect(got.error?.code).toBe('ECONNRESET');
    expect(srv.requests).toHaveLength(1);
  });

  it('fails requests to a closed port with ECONNREFUSED', async () => {
    const srv = await rawServer(() => {});
    const url = srv.url;
    await new Promise((r) => (servers.pop() as Server).close(r));
    const got = await Promise.all([send(pool(url), { method: 'GET', path: '/' })]);
    expect(got[0]?.error?.code).toBe('ECONNREFUSED');
  });

  it('times out a response that never comes, and the connection is not reused', async () => {
    const srv = await rawServer((req, s) => {
      if (req.n > 1) s.write(ok('{}'));
    });
    const p = pool(srv.url, { requestTimeoutMs: 200 });
    const t0 = performance.now();
    const got = await send(p, { method: 'GET', path: '/slow' });
    const took = performance.now() - t0;
    expect(got.error?.code).toBe('ETIMEDOUT');
    expect(took).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(1000);
    expect((await send(p, { method: 'GET', path: '/next' })).status).toBe(200);
    expect(srv.connections()).toBe(2);
  });

  it('never opens more connections than its cap; requests beyond it wait their turn', async () => {
    const open = new Set<Socket>();
    let maxOpen = 0;
    const srv = await rawServer((_req, s) => {
      open.add(s);
      maxOpen = Math.max(maxOpen, open.size);
      setTimeout(() => {
        open.delete(s);
        s.write(ok('{}'));
      }, 10);
    });
    const p = pool(srv.url, { connections: 3 });
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(p, { method: 'GET', path: `/${i}` })),
    );
    expect(got.every((g) => g.status === 200)).toBe(true);
    expect(srv.connections()).toBe(3);
    expect(maxOpen).toBe(3);
    expect(srv.requests).toHaveLength(20);
  });

  it('opens connections ahead of the first request (connect-only)', async () => {
    const srv = await rawServer((_req, s) => s.write(ok('{}')));
    const p = new TargetPool(srv.url, { connections: 8, preconnect: 5, requestTimeoutMs: 5000 });
    pools.push(p);
    await p.preconnect(5, 2000);
    // The server's accepts may trail the client's connects by a turn of the event loop.
    for (let i = 0; i < 100 && srv.connections() < 5; i++) await new Promise((r) => setTimeout(r, 10));
    expect(srv.connections()).toBe(5);
    expect(srv.requests).toHaveLength(0);
    await Promise.all(Array.from({ length: 5 }, () => send(p, { method: 'GET', path: '/' })));
    expect(srv.connections()).toBe(5);
  });

  it('lends a parser to each response while it is read, not to each open connection', async () => {
    // Every answer comes in two reads 40 ms apart: between them each response holds its parser.
    const srv = await rawServer((_req, s) => {
      const r = ok('{"half":true}');
      s.write(r.slice(0, 20));
      setTimeout(() => s.write(r.slice(20)), 40);
    });
    const p = new TargetPool(srv.url, { connections: 12, preconnect: 12, requestTimeoutMs: 5000 });
    pools.push(p);
    await p.preconnect(12, 2000);
    const base = parserCounts().lent;
    expect(p.size).toBe(12);
    const all = Promise.all(Array.from({ length: 12 }, (_, i) => send(p, { method: 'GET', path: `/${i}` })));
    for (let i = 0; i < 100 && parserCounts().lent - base < 12; i++)
      await new Promise((r) => setTimeout(r, 2));
    expect(parserCounts().lent - base).toBe(12);
    expect((await all).every((g) => g.status === 200 && g.body === '{"half":true}')).toBe(true);
    // Complete: every parser is back, while the 12 connections stay open and idle.
    expect(parserCounts().lent).toBe(base);
    expect(parserCounts().free).toBeGreaterThanOrEqual(1);
    expect(p.size).toBe(12);
    // One at a time, the twelve connections share one parser.
    const free = parserCounts().free;
    for (let i = 0; i < 12; i++) expect((await send(p, { method: 'GET', path: '/' })).status).toBe(200);
    expect(parserCounts()).toEqual({ lent: base, free });
  });

  it("drops a connection the server answered unasked (Node's 408 on an idle connection) and loses no request", async () => {
    // Node's server answers a connection that sent nothing within headersTimeout with a 408
    // (Connection: close, no length: the body ends with the connection) and closes it. Such a
    // connection once went back into the idle list twice; the stale entry then took a request
    // that was written to a closed socket and never answered nor failed.
    const srv = await rawServer((_req, s) => s.write(ok('{"fresh":true}')));
    const p = new TargetPool(srv.url, { connections: 20, preconnect: 6, requestTimeoutMs: 2000 });
    pools.push(p);
    await p.preconnect(6, 2000);
    expect(p.size).toBe(6);
    // The server's accepts may trail the client's connects by a turn of the event loop.
    for (let i = 0; i < 100 && srv.connections() < 6; i++) await new Promise((r) => setTimeout(r, 10));
    // The preconnected connections get the unsolicited answer and are closed by the server.
    for (const s of srv.sockets()) s.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    for (let i = 0; i < 100 && p.size > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(p.size).toBe(0);
    const answered = Promise.all(
      Array.from({ length: 12 }, (_, i) => send(p, { method: 'GET', path: `/${i}` })),
    );
    const lost = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('requests neither answered nor failed within 5 s')), 5000).unref(),
    );
    const got = await Promise.race([answered, lost]);
    expect(got.map((g) => g.status)).toEqual(Array(12).fill(200));
    expect(got.every((g) => g.body === '{"fresh":true}')).toBe(true);
  });
});
