/**
 * One service cell = one (scenario × variant × repeat), the service-mode twin of
 * harness/pipeline/cell.ts, from outside the service:
 *   reset (Toxiproxy, FLUSHALL) → setup command (direct URLs) → start the variant (proxied URLs,
 *   a fresh process) → ready → warm → zero (pg_stat_statements, probe) → keyspace watch → load +
 *   fault timeline + per-second DB sampler → collect → stop the service.
 * The result has the demo cell's shape, so analysis, reports and the gate read it unchanged;
 * `target` holds what was measured black-box and `service` says what was not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import type { Operation, Scenario } from '../../scenarios/types.ts';
import { cellTtls } from '../analysis/staleness.ts';
import { type BuiltinDriverProcess, runBuiltinLoad } from '../driver/builtin.ts';
import { prepareProcessFaults, resetToxiproxy, runFaultTimeline } from '../faults.ts';
import { exitDescription } from '../infra/process-control.ts';
import type { HealthIncident, InfraHandle } from '../infra/types.ts';
import { type CellProgress, cellProgress, withHealthCheck } from '../pipeline/cell.ts';
import { redisBaseline, redisSnapshot, resetPgStatStatements } from '../pipeline/collect.ts';
import { applyRedisConfig, resetRedisConfig } from '../pipeline/redis-config.ts';
import { cellDir, cellId } from '../pipeline/results-store.ts';
import type { CellResult, CellSeries, FaultRecord, TargetStats } from '../results/schema.ts';
import { type ProbeStats, probeDelta, readProbe, servicePgStat, startServiceSampler } from './collect.ts';
import { cacheKeyMatcher, type KeyspaceWatch, rebuildsFromEvents, watchKeyspace } from './keyspace.ts';
import { fillTemplate, type ServiceRequestPlan } from './operations.ts';
import { runSetup, type StartedService, startService, waitReady } from './process.ts';
import type { LoadedProfile, ServiceEnvKey, ServiceProfile } from './profile.ts';
import type { ServiceCell } from './types.ts';

export interface ServiceCellContext {
  runDir: string;
  infra: InfraHandle;
  loaded: LoadedProfile;
  scenario: Scenario;
  /** The scenario's mix on the profile's operations (operations.ts requestPlan). */
  plan: ServiceRequestPlan;
  variant: string;
  repeat: number;
  seed: number;
  /** The run's pid-file directory (the reaper ends what a killed run left). */
  stateDir: string;
  /** The run's driver process, shared by its cells; without it the cell starts its own. */
  driverProcess?: BuiltinDriverProcess;
  signal?: AbortSignal;
  onProgress?: (p: CellProgress) => void;
}

/** Start of the load after the driver's worker says it is ready. */
const READY_LEAD_MS = 50;

/** Variables of the harness's environment that never reach the service: its URLs carry passwords. */
const PRIVATE_ENV = /^CACHEBENCH_.*_URL$/;

/** The scenario's knobs, by the profile's `service.env` key. */
function scenarioValues(s: Scenario): Partial<Record<ServiceEnvKey, string>> {
  const out: Partial<Record<ServiceEnvKey, string>> = {
    reportCostMs: String(s.data.reportCostMs),
    userReadCostMs: String(s.data.userReadCostMs),
    users: String(s.data.users),
    teams: String(s.data.teams),
    counters: String(s.data.counters),
  };
  if (typeof s.cache.ttlMs === 'number') out.ttlMs = String(s.cache.ttlMs);
  return out;
}

/** The environment of the service (proxied URLs) or of its setup command (direct URLs). */
export function serviceEnvironment(
  profile: ServiceProfile,
  s: Scenario,
  urls: { redis: string; postgres: string },
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!PRIVATE_ENV.test(k)) env[k] = v;
  Object.assign(env, profile.service.extraEnv);
  const names = profile.service.env;
  env[names.redisUrl] = urls.redis;
  env[names.postgresUrl] = urls.postgres;
  for (const [k, v] of Object.entries(scenarioValues(s)) as [ServiceEnvKey, string][]) {
    const name = names[k];
    if (name) env[name] = v;
  }
  return Object.assign(env, extra);
}

async function flushRedis(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  await r.connect();
  try {
    await r.flushall();
  } finally {
    r.disconnect();
  }
}

