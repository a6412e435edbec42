/**
 * One cell = one (scenario × strategy × repeat):
 *   reset (Redis FLUSHALL, Toxiproxy reset, reseed) → start target(s) → warm → zero counters →
 *   load + fault timeline + per-second sampler → collect (stats, rebuilds, pg_stat_statements,
 *   Redis) → stop target(s) → analyze.
 * Everything the cell starts is stopped in `finally`, also when the run is interrupted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Scenario } from '../../scenarios/types.ts';
import { seedDatabase } from '../../target/db.ts';
import { startTargets, waitCacheAvailable } from '../../target/instance.ts';
import { mergeTargetStats } from '../../target/instrumentation.ts';
import { cellTtls } from '../analysis/staleness.ts';
import {
  type BuiltinDriverProcess,
  type BuiltinLoadOptions,
  type LoadProgress,
  runBuiltinLoad,
} from '../driver/builtin.ts';
import { K6_START_LEAD_MS, runK6Load } from '../driver/k6.ts';
import { prepareProcessFaults, resetToxiproxy, runFaultTimeline } from '../faults.ts';
import { exitDescription, incidentMessage } from '../infra/process-control.ts';
import { redisMasterUrls, redisShape, targetTopologyOptions, topologyOf } from '../infra/topology.ts';
import type { HealthIncident, InfraHandle } from '../infra/types.ts';
import type { CellResult, CellSeries, CellTimings, FaultRecord, RebuildEvent } from '../results/schema.ts';
import { pgStatSnapshot, redisBaseline, redisSnapshot, resetPgStatStatements } from './collect.ts';
import { type EvictionWatch, watchEvictions } from './eviction-watch.ts';
import {
  leaderboardCounters,
  leaderboardStorageOf,
  leaderboardTotals,
  usesLeaderboard,
} from './leaderboard.ts';
import { startMachineLoad } from './machine-load.ts';
import { applyRedisConfig, resetRedisConfig } from './redis-config.ts';
import { cellDir, cellId } from './results-store.ts';
import { fetchStats, startSampler } from './sampler.ts';
import { warmCache } from './warmup.ts';

export interface CellProgress {
  phase: 'setup' | 'warm' | 'load' | 'collect';
  elapsedMs: number;
  totalMs: number;
  sent: number;
  errors: number;
  dropped: number;
  ratePerSec: number;
}

/**
 * A cell's progress reporter (the pipeline's and service mode's cells): `progress` for a phase,
 * `loadProgress` for the load driver's once-a-second figures, reported as the 'load' phase.
 */
export function cellProgress(
  onProgress: ((p: CellProgress) => void) | undefined,
  totalMs: number,
): {
  progress: (p: Partial<CellProgress> & Pick<CellProgress, 'phase'>) => void;
  loadProgress: (p: LoadProgress) => void;
} {
  const progress = (p: Partial<CellProgress> & Pick<CellProgress, 'phase'>) =>
    onProgress?.({ elapsedMs: 0, totalMs, sent: 0, errors: 0, dropped: 0, ratePerSec: 0, ...p });
  const loadProgress = (p: LoadProgress) =>
    progress({
      phase: 'load',
      elapsedMs: p.elapsedMs,
      sent: p.sent,
      errors: p.errors,
      dropped: p.dropped,
      ratePerSec: p.ratePerSec,
    });
  return { progress, loadProgress };
}

export interface CellContext {
  runDir: string;
  infra: InfraHandle;
  scenario: Scenario;
  /** Label in results and reports. */
  strategy: string;
  /** What the target loads (defaults to the label). */
  strategySpec?: string;
  /** The strategy's option defaults (for the TTL the cell ran with). */
  strategyDefaults: Record<string, unknown>;
  repeat: number;
  seed: number;
  instances: number;
  driver: 'builtin' | 'k6';
  /** The run's built-in driver process, shared by its cells; without it a cell starts its own. */
  driverProcess?: BuiltinDriverProcess;
  signal?: AbortSignal;
  onProgress?: (p: CellProgress) => void;
}

/** How long a cell waits after the warm-up for every target's cache client to be usable. */
const CACHE_AVAILABLE_TIMEOUT_MS = 5000;
/** Start of the load after the driver's worker says it is ready: enough to arm the sampler and faults. */
const READY_LEAD_MS = 50;

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

