/**
 * The target's HTTP API (docs/architecture.md "Target HTTP API"). Routes validate input, build
 * keys (keys.ts), hand the strategy `load`/`write` closures over the counted DB, and answer with
 * the version(s) the data reflects. Client input can only produce 4xx; 5xx means the server or
 * its dependencies failed (503 when the database or, fail-closed, Redis is unavailable).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Db, UserRow } from './db.ts';
import { DbError } from './db.ts';
import { endpointContext, ReadScope, type TargetInstrumentation } from './instrumentation.ts';
import { entityKey, type Keys, TEAM_MEMBERS_DEFAULTS } from './keys.ts';
import { mountLeaderboard, type RedisLeaderboard } from './leaderboard.ts';
import type { TargetMetrics } from './metrics.ts';
import type {
  IncrementRequest,
  ReadResult,
  ReadSource,
  Strategy,
  Versioned,
  WriteRequest,
} from './strategy.ts';
import { requestForKey } from './warm-requests.ts';

export interface AppDeps {
  db: Db;
  strategy: Strategy;
  keys: Keys;
  events: TargetInstrumentation;
  metrics: TargetMetrics;
  instanceId: string;
  maxBodyBytes: number;
  /** The /leaderboard routes' Redis board (leaderboard.ts); without it they are not mounted. */
  leaderboard?: RedisLeaderboard;
}

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

const MAX_INT4 = 2_147_483_647;
const NAME_MAX = 100;
const EMAIL_MAX = 254;
const BY_MAX = 1_000_000;
const MEMBERS_LIMIT_MAX = 1000;

/** Client-supplied text echoed in an error message: short and printable. */
function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function parseId(field: string, raw: unknown): number {
  if (typeof raw === 'string' && /^[1-9][0-9]{0,9}$/.test(raw)) {
    const n = Number(raw);
    if (n <= MAX_INT4) return n;
  }
  throw new HttpError(
    400,
    `${field}: ${show(raw)} is not allowed; expected an integer from 1 to ${MAX_INT4}`,
  );
}

function parseQueryInt(
  query: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const raw = query[field];
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && /^(0|[1-9][0-9]{0,9})$/.test(raw)) {
    const n = Number(raw);
    if (n >= min && n <= max) return n;
  }
  throw new HttpError(
    400,
    `${field}: ${show(raw)} is not allowed; expected an integer from ${min} to ${max}`,
  );
}

/** A body was sent (whatever its type), as opposed to none at all. */
function hasBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function requireObjectBody(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined && hasBody(req)) {
    // express.json only parses application/json: anything else arrives unparsed.
    throw new HttpError(
      400,
      `content-type: ${show(req.headers['content-type'] ?? '')} is not allowed; expected application/json`,
    );
  }
  if (b === undefined) {
    throw new HttpError(400, 'body: missing; expected a JSON object sent with content-type application/json');
  }
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw new HttpError(400, `body: ${show(b)} is not allowed; expected a JSON object`);
  }
  return b as Record<string, unknown>;
}

function rejectUnknownFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) {
      throw new HttpError(400, `${show(k)}: unknown field; allowed fields are ${allowed.join(', ')}`);
    }
  }
}

// Printable text without control characters (they would end up in logs and keys).
function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parseUserPatch(req: Request): { name?: string; email?: string } {
  const body = requireObjectBody(req);
  rejectUnknownFields(body, ['name', 'email']);
  const patch: { name?: string; email?: string } = {};
  if (body.name !== undefined) {
    const v = body.name;
    if (
      typeof v !== 'string' ||
      v.trim() === '' ||
      v.length > NAME_MAX ||
      hasControlChars(v) ||
      !v.isWellFormed()
    ) {
      throw new HttpError(
        400,
        `name: ${show(v)} is not allowed; expected a non-empty string of at most ${NAME_MAX} printable characters`,
      );
    }
    patch.name = v;
  }
  if (body.email !== undefined) {
    const v = body.email;
    if (
      typeof v !== 'string' ||
      v.length > EMAIL_MAX ||
      !/^[^\s@]+@[^\s@]+$/.test(v) ||
      hasControlChars(v) ||
      !v.isWellFormed()
    ) {
      throw new HttpError(
        400,
        `email: ${show(v)} is not allowed; expected an address like a@b.test of at most ${EMAIL_MAX} characters`,
      );
    }
    patch.email = v;
  }
  if (patch.name === undefined && patch.email === undefined) {
    throw new HttpError(400, 'body: expected at least one of name, email');
  }
  return patch;
}

