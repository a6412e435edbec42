/**
 * Per-scenario verdicts: the scenario's question answered from the numbers, claiming only what
 * the numbers can carry.
 *
 * - A strategy is ranked above another on a metric only when their 95 % intervals
 *   (uncertainty.ts) do not overlap **and** the difference is at least the metric's minimum
 *   effect (MIN_EFFECT). Everything else is named as "no significant difference among …", with
 *   the range of values, as benchstat prints "~".
 * - Correctness first: each scenario has primary metrics (the YAML `primary:` list, else the
 *   table below, else DEFAULT_PRIMARY). A strategy significantly worse than the best on a primary
 *   metric is never named best on any other metric: a strategy that never invalidates has no stale
 *   read older than the TTL, and must not win "stale beyond TTL" with 19 % stale reads.
 * - Untrusted rows and the `reference` row (no-cache, when two others remain) are not ranked;
 *   nor is a latency metric of a row whose cells ran while other processes were busy.
 *
 * Besides the text, the verdict returns its claims in structured form (who was named best or
 * worst on which metric, and against whom) so `harness/bench/seed-pairs.ts` can check that two
 * runs never contradict each other.
 */
import { formatMetric, METRICS, type MetricDef, type MetricId } from './metrics.ts';
import type { StrategyRow } from './types.ts';
import type { Estimate } from './uncertainty.ts';

const FOCUS: Record<string, MetricId[]> = {
  'steady-read': ['queriesPerRequest', 'p99', 'hitRatio'],
  'hot-key': ['rebuildsPerExpiry', 'maxConcurrentRebuilds', 'p99'],
  'mass-expiry': ['dbPeak', 'rebuildsPerExpiry', 'p99'],
  'write-race': ['staleBeyondTtl', 'staleReadRatio', 'staleAgeP99'],
  'coordination-eviction': ['duplicateRebuilds', 'lostIncrements', 'rebuildsPerExpiry'],
  'coordination-eviction-separate': ['duplicateRebuilds', 'lostIncrements', 'rebuildsPerExpiry'],
  'coordination-eviction-volatile': ['duplicateRebuilds', 'lostIncrements', 'rebuildsPerExpiry'],
  'delete-race': ['servedAfterDelete', 'staleBeyondTtl', 'staleReadRatio'],
  'failover-write-race': [
    'staleAfterFailover',
    'lostDeletes',
    'duplicateRebuilds',
    'lostIncrements',
    'failoverSeconds',
    'staleBeyondTtl',
  ],
  'failover-db-cost': ['dbPeak', 'faultErrorRate', 'faultP99', 'failoverSeconds'],
  'cluster-correctness': ['staleBeyondTtl', 'rebuildsPerExpiry', 'hitRatio', 'errorRate'],
  'endpoint-ttls': ['staleBeyondTtl', 'queriesPerRequest', 'hitRatio', 'p99'],
  'redis-latency': ['faultP99', 'faultErrorRate', 'recoverySeconds'],
  'redis-outage': ['faultErrorRate', 'faultDbMultiplier', 'recoverySeconds', 'staleAfterRecovery'],
  'redis-blackhole': ['faultErrorRate', 'faultP99', 'recoverySeconds'],
  'db-slow': ['p99', 'errorRate', 'queriesPerRequest'],
  'cold-start': ['dbPeak', 'timeTo90HitRatio', 'rebuildsPerExpiry', 'p99'],
  'deploy-restart': ['dbPeak', 'timeTo90HitRatio', 'faultDbMultiplier', 'p99'],
  leaderboard: ['lostUpdates', 'p99', 'redisCpuPerRequest'],
  'leaderboard-zset': ['lostUpdates', 'p99', 'redisCpuPerRequest'],
  'counter-outage': [
    'lostIncrements',
    'faultErrorRate',
    'dbWritesPerIncrement',
    'flushWritesPerBufferedIncrement',
  ],
};

/**
 * Primary (correctness) metrics of the catalog scenarios: what must hold before anything else
 * counts. Errors are primary everywhere: a strategy that fails requests is not "fast".
 */
