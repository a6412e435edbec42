/**
 * Starting targets: one in-process (`startTarget`, for tests and the single-instance default),
 * or N child processes sharing Redis and PostgreSQL (`startTargets`), which is the only way
 * cross-instance effects (in-process single-flight vs Redis locks) show up.
 *
 * A started thing knows how to stop: both return handles with an idempotent `stop()`, and the
 * children also exit by themselves when their parent goes away (IPC channel closed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { didYouMean } from '../scenarios/did-you-mean.ts';
import { createApp } from './app.ts';
import { createCacheClient } from './cache-client.ts';
import { envOf, resolveTargetOptions, TargetOptionError, type TargetOptions, targetFlags } from './config.ts';
import { type ControlInfo, startControlServer } from './control.ts';
import { Db } from './db.ts';
import { reserveDescriptorsInBackground } from './fd-table.ts';
import { TargetInstrumentation } from './instrumentation.ts';
import { createKeys } from './keys.ts';
import { type LeaderboardStorage, RedisLeaderboard } from './leaderboard.ts';
import { createMetrics } from './metrics.ts';
import type { StrategyModule } from './strategy.ts';

export type StartTargetInput = Partial<Omit<TargetOptions, 'strategy'>> &
  Pick<TargetOptions, 'redisUrl' | 'postgresUrl'> & {
    /** A strategy spec (name, "a+b", module path) or, in-process only, a module object. */
    strategy?: string | StrategyModule;
  };

export interface TargetHandle {
  /** http://host:port of the API. */
  url: string;
  /** http://127.0.0.1:port of the control server. */
  controlUrl: string;
  instanceId: string;
  /** The resolved options the instance runs with (the strategy as its label). */
  options: TargetOptions;
  /** Strategy options after merging over the module's defaults. */
  strategyOptions: Record<string, unknown>;
  events: TargetInstrumentation;
  /** Idempotent: stops accepting, closes the strategy (flushes), Redis and the pool. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options not in the module's defaults are typos: reject them rather than run without them. */
function mergeStrategyOptions(mod: StrategyModule, given: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(given)) {
    if (!Object.hasOwn(mod.defaults, k)) {
      const known = Object.keys(mod.defaults);
      throw new TargetOptionError(
        'strategyOptions',
        `strategy option ${JSON.stringify(k)} is not an option of '${mod.name}'${didYouMean(k, Object.keys(mod.defaults))}; ` +
          (known.length ? `known options: ${known.join(', ')}` : 'it takes no options'),
      );
    }
  }
  return { ...mod.defaults, ...given };
}

/**
 * Limits of the API server. The load drivers send complete requests at once over pooled
 * keep-alive connections, so a client that takes seconds to send its headers is not a load
 * driver: it is closed (slowloris). The connection cap is above the largest in-flight bound a
 * scenario may set (scenarios/schema.ts, load.maxInFlight) times the driver's own pools.
 */
export const SERVER_LIMITS = {
  /** Whole request head must arrive within this. */
  headersTimeoutMs: 5_000,
  /** Whole request (head and body) must arrive within this. */
  requestTimeoutMs: 10_000,
  /**
   * Idle keep-alive sockets: longer than the drivers' pools keep them, so a driver never races a
   * server-side close (an idle socket costs little; the cap bounds how many there can be).
   */
  keepAliveTimeoutMs: 65_000,
  maxConnections: 4_096,
  /** How often Node checks the two timeouts above (its default, 30 s, would let them run long). */
  checkIntervalMs: 1_000,
};

export function createHardenedServer(app: http.RequestListener): http.Server {
  const server = http.createServer(
    {
      headersTimeout: SERVER_LIMITS.headersTimeoutMs,
      requestTimeout: SERVER_LIMITS.requestTimeoutMs,
      keepAliveTimeout: SERVER_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: SERVER_LIMITS.checkIntervalMs,
    },
    app,
  );
  server.maxConnections = SERVER_LIMITS.maxConnections;
  return server;
}