function parseIncrement(req: Request): number {
  // No body at all means "by 1".
  if (req.body === undefined && !hasBody(req)) return 1;
  const body = requireObjectBody(req);
  rejectUnknownFields(body, ['by']);
  const v = body.by;
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > BY_MAX) {
    throw new HttpError(400, `by: ${show(v)} is not allowed; expected an integer from 1 to ${BY_MAX}`);
  }
  return v;
}

const X_CACHE: Record<ReadSource, string> = {
  cache: 'hit',
  db: 'miss',
  stale: 'stale',
  fallback: 'fallback',
};

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** dependsOn of a read that depends on no aggregate (shared: strategies only read it). */
const NO_DEPENDENCIES: string[] = [];

/** Recognizes the strategies' "cache unavailable" error of the fail-closed policy. */
function isCacheUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown };
  return (
    e?.code === 'CACHE_UNAVAILABLE' ||
    e?.name === 'CacheUnavailableError' ||
    (typeof e?.code === 'string' && e.code.startsWith('CACHE_') && e.code.includes('UNAVAILABLE'))
  );
}

let lastErrorLog = 0;
function logServerError(err: unknown): void {
  // At most one line per second: a dependency outage must not flood stderr.
  const now = Date.now();
  if (now - lastErrorLog < 1000) return;
  lastErrorLog = now;
  const e = err as Error;
  process.stderr.write(`[target] request failed: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}\n`);
}