const PRIMARY: Record<string, MetricId[]> = {
  'steady-read': ['errorRate', 'staleBeyondTtl'],
  'hot-key': ['errorRate', 'staleBeyondTtl'],
  'mass-expiry': ['errorRate', 'staleBeyondTtl'],
  'write-race': ['staleReadRatio', 'staleBeyondTtl', 'errorRate'],
  'delete-race': ['servedAfterDelete', 'staleBeyondTtl', 'errorRate'],
  'cluster-correctness': ['staleBeyondTtl', 'errorRate'],
  'endpoint-ttls': ['errorRate', 'staleBeyondTtl'],
  'redis-latency': ['faultErrorRate', 'errorRate'],
  'redis-outage': ['faultErrorRate', 'errorRate', 'staleAfterRecovery'],
  'redis-blackhole': ['faultErrorRate', 'errorRate'],
  'db-slow': ['errorRate', 'staleBeyondTtl'],
  'cold-start': ['errorRate', 'staleBeyondTtl'],
  leaderboard: ['lostUpdates', 'p99', 'redisCpuPerRequest'],
  'leaderboard-zset': ['lostUpdates', 'p99', 'redisCpuPerRequest'],
  'counter-outage': ['lostIncrements', 'faultErrorRate'],
};

/** Primary metrics of a scenario without its own list (user scenarios). */
export const DEFAULT_PRIMARY: MetricId[] = ['errorRate', 'staleReadRatio', 'staleBeyondTtl'];
const DEFAULT_PRIMARY_FAULTS: MetricId[] = [
  'errorRate',
  'faultErrorRate',
  'staleBeyondTtl',
  'lostIncrements',
];

/**
 * Smallest difference worth naming, per unit: `abs` in the metric's own scale (fractions for
 * %), `rel` relative to the better value; the larger of the two applies. Below it a difference is
 * "no material difference" even when significant: 38.5 vs 38.7 ms is not a finding.
 */
export const MIN_EFFECT: Record<MetricDef['unit'], { abs: number; rel: number }> = {
  '': { abs: 0.5, rel: 0.2 },
  ms: { abs: 1, rel: 0.1 },
  s: { abs: 1, rel: 0 },
  '%': { abs: 0.002, rel: 0.25 },
  '/s': { abs: 5, rel: 0.15 },
  '×': { abs: 0.1, rel: 0.15 },
};

/**
 * Per-metric minimum effects where the units inside a cell are not independent. Stale reads
 * cluster: one stale-set race is read again and again until the TTL, so reads are not independent
 * units and Wilson over reads is too narrow. Across the seeds of the quick default comparison the
 * correct strategies moved between 0.0 % and 2.5 % (versioning 0.33 % in one run, 1.49 % in
 * another), so a ranking on stale reads needs at least 3 points; a lost invalidation is ~20 %.
 */
export const METRIC_MIN_EFFECT: Partial<Record<MetricId, { abs: number; rel: number }>> = {
  staleReadRatio: { abs: 0.03, rel: 0.25 },
};

export function focusMetrics(scenario: string, hasFaults: boolean): MetricId[] {
  return (
    FOCUS[scenario] ??
    (hasFaults
      ? ['faultErrorRate', 'faultP99', 'recoverySeconds']
      : ['queriesPerRequest', 'rebuildsPerExpiry', 'p99', 'staleReadRatio'])
  );
}

/** The scenario's own `primary:` list when it has one, else the catalog table, else the default. */
export function primaryMetrics(
  scenario: string,
  hasFaults: boolean,
  declared?: readonly string[],
): MetricId[] {
  if (declared?.length) return declared.filter((m): m is MetricId => m in METRICS);
  return PRIMARY[scenario] ?? (hasFaults ? DEFAULT_PRIMARY_FAULTS : DEFAULT_PRIMARY);
}

export interface Claim {
  metric: MetricId;
  /** best: `strategies` are significantly and materially better than every one in `than`. */
  kind: 'best' | 'no-difference';
  strategies: string[];
  than: string[];
}

export interface VerdictResult {
  text: string;
  claims: Claim[];
}

function names(n: string[]): string {
  return n.length <= 4 ? n.join(', ') : `${n.slice(0, 4).join(', ')} and ${n.length - 4} more`;
}

