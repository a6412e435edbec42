/**
 * The report's leaderboard table, from synthetic cells whose board totals are set by hand: the
 * JSON blob and the sorted set side by side with lost updates computed by the analysis, in the
 * Markdown summary and the HTML report; no table for a run without leaderboard cells.
 */
import { describe, expect, it } from 'vitest';
import { analyzeCellRecords, analyzeResults } from '../harness/analysis/index.ts';
import { renderHtml } from '../reports/html.ts';
import { renderMarkdown } from '../reports/markdown.ts';
import { synthRun } from './fixtures/synthetic.ts';

function leaderboardRun() {
  const { results, histories } = synthRun({
    scenarios: [{ name: 'leaderboard' }, { name: 'leaderboard-zset' }],
    strategies: ['cache-aside'],
    seconds: 4,
  });
  for (const cell of results.cells) {
    const blob = cell.scenario === 'leaderboard';
    cell.load.perOp['leaderboard-score'] = {
      count: 1000,
      errors: 0,
      latency: {
        count: 1000,
        mean: 2,
        p50: blob ? 1.5 : 0.9,
        p90: 3,
        p99: blob ? 6.5 : 2.1,
        p999: 9,
        max: 12,
      },
      statuses: { '200': 1000 },
    };
    cell.leaderboard = {
      storage: blob ? 'blob' : 'zset',
      board: 'main',
      redisTotal: blob ? 613 : 1000,
      redisMembers: 200,
      pgTotal: 1000,
      bytesPerTopRead: blob ? 4100 : 150,
      redisCpuMs: blob ? 220 : 90,
      updatesApplied: blob ? 990 : 1000,
    };
    cell.analysis = analyzeCellRecords(cell, histories.get(cell.id) ?? []);
  }
  return results;
}

describe('leaderboard report table', () => {
  it('shows blob and sorted set side by side with the reconciled lost updates', () => {
    const results = leaderboardRun();
    const a = analyzeResults(results);
    const md = renderMarkdown(results, a);
    expect(md).toContain('### Leaderboard: JSON blob vs sorted set');
    const table = md.slice(md.indexOf('### Leaderboard'));
    const rows = table.split('\n').filter((l) => l.startsWith('| leaderboard'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(
      /\| leaderboard \| cache-aside \| JSON blob \| 1\.50 ms \/ 6\.50 ms \|.*\| 4\.0 KiB \|.*\| 1000 \| 613 \| 1000 \| 387 \| 10 \| 377 \|$/,
    );
    expect(rows[1]).toMatch(
      /\| leaderboard-zset \| cache-aside \| sorted set \|.*\| 150 B \|.*\| 1000 \| 1000 \| 1000 \| 0 \| 0 \| 0 \|$/,
    );
    const html = renderHtml(results, a);
    expect(html).toContain('<section id="leaderboard">');
    expect(html).toContain('<td>387</td>');
    // The metric is in the scenario tables too (focus of the leaderboard scenarios).
    const row = a.run.scenarios.find((s) => s.scenario === 'leaderboard')!.rows[0]!;
    expect(row.metrics.lostUpdates).toBe(387);
  });

  it('no leaderboard cell, no table', () => {
    const { results } = synthRun({
      scenarios: [{ name: 'hot-key' }],
      strategies: ['cache-aside'],
      seconds: 3,
    });
    const a = analyzeResults(results);
    expect(renderMarkdown(results, a)).not.toContain('Leaderboard');
    expect(renderHtml(results, a)).not.toContain('id="leaderboard"');
  });
});