/** Reads every id of every read operation of the mix (highest first: the hot low ids end freshest). */
async function warmService(baseUrl: string, s: Scenario, plan: ServiceRequestPlan): Promise<void> {
  const paths: { id: number; path: string }[] = [];
  for (const [op, o] of Object.entries(plan.ops) as [
    Operation,
    NonNullable<ServiceRequestPlan['ops'][Operation]>,
  ][]) {
    if (o.kind !== 'read' || !((s.mix[op] ?? 0) > 0)) continue;
    const [lo, hi] = plan.ids[o.ids]!;
    const data = (s.data as unknown as Record<string, number>)[o.ids];
    const last = Math.min(hi, typeof data === 'number' ? lo + data - 1 : hi);
    for (let id = lo; id <= last; id++) paths.push({ id, path: fillTemplate(o.path, id, 0) });
  }
  paths.sort((a, b) => b.id - a.id);
  const pool = new Pool(baseUrl, { connections: 16 });
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < paths.length) {
      const r = await pool.request({ path: paths[next++]!.path, method: 'GET' });
      await r.body.dump();
      if (r.statusCode >= 300) failures++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(16, paths.length) }, worker));
  } finally {
    await pool.close();
  }
  if (failures > 0)
    throw new Error(`warm-up: ${failures} of ${paths.length} reads failed against ${baseUrl}`);
}

function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

/** Runs one cell and fails it when the service or a started component died outside a planned fault. */
export async function runServiceCell(ctx: ServiceCellContext): Promise<CellResult> {
  return withHealthCheck(ctx, (onExit) => runUnchecked(ctx, onExit));
}

