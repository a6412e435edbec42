/**
 * Stampede (docs/measurements.md). A rebuild is one RebuildEvent: a source load the TARGET
 * observed around the load closure it handed the strategy (target/instrumentation.ts
 * `observeLoad`), whether or not the strategy reported it — so a strategy that calls no
 * `ctx.events` method gets the same exact figures as one that does. Rebuilds of one key, merged across every target instance, are grouped into expiry
 * episodes:
 *
 *   sort the key's rebuilds by start; an episode opens with the first rebuild not yet grouped,
 *   with horizon = its end; each following rebuild whose start <= horizon + graceMs joins the
 *   episode and extends horizon to max(horizon, its end); the first rebuild that starts later
 *   opens the next episode.
 *
 * So an episode is the set of rebuilds that began while another rebuild of the key was still
 * running (or within graceMs after the last one ended — the gap between the DB load finishing
 * and the value landing in Redis, during which requests still miss). Cold first loads are
 * episodes too: a key's first miss is its first "expiry".
 *
 * Headline "rebuilds per expiry" is the mean over the episodes of the hot key (the key with the
 * most rebuilds): averaged over every key, the one-rebuild episodes of thousands of rarely read
 * keys drown a hot key's stampede and every strategy scores ≈1. The all-keys mean is kept too.
 */
import type { CellResult, RebuildEvent } from '../results/schema.ts';
import { median } from './stats.ts';
import type { EpisodeSummary, StampedeAnalysis, StampedeKeySummary } from './types.ts';

export const DEFAULT_GRACE_MS = 50;

export interface Episode {
  key: string;
  start: number;
  end: number;
  rebuilds: RebuildEvent[];
  maxConcurrent: number;
}

/**
 * Largest number of intervals [start, end) open at one instant. At equal timestamps ends are
 * processed before starts: a rebuild starting the instant another ended did not overlap it.
 */
export function maxConcurrency(events: readonly { start: number; end: number }[]): number {
  const points: [number, number][] = [];
  for (const e of events) {
    points.push([e.start, 1]);
    points.push([Math.max(e.start, e.end), -1]);
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) {
    cur += d;
    if (cur > max) max = cur;
  }
  return max;
}

/**
 * Rebuilds that began while an earlier-started rebuild of the same key (any instance) was still
 * loading: what a working lock or lease prevents — the holder's guard is held over its whole load —
 * and what an evicted or flushed guard lets through. A rebuild that starts after the previous one
 * ended (the value it stored was evicted or refused at once, a waiter's bounded wait ran out
 * after the holder finished) is not one: the guard did its job and the value was lost again.
 * Per key, sorted by start: counted when its start < the latest end seen so far.
 */
export function overlappingRebuilds(rebuilds: readonly RebuildEvent[]): number {
  const byKey = new Map<string, RebuildEvent[]>();
  for (const r of rebuilds) {
    const list = byKey.get(r.key);
    if (list) list.push(r);
    else byKey.set(r.key, [r]);
  }
  let n = 0;
  for (const list of byKey.values()) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    let runningUntil = Number.NEGATIVE_INFINITY;
    for (const r of list) {
      if (r.start < runningUntil) n++;
      runningUntil = Math.max(runningUntil, r.end);
    }
  }
  return n;
}

export function groupEpisodes(rebuilds: readonly RebuildEvent[], graceMs = DEFAULT_GRACE_MS): Episode[] {
  const byKey = new Map<string, RebuildEvent[]>();
  for (const r of rebuilds) {
    let list = byKey.get(r.key);
    if (!list) {
      list = [];
      byKey.set(r.key, list);
    }
    list.push(r);
  }
  const episodes: Episode[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    let cur: RebuildEvent[] = [];
    let horizon = Number.NEGATIVE_INFINITY;
    const close = () => {
      if (cur.length === 0) return;
      episodes.push({
        key,
        start: cur[0]!.start,
        end: horizon,
        rebuilds: cur,
        maxConcurrent: maxConcurrency(cur),
      });
    };
    for (const r of list) {
      if (cur.length > 0 && r.start <= horizon + graceMs) {
        cur.push(r);
        horizon = Math.max(horizon, r.end);
      } else {
        close();
        cur = [r];
        horizon = r.end;
      }
    }
    close();
  }
  episodes.sort((a, b) => a.start - b.start);
  return episodes;
}

function episodeSummary(e: Episode): EpisodeSummary {
  return {
    key: e.key,
    start: e.start,
    end: e.end,
    rebuilds: e.rebuilds.length,
    maxConcurrent: e.maxConcurrent,
    instances: [...new Set(e.rebuilds.map((r) => r.instance))].sort(),
  };
}

/**
 * Max of series.dbQueries over the seconds within ±1 s of any episode start: the DB peak an
 * expiry causes, including the second before (a rebuild may start late in a bucket) and after.
 */
