/**
 * The driver's HTTP/1.1 client: keep-alive connections to each target, opened before the first
 * arrival, one request at a time per connection, parsed by Node's own llhttp binding.
 *
 * Why not undici here (it was, and the harness still uses it elsewhere): the load driver is the
 * instrument, and at 5,000 req/s undici allocated ~8 KB per request (request objects, header
 * Buffers, timers), enough that a mark-compact ran every second and paused the scheduler for
 * 2-14 ms, and loading it (its llhttp as WebAssembly) took ~15 MB of the driver's resident set
 * (docs/architecture.md "Built-in load driver"). The driver needs little of a general client:
 * plain http:// on loopback, no redirects, no proxies, no TLS, no pipelining, bodies read
 * whole. Parsing is not hand-written: `node:_http_common`'s HTTPParser is the native llhttp
 * that node:http itself runs (chunked bodies, keep-alive, read-until-close all handled there); it
 * costs no extra memory to load, and `checkParser` fails loudly at start-up if a Node release
 * changes its shape.
 */
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { reserveDescriptorsInBackground } from '../../target/fd-table.ts';

/** What a connection reports about the one request it carries. */
export interface ResponseHandler {
  /** Final (non-1xx) status and the raw header list [name, value, name, value, …]. */
  onResponse(status: number, rawHeaders: readonly string[]): void;
  /**
   * A piece of the body. It points into the read buffer all connections share and is valid only
   * until the read that delivered it returns: a handler keeps it past that only by copying it in
   * `keep`.
   */
  onData(chunk: Buffer): void;
  /** The read returned and the response is not complete: copy any body pieces held. */
  keep(): void;
  onEnd(): void;
  onError(err: Error): void;
  /** Set by the pool when the request was sent again after a stale keep-alive connection closed. */
  retried?: boolean;
}

export interface OutgoingRequest {
  method: string;
  path: string;
  body?: string;
}

