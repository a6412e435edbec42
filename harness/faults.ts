/**
 * The fault-timeline executor: applies and removes each scenario fault at its offset from the
 * load start — network faults through Toxiproxy's HTTP API, process faults through the
 * provisioner's process control — and records when each step was really acknowledged (Toxiproxy
 * answered; the killed process was reaped; the restarted one answered), because the analysis
 * cuts before/during/after windows on those times, not on the plan.
 *
 * Fault kinds are small units in a registry keyed by name ("down", the toxic type, or the
 * process fault's name); a new kind is one `registerFaultKind` call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { FaultSpec, NetworkFaultSpec, ProcessFaultName, ToxicType } from '../scenarios/types.ts';
import { CLUSTER_FAULT_KINDS, CLUSTER_FAULTS } from './faults/cluster.ts';
import { FAILOVER_FAULT_KINDS, FAILOVER_FAULTS } from './faults/failover.ts';
import { withFailFastRedis } from './infra/probes.ts';
import { redisMasterUrls } from './infra/topology.ts';
import type { InfraProcesses, ProcessService, RedisTopology, RedisTopologyInfo } from './infra/types.ts';
import type { FaultRecord } from './results/schema.ts';

export class ToxiproxyError extends Error {
  readonly code = 'TOXIPROXY_FAILED';
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToxiproxyError';
    this.status = status;
  }
}

const now = () => performance.timeOrigin + performance.now();

async function call(baseUrl: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    throw new ToxiproxyError(`toxiproxy ${method} ${path}: ${(err as Error).message}`, 0, { cause: err });
  }
  const text = await res.text();
  if (!res.ok)
    throw new ToxiproxyError(`toxiproxy ${method} ${path}: HTTP ${res.status} ${text.trim()}`, res.status);
  return text ? JSON.parse(text) : undefined;
}

/** Enables every proxy and removes every toxic (Toxiproxy's POST /reset). */
export async function resetToxiproxy(toxiproxyUrl: string): Promise<void> {
  await call(toxiproxyUrl, 'POST', '/reset');
}

export interface FaultStep {
  toxiproxyUrl: string;
  /** Direct Redis URL (not through the proxy), for command-level faults such as FLUSHALL. */
  redisUrl?: string;
  /** The provisioner's process control; absent when it controls no process (external). */
  processes?: InfraProcesses;
  /** The nodes of a non-standalone Redis (failover and partition faults need them). */
  redisTopology?: RedisTopologyInfo;
  spec: FaultSpec;
  /** Unique per applied fault, so overlapping toxics on one proxy do not collide. */
  id: string;
  /** Adds what the fault kind saw (epoch ms, counts) to the fault's record (`observed`). */
  observe?: (o: Record<string, number>) => void;
}

export interface FaultKind {
  name: string;
  apply(step: FaultStep): Promise<void>;
  remove(step: FaultStep): Promise<void>;
}

const KINDS = new Map<string, FaultKind>();

export function registerFaultKind(kind: FaultKind): void {
  KINDS.set(kind.name, kind);
}

export function faultKindNames(): string[] {
  return [...KINDS.keys()].sort();
}

/** The registry name a spec resolves to: "down", its toxic type, or the process fault. */
export function faultKindOf(spec: FaultSpec): string {
  if (spec.process) return spec.process;
  if (spec.down) return 'down';
  if (spec.toxic) return spec.toxic.type;
  return 'none';
}

/**
 * The proxies a network fault acts on: the one it names; `redis` on a topology of several nodes
 * is every node's proxy (`redis-<i>`), so "Redis is down" means the whole Redis, as on standalone.
 */
function proxyPaths(s: FaultStep): string[] {
  const proxy = (s.spec as NetworkFaultSpec).proxy;
  if (proxy === 'redis' && s.redisTopology)
    return s.redisTopology.proxiedNodes.map((_, i) => `/proxies/redis-${i}`);
  return [`/proxies/${encodeURIComponent(proxy)}`];
}

/** One Toxiproxy call per proxy of the fault, side by side. */
async function eachProxy(s: FaultStep, fn: (path: string) => Promise<unknown>): Promise<void> {
  await Promise.all(proxyPaths(s).map(fn));
}

// Disabling a proxy closes its listener and every open connection: a real outage, not a slow one.
registerFaultKind({
  name: 'down',
  apply: (s) => eachProxy(s, (p) => call(s.toxiproxyUrl, 'PATCH', p, { enabled: false })),
  remove: (s) => eachProxy(s, (p) => call(s.toxiproxyUrl, 'PATCH', p, { enabled: true })),
});

