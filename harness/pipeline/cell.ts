/**
 * One cell = one (scenario × strategy × repeat):
 *   reset (Redis FLUSHALL, Toxiproxy reset, reseed) side by side with starting the target(s) →
 *   wait for the previous cell's analysis → warm → zero counters → load + fault timeline +
 *   per-second sampler → collect (stats, rebuilds, pg_stat_statements, Redis) → stop target(s).
 *   run.ts analyzes the cell while the next one sets up (docs/architecture.md, "What a cell costs").
 * Everything the cell starts is stopped in `finally`, also when the run is interrupted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Scenario } from '../../scenarios/types.ts';
import { seedDatabase } from '../../target/db.ts';
import { startTargets, type TargetsHandle } from '../../target/instance.ts';
import { mergeTargetStats } from '../../target/instrumentation.ts';
import { cellTtls } from '../analysis/staleness.ts';
import { runBuiltinLoad } from '../driver/builtin.ts';
import { K6_START_LEAD_MS, runK6Load } from '../driver/k6.ts';
import { prepareProcessFaults, resetToxiproxy, runFaultTimeline } from '../faults.ts';
import { exitDescription, incidentMessage } from '../infra/process-control.ts';
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
  signal?: AbortSignal;
  /**
   * Settles when the previous cell is analysed and written (run.ts overlaps that with this
   * cell's setup); awaited before the warm-up. Must not reject.
   */
  previousCell?: Promise<unknown>;
  /** Target instance(s) started ahead (prepareTargets); the cell starts its own without. */
  prepared?: PreparedTargets;
  /** Called once the cell's measurements are collected: from then on the next cell may start its targets. */
  onCollected?: () => void;
  onProgress?: (p: CellProgress) => void;
}

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
 * A cell's target instances, started ahead of the cell (run.ts starts the next cell's while this
 * one finishes) or by the cell itself. Owns the exits of its instances: a death before the cell
 * starts still fails that cell.
 */
export interface PreparedTargets {
  targets: Promise<TargetsHandle>;
  incidents: HealthIncident[];
}

/** What the cell's strategy runs with: the scenario's cache settings it declares. */
function strategyOptionsOf(ctx: CellContext): Record<string, unknown> {
  // A scenario's cache settings apply to every strategy in the matrix; each strategy takes the
  // ones it declares (jitterFraction means nothing to lock). The target itself still rejects an
  // unknown option, so a typo in a strategy's own options fails loudly.
  return Object.fromEntries(
    Object.entries(ctx.scenario.cache).filter(([k]) => Object.hasOwn(ctx.strategyDefaults, k)),
  );
}

/** Coordination keys on a second Redis (redis.coordination: separate; run.ts asked for one). */
function coordinationUrlOf(ctx: CellContext): string | undefined {
  return ctx.scenario.redis?.coordination === 'separate' ? ctx.infra.coordinationRedisUrl : undefined;
}

/**
 * Starts the cell's target instance(s). Safe before the cell's resets and while the previous
 * cell's targets stop: a target reads and writes nothing until the warm-up (docs/architecture.md,
 * "What a cell costs").
 */
export function prepareTargets(ctx: CellContext): PreparedTargets {
  const { scenario: s, infra } = ctx;
  const incidents: HealthIncident[] = [];
  const targets = startTargets({
    instances: ctx.instances,
    strategy: ctx.strategySpec ?? ctx.strategy,
    strategyOptions: strategyOptionsOf(ctx),
    redisUrl: infra.redisProxyUrl,
    coordinationRedisUrl: coordinationUrlOf(ctx),
    postgresUrl: infra.postgresProxyUrl,
    ...(usesLeaderboard(s) ? { leaderboardStorage: leaderboardStorageOf(s) } : {}),
    reportCostMs: s.data.reportCostMs,
    userReadCostMs: s.data.userReadCostMs,
    onExit: (instanceId, code, signal) =>
      incidents.push({
        component: `target instance ${instanceId}`,
        how: exitDescription(code, signal),
        at: performance.timeOrigin + performance.now(),
      }),
  });
  // Awaited by the cell; a start that fails while nobody awaits yet must not crash the process.
  targets.catch(() => {});
  return { targets, incidents };
}

/** Stops prepared targets that no cell will use (a failed or interrupted run). */
export async function discardTargets(p: PreparedTargets): Promise<void> {
  await p.targets.then(
    (t) => t.stop(),
    () => {},
  );
}

/**
 * Runs one cell and fails it when anything the harness started (a service, a target instance)
 * died outside a planned fault — also when that death is what made a step throw, so the failure
 * names the component instead of the symptom ("fetch failed").
 */
export async function runCell(ctx: CellContext): Promise<CellResult> {
  const startedAt = performance.timeOrigin + performance.now();
  let prepared = ctx.prepared;
  const check = async (cause?: unknown) => {
    const all = [...((await ctx.infra.processes?.health()) ?? []), ...(prepared?.incidents ?? [])];
    if (all.length > 0) {
      const message = all.map((i) => incidentMessage(i, startedAt)).join('; ');
      throw new InfraHealthError(message, cause === undefined ? undefined : { cause });
    }
  };
  try {
    await check();
  } catch (e) {
    if (prepared) await discardTargets(prepared);
    throw e;
  }
  let cell: CellResult;
  try {
    cell = await runCellUnchecked(ctx, () => {
      prepared ??= prepareTargets(ctx);
      return prepared;
    });
  } catch (e) {
    // Idempotent: a no-op when the cell got as far as stopping them itself.
    if (prepared) await discardTargets(prepared);
    // Interrupted: the services are being stopped on purpose.
    if (ctx.signal?.aborted) throw e;
    await check(e);
    throw e;
  }
  await check();
  return cell;
}