export function createApp(deps: AppDeps): express.Express {
  const { db, strategy, keys, events, metrics, instanceId } = deps;
  const noCache = strategy.name === 'no-cache';
  const app = express();
  // ETags hash every body and conditional GETs would hide versions from the driver.
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.set('query parser', 'simple');

  const jsonBody = express.json({ limit: deps.maxBodyBytes, strict: false, type: 'application/json' });

  /**
   * Wraps a handler: endpoint context for DB counting, request count, latency, errors. Read
   * routes (`context: false`) skip the endpoint context: their only DB access is the load closure,
   * which enters it itself (instrumentation.ts `observeLoad`), so a hit does not pay for it.
   */
  const route = (
    endpoint: string,
    handler: (req: Request, res: Response) => Promise<void>,
    opts: { context?: boolean } = {},
  ) => {
    const observe = metrics.observer(endpoint);
    const read = opts.context === false;
    const run = read
      ? handler
      : (req: Request, res: Response) => endpointContext.run(endpoint, handler, req, res);
    // Kept allocation-light: this runs on every request, including the cache-hit path.
    return (req: Request, res: Response, next: NextFunction): void => {
      const t0 = performance.now();
      events.httpRequest(endpoint);
      // A read sends x-instance with its answer (sendRead) or the error handler's, so its headers
      // go out in one writeHead list instead of through Node's per-header map.
      if (!read) res.setHeader('x-instance', instanceId);
      let done: Promise<void>;
      try {
        done = run(req, res);
      } catch (err) {
        // A read handler is a plain function (no async layer on the hit path): it may throw.
        done = Promise.reject(err);
      }
      done.then(
        () => observe(res.statusCode, performance.now() - t0),
        (err: unknown) => {
          next(err);
          observe(res.statusCode, performance.now() - t0);
        },
      );
    };
  };
  const READ = { context: false };

  /**
   * A hit carries the cached JSON text (ReadResult.json): send it as is, no re-serialization. The
   * headers go as one list to writeHead (nothing set before on a read route): Node validates them
   * as setHeader would but builds no per-header map; the length is given, so no chunked encoding.
   */
  const sendRead = (res: Response, r: ReadResult<Versioned>): void => {
    const body = r.json ?? JSON.stringify(r.value);
    res.writeHead(200, [
      'x-instance',
      instanceId,
      'x-cache',
      noCache ? 'none' : X_CACHE[r.source],
      'content-type',
      JSON_CONTENT_TYPE,
      'content-length',
      String(Buffer.byteLength(body)),
    ]);
    res.end(body);
  };

  /**
   * Every read goes through here: the load closure the strategy gets is wrapped so the target
   * itself records each source load, and the read is classified by what the target saw
   * (instrumentation.ts `settleRead`), whatever the strategy reports; then the answer is sent.
   * Read handlers return this promise as is (they are not async themselves): one promise and one
   * microtask fewer between the Redis reply and the response.
   */
  const readAndSend = async <T extends Versioned>(
    res: Response,
    endpoint: string,
    key: string,
    namespace: string,
    dependsOn: string[],
    load: () => Promise<T>,
  ): Promise<void> => {
    const scope = new ReadScope(key, namespace, endpoint);
    let r: ReadResult<T>;
    try {
      r = await strategy.read({ key, namespace, dependsOn, load: () => events.observeLoad(scope, load) });
    } catch (err) {
      events.settleRead(scope, undefined);
      throw err;
    }
    events.settleRead(scope, r.source);
    sendRead(res, r);
  };

  const userValue = (u: UserRow) => ({ user: u, versions: { [entityKey('user', u.id)]: u.version } });

  /**
   * An update or a delete of a user, through the strategy's write path: the team decides which
   * aggregates embed the user (memberships never change via the API), so their keys are
   * invalidated and the team namespace bumped after `commit`, which the target observes.
   */
  const userWrite = async <T extends Versioned>(
    res: Response,
    id: number,
    kind: WriteRequest<T>['kind'],
    commit: () => Promise<T>,
  ): Promise<void> => {
    const teamId = await db.getUserTeam(id);
    if (teamId === null) throw new HttpError(404, `user ${id} not found`);
    const committed = await strategy.write({
      kind,
      key: keys.user(id),
      namespace: 'user',
      invalidates: [keys.teamMembers(teamId), keys.teamReport(teamId)],
      bumps: [keys.teamNamespace(teamId)],
      write: () => events.observeCall(commit),
    });
    res.setHeader('x-cache', 'none');
    res.json(committed);
  };

  app.get(
    '/users/:id',
    route(
      'read-user',
      (req, res) => {
        const id = parseId('id', req.params.id);
        return readAndSend(res, 'read-user', keys.user(id), 'user', NO_DEPENDENCIES, async () => {
          const u = await db.getUser(id);
          if (!u) throw new HttpError(404, `user ${id} not found`);
          return userValue(u);
        });
      },
      READ,
    ),
  );

  app.put(
    '/users/:id',
    jsonBody,
    route('update-user', async (req, res) => {
      const id = parseId('id', req.params.id);
      const patch = parseUserPatch(req);
      await userWrite(res, id, 'update', async () => {
        const u = await db.updateUser(id, patch);
        if (!u) throw new HttpError(404, `user ${id} not found`);
        return userValue(u);
      });
    }),
  );

  /**
   * A delete goes through the strategy's write path like an update (kind 'delete'): the user key
   * and the team aggregates that embed the user are invalidated after the commit. The answer
   * carries the tombstone version (last version + 1), so the history shows any later read that
   * still returns the user as stale (docs/measurements.md "Deletes").
   */
  app.delete(
    '/users/:id',
    route('delete-user', async (req, res) => {
      const id = parseId('id', req.params.id);
      await userWrite(res, id, 'delete', async () => {
        const d = await db.deleteUser(id);
        if (!d) throw new HttpError(404, `user ${id} not found`);
        return {
          deleted: { id: d.id, teamId: d.teamId },
          versions: { [entityKey('user', id)]: d.version + 1 },
        };
      });
    }),
  );

  app.get(
    '/teams/:id/members',
    route(
      'read-team-members',
      (req, res) => {
        const teamId = parseId('id', req.params.id);
        const q = req.query as Record<string, unknown>;
        const limit = parseQueryInt(q, 'limit', 1, MEMBERS_LIMIT_MAX);
        const offset = parseQueryInt(q, 'offset', 0, MAX_INT4);
        const page = {
          limit: limit ?? TEAM_MEMBERS_DEFAULTS.limit,
          offset: offset ?? TEAM_MEMBERS_DEFAULTS.offset,
        };
        return readAndSend(
          res,
          'read-team-members',
          keys.teamMembers(teamId, page),
          'team-members',
          [keys.teamNamespace(teamId)],
          async () => {
            const t = await db.getTeamMembers(teamId, page);
            if (!t) throw new HttpError(404, `team ${teamId} not found`);
            const versions: Record<string, number> = {};
            for (const m of t.members) versions[entityKey('user', m.id)] = m.version;
            return { team: t, versions };
          },
        );
      },
      READ,
    ),
  );

  app.get(
    '/teams/:id/report',
    route(
      'read-team-report',
      (req, res) => {
        const teamId = parseId('id', req.params.id);
        return readAndSend(
          res,
          'read-team-report',
          keys.teamReport(teamId),
          'team-report',
          [keys.teamNamespace(teamId)],
          async () => {
            const rep = await db.getTeamReport(teamId);
            if (!rep) throw new HttpError(404, `team ${teamId} not found`);
            const { versions, ...report } = rep;
            return { report, versions };
          },
        );
      },
      READ,
    ),
  );

  // Counters are never created through the API: once an id is known to exist it stays known,
  // so the existence check costs one query per counter per process, not one per increment
  // (which would defeat write-behind's "DB writes per increment ≪ 1").
  const knownCounters = new Set<number>();
  const counterRequest = async (id: number, by: number): Promise<IncrementRequest> => {
    if (!knownCounters.has(id)) {
      if ((await db.readCounter(id)) === null) throw new HttpError(404, `counter ${id} not found`);
      knownCounters.add(id);
    }
    return {
      counterId: id,
      by,
      // Counted as source calls too: write-behind's flush calls these from a timer (background).
      incrementInDb: (n) =>
        events.observeCall(async () => {
          const v = await db.incrementCounter(id, n);
          if (v === null) throw new HttpError(404, `counter ${id} not found`);
          return v;
        }),
      readDb: () =>
        events.observeCall(async () => {
          const v = await db.readCounter(id);
          if (v === null) throw new HttpError(404, `counter ${id} not found`);
          return v;
        }),
    };
  };

  app.post(
    '/counters/:id/incr',
    jsonBody,
    route('incr-counter', async (req, res) => {
      const id = parseId('id', req.params.id);
      const by = parseIncrement(req);
      const r = await strategy.increment(await counterRequest(id, by));
      res.setHeader('x-cache', 'none');
      res.json({ value: r.value, pending: r.pending });
    }),
  );

  app.get(
    '/counters/:id',
    route('read-counter', async (req, res) => {
      const id = parseId('id', req.params.id);
      const r = await strategy.readCounter(await counterRequest(id, 0));
      res.setHeader('x-cache', 'none');
      res.json({ value: r.value, pending: r.pending });
    }),
  );

  if (deps.leaderboard) {
    const badRequest = (m: string) => new HttpError(400, m);
    mountLeaderboard(app, { db, board: deps.leaderboard, route, jsonBody, badRequest });
  }

  app.get('/metrics', (_req, res, next) => {
    metrics
      .render()
      .then(({ contentType, body }) => {
        res.setHeader('content-type', contentType);
        res.end(body);
      })
      .catch(next);
  });

  // Known paths with a method they do not support: 405 with the allowed ones.
  const methodNotAllowed = (allow: string) => (req: Request, res: Response) => {
    res.setHeader('x-instance', instanceId);
    res.setHeader('allow', allow);
    res.status(405).json({ error: `method ${req.method} is not allowed on this path; allowed: ${allow}` });
  };
  app.all('/users/:id', methodNotAllowed('GET, HEAD, PUT, DELETE'));
  app.all('/teams/:id/members', methodNotAllowed('GET, HEAD'));
  app.all('/teams/:id/report', methodNotAllowed('GET, HEAD'));
  app.all('/counters/:id/incr', methodNotAllowed('POST'));
  app.all('/counters/:id', methodNotAllowed('GET, HEAD'));
  app.all('/metrics', methodNotAllowed('GET, HEAD'));

  app.use((req: Request, res: Response) => {
    res.setHeader('x-instance', instanceId);
    res.status(404).json({ error: `no route ${req.method} ${show(req.path)}` });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, message } = toHttpError(err, deps.maxBodyBytes);
    // fail-closed 503s are the policy working as designed, not server errors worth a log line.
    if (status >= 500 && !isCacheUnavailable(err)) logServerError(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.setHeader('x-cache', res.getHeader('x-cache') ?? 'none');
    res.setHeader('x-instance', instanceId);
    res.status(status).json({ error: message });
  });

  strategy.attachRequests?.(requestForKey(db, keys, events));
  return app;
}