interface HttpParser {
  initialize(type: number, resource: object): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  /** The connection whose response it is parsing (the callbacks are installed once per parser). */
  owner: Connection | undefined;
  [slot: number]: unknown;
}
interface HttpParserClass {
  new (): HttpParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

const requireCjs = createRequire(import.meta.url);
/**
 * Every connection reads into this one buffer (net's `onread`): no Buffer and no stream machinery
 * per read. Safe because a read is parsed to the end before the next one is delivered.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const Parser = checkParser((requireCjs('node:_http_common') as { HTTPParser?: unknown }).HTTPParser);

function checkParser(p: unknown): HttpParserClass {
  const c = p as HttpParserClass | undefined;
  const slots = ['RESPONSE', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'] as const;
  if (typeof c !== 'function' || slots.some((k) => typeof c[k] !== 'number'))
    throw new Error(
      `load driver: this Node.js (${process.version}) has no usable HTTP parser in node:_http_common; use Node 22 or 24`,
    );
  return c;
}

export class RequestTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`no complete response within ${ms} ms`);
  }
}

class SocketClosedError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('the connection closed before the response was complete');
  }
}

/**
 * Parsers are lent to responses, not owned by connections: a native llhttp parser holds ~6 KB
 * (measured: 1,000 parsers +6.1 MB resident, 1,000 loopback sockets +8.5 MB), and a pool that
 * grew to its cap under a stall keeps hundreds of idle connections while only the few responses
 * being read at one moment need one. A connection takes a parser on the first bytes of a response
 * and gives it back when the response is complete (node:http's client frees its parsers the same
 * way when a keep-alive socket goes back to its agent).
 */
const freeParsers: HttpParser[] = [];
/** Beyond this many idle parsers, a returned one is closed. */
const FREE_PARSERS_MAX = 64;
let lentParsers = 0;

/** Parsers lent to responses being read, and idle ones kept for reuse (tests check the lending). */
export function parserCounts(): { lent: number; free: number } {
  return { lent: lentParsers, free: freeParsers.length };
}

function newParser(): HttpParser {
  const p = new Parser();
  // The callbacks are called with the parser as `this`; they forward to the connection it serves.
  p[Parser.kOnHeaders] = function (this: HttpParser, h: string[]) {
    this.owner?.onHeaders(h);
  };
  p[Parser.kOnHeadersComplete] = function (
    this: HttpParser,
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: unknown,
    _url: unknown,
    status: number,
  ): number {
    this.owner?.onHeadersComplete(headers, status);
    return 0;
  };
  p[Parser.kOnBody] = function (this: HttpParser, chunk: Buffer) {
    this.owner?.onBody(chunk);
  };
  p[Parser.kOnMessageComplete] = function (this: HttpParser) {
    this.owner?.onMessageComplete();
  };
  return p;
}

function takeParser(owner: Connection): HttpParser {
  const p = freeParsers.pop() ?? newParser();
  // initialize() resets llhttp's state: a parser comes back clean whatever it parsed before.
  p.initialize(Parser.RESPONSE, {});
  p.owner = owner;
  lentParsers++;
  return p;
}

function returnParser(p: HttpParser): void {
  lentParsers--;
  p.owner = undefined;
  if (freeParsers.length < FREE_PARSERS_MAX) freeParsers.push(p);
  else p.close();
}

/**
 * One keep-alive connection. Carries one request at a time; reports its response to the handler
 * and hands itself back to the pool when the response ends.
 */
class Connection {
  readonly socket: Socket;
  /** Lent while a response is being read (see freeParsers). */
  private parser: HttpParser | undefined;
  /** The parser finished a (final) response during the current execute/finish call. */
  private responseDone = false;
  /** The request in flight, its handler and when it was written (for the timeout sweep). */
  handler: ResponseHandler | undefined;
  request: OutgoingRequest | undefined;
  sentAt = 0;
  /** Responses completed on this connection: a reused one may have been closed by the server while idle. */
  completed = 0;
  /** Bytes of the current response seen: none means the request may be retried elsewhere. */
  private started = false;
  private interim = false;
  private headers: string[] = [];
  connected = false;
  /** In the pool's idle list (a connection must be there at most once). */
  inIdle = false;
  /**
   * A response came that no request asked for (Node's server answers a connection idle past its
   * `headersTimeout` with an unsolicited 408 and closes it): the connection is not reused.
   */
  private unsolicited = false;
  private closed = false;
  private readonly pool: TargetPool;
  constructor(pool: TargetPool, host: string, port: number) {
    this.pool = pool;
    this.socket = connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.read(n, buf);
          return true;
        },
      },
    });
    this.socket.on('connect', () => {
      this.connected = true;
      this.pool.connected(this);
    });
    this.socket.on('end', () => {
      // A body delimited by the end of the connection completes here. Without a parser no byte
      // of a response came: the 'close' that follows fails (or retries) the request.
      // finish() fails when the response was cut short: that is the connection's fault, not a parse error.
      const p = this.parser;
      if (!p) return;
      if (p.finish() instanceof Error) this.destroy(new SocketClosedError(), false);
      else this.afterParse();
      if (this.unsolicited) this.destroy(undefined, false);
    });
    this.socket.on('error', (err) => this.destroy(err, true));
    this.socket.on('close', () => this.destroy(undefined, true));
  }
  // Headers split across reads arrive in pieces (kOnHeaders) before kOnHeadersComplete.
  onHeaders(h: string[]): void {
    for (const v of h) this.headers.push(v);
  }
  onHeadersComplete(headers: string[] | undefined, status: number): void {
    const raw = headers ?? this.headers;
    this.headers = [];
    // 1xx answers (103 Early Hints, say) precede the real one.
    this.interim = status < 200;
    if (!this.interim) this.handler?.onResponse(status, raw);
  }
  onBody(chunk: Buffer): void {
    if (!this.interim) this.handler?.onData(chunk);
  }
  onMessageComplete(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    this.responseDone = true;
    const h = this.handler;
    if (!h) {
      // Destroyed by the caller once the parser has returned (not inside its callback).
      this.unsolicited = true;
      return;
    }
    this.handler = undefined;
    this.request = undefined;
    this.started = false;
    this.completed++;
    // Free before the handler runs: what it sends next may take this very connection.
    this.pool.released(this);
    h?.onEnd();
  }
  /** After the parser returned: a complete response gives the parser back. */
  private afterParse(): void {
    if (!this.responseDone) return;
    this.responseDone = false;
    const p = this.parser;
    this.parser = undefined;
    if (p) returnParser(p);
  }
  private read(n: number, buf: Uint8Array): void {
    this.started = true;
    this.parser ??= takeParser(this);
    const r = this.parser.execute((buf as Buffer).subarray(0, n));
    if (r instanceof Error) this.destroy(r, false);
    else {
      this.handler?.keep();
      this.afterParse();
      if (this.unsolicited) this.destroy(undefined, false);
    }
  }
  get idle(): boolean {
    return this.connected && !this.closed && !this.unsolicited && this.handler === undefined;
  }
  send(req: OutgoingRequest, handler: ResponseHandler, at: number): void {
    this.handler = handler;
    this.request = req;
    this.sentAt = at;
    this.started = false;
    const head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.pool.hostHeader}\r\n`;
    this.socket.write(
      req.body === undefined
        ? `${head}\r\n`
        : `${head}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(req.body)}\r\n\r\n${req.body}`,
    );
  }
  /**
   * Closes the connection; a request in flight fails, or goes elsewhere when `retryable` (the
   * socket closed or reset, not a timeout or a malformed response) and nothing came back yet.
   */
  destroy(err?: Error, retryable = false): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    // Closed, not returned: it may have stopped in the middle of a response.
    if (this.parser) {
      lentParsers--;
      this.parser.owner = undefined;
      this.parser.close();
      this.parser = undefined;
    }
    const h = this.handler;
    const req = this.request;
    this.handler = undefined;
    this.request = undefined;
    this.pool.removed(this, err);
    if (!h || !req) return;
    // A keep-alive connection the server closed while idle fails the next request written to it
    // before any byte comes back; that request never reached the application, so it is sent
    // again once, on another connection (as browsers and undici do for idempotent requests).
    if (retryable && !this.started && this.completed > 0 && !h.retried) {
      h.retried = true;
      this.pool.dispatch(req, h);
      return;
    }
    h.onError(err ?? new SocketClosedError());
  }
}

export interface PoolOptions {
  /** Cap on connections per target. */
  connections: number;
  /** Connections opened per target before the first arrival. */
  preconnect: number;
  requestTimeoutMs: number;
}

const now = () => performance.now();

/**
 * The connections to one target. A request takes an idle connection, else opens a new one up to
 * the cap, else waits (first come, first served) for one to come free. The caller bounds the
 * number of requests in flight.
 */
export class TargetPool {
  readonly hostHeader: string;
  private readonly host: string;
  private readonly port: number;
  private readonly all = new Set<Connection>();
  /** Connections open or opening (CACHEBENCH_DRIVER_DEBUG prints it). */
  get size(): number {
    return this.all.size;
  }
  private readonly idle: Connection[] = [];
  private waiting: { req: OutgoingRequest; handler: ResponseHandler }[] = [];
  private waitingHead = 0;
  private readonly sweep: NodeJS.Timeout;
  private closing = false;
  private connectWaiters: (() => void)[] = [];
  private readonly o: PoolOptions;
  constructor(url: string, o: PoolOptions) {
    this.o = o;
    const u = new URL(url);
    if (u.protocol !== 'http:') throw new Error(`load driver: ${url}: only http:// targets are supported`);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 80);
    this.hostHeader = u.host;
    // One timer for every request's timeout instead of one per request: a response overdue by
    // up to a quarter second more than the limit is still an error with the same figures.
    this.sweep = setInterval(() => this.expire(), Math.min(250, Math.max(10, o.requestTimeoutMs / 4)));
    this.sweep.unref();
  }
  /** Opens `n` connections and resolves when each is open or failed (a failure is left to the requests). */
  async preconnect(n: number, timeoutMs: number): Promise<void> {
    const opening: Connection[] = [];
    for (let i = 0; i < n && this.all.size < this.o.connections; i++) opening.push(this.open());
    const deadline = now() + timeoutMs;
    while (opening.some((c) => !c.connected && this.all.has(c)) && now() < deadline) {
      await new Promise<void>((resolve) => {
        this.connectWaiters.push(resolve);
        setTimeout(resolve, Math.max(1, deadline - now())).unref();
      });
    }
    for (const c of opening) if (!c.connected) c.destroy();
  }
  dispatch(req: OutgoingRequest, handler: ResponseHandler): void {
    if (this.closing) {
      handler.onError(new SocketClosedError());
      return;
    }
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      c.inIdle = false;
      // Defensive: only an open connection without a request takes one (a request written to a
      // destroyed socket would vanish without an answer or an error).
      if (c.idle) {
        c.send(req, handler, now());
        return;
      }
    }
    this.waiting.push({ req, handler });
    this.openForWaiting();
  }
  /**
   * Opens a connection when more requests wait than connections are being opened: one that
   * comes free meanwhile serves a waiting request, and the connection opened for it would only
   * idle (each one holds ~8.5 KB of the driver's resident set for the rest of the run).
   */
  private openForWaiting(): void {
    if (this.all.size < this.o.connections && this.waiting.length - this.waitingHead > this.opening)
      this.open();
  }
  /** Connections opened and not yet connected (nor failed). */
  private opening = 0;
  private open(): Connection {
    const c = new Connection(this, this.host, this.port);
    this.all.add(c);
    this.opening++;
    return c;
  }
  /** A connection opened or came free: it takes the oldest waiting request, else goes idle. */
  connected(c: Connection): void {
    this.opening--;
    for (const w of this.connectWaiters.splice(0)) w();
    this.released(c);
  }
  released(c: Connection): void {
    if (!c.idle) return;
    if (this.waitingHead < this.waiting.length) {
      const w = this.waiting[this.waitingHead] as { req: OutgoingRequest; handler: ResponseHandler };
      this.waiting[this.waitingHead++] = undefined as never;
      if (this.waitingHead === this.waiting.length) {
        this.waiting = [];
        this.waitingHead = 0;
      }
      c.send(w.req, w.handler, now());
    } else if (!c.inIdle) {
      c.inIdle = true;
      this.idle.push(c);
    }
  }
  removed(c: Connection, err: Error | undefined): void {
    this.all.delete(c);
    if (!c.connected) this.opening--;
    if (c.inIdle) {
      c.inIdle = false;
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    }
    for (const w of this.connectWaiters.splice(0)) w();
    if (this.closing || this.waitingHead === this.waiting.length) return;
    // Requests still wait for a connection. A connection that was open is replaced; one that
    // never opened means the target refuses: they fail, unless another connection may serve them.
    if (c.connected) this.openForWaiting();
    else if (this.all.size === 0) this.failWaiting(err ?? new SocketClosedError());
  }
  private failWaiting(err: Error): void {
    const w = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    for (const x of w) x.handler.onError(err);
  }
  private expire(): void {
    const limit = this.o.requestTimeoutMs;
    const t = now();
    for (const c of this.all)
      if (c.handler && t - c.sentAt > limit) c.destroy(new RequestTimeoutError(limit), false);
  }
  /** Fails what is waiting and closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweep);
    this.failWaiting(new SocketClosedError());
    for (const c of [...this.all]) c.destroy();
  }
}

export interface TargetPools {
  pools: TargetPool[];
  close(): Promise<void>;
}

/** One pool per target, each with `preconnect` connections already open. */
export async function openPools(targets: string[], o: PoolOptions): Promise<TargetPools> {
  // Every connection the pools may open, plus room for the history file, pipes and the runtime's
  // own: a pool that grows under a stall must not also wait for the descriptor table to grow.
  await reserveDescriptorsInBackground(targets.length * o.connections + 64);
  const pools = targets.map((url) => new TargetPool(url, o));
  const connectTimeout = Math.min(5000, o.requestTimeoutMs);
  await Promise.all(pools.map((p) => p.preconnect(o.preconnect, connectTimeout)));
  return {
    pools,
    async close() {
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}