export async function startTarget(input: StartTargetInput): Promise<TargetHandle> {
  const strategyInput = input.strategy;
  const opts = resolveTargetOptions({
    ...input,
    strategy: typeof strategyInput === 'object' ? strategyInput.name : strategyInput,
  });
  // Imported on demand: the registry loads every strategy file, which in-process tests passing
  // a module object do not need.
  const mod =
    typeof strategyInput === 'object'
      ? strategyInput
      : await (await import('./strategies/index.ts')).loadStrategyModule(opts.strategy);
  const strategyOptions = mergeStrategyOptions(mod, opts.strategyOptions);

  // The driver may hold up to its in-flight cap in connections (512 at most per target by
  // default), beside the PostgreSQL pool and the Redis clients: accepting them must not wait for
  // the descriptor table to grow mid-load. Grown on the thread pool while the target connects.
  const reserving = reserveDescriptorsInBackground(1024);
  const events = new TargetInstrumentation(opts.instanceId);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const db = new Db({
      url: opts.postgresUrl,
      poolSize: opts.pgPoolSize,
      queryTimeoutMs: opts.pgQueryTimeoutMs,
      connectionTimeoutMs: opts.pgConnectionTimeoutMs,
      reportCostMs: opts.reportCostMs,
      userReadCostMs: opts.userReadCostMs,
      sink: events,
    });
    cleanups.push(() => db.close());
    // Fail at start with a clear message rather than answer every request with a 503.
    await db.ping();
    const cache = await createCacheClient({
      url: opts.redisUrl,
      topology: opts,
      commandTimeoutMs: opts.redisCommandTimeoutMs,
      onError: (kind) => events.redisError(kind),
      onBreakerOpen: () => events.breakerOpen(),
    });
    cleanups.push(() => cache.close());
    // Observed like the cache client: its errors and breaker count in the same metrics.
    const coordination = opts.coordinationRedisUrl
      ? await createCacheClient({
          url: opts.coordinationRedisUrl,
          commandTimeoutMs: opts.redisCommandTimeoutMs,
          onError: (kind) => events.redisError(kind),
          onBreakerOpen: () => events.breakerOpen(),
        })
      : undefined;
    if (coordination) cleanups.push(() => coordination.close());
    const strategy = mod.create({
      cache,
      ...(coordination ? { coordination } : {}),
      events,
      instanceId: opts.instanceId,
      policy: opts.policy,
      options: strategyOptions,
      keyPrefix: opts.keyPrefix,
    });
    cleanups.push(async () => strategy.close?.());
    const metrics = createMetrics(events, {
      instanceId: opts.instanceId,
      strategy: mod.name,
      policy: opts.policy,
    });
    const app = createApp({
      db,
      strategy,
      keys: createKeys(opts.keyPrefix),
      events,
      metrics,
      instanceId: opts.instanceId,
      maxBodyBytes: opts.maxBodyBytes,
      leaderboard: new RedisLeaderboard(cache, opts.keyPrefix, opts.leaderboardStorage as LeaderboardStorage),
    });
    await reserving;
    const server = await new Promise<http.Server>((resolve, reject) => {
      const s = createHardenedServer(app);
      s.once('error', reject);
      s.listen(opts.port, opts.host, () => {
        s.off('error', reject);
        resolve(s);
      });
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const apiPort = (server.address() as AddressInfo).port;
    const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${apiPort}`;
    const control = await startControlServer({
      port: opts.controlPort,
      events,
      metrics,
      info: () => ({
        instanceId: opts.instanceId,
        strategy: mod.name,
        policy: opts.policy,
        pid: process.pid,
        url,
        cacheAvailable: cache.available() && (coordination?.available() ?? true),
        breaker: cache.breakerState(),
      }),
    });
    cleanups.push(() => control.close());

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= cleanup();
      return stopping;
    };
    return {
      url,
      controlUrl: control.url,
      instanceId: opts.instanceId,
      options: { ...opts, strategy: mod.name },
      strategyOptions,
      events,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// N instances as child processes.
// ---------------------------------------------------------------------------------------------

export interface StartTargetsInput
  extends Omit<StartTargetInput, 'strategy' | 'instanceId' | 'port' | 'controlPort'> {
  strategy?: string;
  instances: number;
  /** Instance ids are `${instanceIdPrefix}${i}` (1-based). */
  instanceIdPrefix?: string;
  /** Fixed API ports, one per instance; default free ports. */
  ports?: number[];
  controlPorts?: number[];
  /** How long a child may take to become healthy. */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop. */
  stopGraceMs?: number;
  /** Forward the children's stderr to ours, prefixed with the instance id (default true). */
  forwardLogs?: boolean;
  /** Called when a started child exits other than through `stop()`. */
  onExit?: (instanceId: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface TargetsHandle {
  urls: string[];
  controlUrls: string[];
  pids: number[];
  instanceIds: string[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function targetEnv(
  o: Pick<StartTargetInput, 'redisUrl' | 'postgresUrl' | 'coordinationRedisUrl'>,
): Record<string, string> {
  return {
    [envOf('redisUrl')]: o.redisUrl,
    [envOf('postgresUrl')]: o.postgresUrl,
    ...(o.coordinationRedisUrl ? { [envOf('coordinationRedisUrl')]: o.coordinationRedisUrl } : {}),
  };
}

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.ts');

/**
 * Node's on-disk compile cache for the target children (the same directory the load driver
 * uses): every cell starts fresh target processes, and with the cache warm a child skips
 * type-stripping and compiling its modules — about 850 → 520 ms per start on a 2-core machine.
 * It holds compiled code only, no state, so cells stay independent.
 */
function compileCacheDir(): string {
  if (process.env.NODE_COMPILE_CACHE) return process.env.NODE_COMPILE_CACHE;
  const cache =
    process.env.CACHEBENCH_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'cachebench');
  return path.join(cache, 'node-compile-cache');
}

/**
 * CLI flags of target/main.ts for one instance. The Redis and PostgreSQL URLs carry passwords,
 * so they go in the environment (`targetEnv`): /proc/<pid>/environ is readable by the owner
 * only, /proc/<pid>/cmdline by every local user.
 */
export function targetArgs(o: StartTargetInput & { strategy?: string }): string[] {
  // The URLs travel in the environment (targetEnv), never on the command line.
  return targetFlags({ ...o, redisUrl: undefined, postgresUrl: undefined, coordinationRedisUrl: undefined });
}

export interface ReadyMessage {
  type: 'ready';
  url: string;
  controlUrl: string;
  instanceId: string;
  pid: number;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 5000);
}

/**
 * Polls a target's control `/healthz` every 50 ms until `ready` accepts its answer or the
 * deadline passes; `last` says what the final answer was (its breaker state, a status, an error).
 */
async function pollHealthz(
  controlUrl: string,
  deadline: number,
  ready: (info: Partial<ControlInfo>) => boolean,
): Promise<{ ok: boolean; last: string }> {
  let last = '';
  for (;;) {
    try {
      const r = await fetch(`${controlUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (!r.ok) last = `status ${r.status}`;
      else {
        const info = (await r.json()) as Partial<ControlInfo>;
        if (ready(info)) return { ok: true, last };
        last = info.breaker ?? 'unknown';
      }
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) return { ok: false, last };
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitHealthy(controlUrl: string, deadline: number): Promise<void> {
  const { ok, last } = await pollHealthz(controlUrl, deadline, () => true);
  if (!ok) throw new Error(`target at ${controlUrl} did not become healthy: ${last}`);
}

/**
 * Waits until every target's cache client would use Redis (`cacheAvailable` on /healthz), at
 * most `timeoutMs`; returns the instances that still would not (their breaker state), so the
 * caller can say so. A breaker tripped during the warm-up otherwise stays open into the load.
 */
export async function waitCacheAvailable(
  controlUrls: readonly string[],
  timeoutMs: number,
): Promise<{ controlUrl: string; breaker: string }[]> {
  const deadline = Date.now() + timeoutMs;
  const polled = await Promise.all(
    controlUrls.map((u) => pollHealthz(u, deadline, (info) => info.cacheAvailable === true)),
  );
  return controlUrls.flatMap((u, i) => (polled[i]!.ok ? [] : [{ controlUrl: u, breaker: polled[i]!.last }]));
}

/** Spawns `node target/main.ts …` N times, waits until each is healthy, and returns their URLs. */
export async function startTargets(input: StartTargetsInput): Promise<TargetsHandle> {
  const n = input.instances;
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new TargetOptionError(
      'instances',
      `instances: ${JSON.stringify(n)} is not allowed; expected 1 to 64`,
    );
  }
  const {
    instances: _n,
    instanceIdPrefix = 'target-',
    ports,
    controlPorts,
    startTimeoutMs = 30_000,
    stopGraceMs = 5_000,
    forwardLogs = true,
    onExit,
    ...common
  } = input;
  // Validate once here so a bad option fails with its message, not as N crashed children.
  resolveTargetOptions({ ...common, instanceId: `${instanceIdPrefix}1` });

  const children: ChildProcess[] = [];
  const killAllOnExit = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAllOnExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(children.map((c) => stopChild(c, stopGraceMs)));
      process.off('exit', killAllOnExit);
    })();
    return stopping;
  };

  const starts = Array.from({ length: n }, async (_, i): Promise<ReadyMessage> => {
    const instanceId = `${instanceIdPrefix}${i + 1}`;
    const args = targetArgs({
      ...common,
      instanceId,
      port: ports?.[i] ?? 0,
      controlPort: controlPorts?.[i] ?? 0,
    });
    const child = spawn(process.execPath, [MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...process.env,
        ...targetEnv(common),
        CACHEBENCH_TARGET_CHILD: '1',
        NODE_COMPILE_CACHE: compileCacheDir(),
      },
    });
    children.push(child);
    let tail = '';
    const onOutput = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-2000);
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', (chunk: Buffer) => {
      onOutput(chunk);
      if (forwardLogs) {
        const text = chunk.toString().replace(/\n(?=.)/g, `\n[${instanceId}] `);
        process.stderr.write(`[${instanceId}] ${text}`);
      }
    });
    const ready = await new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${instanceId} did not start within ${startTimeoutMs} ms: ${tail.trim()}`)),
        startTimeoutMs,
      );
      child.on('message', (m: unknown) => {
        if ((m as ReadyMessage)?.type === 'ready') {
          clearTimeout(timer);
          resolve(m as ReadyMessage);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`${instanceId} exited (${signal ?? `code ${code}`}) while starting: ${tail.trim()}`),
        );
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    await waitHealthy(ready.controlUrl, Date.now() + startTimeoutMs);
    child.once('exit', (code, signal) => {
      if (stopping) return;
      // A target dying mid-run turns a cell's numbers into nonsense: say so loudly, and let the
      // caller react (mark the cell invalid).
      const last = tail.trim().split('\n').pop();
      process.stderr.write(
        `[${instanceId}] exited unexpectedly (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}\n`,
      );
      onExit?.(instanceId, code, signal);
    });
    return ready;
  });

  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const ready = settled.map((s) => (s as PromiseFulfilledResult<ReadyMessage>).value);
  return {
    urls: ready.map((r) => r.url),
    controlUrls: ready.map((r) => r.controlUrl),
    pids: ready.map((r) => r.pid),
    instanceIds: ready.map((r) => r.instanceId),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