export function formatEstimate(id: MetricId, e: Estimate | null | undefined, value?: number | null): string {
  if (!e) return formatMetric(id, value);
  // A right-censored figure (open interval): its value is a lower bound.
  const atLeast = e.hi === Number.POSITIVE_INFINITY ? '≥ ' : '';
  return `${atLeast}${formatMetric(id, e.value)} [${formatMetric(id, e.lo)}, ${formatMetric(id, e.hi)}]`;
}

/** Is `b` significantly and materially worse than `a` on metric `id`? */
export function worseThan(id: MetricId, a: Estimate, b: Estimate): boolean {
  const def = METRICS[id];
  const lower = def.better === 'lower';
  const separated = lower ? a.hi < b.lo : a.lo > b.hi;
  const eff = METRIC_MIN_EFFECT[id] ?? MIN_EFFECT[def.unit];
  const diff = lower ? b.value - a.value : a.value - b.value;
  return separated && diff >= Math.max(eff.abs, eff.rel * Math.abs(a.value));
}

interface Ranked {
  row: StrategyRow;
  est: Estimate;
}

function ranked(rows: StrategyRow[], id: MetricId): { with: Ranked[]; without: StrategyRow[] } {
  const out: Ranked[] = [];
  const without: StrategyRow[] = [];
  for (const r of rows) {
    const v = r.metrics[id];
    if (v === null || v === undefined) continue;
    const est = r.intervals?.[id];
    const busy = METRICS[id].latency && r.latencyTrusted === false;
    if (est && est.ranked !== false && !busy) out.push({ row: r, est });
    else without.push(r);
  }
  const sign = METRICS[id].better === 'lower' ? 1 : -1;
  out.sort((a, b) => sign * (a.est.value - b.est.value));
  return { with: out, without };
}

/** Rows significantly worse than the best on `id` (the best among `rows`). */
function losers(rows: StrategyRow[], id: MetricId): Set<string> {
  const r = ranked(rows, id).with;
  const out = new Set<string>();
  if (r.length < 2) return out;
  for (const x of r.slice(1)) if (worseThan(id, r[0]!.est, x.est)) out.add(x.row.strategy);
  return out;
}

const range = (id: MetricId, xs: Ranked[]) => {
  const lo = Math.min(...xs.map((x) => x.est.lo));
  const hi = Math.max(...xs.map((x) => x.est.hi));
  const vals = xs.map((x) => x.est.value);
  const a = formatMetric(id, Math.min(...vals));
  const b = formatMetric(id, Math.max(...vals));
  return `${a === b ? a : `${a} to ${b}`} (intervals span ${formatMetric(id, lo)}–${formatMetric(id, hi)})`;
};

/** Why a metric has no rankable interval (the reader's next step included). */
function noIntervalWhy(id: MetricId, rows: StrategyRow[]): string {
  if (METRICS[id].latency && rows.some((r) => r.latencyTrusted === false))
    return 'other processes were busy on the machine during the load (validity flag machine-busy); rerun when it is quiet';
  const shown = rows.some((r) => r.intervals?.[id]?.ranked === false);
  return shown
    ? 'one repeat cannot separate a strategy from machine drift between cells; run --repeats 3'
    : 'no units inside a cell (a maximum, or too few seconds); run --repeats 3';
}