async function runUnchecked(
  ctx: ServiceCellContext,
  onExit: (i: HealthIncident) => void,
): Promise<CellResult> {
  const { scenario: s, infra, loaded } = ctx;
  const profile = loaded.profile;
  const startedAt = Date.now();
  const dir = cellDir(ctx.runDir, { scenario: s.name, strategy: ctx.variant, repeat: ctx.repeat });
  fs.mkdirSync(dir, { recursive: true });
  const historyFile = path.relative(ctx.runDir, path.join(dir, 'history.ndjson'));
  const totalMs = s.load.phases.reduce((a, p) => a + p.duration, 0);
  const { progress, loadProgress } = cellProgress(ctx.onProgress, totalMs);
  const phaseMs: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    phaseMs[name] = Math.round(now - mark);
    mark = now;
  };
  progress({ phase: 'setup' });
  await Promise.all([resetToxiproxy(infra.toxiproxyUrl), flushRedis(infra.redisUrl)]);
  if (profile.service.setup) {
    await runSetup({
      argv: profile.service.setup,
      cwd: loaded.cwd,
      env: serviceEnvironment(profile, s, { redis: infra.redisUrl, postgres: infra.postgresUrl }),
      logFile: path.join(dir, 'setup.log'),
      stateDir: ctx.stateDir,
      timeoutMs: profile.service.setupTimeout,
    });
  }
  await prepareProcessFaults(s.faults, infra.redisUrl, infra.processes);
  // Memory pressure (maxmemory, policy) applies to the service's Redis as to the demo target's.
  await applyRedisConfig(infra.redisUrl, s.redis);
  lap('reset+setup');

  let started: StartedService | undefined;
  let keyspace: KeyspaceWatch | undefined;
  // From here on an exit of the service is ours, not an incident.
  let stopping = false;
  try {
    const variant = profile.variants[ctx.variant]!;
    let baseUrl = profile.service.baseUrl?.replace(/\/$/, '');
    if (profile.service.command) {
      const { freePort } = await import('../infra/ports.ts');
      const port = await freePort();
      started = await startService({
        name: `service ${profile.name}/${ctx.variant}`,
        argv: [...profile.service.command, ...variant.args],
        cwd: loaded.cwd,
        env: serviceEnvironment(
          profile,
          s,
          { redis: infra.redisProxyUrl, postgres: infra.postgresProxyUrl },
          { ...variant.env, [profile.service.port!.env]: String(port) },
        ),
        port,
        readyPath: profile.service.ready.path,
        readyTimeoutMs: profile.service.ready.timeout,
        logFile: path.join(dir, 'service.log'),
        stateDir: ctx.stateDir,
      });
      const name = started.proc.name;
      started.proc.child.once('exit', (code, sig) => {
        if (!stopping)
          onExit({
            component: name,
            how: exitDescription(code, sig),
            at: performance.timeOrigin + performance.now(),
          });
      });
      baseUrl = started.baseUrl;
    } else await waitReady(baseUrl!, profile.service.ready.path, profile.service.ready.timeout);
    lap('startService');
    if (s.start === 'warm') {
      progress({ phase: 'warm' });
      await warmService(baseUrl!, s, ctx.plan);
    }
    lap('warm');
    const probeUrl = profile.probe ? `${baseUrl}${profile.probe.path}` : undefined;
    await resetPgStatStatements(infra.postgresUrl);
    const probeAtZero: ProbeStats | undefined = probeUrl ? await readProbe(probeUrl) : undefined;
    const redisAtZero = await redisBaseline(infra.redisUrl);
    const templates = Object.values(ctx.plan.ops)
      .map((o) => o?.cacheKey)
      .filter((k): k is string => typeof k === 'string');
    keyspace = await watchKeyspace(infra.redisUrl, cacheKeyMatcher([...new Set(templates)]));
    const zeroedAt = performance.timeOrigin + performance.now();
    lap('zero');
    ctx.signal?.throwIfAborted();

    let loadStartedAt = 0;
    let sampler: ReturnType<typeof startServiceSampler> | undefined;
    let faultsPromise: Promise<FaultRecord[]> = Promise.resolve([]);
    const begin = (at: number) => {
      loadStartedAt = at;
      sampler = startServiceSampler({ postgresUrl: infra.postgresUrl, probeUrl, t0: at });
      faultsPromise = runFaultTimeline({
        toxiproxyUrl: infra.toxiproxyUrl,
        redisUrl: infra.redisUrl,
        processes: infra.processes,
        faults: s.faults,
        loadStartedAt: at,
        signal: ctx.signal,
      });
      faultsPromise.catch(() => {});
      return at;
    };
    let loadOut: Awaited<ReturnType<typeof runBuiltinLoad>>;
    try {
      loadOut = await runBuiltinLoad(
        {
          scenario: s,
          targets: [baseUrl!],
          seed: ctx.seed * 1000 + ctx.repeat,
          historyPath: path.join(ctx.runDir, historyFile),
          service: ctx.plan,
          onReady: () => begin(Date.now() + READY_LEAD_MS),
          signal: ctx.signal,
          onProgress: loadProgress,
        },
        ctx.driverProcess,
      );
    } finally {
      await faultsPromise.catch(() => {});
    }
    ctx.signal?.throwIfAborted();
    const faults = await faultsPromise;
    const sampled = await sampler!.stop();
    lap('load');

    progress({ phase: 'collect', elapsedMs: totalMs });
    const [pgStat, redis, probeAfter] = await Promise.all([
      servicePgStat(infra.postgresUrl, profile.sql),
      redisSnapshot(infra.redisUrl, redisAtZero),
      probeUrl ? readProbe(probeUrl) : Promise.resolve(undefined),
    ]);
    redis.hottestKeys = loadOut.hottestKeys;
    const events = keyspace.events();
    await keyspace.stop();
    const rebuilds = rebuildsFromEvents(events, zeroedAt);
    lap('collect');

    const probe = probeAfter && probeAtZero ? probeDelta(probeAfter, probeAtZero) : undefined;
    const l = loadOut.load;
    const httpRequestsByEndpoint: Record<string, number> = {};
    for (const [op, st] of Object.entries(l.perOp)) httpRequestsByEndpoint[op] = st.count;
    const dbQueriesByEndpoint: Record<string, number> = {};
    for (const [op, o] of Object.entries(ctx.plan.ops)) {
      const q = pgStat.byOperation[o!.name];
      if (q !== undefined) dbQueriesByEndpoint[op] = q;
    }
    const reads = Object.entries(l.perOp)
      .filter(([op]) => ctx.plan.ops[op as Operation]?.kind === 'read')
      .reduce((a, [, st]) => a + st.count - st.errors, 0);
    // Black-box, a read that caused no SET was served from the cache: the stampede figures apply
    // when there was one. With the probe, its hits say so.
    const hits = probe ? probe.hits : Math.max(0, reads - rebuilds.length);
    const target: TargetStats = {
      instances: 1,
      dbQueries: pgStat.calls,
      dbQueriesByEndpoint,
      dbTimeMs: pgStat.totalExecMs,
      poolWaits: 0,
      httpRequests: l.completed,
      httpRequestsByEndpoint,
      cache: {
        hits,
        misses: probe ? probe.misses : 0,
        staleServed: 0,
        fallbacks: 0,
        redisErrors: 0,
        redisTimeouts: 0,
        breakerOpens: 0,
        lockWaits: 0,
        backgroundRefreshes: 0,
      },
      writeBehind: { increments: 0, flushed: 0, lost: 0, dbWrites: 0 },
    };
    const n = loadOut.series.requests.length;
    const pad = (a: number[]) => Array.from({ length: n }, (_, i) => a[i] ?? 0);
    const cacheHits = pad(sampled.cacheHits);
    const cacheMisses = pad(sampled.cacheMisses);
    const series: CellSeries = {
      ...loadOut.series,
      t0: loadStartedAt,
      dbQueries: pad(sampled.dbQueries),
      cacheHits,
      cacheMisses,
      hitRatio: probe
        ? cacheHits.map((h, i) => (h + cacheMisses[i]! > 0 ? h / (h + cacheMisses[i]!) : null))
        : cacheHits.map(() => null),
    };
    const { ttlMs, ttlByNamespace } = cellTtls(s.cache.ttlMs, profile.cacheTtl ?? 0);
    const keyspaceEvents: Record<string, number> = {};
    for (const e of events) keyspaceEvents[e.event] = (keyspaceEvents[e.event] ?? 0) + 1;
    const service: ServiceCell = {
      variant: ctx.variant,
      blackBox: emptyFigures(),
      ...(probe
        ? {
            probe: {
              ...emptyFigures(),
              ...probe,
              hitRatio: ratio(probe.hits, probe.hits + probe.misses),
              dbQueriesPerRequest: ratio(
                Object.values(probe.loads).reduce((a, b) => a + b, 0),
                probe.requests,
              ),
            },
          }
        : {}),
      notMeasured: notMeasured(profile, s, !!probe, templates.length > 0),
      keyspaceEvents,
      dbQueriesByOperation: pgStat.byOperation,
    };
    return {
      id: cellId(s.name, ctx.variant, ctx.repeat),
      scenario: s.name,
      strategy: ctx.variant,
      repeat: ctx.repeat,
      status: 'ok',
      startedAt,
      endedAt: Date.now(),
      loadStartedAt,
      scenario_spec: s,
      strategyOptions: { ...variant.env },
      ttlMs,
      ...(ttlByNamespace ? { ttlByNamespace } : {}),
      load: {
        ...l,
        startLateMs: loadOut.startLateMs ?? Math.max(0, Math.round(loadOut.loadStartedAt - loadStartedAt)),
      },
      series,
      faults,
      target,
      rebuilds,
      pgStatStatements: { calls: pgStat.calls, totalExecMs: pgStat.totalExecMs, top: pgStat.top },
      redis,
      historyFile,
      phaseMs,
      service,
    };
  } finally {
    stopping = true;
    await started?.stop();
    await keyspace?.stop().catch(() => {});
    await resetRedisConfig(infra.redisUrl).catch(() => {});
    await resetToxiproxy(infra.toxiproxyUrl).catch(() => {});
    lap('stop');
  }
}