async function fetchRebuilds(controlUrl: string, since: number): Promise<RebuildEvent[]> {
  const r = await fetch(`${controlUrl}/rebuilds?since=${since}`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${controlUrl}/rebuilds: HTTP ${r.status}`);
  return (await r.json()) as RebuildEvent[];
}

/** Sum of every counter, read over the harness's own connection (never the target's count). */
async function counterTotal(postgresUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5_000 });
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query<{ total: string }>(
      'SELECT coalesce(sum(value), 0)::bigint AS total FROM counters',
    );
    return Number(r.rows[0]?.total ?? 0);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Thrown when a started component died outside a planned fault: the cell's numbers are void. */
export class InfraHealthError extends Error {
  readonly code = 'INFRA_DIED';
}

/**
 * Runs one cell and fails it when anything the harness started (a service, a target instance)
 * died outside a planned fault — also when that death is what made a step throw, so the failure
 * names the component instead of the symptom ("fetch failed").
 */
export async function runCell(ctx: CellContext): Promise<CellResult> {
  return withHealthCheck(ctx, (onExit) => runCellUnchecked(ctx, onExit));
}

/**
 * The health check around a cell (demo target or service mode): `run` reports the exits of the
 * processes it starts through `onExit`; the infrastructure's own exits come from `infra.processes`.
 */
export async function withHealthCheck(
  ctx: Pick<CellContext, 'infra' | 'signal'>,
  run: (onExit: (i: HealthIncident) => void) => Promise<CellResult>,
): Promise<CellResult> {
  const startedAt = performance.timeOrigin + performance.now();
  const incidents: HealthIncident[] = [];
  const check = async (cause?: unknown) => {
    const all = [...((await ctx.infra.processes?.health()) ?? []), ...incidents];
    if (all.length > 0) {
      const message = all.map((i) => incidentMessage(i, startedAt)).join('; ');
      throw new InfraHealthError(message, cause === undefined ? undefined : { cause });
    }
  };
  await check();
  let cell: CellResult;
  try {
    cell = await run((i) => incidents.push(i));
  } catch (e) {
    // Interrupted: the services are being stopped on purpose.
    if (ctx.signal?.aborted) throw e;
    await check(e);
    throw e;
  }
  await check();
  return cell;
}

async function runCellUnchecked(
  ctx: CellContext,
  onTargetExit: (i: HealthIncident) => void,
): Promise<CellResult> {
  const { scenario: s, infra } = ctx;
  const startedAt = Date.now();
  const dir = cellDir(ctx.runDir, { scenario: s.name, strategy: ctx.strategy, repeat: ctx.repeat });
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
  // Filled from the laps when the cell ends (the stop lap comes last, in `finally`).
  const timings: CellTimings = { setupMs: 0, warmupMs: 0, loadMs: 0, collectMs: 0 };
  const sumOf = (...names: string[]) => names.reduce((a, n) => a + (phaseMs[n] ?? 0), 0);
  progress({ phase: 'setup' });
  // Coordination keys on a second Redis (redis.coordination: separate; run.ts asked for one).
  const coordinationRedisUrl = s.redis?.coordination === 'separate' ? infra.coordinationRedisUrl : undefined;
  // Independent resets, each of its own service: run side by side. Every master is flushed: a
  // Cluster's keyspace is spread over them.
  await infra.resetRedisTopology?.();
  const masters = await redisMasterUrls(infra);
  const topologyShape = await redisShape(infra);
  await settleAll([
    resetToxiproxy(infra.toxiproxyUrl),
    ...masters.map(flushRedis),
    ...(coordinationRedisUrl ? [flushRedis(coordinationRedisUrl)] : []),
    seedDatabase(
      infra.postgresUrl,
      { users: s.data.users, teams: s.data.teams, counters: s.data.counters },
      ctx.seed,
    ),
  ]);

  await prepareProcessFaults(s.faults, infra.redisUrl, infra.processes);
  lap('reset+seed');
  // A scenario's cache settings apply to every strategy in the matrix; each strategy takes the
  // ones it declares (jitterFraction means nothing to lock). The target itself still rejects an
  // unknown option, so a typo in a strategy's own options fails loudly.
  const strategyOptions = Object.fromEntries(
    Object.entries(s.cache).filter(([k]) => Object.hasOwn(ctx.strategyDefaults, k)),
  );
  const { ttlMs, ttlByNamespace } = cellTtls(
    strategyOptions.ttlMs,
    Number(ctx.strategyDefaults.ttlMs ?? 30_000),
  );
  const targets = await startTargets({
    instances: ctx.instances,
    strategy: ctx.strategySpec ?? ctx.strategy,
    strategyOptions,
    redisUrl: infra.redisProxyUrl,
    ...targetTopologyOptions(infra),
    coordinationRedisUrl,
    postgresUrl: infra.postgresProxyUrl,
    ...(usesLeaderboard(s) ? { leaderboardStorage: leaderboardStorageOf(s) } : {}),
    reportCostMs: s.data.reportCostMs,
    userReadCostMs: s.data.userReadCostMs,
    onExit: (instanceId, code, signal) =>
      onTargetExit({
        component: `target instance ${instanceId}`,
        how: exitDescription(code, signal),
        at: performance.timeOrigin + performance.now(),
      }),
  });
  lap('startTargets');
  let evictions: EvictionWatch | undefined;
  try {
    for (const m of masters) await applyRedisConfig(m, s.redis);
    if (s.start === 'warm') {
      progress({ phase: 'warm' });
      await warmCache(targets.urls[0]!, s);
    }
    lap('warm');
    // The load starts from a cache the targets can use: a breaker that a slow warm-up tripped
    // would otherwise send the first second to the DB, its cause erased by the counter reset.
    const unavailable = await waitCacheAvailable(targets.controlUrls, CACHE_AVAILABLE_TIMEOUT_MS);
    if (unavailable.length > 0)
      throw new Error(
        `the targets' cache client was not available ${CACHE_AVAILABLE_TIMEOUT_MS / 1000} s after the warm-up (breaker ${unavailable.map((u) => u.breaker).join(', ')})`,
      );
    await Promise.all([
      ...targets.controlUrls.map((u) => fetch(`${u}/reset`, { method: 'POST' })),
      resetPgStatStatements(infra.postgresUrl),
    ]);
    const redisAtZero = await redisBaseline(masters);
    if (s.redis?.maxmemory !== undefined) evictions = await watchEvictions(masters);
    lap('zero');
    ctx.signal?.throwIfAborted();

    const zeroedAt = Date.now();
    // Counters are reconciled against the database: what it holds now, and after the final flush.
    const countsIncrements = (s.mix['incr-counter'] ?? 0) > 0;
    const countersBefore = countsIncrements ? await counterTotal(infra.postgresUrl) : 0;
    const leaderboardAtZero = usesLeaderboard(s)
      ? await leaderboardCounters(masters, leaderboardStorageOf(s))
      : undefined;

    // The sampler and the fault timeline share the load's origin. The built-in driver reports
    // when its worker has booted and takes the start time then (a few ms ahead); k6 needs a
    // fixed lead chosen up front.
    let loadStartedAt = 0;
    let sampler: ReturnType<typeof startSampler> | undefined;
    // Only where every service is our own process: a container's or an external server's CPU
    // would count as other people's work.
    let machine: ReturnType<typeof startMachineLoad> | undefined;
    let faultsPromise: Promise<FaultRecord[]> = Promise.resolve([]);
    const begin = (at: number) => {
      loadStartedAt = at;
      sampler = startSampler(targets.controlUrls, at);
      if (infra.pids.length > 0) machine = startMachineLoad(infra.pids, os.cpus().length);
      faultsPromise = runFaultTimeline({
        toxiproxyUrl: infra.toxiproxyUrl,
        redisUrl: infra.redisUrl,
        processes: infra.processes,
        redisTopology: infra.redisTopology,
        faults: s.faults,
        loadStartedAt: at,
        signal: ctx.signal,
      });
      // Handled now (awaited below): a rejection while the load runs must not crash the process.
      faultsPromise.catch(() => {});
      return at;
    };
    if (ctx.driver === 'k6') begin(Date.now() + K6_START_LEAD_MS);
    let loadOut: Omit<Awaited<ReturnType<typeof runBuiltinLoad>>, 'startLateMs'> & { startLateMs?: number };
    // Both drivers take the same inputs and return the same normalized shape.
    const runLoad =
      ctx.driver === 'k6' ? runK6Load : (o: BuiltinLoadOptions) => runBuiltinLoad(o, ctx.driverProcess);
    try {
      loadOut = await runLoad({
        scenario: s,
        targets: targets.urls,
        seed: ctx.seed * 1000 + ctx.repeat,
        historyPath: path.join(ctx.runDir, historyFile),
        ...(ctx.driver === 'k6'
          ? { startAt: loadStartedAt }
          : { onReady: () => begin(Date.now() + READY_LEAD_MS) }),
        signal: ctx.signal,
        onProgress: loadProgress,
      });
    } finally {
      // Faults are always removed (the executor resets Toxiproxy) before we collect.
      await faultsPromise.catch(() => {});
    }
    ctx.signal?.throwIfAborted();
    const faults = await faultsPromise;
    const targetSeries = await sampler!.stop();
    const machineLoad = machine?.stop() ?? undefined;
    lap('load');

    // Interrupted: nothing more to measure, and the services are being stopped.
    ctx.signal?.throwIfAborted();
    progress({ phase: 'collect', elapsedMs: totalMs });
    const [statsAll, rebuildsAll, pgStat, redis] = await Promise.all([
      Promise.all(targets.controlUrls.map(fetchStats)),
      Promise.all(targets.controlUrls.map((u) => fetchRebuilds(u, zeroedAt))),
      pgStatSnapshot(infra.postgresUrl),
      redisSnapshot(masters, redisAtZero),
    ]);
    redis.hottestKeys = loadOut.hottestKeys;
    if (evictions) redis.evictedByNamespace = await evictions.stop();
    lap('collect');
    const rebuilds = rebuildsAll.flat().sort((a, b) => a.start - b.start);
    // Stopping the targets runs write-behind's final flush; only then is the DB total final.
    await targets.stop();
    const counterTotals = countsIncrements
      ? { atLoadStart: countersBefore, afterFinalFlush: await counterTotal(infra.postgresUrl) }
      : undefined;
    const leaderboard = leaderboardAtZero
      ? await leaderboardTotals(
          { redisUrls: masters, postgresUrl: infra.postgresUrl },
          leaderboardStorageOf(s),
          leaderboardAtZero,
        )
      : undefined;

    const n = loadOut.series.requests.length;
    const pad = (a: number[]) => Array.from({ length: n }, (_, i) => a[i] ?? 0);
    const hits = pad(targetSeries.cacheHits);
    const misses = pad(targetSeries.cacheMisses);
    const series: CellSeries = {
      ...loadOut.series,
      t0: loadStartedAt,
      dbQueries: pad(targetSeries.dbQueries),
      cacheHits: hits,
      cacheMisses: misses,
      hitRatio: hits.map((h, i) => (h + misses[i]! > 0 ? h / (h + misses[i]!) : null)),
    };

    return {
      id: cellId(s.name, ctx.strategy, ctx.repeat),
      scenario: s.name,
      strategy: ctx.strategy,
      repeat: ctx.repeat,
      status: 'ok',
      startedAt,
      endedAt: Date.now(),
      loadStartedAt,
      scenario_spec: s,
      strategyOptions,
      topology: topologyOf(infra),
      ...(topologyShape ? { topologyShape } : {}),
      ...(machineLoad ? { machine: machineLoad } : {}),
      ...(ctx.strategySpec && ctx.strategySpec !== ctx.strategy ? { strategySpec: ctx.strategySpec } : {}),
      ttlMs,
      ...(ttlByNamespace ? { ttlByNamespace } : {}),
      load: {
        ...loadOut.load,
        startLateMs: loadOut.startLateMs ?? Math.max(0, Math.round(loadOut.loadStartedAt - loadStartedAt)),
      },
      series,
      faults,
      target: mergeTargetStats(statsAll),
      rebuilds,
      pgStatStatements: pgStat,
      redis,
      historyFile,
      phaseMs,
      timings,
      ...(counterTotals ? { counterTotals } : {}),
      ...(leaderboard ? { leaderboard } : {}),
    };
  } finally {
    await targets.stop();
    await evictions?.stop().catch(() => {});
    for (const m of masters) await resetRedisConfig(m).catch(() => {});
    await resetToxiproxy(infra.toxiproxyUrl).catch(() => {});
    lap('stop');
    timings.setupMs = sumOf('reset+seed', 'startTargets');
    timings.warmupMs = sumOf('warm', 'zero');
    timings.loadMs = sumOf('load');
    timings.collectMs = sumOf('collect', 'stop');
  }
}

/**
 * Like Promise.all, but waits for every step before failing with the first error: a step still
 * running after another failed (a seed on a database about to be stopped) must not outlive the
 * cell and fail on its own later, outside any handler.
 */
async function settleAll(steps: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