function toxicKind(type: ToxicType): FaultKind {
  return {
    name: type,
    async apply(s) {
      const t = s.spec.toxic;
      if (!t) throw new Error(`fault kind ${type}: the spec has no toxic`);
      await eachProxy(s, (p) =>
        call(s.toxiproxyUrl, 'POST', `${p}/toxics`, {
          name: s.id,
          type: t.type,
          stream: t.stream ?? 'downstream',
          toxicity: t.toxicity ?? 1,
          attributes: t.attributes,
        }),
      );
    },
    async remove(s) {
      await eachProxy(s, (p) => call(s.toxiproxyUrl, 'DELETE', `${p}/toxics/${encodeURIComponent(s.id)}`));
    },
  };
}

for (const type of [
  'latency',
  'timeout',
  'reset_peer',
  'bandwidth',
  'slow_close',
  'slicer',
  'limit_data',
] as const satisfies readonly ToxicType[]) {
  registerFaultKind(toxicKind(type));
}

// --- Process faults ------------------------------------------------------------------------------

/** One short-lived fail-fast connection to the real Redis (not the proxy) for one command. */
async function redisCommand<T>(url: string | undefined, run: (r: Redis) => Promise<T>): Promise<T> {
  if (!url) throw new Error('no direct Redis URL for a Redis command fault');
  return withFailFastRedis(url, { connectMs: 2_000, commandMs: 5_000 }, run);
}

function control(s: FaultStep, service: ProcessService): InfraProcesses {
  if (!s.processes?.supports(service)) {
    throw new Error(`${faultKindOf(s.spec)} needs process control of ${service} (--infra local)`);
  }
  return s.processes;
}

/** Crash and restart: applied = the process is gone; removed = the new one answers. */
function restartKind(name: ProcessFaultName, service: ProcessService, persistence: boolean): FaultKind {
  return {
    name,
    apply: (s) => control(s, service).kill(service),
    remove: (s) => control(s, service).start(service, { persistence }),
  };
}

registerFaultKind(restartKind('redis-restart', 'redis', false));
registerFaultKind(restartKind('redis-restart-persisted', 'redis', true));
registerFaultKind(restartKind('postgres-restart', 'postgres', false));
// Data loss without a restart: works wherever the harness can send Redis a command.
for (const kind of FAILOVER_FAULT_KINDS) registerFaultKind(kind);
for (const kind of CLUSTER_FAULT_KINDS) registerFaultKind(kind);
registerFaultKind({
  name: 'redis-flushall',
  // Every master: a Cluster's keyspace is spread over them.
  async apply(s) {
    const urls = s.redisUrl
      ? await redisMasterUrls({ redisUrl: s.redisUrl, redisTopology: s.redisTopology })
      : [undefined];
    await Promise.all(urls.map((u) => redisCommand(u, (r) => r.flushall())));
  },
  remove: async () => {},
});

/**
 * Why `faults` cannot run on this provisioner (one line), or undefined when they all can.
 * `topology`: the one the cells run on, when known (cluster and replicated nodes are both
 * `redis-<i>` to process control, so that alone cannot tell them apart).
 */
export function unsupportedFaults(
  faults: readonly FaultSpec[],
  processes?: InfraProcesses,
  topology?: RedisTopology,
): string | undefined {
  for (const f of faults) {
    if ((CLUSTER_FAULTS as readonly string[]).includes(f.process ?? '')) {
      if (!processes?.supports('redis-0') || (topology && topology !== 'cluster')) {
        return `process: "${f.process}" needs the cluster Redis topology started by the harness (--infra local, redis.topology: cluster)`;
      }
      continue;
    }
    if ((FAILOVER_FAULTS as readonly string[]).includes(f.process ?? '')) {
      if (!processes?.supports('redis-0') || (topology && topology !== 'replicated')) {
        return `process: "${f.process}" needs the replicated Redis topology started by the harness (--infra local --topology replicated)`;
      }
      continue;
    }
    const service =
      f.process === 'postgres-restart'
        ? 'postgres'
        : f.process?.startsWith('redis-restart')
          ? 'redis'
          : undefined;
    // The provisioner controls processes, but no single `redis`: a cluster or replicated topology.
    if (service === 'redis' && processes?.supports('postgres') && !processes.supports('redis')) {
      return `process: "${f.process}" needs topology standalone (it restarts the one redis-server; a cluster's or replicated topology's nodes are not addressable by it)`;
    }
    if (service && !processes?.supports(service)) {
      return `process: "${f.process}" needs a provisioner that started ${service} itself (allowed with --infra local; with this --infra only redis-flushall and network faults)`;
    }
  }
  return undefined;
}

/**
 * Sets Redis persistence for a cell before its load: AOF with appendfsync always when a fault
 * will crash Redis with persistence, so the data exists on disk before the crash; off otherwise,
 * because a cache under test must not spend its time writing snapshots.
 */
