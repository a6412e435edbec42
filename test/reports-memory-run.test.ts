/**
 * The report's run-level memory tables, from synthetic cells whose Redis snapshot and target
 * counts are set by hand: every eviction policy side by side (hit ratio, reads answered by the
 * cache, evictions/s during the load, OOM refusals), and the coordination scenarios with
 * duplicate rebuilds inside a guard window apart from repeated ones; no tables for a run without
 * such cells.
 */
import { describe, expect, it } from 'vitest';
import { analyzeCellRecords, analyzeResults } from '../harness/analysis/index.ts';
import type { RebuildEvent } from '../harness/results/schema.ts';
import { renderHtml } from '../reports/html.ts';
import { renderMarkdown } from '../reports/markdown.ts';
import { synthRun } from './fixtures/synthetic.ts';

const ev = (key: string, start: number, end: number): RebuildEvent => ({
  key,
  instance: 'i1',
  start,
  end,
  reason: 'miss',
});

function memoryRun() {
  const { results, histories } = synthRun({
    scenarios: [
      { name: 'mp-lru' },
      { name: 'mp-noeviction' },
      { name: 'coord-shared' },
      { name: 'coord-separate' },
    ],
    strategies: ['lock'],
    seconds: 4,
  });
  for (const cell of results.cells) {
    const noeviction = cell.scenario === 'mp-noeviction';
    const coord = cell.scenario.startsWith('coord');
    cell.scenario_spec.redis = coord
      ? {
          maxmemory: 1_572_864,
          maxmemoryPolicy: 'allkeys-lru',
          coordination: cell.scenario === 'coord-shared' ? 'shared' : 'separate',
        }
      : { maxmemory: 3_145_728, maxmemoryPolicy: noeviction ? 'noeviction' : 'allkeys-lru' };
    cell.target.cache = {
      ...cell.target.cache,
      hits: noeviction ? 30 : 900,
      misses: noeviction ? 0 : 100,
      staleServed: 0,
      fallbacks: noeviction ? 970 : 0,
      redisErrors: noeviction ? 970 : 0,
    };
    cell.redis = {
      ...cell.redis!,
      maxmemory: cell.scenario_spec.redis.maxmemory!,
      maxmemoryPolicy: cell.scenario_spec.redis.maxmemoryPolicy!,
      evictedDuringLoad: noeviction ? 0 : 400,
      oomRejections: noeviction ? 970 : 0,
      ...(coord
        ? {
            evictedByNamespace:
              cell.scenario === 'coord-shared' ? { 'team-report-lock': 7, user: 90 } : { user: 95 },
          }
        : {}),
    };
    const t = cell.loadStartedAt;
    // Shared: a second rebuild inside the first one's load (the lock was evicted). Separate: the
    // second starts after the first ended (its value was lost again) — repeated, not duplicate.
    cell.rebuilds = coord
      ? cell.scenario === 'coord-shared'
        ? [ev('team-report:1', t + 100, t + 150), ev('team-report:1', t + 120, t + 170)]
        : [ev('team-report:1', t + 100, t + 150), ev('team-report:1', t + 160, t + 210)]
      : [];
    cell.analysis = analyzeCellRecords(cell, histories.get(cell.id) ?? []);
  }
  return results;
}

describe('run-level memory tables', () => {
  it('puts the policies side by side and separates duplicate from repeated rebuilds', () => {
    const results = memoryRun();
    const a = analyzeResults(results);
    const md = renderMarkdown(results, a);
    const policies = md.slice(md.indexOf('### Memory pressure by eviction policy'));
    const rows = policies
      .split('\n')
      .filter((l) => l.startsWith('| allkeys-lru') || l.startsWith('| noeviction'));
    expect(rows).toHaveLength(2);
    // 4 s of load: 400 evictions = 100/s; noeviction: 30 hits over 30 reads, but 3% answered by the cache.
    expect(rows[0]).toMatch(/^\| allkeys-lru \| 3\.0 MiB \| mp-lru \| lock \| 90\.0% \| 90\.0% \| 100\.0 \|/);
    expect(rows[1]).toMatch(
      /^\| noeviction \| 3\.0 MiB \| mp-noeviction \| lock \| 100\.0% \| 3\.0% \| 0\.0 \|.*\| 970 \| 970 \/ 0 \| 970 \|$/,
    );
    const coord = md.slice(md.indexOf('### Coordination keys under eviction'));
    const c = coord.split('\n').filter((l) => l.startsWith('| coord-'));
    expect(c[0]).toMatch(/^\| coord-separate \| separate \| allkeys-lru \| lock \| 2 \| 0 \| 1 \| 0 \| 0 \|/);
    expect(c[1]).toMatch(/^\| coord-shared \| shared \| allkeys-lru \| lock \| 2 \| 1 \| 0 \| 7 \| 0 \|/);
    const html = renderHtml(results, a);
    expect(html).toContain('<section id="memory-policies">');
    expect(html).toContain('<section id="coordination-eviction">');
  });

  it('no run-level memory tables for a run without maxmemory scenarios', () => {
    const { results } = synthRun({ scenarios: [{ name: 'steady-read' }], strategies: ['lock'], seconds: 4 });
    const a = analyzeResults(results);
    expect(renderMarkdown(results, a)).not.toContain('### Memory pressure by eviction policy');
    expect(renderHtml(results, a)).not.toContain('id="coordination-eviction"');
  });
});
