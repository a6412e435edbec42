/**
 * Per-scenario verdicts: the scenario's question answered from the numbers. Each scenario has
 * focus metrics (the ones its question is about); the verdict names the best and the worst
 * strategy on the first focus metric, then the best on the others. Untrusted rows are left out
 * of the ranking and named, so a verdict never rests on numbers the validity checks rejected.
 * A `reference` row (the no-cache baseline) is left out of the ranking too when at least two
 * other rows remain: "jitter keeps the DB peak at 59/s where no-cache reaches 501/s" compares a
 * cache with no cache, while the reader's question is which cache strategy to adopt.
 */
import { formatMetric, METRICS, type MetricId } from './metrics.ts';
import type { StrategyRow } from './types.ts';

const FOCUS: Record<string, MetricId[]> = {
  'steady-read': ['queriesPerRequest', 'p99', 'hitRatio'],
  'hot-key': ['rebuildsPerExpiry', 'maxConcurrentRebuilds', 'p99'],
  'mass-expiry': ['dbPeak', 'rebuildsPerExpiry', 'p99'],
  'write-race': ['staleBeyondTtl', 'staleReadRatio', 'staleAgeP99'],
  'redis-latency': ['faultP99', 'faultErrorRate', 'recoverySeconds'],
  'redis-outage': ['faultErrorRate', 'faultDbMultiplier', 'recoverySeconds', 'staleAfterRecovery'],
  'redis-blackhole': ['faultErrorRate', 'faultP99', 'recoverySeconds'],
  'db-slow': ['p99', 'errorRate', 'queriesPerRequest'],
  'cold-start': ['dbPeak', 'rebuildsPerExpiry', 'p99'],
  'counter-outage': [
    'lostIncrements',
    'faultErrorRate',
    'dbWritesPerIncrement',
    'flushWritesPerBufferedIncrement',
  ],
};

export function focusMetrics(scenario: string, hasFaults: boolean): MetricId[] {
  return (
    FOCUS[scenario] ??
    (hasFaults
      ? ['faultErrorRate', 'faultP99', 'recoverySeconds']
      : ['queriesPerRequest', 'rebuildsPerExpiry', 'p99', 'staleReadRatio'])
  );
}

function names(rows: StrategyRow[]): string {
  const n = rows.map((r) => r.strategy);
  return n.length <= 3 ? n.join(', ') : `${n.slice(0, 3).join(', ')} and ${n.length - 3} more`;
}

export function verdict(rows: StrategyRow[], focus: MetricId[], reference?: string): string {
  const candidates = rows.filter((r) => r.trusted && r.strategy !== reference);
  const trusted = candidates.length >= 2 ? candidates : rows.filter((r) => r.trusted);
  const untrusted = rows.filter((r) => !r.trusted);
  const parts: string[] = [];
  let first = true;
  for (const id of focus) {
    const def = METRICS[id];
    const withValue = trusted.filter((r) => r.metrics[id] !== null && r.metrics[id] !== undefined);
    if (withValue.length === 0) continue;
    const sign = def.better === 'lower' ? 1 : -1;
    const sorted = [...withValue].sort((a, b) => sign * (a.metrics[id]! - b.metrics[id]!));
    const bestV = sorted[0]!.metrics[id]!;
    const worstV = sorted[sorted.length - 1]!.metrics[id]!;
    const same = (a: number, b: number) => formatMetric(id, a) === formatMetric(id, b);
    const best = sorted.filter((r) => same(r.metrics[id]!, bestV));
    const worst = sorted.filter((r) => same(r.metrics[id]!, worstV));
    if (first) {
      if (same(bestV, worstV)) {
        parts.push(
          `${trusted.length === rows.length ? 'all strategies' : `all ${trusted.length} ranked strategies`} keep ${def.label} at ${formatMetric(id, bestV)}`,
        );
      } else {
        const verb = best.length > 1 ? 'keep' : 'keeps';
        parts.push(
          `${names(best)} ${verb} ${def.label} at ${formatMetric(id, bestV)} where ${names(worst)} ${worst.length > 1 ? 'reach' : 'reaches'} ${formatMetric(id, worstV)}`,
        );
      }
      first = false;
    } else if (!same(bestV, worstV)) {
      parts.push(
        `best ${def.label}: ${names(best)} (${formatMetric(id, bestV)}; worst ${formatMetric(id, worstV)})`,
      );
    } else {
      const who = withValue.length === trusted.length ? 'all' : names(withValue);
      parts.push(`${def.label} ${formatMetric(id, bestV)} for ${who}`);
    }
  }
  let text = parts.length
    ? `${parts[0]![0]!.toUpperCase()}${parts[0]!.slice(1)}`
    : 'No measurement to compare';
  if (parts.length > 1) text += `; ${parts.slice(1).join('; ')}`;
  text += '.';
  if (parts.length && trusted.length < rows.length - untrusted.length)
    text += ` Not ranked: ${reference} (the reference).`;
  if (untrusted.length) text += ` Not ranked (untrusted numbers): ${names(untrusted)}.`;
  return text;
}