export function dbPeakAround(cell: CellResult, starts: readonly number[], radius = 1): number | null {
  const { t0, dbQueries } = cell.series;
  if (dbQueries.length === 0 || starts.length === 0) return null;
  const covered = new Uint8Array(dbQueries.length);
  for (const s of starts) {
    const i = Math.floor((s - t0) / 1000);
    for (let j = i - radius; j <= i + radius; j++) if (j >= 0 && j < covered.length) covered[j] = 1;
  }
  let peak: number | null = null;
  for (let i = 0; i < covered.length; i++) {
    if (covered[i] && (peak === null || dbQueries[i]! > peak)) peak = dbQueries[i]!;
  }
  return peak;
}

/**
 * Stampede figures apply when the cell's cache ever served a read: with no hit at all (no-cache,
 * or Redis unreachable for the whole cell) every read is a source load and "rebuilds per expiry"
 * would only measure request concurrency.
 */
export function stampedeApplies(cell: CellResult): boolean {
  // Observed by the target (a read that returned 'cache' with no load, or 'stale').
  return cell.target.cache.hits + cell.target.cache.staleServed > 0;
}

export function analyzeStampede(cell: CellResult, graceMs = DEFAULT_GRACE_MS): StampedeAnalysis {
  // Fallback loads (Redis failed, read answered from the DB) are neither a miss nor a refresh:
  // counted by reason, kept out of expiry episodes.
  const expiryRebuilds = cell.rebuilds.filter((r) => r.reason !== 'fallback');
  const episodes = groupEpisodes(expiryRebuilds, graceMs);
  const applies = stampedeApplies(cell);
  const byReason: Record<string, number> = {};
  const byInstance: Record<string, number> = {};
  for (const r of cell.rebuilds) {
    byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    byInstance[r.instance] = (byInstance[r.instance] ?? 0) + 1;
  }
  const keys = new Map<string, StampedeKeySummary>();
  let maxPer = 0;
  let maxConc = 0;
  let multi = 0;
  for (const e of episodes) {
    const n = e.rebuilds.length;
    if (n > maxPer) maxPer = n;
    if (e.maxConcurrent > maxConc) maxConc = e.maxConcurrent;
    if (n > 1) multi++;
    let k = keys.get(e.key);
    if (!k) {
      k = { key: e.key, episodes: 0, rebuilds: 0, maxRebuildsPerEpisode: 0, maxConcurrent: 0 };
      keys.set(e.key, k);
    }
    k.episodes++;
    k.rebuilds += n;
    k.maxRebuildsPerEpisode = Math.max(k.maxRebuildsPerEpisode, n);
    k.maxConcurrent = Math.max(k.maxConcurrent, e.maxConcurrent);
  }
  const hottest = [...keys.values()]
    .filter((k) => k.maxRebuildsPerEpisode > 1)
    .sort((a, b) => b.maxRebuildsPerEpisode - a.maxRebuildsPerEpisode || b.rebuilds - a.rebuilds)
    .slice(0, 10);
  const largest = [...episodes]
    .sort((a, b) => b.rebuilds.length - a.rebuilds.length || a.start - b.start)
    .slice(0, 5)
    .map(episodeSummary);
  // The hot key: most rebuilds, then most episodes, then name (deterministic).
  let hot: StampedeKeySummary | null = null;
  for (const k of keys.values()) {
    if (
      !hot ||
      k.rebuilds > hot.rebuilds ||
      (k.rebuilds === hot.rebuilds &&
        (k.episodes > hot.episodes || (k.episodes === hot.episodes && k.key < hot.key)))
    )
      hot = k;
  }
  let failedLoads = 0;
  let backgroundLoads = 0;
  let inferredReasons = 0;
  for (const r of cell.rebuilds) {
    if (r.ok === false) failedLoads++;
    if (r.background) backgroundLoads++;
    if (r.inferred) inferredReasons++;
  }
  const overlapping = overlappingRebuilds(expiryRebuilds);
  return {
    applies,
    rebuilds: expiryRebuilds.length,
    overlappingRebuilds: overlapping,
    repeatedRebuilds: expiryRebuilds.length - episodes.length - overlapping,
    fallbackLoads: cell.rebuilds.length - expiryRebuilds.length,
    failedLoads,
    backgroundLoads,
    inferredReasons,
    episodes: episodes.length,
    rebuildsPerExpiry: applies && hot ? hot.rebuilds / hot.episodes : null,
    hotKey: hot ? hot.key : null,
    rebuildsPerExpiryAllKeys: applies && episodes.length ? expiryRebuilds.length / episodes.length : null,
    maxRebuildsPerExpiry: maxPer,
    maxConcurrentPerKey: maxConc,
    episodesWithMultiple: multi,
    graceMs,
    byReason,
    byInstance,
    hottestKeys: hottest,
    largestEpisodes: largest,
    dbPeakAroundExpiries: dbPeakAround(
      cell,
      episodes.map((e) => e.start),
    ),
    dbMedianPerSecond: median(cell.series.dbQueries),
  };
}
