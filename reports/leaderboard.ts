/**
 * The leaderboard table: one row per leaderboard cell (first repeat of each scenario × strategy),
 * so the JSON blob and the sorted set stand side by side whatever scenarios they ran in. Shared
 * by the HTML and Markdown reports; '' when the run has no leaderboard cell.
 */
import type { AnalyzedRun, LeaderboardAnalysis } from '../harness/analysis/types.ts';
import { bytes, fixed } from '../harness/results/format.ts';
import type { RunResults } from '../harness/results/schema.ts';
import { escapeHtml as e, escapeMd as m } from './common.ts';

const HEAD = [
  'scenario',
  'strategy',
  'storage',
  'score p50 / p99',
  'top p50 / p99',
  'bytes / top read',
  'Redis CPU',
  'Redis CPU / request',
  'acknowledged',
  'in Redis',
  'in PostgreSQL',
  'lost updates',
  'of which: not applied (Redis failing)',
  'overwritten (race)',
];

const ms = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : `${fixed(v, v < 10 ? 2 : 1)} ms`;
const pair = (l: LeaderboardAnalysis['score']) => (l ? `${ms(l.p50)} / ${ms(l.p99)}` : '–');

function rows(results: RunResults, analysis: AnalyzedRun): string[][] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const c of results.cells) {
    const id = `${c.scenario}\0${c.strategy}`;
    if (c.status !== 'ok' || seen.has(id)) continue;
    const l = analysis.cell(c).leaderboard;
    if (!l) continue;
    seen.add(id);
    out.push([
      c.scenario,
      c.strategy,
      l.storage === 'zset' ? 'sorted set' : 'JSON blob',
      pair(l.score),
      pair(l.top),
      bytes(l.bytesPerTopRead),
      ms(l.redisCpuMs),
      l.redisCpuMsPerRequest === null ? '–' : `${fixed(l.redisCpuMsPerRequest * 1000, 1)} µs`,
      String(l.acknowledged),
      String(l.redisTotal),
      String(l.pgTotal),
      String(l.lostUpdates),
      l.notApplied === null || l.notApplied === undefined ? '–' : String(l.notApplied),
      l.overwritten === null || l.overwritten === undefined ? '–' : String(l.overwritten),
    ]);
  }
  return out;
}

const NOTE =
  'lost updates = increments acknowledged (200) − the sum of scores Redis shows after the load; PostgreSQL holds the true scores. Of which: not applied = acknowledged − board writes Redis executed (INFO commandstats: ZINCRBY, or SET for the blob) — increments the target could not send while Redis failed (fail-open); overwritten = writes Redis executed − what it shows — the read-modify-write race. Bytes per top read: what one top-10 read takes out of Redis at the end of the load (the blob is read whole). Redis CPU: INFO cpu user + sys over the load.';

export function leaderboardMarkdown(results: RunResults, analysis: AnalyzedRun): string {
  const r = rows(results, analysis);
  if (r.length === 0) return '';
  return [
    '### Leaderboard: JSON blob vs sorted set',
    '',
    `| ${HEAD.map(m).join(' | ')} |`,
    `|${HEAD.map((_, i) => (i < 3 ? '---' : '--:')).join('|')}|`,
    ...r.map((x) => `| ${x.map(m).join(' | ')} |`),
    '',
    `_${m(NOTE)}_`,
  ].join('\n');
}

export function leaderboardHtml(results: RunResults, analysis: AnalyzedRun): string {
  const r = rows(results, analysis);
  if (r.length === 0) return '';
  const th = `<tr>${HEAD.map((h, i) => `<th${i < 3 ? ' class="l"' : ''}>${e(h)}</th>`).join('')}</tr>`;
  const trs = r.map(
    (x) => `<tr>${x.map((v, i) => `<td${i < 3 ? ' class="l"' : ''}>${e(v)}</td>`).join('')}</tr>`,
  );
  return `<section id="leaderboard"><h2>Leaderboard: JSON blob vs sorted set</h2><div class="tw"><table>${th}${trs.join('')}</table></div><p class="note">${e(NOTE)}</p></section>`;
}