async function runCellUnchecked(ctx: CellContext, prepare: () => PreparedTargets): Promise<CellResult> {
  const { scenario: s, infra } = ctx;
  const startedAt = Date.now();
  const dir = cellDir(ctx.runDir, { scenario: s.name, strategy: ctx.strategy, repeat: ctx.repeat });
  fs.mkdirSync(dir, { recursive: true });
  const historyFile = path.relative(ctx.runDir, path.join(dir, 'history.ndjson'));
  const totalMs = s.load.phases.reduce((a, p) => a + p.duration, 0);
  const progress = (p: Partial<CellProgress> & Pick<CellProgress, 'phase'>) =>
    ctx.onProgress?.({ elapsedMs: 0, totalMs, sent: 0, errors: 0, dropped: 0, ratePerSec: 0, ...p });

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
  const coordinationRedisUrl = coordinationUrlOf(ctx);
  const strategyOptions = strategyOptionsOf(ctx);
  const { ttlMs, ttlByNamespace } = cellTtls(
    strategyOptions.ttlMs,
    Number(ctx.strategyDefaults.ttlMs ?? 30_000),
  );
  // Independent resets, each of its own service: run side by side. The target process boots
  // meanwhile, or has booted already (prepared during the previous cell's stop): it reads and
  // writes nothing until the warm-up, its start-up check waits for the reseed's lock on `users`,
  // and Redis and Toxiproxy reset state, not connections — so it meets the same state as if it
  // had started after them.
  const starting = prepare().targets;
  const resets = (async () => {
    await Promise.all([
      resetToxiproxy(infra.toxiproxyUrl),
      flushRedis(infra.redisUrl),
      ...(coordinationRedisUrl ? [flushRedis(coordinationRedisUrl)] : []),
      seedDatabase(
        infra.postgresUrl,
        { users: s.data.users, teams: s.data.teams, counters: s.data.counters },
        ctx.seed,
      ),
    ]);
    await prepareProcessFaults(s.faults, infra.redisUrl, infra.processes);
    lap('reset+seed');
  })();
  const [resetOutcome, startOutcome] = await Promise.allSettled([resets, starting]);
  if (resetOutcome.status === 'rejected') {
    if (startOutcome.status === 'fulfilled') await startOutcome.value.stop();
    throw resetOutcome.reason;
  }
  if (startOutcome.status === 'rejected') throw startOutcome.reason;
  const targets = startOutcome.value;
  // What the target start took beyond the resets it overlapped.
  lap('startTargets');
  let evictions: EvictionWatch | undefined;
  try {
    // The previous cell's analysis and results.json write ran during this cell's setup. Done
    // before the warm-up, not after: a wait between warm-up and load would let the hot keys'
    // short TTLs run out before the load starts.
    if (ctx.previousCell) await ctx.previousCell;
    lap('previous-cell');
    await applyRedisConfig(infra.redisUrl, s.redis);
    if (s.start === 'warm') {
      progress({ phase: 'warm' });
      await warmCache(targets.urls[0]!, s);
    }
    lap('warm');
    await Promise.all([
      ...targets.controlUrls.map((u) => fetch(`${u}/reset`, { method: 'POST' })),
      resetPgStatStatements(infra.postgresUrl),
    ]);
    const redisAtZero = await redisBaseline(infra.redisUrl);
    if (s.redis?.maxmemory !== undefined) evictions = await watchEvictions(infra.redisUrl);
    lap('zero');
    ctx.signal?.throwIfAborted();

    const zeroedAt = Date.now();
    // Counters are reconciled against the database: what it holds now, and after the final flush.
    const countsIncrements = (s.mix['incr-counter'] ?? 0) > 0;
    const countersBefore = countsIncrements ? await counterTotal(infra.postgresUrl) : 0;
    const leaderboardAtZero = usesLeaderboard(s)
      ? await leaderboardCounters(infra.redisUrl, leaderboardStorageOf(s))
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
    const runLoad = ctx.driver === 'k6' ? runK6Load : runBuiltinLoad;
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
        onProgress: (p) =>
          progress({
            phase: 'load',
            elapsedMs: p.elapsedMs,
            sent: p.sent,
            errors: p.errors,
            dropped: p.dropped,
            ratePerSec: p.ratePerSec,
          }),
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
      redisSnapshot(infra.redisUrl, redisAtZero),
    ]);
    redis.hottestKeys = loadOut.hottestKeys;
    if (evictions) redis.evictedByNamespace = await evictions.stop();
    lap('collect');
    ctx.onCollected?.();
    const rebuilds = rebuildsAll.flat().sort((a, b) => a.start - b.start);
    // Stopping the targets runs write-behind's final flush; only then is the DB total final.
    await targets.stop();
    const counterTotals = countsIncrements
      ? { atLoadStart: countersBefore, afterFinalFlush: await counterTotal(infra.postgresUrl) }
      : undefined;
    const leaderboard = leaderboardAtZero
      ? await leaderboardTotals(infra, leaderboardStorageOf(s), leaderboardAtZero)
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
    await resetRedisConfig(infra.redisUrl).catch(() => {});
    await resetToxiproxy(infra.toxiproxyUrl).catch(() => {});
    lap('stop');
    timings.setupMs = sumOf('reset+seed', 'startTargets', 'previous-cell');
    timings.warmupMs = sumOf('warm', 'zero');
    timings.loadMs = sumOf('load');
    timings.collectMs = sumOf('collect', 'stop');
  }
}