export function verdict(
  rows: StrategyRow[],
  focus: MetricId[],
  reference?: string,
  primary: MetricId[] = [],
  opts: { lowPower?: string } = {},
): VerdictResult {
  const candidates = rows.filter((r) => r.trusted && r.strategy !== reference);
  const pool = candidates.length >= 2 ? candidates : rows.filter((r) => r.trusted);
  const untrusted = rows.filter((r) => !r.trusted);
  const claims: Claim[] = [];
  const parts: string[] = [];

  // Correctness first: who is materially worse on which primary metric.
  const badOn = new Map<string, MetricId[]>();
  for (const p of primary) {
    for (const s of losers(pool, p)) badOn.set(s, [...(badOn.get(s) ?? []), p]);
  }
  const metrics = [...primary.filter((p) => focus.includes(p) || losers(pool, p).size > 0)];
  for (const f of focus) if (!metrics.includes(f)) metrics.push(f);

  let unsure = false;
  const unranked: { id: MetricId; who: string[] }[] = [];
  for (const id of metrics) {
    const def = METRICS[id];
    const eligible = pool.filter((r) => !(badOn.get(r.strategy) ?? []).some((p) => p !== id));
    const all = ranked(pool, id);
    const r = ranked(eligible, id);
    if (all.with.length === 0 && all.without.length === 0) continue;
    const noInterval = all.without.map((x) => x.strategy);
    if (r.with.length < 1 || all.with.length < 2) {
      if (noInterval.length) unranked.push({ id, who: noInterval });
      continue;
    }
    if (r.with.length === 1) {
      // Only one strategy is still eligible: state its value, rank nobody.
      const only = r.with[0]!;
      const others = all.with.filter((x) => x.row !== only.row).map((x) => x.row.strategy);
      parts.push(
        `${def.label} ${formatEstimate(id, only.est)} for ${only.row.strategy} (${names(others)} not ranked: materially worse on a primary metric)`,
      );
      continue;
    }
    // The best is chosen among the eligible; "worse" is judged over everyone.
    const best = r.with[0]!;
    const worse = all.with.filter((x) => worseThan(id, best.est, x.est));
    const leaders = r.with.filter((x) => !worse.some((w) => w.row === x.row));
    // Rows kept out of "best" by a primary metric, that would otherwise have led.
    const excluded = all.with.filter(
      (x) => !eligible.includes(x.row) && !worseThan(id, best.est, x.est) && x.est.value !== best.est.value,
    );
    const excl = excluded.length
      ? ` (${names(excluded.map((x) => x.row.strategy))} not ranked: materially worse on ${[
          ...new Set(excluded.flatMap((x) => badOn.get(x.row.strategy) ?? [])),
        ]
          .map((p) => METRICS[p].label)
          .join(', ')})`
      : '';
    if (worse.length === 0) {
      unsure = true;
      claims.push({
        metric: id,
        kind: 'no-difference',
        strategies: leaders.map((x) => x.row.strategy),
        than: [],
      });
      parts.push(
        `no significant difference in ${def.label} among ${names(leaders.map((x) => x.row.strategy))}: ${range(id, leaders)}${excl}`,
      );
    } else {
      claims.push({
        metric: id,
        kind: 'best',
        strategies: leaders.map((x) => x.row.strategy),
        than: worse.map((x) => x.row.strategy),
      });
      const lead = leaders.map((x) => x.row.strategy);
      const worst = worse[worse.length - 1]!;
      const first = formatMetric(id, leaders[0]!.est.value);
      const last = formatMetric(id, leaders[leaders.length - 1]!.est.value);
      const leadText =
        leaders.length === 1 ? formatEstimate(id, best.est) : first === last ? first : `${first} to ${last}`;
      parts.push(
        `best ${def.label}: ${names(lead)} (${leadText}); significantly worse: ${names(worse.map((x) => x.row.strategy))} (worst ${worst.row.strategy} ${formatEstimate(id, worst.est)})${excl}`,
      );
    }
    if (noInterval.length) unranked.push({ id, who: noInterval });
  }
  if (unranked.length) {
    // One sentence for every metric without a rankable interval, grouped by the reason.
    const byWhy = new Map<string, string[]>();
    for (const u of unranked) {
      const why = noIntervalWhy(u.id, rows);
      const all = u.who.length === pool.length;
      byWhy.set(why, [...(byWhy.get(why) ?? []), `${METRICS[u.id].label}${all ? '' : ` (${names(u.who)})`}`]);
    }
    for (const [why, labels] of byWhy) parts.push(`not ranked: ${labels.join(', ')} — ${why}`);
  }
  let text = parts.length
    ? `${parts[0]![0]!.toUpperCase()}${parts[0]!.slice(1)}`
    : 'No measurement to compare';
  if (parts.length > 1) text += `; ${parts.slice(1).join('; ')}`;
  text += '.';
  if (pool.length < rows.length - untrusted.length) text += ` Not ranked: ${reference} (the reference).`;
  if (untrusted.length)
    text += ` Not ranked (untrusted numbers): ${names(untrusted.map((r) => r.strategy))}.`;
  if (unsure && opts.lowPower) text += ` ${opts.lowPower}`;
  return { text, claims };
}