export async function prepareProcessFaults(
  faults: readonly FaultSpec[],
  redisUrl: string,
  processes?: InfraProcesses,
): Promise<void> {
  const persist = faults.some((f) => f.process === 'redis-restart-persisted');
  if (!persist && !processes?.supports('redis')) return;
  await redisCommand(redisUrl, async (r) => {
    await r.config('SET', 'appendonly', persist ? 'yes' : 'no');
    if (!persist) return;
    await r.config('SET', 'appendfsync', 'always');
    // Enabling AOF starts a rewrite of the whole dataset; the crash must come after it.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await r.info('persistence');
      if (
        /aof_enabled:1/.test(info) &&
        /aof_rewrite_in_progress:0/.test(info) &&
        /aof_rewrite_scheduled:0/.test(info)
      )
        return;
      if (Date.now() > deadline) throw new Error('Redis AOF rewrite did not finish within 30 s');
      await sleep(20);
    }
  });
}

/** Sleeps until an epoch time or until the signal aborts; true when the time was reached. */
async function sleepUntil(epochMs: number, signal?: AbortSignal): Promise<boolean> {
  for (;;) {
    if (signal?.aborted) return false;
    const gap = epochMs - now();
    if (gap <= 0) return true;
    try {
      await sleep(Math.max(1, gap), undefined, signal ? { signal } : undefined);
    } catch {
      return false;
    }
  }
}

export interface FaultTimelineOptions {
  toxiproxyUrl: string;
  redisUrl?: string;
  processes?: InfraProcesses;
  redisTopology?: RedisTopologyInfo;
  faults: FaultSpec[];
  /** Epoch ms of the load start; fault offsets count from it. */
  loadStartedAt: number;
  /** Aborting removes active faults at once and resets Toxiproxy. */
  signal?: AbortSignal;
  /** Called after each acknowledged step (for progress output). */
  onEvent?: (e: {
    index: number;
    step: 'applied' | 'removed' | 'failed';
    at: number;
    error?: string;
  }) => void;
}

/**
 * Runs every fault of the timeline (they may overlap) and resolves with one FaultRecord per fault,
 * in input order. Toxiproxy is reset before the first fault and always after the last, also on
 * error or abort, so a failed cell cannot leak a toxic into the next one. Failures are recorded
 * (`ok: false`, `error`), not thrown; only a failed final reset throws, since it leaves the
 * environment broken for what follows.
 */
export async function runFaultTimeline(opts: FaultTimelineOptions): Promise<FaultRecord[]> {
  const { toxiproxyUrl, faults, loadStartedAt, signal } = opts;
  const records: FaultRecord[] = faults.map((f) => ({
    spec: structuredClone(f),
    plannedAt: f.at,
    plannedFor: f.for,
    ok: false,
  }));
  if (faults.length === 0) return records;
  const runId = Math.round(now()).toString(36);

  const runOne = async (spec: FaultSpec, index: number) => {
    const rec = records[index] as FaultRecord;
    const kindName = faultKindOf(spec);
    const kind = KINDS.get(kindName);
    if (!kind) {
      rec.error = `unknown fault kind ${JSON.stringify(kindName)}; known: ${faultKindNames().join(', ')}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
      return;
    }
    const step: FaultStep = {
      toxiproxyUrl,
      redisUrl: opts.redisUrl,
      processes: opts.processes,
      redisTopology: opts.redisTopology,
      spec,
      id: `cachebench-${runId}-${index}-${kindName}`,
      observe: (o) => {
        rec.observed = { ...rec.observed, ...o };
      },
    };
    if (!(await sleepUntil(loadStartedAt + spec.at, signal))) {
      rec.error = 'aborted before the fault was applied';
      return;
    }
    try {
      await kind.apply(step);
      rec.appliedAt = now();
      opts.onEvent?.({ index, step: 'applied', at: rec.appliedAt });
    } catch (err) {
      rec.error = `apply failed: ${(err as Error).message}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
      return;
    }
    const reachedEnd = await sleepUntil(loadStartedAt + spec.at + spec.for, signal);
    try {
      await kind.remove(step);
      rec.removedAt = now();
      opts.onEvent?.({ index, step: 'removed', at: rec.removedAt });
      if (reachedEnd) rec.ok = true;
      else rec.error = 'aborted: removed before the planned end';
    } catch (err) {
      rec.error = `remove failed: ${(err as Error).message}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
    }
  };

  try {
    await resetToxiproxy(toxiproxyUrl);
    await Promise.all(faults.map((f, i) => runOne(f, i)));
  } catch (err) {
    // Only the initial reset can throw here (runOne records its own failures).
    for (const r of records) r.error ??= `not run: ${(err as Error).message}`;
  } finally {
    await resetToxiproxy(toxiproxyUrl);
  }
  return records;
}