/** Maps anything thrown on the request path to a status and a one-line message. */
export function toHttpError(err: unknown, maxBodyBytes: number): { status: number; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  // body-parser errors carry a `type`; all of them are the client's doing.
  if (typeof e?.type === 'string') {
    switch (e.type) {
      case 'entity.parse.failed':
        return { status: 400, message: 'body: not valid JSON' };
      case 'entity.too.large':
        return { status: 400, message: `body: larger than the ${maxBodyBytes} bytes allowed` };
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return { status: 400, message: `body: ${e.message ?? 'unsupported encoding'}; send UTF-8 JSON` };
      case 'request.size.invalid':
      case 'request.aborted':
        return { status: 400, message: 'body: incomplete (content-length does not match the bytes sent)' };
      default:
        return { status: 400, message: `body: ${e.message ?? 'unreadable'}` };
    }
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // e.g. the router's "Failed to decode param" for /users/%zz
    return { status: 400, message: `path: ${e.message ?? 'malformed'}` };
  }
  if (err instanceof DbError && err.kind !== 'query') return { status: 503, message: err.message };
  if (isCacheUnavailable(err)) {
    return { status: 503, message: `cache unavailable (fail-closed): ${(err as Error).message}` };
  }
  return { status: 500, message: 'internal error' };
}