function emptyFigures(): ServiceCell['blackBox'] {
  return {
    rebuildsPerExpiry: null,
    staleReads: null,
    dbQueriesPerRequest: null,
    faultErrorRate: null,
    hitRatio: null,
  };
}

/** What this cell cannot measure from outside, and why (docs/service-mode.md "Not measured"). */
export function notMeasured(
  profile: ServiceProfile,
  s: Scenario,
  hasProbe: boolean,
  hasCacheKeys: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!hasProbe) {
    const why = 'cache hits and misses happen inside the service: mount the probe (profile `probe:`)';
    out['cacheHealth.hitRatio'] = why;
    out['cacheHealth.minHitRatioPerSecond'] = why;
    out['cacheHealth.secondsTo90HitRatio'] = why;
    out['failOpen.windows.preHitRatio'] = why;
    out['cacheHealth.hits'] = why;
    out['cacheHealth.misses'] = why;
  }
  out['cacheHealth.staleServed'] = 'serving stale on purpose is a decision inside the service';
  out['cacheHealth.fallbacks'] =
    'a read answered from the DB after a Redis error is a decision inside the service';
  out['stampede.maxConcurrentPerKey'] =
    'when a rebuild began is not visible from Redis (only its SET): the DB peak around expiries stands for it';
  out['dbLoad.poolWaits'] = "the service's connection pool is inside it";
  if (!hasCacheKeys) {
    const why = 'no operation of the mix names its cacheKey: keyspace events cannot be tied to entities';
    out['stampede.rebuildsPerExpiry'] = why;
    out['stampede.rebuildsPerExpiryAllKeys'] = why;
  }
  if (typeof s.cache.ttlMs !== 'number' && profile.cacheTtl === undefined)
    out['staleness.staleBeyondTtl'] =
      "the service's TTL is unknown: set the profile's cacheTtl or the scenario's cache.ttlMs";
  if (s.mix['incr-counter'] || s.mix['leaderboard-score'])
    out['failOpen.writeBehind'] = "counters are reconciled against the demo target's tables only";
  return out;
}
