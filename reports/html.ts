/**
 * The HTML report: one self-contained file (inline CSS, inline SVG charts, no script) an
 * architect can attach to a design doc. A pure function of the results and their analysis (the
 * cells' analyses plus the comparison tables, verdicts and budgets).
 */
import { strategyOrder } from '../harness/analysis/index.ts';
import { formatRelative, METRICS, type MetricId } from '../harness/analysis/metrics.ts';
import { groupEpisodes } from '../harness/analysis/stampede.ts';
import type { AnalyzedRun, ScenarioAnalysis } from '../harness/analysis/types.ts';
import { bytes, fixed, formatValue, isoTime, percent as pct } from '../harness/results/format.ts';
import type { CellResult, FaultRecord, RunResults } from '../harness/results/schema.ts';
import {
  concurrencySteps,
  type LineChartSpec,
  type LineSeries,
  peakOf,
  renderBarChart,
  renderLineChart,
  renderStampedeTimeline,
  type Shade,
  type TimelineRow,
} from './charts.ts';
import { columnsFor, escapeHtml as e, effectiveBaseline, PALETTE, relativeColumn, slug } from './common.ts';
import { failoverHtml } from './failover.ts';
import { htmlValue, INTERVAL_NOTE } from './intervals.ts';
import { leaderboardHtml } from './leaderboard.ts';
import { memoryHtml, memoryRunHtml } from './memory.ts';

export const REPORT_CSS = `
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--ok:#15803d;--bad:#b91c1c;--warn:#b45309;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
main{max-width:1240px;margin:0 auto;padding:24px 28px 64px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:40px 0 8px;padding-top:12px;border-top:2px solid var(--line)}
h3{font-size:15px;margin:22px 0 6px}
.sub{color:var(--muted);margin:0 0 16px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
.card.bad b{color:var(--bad)}.card.ok b{color:var(--ok)}.card.warn b{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:right;vertical-align:top}
th{background:var(--bg);font-weight:600;color:#374151;font-size:12px;line-height:1.3}
.tw{overflow-x:auto}
th:first-child,td:first-child{text-align:left}
td.l,th.l{text-align:left}
tr.base td{background:#eff6ff}
.rel{display:block;color:var(--muted);font-size:11px}
.q{font-size:15px;margin:4px 0 6px}
.ci{display:block;font-size:11px;color:#64748b;white-space:nowrap}
.verdict{border-left:4px solid var(--accent);background:#eff6ff;padding:8px 12px;margin:8px 0 12px;border-radius:0 6px 6px 0}
.badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:11px;font-weight:600;line-height:18px}
.badge.ok{background:#dcfce7;color:var(--ok)}.badge.bad{background:#fee2e2;color:var(--bad)}.badge.warn{background:#fef3c7;color:var(--warn)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:10px;margin:10px 0}
figure.wide,.charts figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:4px;background:#fff;overflow-x:auto}
figure.wide{margin:10px 0}
figure.wide svg,.charts svg{max-width:100%;height:auto;display:block;margin:0 auto}
figure.wide figcaption,.charts figcaption{color:var(--muted);font-size:12px;padding:0 6px 4px}
.notes{color:var(--muted);font-size:12px;margin:0 0 8px;padding-left:18px}
.flags li{margin:2px 0}.hint{color:var(--muted)}
nav.toc{font-size:13px;margin:8px 0 0}nav.toc a{margin-right:12px;color:var(--accent);text-decoration:none}
.scorecard td.c,.scorecard th.c{text-align:center}
.scorecard td{padding:6px 8px}.scorecard .ans{display:block;font-size:12px;color:#374151}
.scorecard .ans.best{color:var(--ok);font-weight:600}.scorecard .ans.worse{color:var(--bad);font-weight:600}
td.sc-fail,td.sc-untrusted{background:#fef2f2}td.sc-pass{background:#f0fdf4}
details{margin:6px 0}summary{cursor:pointer;color:#374151}
.small{font-size:12px;color:var(--muted)}
`;

/** Repeat label for tables: the pipeline numbers repeats from 1; shown only when there are several. */
function rep(results: RunResults, repeat: number): string {
  return results.run.repeats > 1 ? ` #${repeat}` : '';
}

function firstRepeat(cells: CellResult[], strategy: string): number {
  return Math.min(...cells.filter((c) => c.strategy === strategy).map((c) => c.repeat));
}

function rowsWithBaseline(s: ScenarioAnalysis, cols: MetricId[]): string {
  const relCol = relativeColumn(s, cols);
  const head =
    `<tr><th>strategy</th>${cols.map((c) => `<th title="${e(METRICS[c].how)}">${e(METRICS[c].label)}</th>`).join('')}` +
    `<th>relative to baseline<span class="rel">${relCol ? e(METRICS[relCol].label) : ''}</span></th><th>trusted</th></tr>`;
  const body = s.rows
    .map((r) => {
      const isBase = r.strategy === s.baselineStrategy;
      const cells = cols
        .map((c) => {
          const rel =
            isBase || c === 'dbReduction' ? '' : `<span class="rel">${formatRelative(r.relative[c])}</span>`;
          return `<td>${htmlValue(c, r)}${rel}</td>`;
        })
        .join('');
      const relV = relCol ? (isBase ? 'baseline' : formatRelative(r.relative[relCol])) : '–';
      const trust = r.trusted ? '<span class="badge ok">yes</span>' : '<span class="badge bad">no</span>';
      return `<tr class="${isBase ? 'base' : ''}"><td><b>${e(r.strategy)}</b>${r.repeats > 1 ? ` <span class="small">×${r.repeats}</span>` : ''}</td>${cells}<td>${e(relV)}</td><td>${trust}</td></tr>`;
    })
    .join('');
  const notes = cols.map((c) => `<li><b>${e(METRICS[c].label)}</b>: ${e(METRICS[c].how)}</li>`).join('');
  return `<div class="tw"><table>${head}${body}</table></div><ul class="notes">${notes}<li>Relative values are this strategy ÷ ${e(s.baselineStrategy)} (the baseline row); values are means over repeats.</li><li>${e(INTERVAL_NOTE)}</li></ul>`;
}

/** A bucket covering less than this much of the load is not drawn: too few requests to mean anything. */
const MIN_BUCKET_MS = 250;

/**
 * Per-second points of one series, placed at the middle of the part of each bucket that lies
 * inside the load. A partial bucket (the last one, usually) is scaled by its real duration for a
 * rate ("rate") and kept as measured for a level ("level": latency, ratio); one covering under
 * MIN_BUCKET_MS is left out. Without this, every line drops at the end: the last 0.2 s of a
 * 3.2 s quick run would be plotted as a whole second.
 */
export function seriesPoints(
  c: CellResult,
  values: readonly (number | null | undefined)[],
  kind: 'rate' | 'level',
): [number, number | null][] {
  const loadStart = c.loadStartedAt;
  const loadEnd = c.loadStartedAt + c.load.durationMs;
  const out: [number, number | null][] = [];
  values.forEach((v, i) => {
    const from = Math.max(loadStart, c.series.t0 + i * 1000);
    const to = Math.min(loadEnd, c.series.t0 + (i + 1) * 1000);
    const covered = to - from;
    if (covered < MIN_BUCKET_MS) return;
    const x = Math.round((from + to) / 2 - loadStart) / 1000;
    if (v === null || v === undefined) out.push([x, null]);
    else out.push([x, kind === 'rate' ? Math.round((v * 1000 * 10) / covered) / 10 : v]);
  });
  return out;
}

/** What happened in a fault window, for its shade: "redis down 2.0 s", "redis latency 200 ms". */
export function faultShadeLabel(f: FaultRecord): string {
  const s = f.spec as {
    process?: string;
    proxy?: string;
    down?: boolean;
    toxic?: { type?: string; attributes?: Record<string, unknown> };
  };
  const ms =
    typeof f.appliedAt === 'number' && typeof f.removedAt === 'number'
      ? f.removedAt - f.appliedAt
      : f.plannedFor;
  const dur = `${(ms / 1000).toFixed(1)} s`;
  if (s.process) return `${s.process} ${dur}`;
  if (s.down) return `${s.proxy} down ${dur}`;
  const t = s.toxic;
  if (t?.type === 'latency') return `${s.proxy} latency ${String(t.attributes?.latency ?? '?')} ms`;
  if (t?.type === 'timeout') return `${s.proxy} blackhole ${dur}`;
  if (t?.type === 'bandwidth') return `${s.proxy} bandwidth ${String(t.attributes?.rate ?? '?')} KB/s`;
  return `${s.proxy ?? '?'} ${t?.type ?? 'fault'} ${dur}`;
}

function firstCells(results: RunResults, scenario: string): CellResult[] {
  const cells = results.cells.filter((c) => c.scenario === scenario);
  // One line per strategy: its first repeat (repeats are interleaved runs of the same thing).
  return strategyOrder(results, cells)
    .map((s) => cells.filter((c) => c.strategy === s).sort((a, b) => a.repeat - b.repeat)[0])
    .filter((c): c is CellResult => !!c);
}

function shadesOf(ref: CellResult): Shade[] {
  return ref.faults
    .filter((f) => f.ok && typeof f.appliedAt === 'number')
    .map((f) => ({
      from: (f.appliedAt! - ref.loadStartedAt) / 1000,
      to: ((f.removedAt ?? ref.loadStartedAt + ref.load.durationMs) - ref.loadStartedAt) / 1000,
      label: faultShadeLabel(f),
    }));
}

/** The key the timeline follows: the analysis' hot key, else the key with the most loads. */
function hotKeyOf(c: CellResult, analysis: AnalyzedRun): string | null {
  const named = analysis.cell(c).stampede.hotKey;
  if (named) return named;
  const counts = new Map<string, number>();
  for (const r of c.rebuilds) if (r.reason !== 'fallback') counts.set(r.key, (counts.get(r.key) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

/** The hot key's source loads over time, one row per strategy (first repeat). */
export function stampedeTimeline(
  results: RunResults,
  scenario: string,
  analysis: AnalyzedRun,
  colors: Map<string, string>,
): string {
  // A strategy without a cache (no-cache) loads on every request: no expiry, nothing to draw.
  const first = firstCells(results, scenario).filter(
    (c) => analysis.cell(c).stampede.applies && c.rebuilds.some((r) => r.reason !== 'fallback'),
  );
  const ref = first[0];
  if (!ref) return '';
  const rows: TimelineRow[] = first.map((c) => {
    const key = hotKeyOf(c, analysis);
    const loads = c.rebuilds.filter((r) => r.reason !== 'fallback' && r.key === key);
    const episodes = groupEpisodes(loads, analysis.cell(c).stampede.graceMs);
    const steps = concurrencySteps(loads, c.loadStartedAt);
    const perExpiry = episodes.length ? loads.length / episodes.length : null;
    return {
      name: c.strategy,
      color: colors.get(c.strategy) ?? '#555',
      // From outside a service a rebuild's start is not seen (only its SET): no concurrency to show.
      detail: `${key ?? '–'}: ${analysis.cell(c).stampede.maxConcurrentPerKey === null ? 'concurrency not measured' : `peak ${peakOf(steps)} concurrent`}, ${loads.length} loads in ${episodes.length} episodes (${fixed(perExpiry, 1)} per expiry)`,
      steps,
      episodes: episodes.map((e) => ({
        from: (e.start - c.loadStartedAt) / 1000,
        to: (e.end - c.loadStartedAt) / 1000,
        loads: e.rebuilds.length,
      })),
    };
  });
  const xMax = Math.round(Math.max(...first.map((c) => c.load.durationMs)) / 100) / 10;
  const svg = renderStampedeTimeline({
    title: 'Stampede timeline: concurrent source loads of the hot key (ms resolution)',
    rows,
    xMax,
    shades: shadesOf(ref),
  });
  return `<figure class="wide">${svg}<figcaption>One row per strategy (first repeat), same time axis and y scale. The filled curve is the number of the hot key's database loads running at that instant, from the start and end the target recorded for each load; a dashed box is one expiry episode (loads that overlap, or start within ${analysis.cell(ref).stampede.graceMs} ms of the last one ending), labelled with its number of loads. Fallback loads (Redis failed) are not drawn.</figcaption></figure>`;
}

/** Per-second charts of a scenario: throughput, errors, latency, DB load, hit ratio, per-op latency. */
export function timeSeriesCharts(results: RunResults, scenario: string, colors: Map<string, string>): string {
  const first = firstCells(results, scenario);
  const ref = first[0];
  if (!ref) return '';
  const shades = shadesOf(ref);
  const order = strategyOrder(results, results.cells);
  const xMax = Math.round(Math.max(...first.map((c) => c.load.durationMs)) / 100) / 10;
  const line = (
    pick: (c: CellResult) => readonly (number | null | undefined)[],
    kind: 'rate' | 'level',
  ): LineSeries[] =>
    first.map((c) => ({
      name: c.strategy,
      color: colors.get(c.strategy) ?? '#555',
      styleIndex: Math.max(0, order.indexOf(c.strategy)),
      points: seriesPoints(c, pick(c), kind),
    }));
  const anyDropped = first.some((c) => c.series.dropped.some((d) => d > 0));
  const charts: (LineChartSpec & { note?: string })[] = [
    { title: 'Throughput', yName: 'requests/s', series: line((c) => c.series.requests, 'rate'), shades },
    {
      title: anyDropped ? 'Errors and dropped arrivals' : 'Errors',
      yName: '/s',
      series: [
        ...line((c) => c.series.errors, 'rate'),
        ...(anyDropped
          ? line((c) => c.series.dropped, 'rate').map((s) => ({
              ...s,
              name: `${s.name} dropped`,
              styleIndex: (s.styleIndex ?? 0) + 3,
            }))
          : []),
      ],
      shades,
      note: anyDropped ? '' : 'No arrival was dropped.',
    },
    { title: 'p50 latency from schedule', yName: 'ms', series: line((c) => c.series.p50, 'level'), shades },
    {
      title: 'p99 latency from schedule',
      yName: 'ms',
      series: line((c) => c.series.p99, 'level'),
      shades,
      note: 'The per-second series records p50 and p99; p95 is in the tables.',
    },
    { title: 'DB load', yName: 'queries/s', series: line((c) => c.series.dbQueries, 'rate'), shades },
    {
      title: 'Cache hit ratio',
      yName: '%',
      series: line(
        (c) => c.series.hitRatio.map((h) => (h === null ? null : Math.round(h * 1000) / 10)),
        'level',
      ),
      shades,
      yMax: 100,
    },
  ];
  const caption = shades.length
    ? `Shaded: fault windows as recorded (Toxiproxy acknowledged apply → removal) in the ${e(ref.strategy)} cell.`
    : 'No fault in this scenario.';
  const styleNote =
    'Points sit at the middle of each second; a last partial second is scaled to a per-second rate (or left out under 0.25 s). Each strategy has its own dash and marker: lines that coincide stay visible.';
  const figures = charts.map(
    ({ note, ...c }) =>
      `<figure>${renderLineChart({ ...c, xMax })}<figcaption>${e(c.title)} — one line per strategy (first repeat). ${caption}${note ? ` ${e(note)}` : ''}</figcaption></figure>`,
  );
  figures.push(perOpChart(first));
  return `<div class="charts">${figures.join('')}</div><p class="small">${e(styleNote)}</p>`;
}

/** Latency percentiles per operation and strategy (whole cell). */
function perOpChart(first: CellResult[]): string {
  const categories: string[] = [];
  const vals: Record<'p50' | 'p95' | 'p99', (number | null)[]> = { p50: [], p95: [], p99: [] };
  for (const c of first) {
    for (const [op, s] of Object.entries(c.load.perOp)) {
      categories.push(`${op}\n${c.strategy}`);
      vals.p50.push(s.latency.p50);
      vals.p95.push(s.latency.p95 ?? null);
      vals.p99.push(s.latency.p99);
    }
  }
  if (!categories.length) return '';
  const svg = renderBarChart({
    title: 'Latency by operation',
    yName: 'ms',
    categories,
    series: [
      { name: 'p50', color: '#93c5fd', values: vals.p50 },
      { name: 'p95', color: '#2563eb', values: vals.p95 },
      { name: 'p99', color: '#1e3a8a', values: vals.p99 },
    ],
  });
  return `<figure>${svg}<figcaption>Latency from schedule per operation over the whole cell, per strategy (first repeat).</figcaption></figure>`;
}

function faultTable(results: RunResults, cells: CellResult[], analysis: AnalyzedRun): string {
  const rows: string[] = [];
  for (const c of cells) {
    const a = analysis.cell(c);
    for (const w of a.failOpen.windows) {
      rows.push(
        `<tr><td>${e(c.strategy)}${rep(results, c.repeat)}</td><td class="l">${e(w.label)}</td>` +
          (w.applied
            ? `<td>${fixed((w.appliedAt! - c.loadStartedAt) / 1000, 2)}–${fixed((w.appliedAt! + (w.durationMs ?? 0) - c.loadStartedAt) / 1000, 2)} s</td>` +
              `<td>${w.requests}</td><td>${pct(w.errorRate, 2)}<span class="rel">before ${pct(w.before.errorRate, 2)}</span></td>` +
              `<td>${fixed(w.latency.p50, 1)} / ${fixed(w.latency.p95, 1)} / ${fixed(w.latency.p99, 1)} ms<span class="rel">before ${fixed(w.before.latency.p99, 1)} ms</span></td>` +
              `<td>${formatValue('×', w.dbMultiplier)}</td>` +
              `<td>${w.recovered ? `${fixed(w.recoveryMs! / 1000, 1)} s` : '<span class="badge bad">not recovered</span>'}</td>` +
              `<td>${w.staleReadsAfterEnd} / ${w.staleReadsAfterRecovery}</td>`
            : '<td colspan="7"><span class="badge bad">not applied</span></td>') +
          '</tr>',
      );
    }
  }
  if (!rows.length) return '';
  return `<h3>Fault windows</h3><div class="tw"><table><tr><th>strategy</th><th class="l">fault</th><th>recorded window</th><th>requests</th><th>error rate</th><th>p50 / p95 / p99</th><th>DB load ×</th><th>recovery</th><th>stale after end / after recovery</th></tr>${rows.join('')}</table></div>
<ul class="notes"><li>Requests belong to a window by their scheduled time; latency = end − scheduled. DB load × = DB queries/s in the window ÷ the same-length window before. Recovery = time after removal until hit ratio ≥ 90% and p99 ≤ 110% (±1 ms) of pre-fault values hold for 3 consecutive seconds; the moment within the second before is placed to 0.1 s from the request history (errors and p99 back).</li></ul>`;
}

function dbTable(results: RunResults, cells: CellResult[], analysis: AnalyzedRun): string {
  const rows = cells.map((c) => {
    const d = analysis.cell(c).dbLoad;
    const eps = Object.entries(d.queriesPerRequestByEndpoint)
      .map(([k, v]) => `${k}: ${fixed(v, 2)}`)
      .join(', ');
    const pg =
      d.pgStatCalls === null
        ? '–'
        : `${d.pgStatCalls} (${pct(d.pgStatRelativeDiff, 2)})${d.pgStatMismatch ? ' <span class="badge warn">mismatch</span>' : ''}`;
    return `<tr><td>${e(c.strategy)}${rep(results, c.repeat)}</td><td>${d.totalQueries}</td><td>${fixed(d.queriesPerRequest, 3)}</td><td>${fixed(d.meanPerSecond, 0)}</td><td>${d.peakPerSecond}${d.peakSecond === null ? '' : `<span class="rel">at ${d.peakSecond} s</span>`}</td><td>${fixed(d.dbTimeMs, 0)} ms<span class="rel">${fixed(d.meanQueryMs, 2)} ms/query</span></td><td>${d.poolWaits}${d.poolWaitMs === null || d.poolWaitMs === undefined ? '' : `<span class="rel">${fixed(d.poolWaitMs, 0)} ms</span>`}</td><td>${pg}</td><td class="l small">${e(eps)}</td></tr>`;
  });
  return `<details><summary>DB load detail</summary><div class="tw"><table><tr><th>strategy</th><th>queries</th><th>per request</th><th>mean /s</th><th>peak /s</th><th>DB time</th><th>pool waits</th><th>pg_stat_statements calls (diff)</th><th class="l">queries per request by endpoint</th></tr>${rows.join('')}</table></div></details>`;
}

function stampedeTable(results: RunResults, cells: CellResult[], analysis: AnalyzedRun): string {
  const rows = cells
    .map((c) => ({ c, s: analysis.cell(c).stampede }))
    .filter(({ s }) => s.rebuilds > 0)
    .map(
      ({ c, s }) =>
        `<tr><td>${e(c.strategy)}${rep(results, c.repeat)}</td><td>${s.rebuilds}</td><td>${s.episodes}</td><td>${fixed(s.rebuildsPerExpiry, 2)}<span class="rel">${e(s.hotKey ?? '')}</span></td><td>${fixed(s.rebuildsPerExpiryAllKeys, 2)}</td><td>${s.maxRebuildsPerExpiry}</td><td>${s.maxConcurrentPerKey ?? 'not measured'}</td><td>${s.episodesWithMultiple}</td><td class="l mono">${s.hottestKeys
          .slice(0, 3)
          .map((k) => `${e(k.key)} (max ${k.maxRebuildsPerEpisode})`)
          .join(
            ', ',
          )}</td><td>${s.dbPeakAroundExpiries ?? '–'} / ${s.dbMedianPerSecond ?? '–'}</td><td class="l small">${e(
          Object.entries(s.byInstance)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', '),
        )}</td></tr>`,
    );
  if (!rows.length) return '';
  return `<details><summary>Stampede detail (rebuild episodes)</summary><div class="tw"><table><tr><th>strategy</th><th>rebuilds</th><th>episodes</th><th>per expiry (hot key)</th><th>per expiry (all keys)</th><th>max</th><th>max concurrent</th><th>episodes &gt; 1</th><th class="l">stampeding keys</th><th>DB peak around expiries / median per s</th><th class="l">by instance</th></tr>${rows.join('')}</table></div></details>`;
}

function stalenessTable(results: RunResults, cells: CellResult[], analysis: AnalyzedRun): string {
  const rows: string[] = [];
  const examples: string[] = [];
  for (const c of cells) {
    const s = analysis.cell(c).staleness;
    if (!s) continue;
    rows.push(
      `<tr><td>${e(c.strategy)}${rep(results, c.repeat)}</td><td>${s.readsChecked}</td><td>${s.writes}</td><td>${s.staleReads} (${pct(s.staleReadRatio, 2)})</td><td>${s.stalePairs}</td><td>${fixed(s.age.p50, 1)} / ${fixed(s.age.p95, 1)} / ${fixed(s.age.p99, 1)} / ${fixed(s.age.max, 1)}</td><td>${s.staleBeyondTtl}${s.staleBeyondTtl ? ' <span class="badge bad">bug</span>' : ''}</td><td>${s.staleAfterFaults}</td><td>${s.deletes ? `${s.servedAfterDelete ?? 0} of ${s.deletes} deletes${s.servedAfterDelete ? ' <span class="badge bad">bug</span>' : ''}` : '–'}</td></tr>`,
    );
    for (const x of s.beyondTtlExamples.slice(0, 5))
      examples.push(
        `<tr><td>${e(c.strategy)}</td><td class="l mono">${e(x.key)}</td><td>${x.returnedVersion}</td><td>${x.newerVersion}</td><td>${e(isoTime(x.writeEnd))}</td><td>${e(isoTime(x.readStart))}</td><td>${fixed(x.ageMs, 0)} ms${x.ttlMs !== undefined ? ` (TTL ${x.ttlMs} ms)` : ''}</td></tr>`,
      );
  }
  if (!rows.length) return '';
  // Per-endpoint TTLs (cache.ttlMs per namespace): each read is judged against its own.
  const perNs = cells[0]?.ttlByNamespace;
  const ttl =
    perNs && Object.keys(perNs).length
      ? `${Object.entries(perNs)
          .map(([ns, ms]) => `${ns} ${ms}`)
          .join(', ')}, other ${cells[0]?.ttlMs}`
      : cells[0]?.ttlMs;
  return `<details><summary>Staleness detail (history check)</summary><div class="tw"><table><tr><th>strategy</th><th>reads checked</th><th>writes</th><th>stale reads</th><th>stale pairs</th><th>age p50 / p95 / p99 / max (ms)</th><th>beyond TTL (${e(ttl)} ms)</th><th>after faults</th><th>served after delete</th></tr>${rows.join('')}</table></div>${
    examples.length
      ? `<h3>Reads stale beyond the TTL (examples)</h3><div class="tw"><table><tr><th>strategy</th><th class="l">key</th><th>returned</th><th>newer</th><th>newer write ended</th><th>read started</th><th>age</th></tr>${examples.join('')}</table></div>`
      : ''
  }</details>`;
}

function healthTable(cells: CellResult[], analysis: AnalyzedRun): string {
  const rows = cells
    .filter((c) => c.repeat === firstRepeat(cells, c.strategy))
    .map((c) => {
      const h = analysis.cell(c).cacheHealth;
      const ns = Object.entries(h.keysByNamespace)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      return `<tr><td>${e(c.strategy)}</td><td>${pct(h.hitRatio)}</td><td>${pct(h.minHitRatioPerSecond)}</td><td>${h.evictions ?? '–'}</td><td>${bytes(h.usedMemoryBytes)}</td><td>${h.keys ?? '–'}<span class="rel">${e(ns)}</span></td><td>${h.avgValueBytes === null ? '–' : bytes(Math.round(h.avgValueBytes))}</td><td>${h.redisErrors} / ${h.redisTimeouts}</td><td>${h.fallbacks}</td><td>${h.staleServed}</td><td class="l mono small">${e(
        h.hottestKeys
          .slice(0, 3)
          .map((k) => `${k.key} (${k.requests})`)
          .join(', '),
      )}</td></tr>`;
    });
  return `<details><summary>Cache health (first repeat)</summary><div class="tw"><table><tr><th>strategy</th><th>hit ratio</th><th>worst second</th><th>evictions</th><th>memory</th><th>keys</th><th>avg value</th><th>Redis errors / timeouts</th><th>fallbacks</th><th>stale served</th><th class="l">hottest keys</th></tr>${rows.join('')}</table></div></details>`;
}

function scenarioSection(
  results: RunResults,
  s: ScenarioAnalysis,
  analysis: AnalyzedRun,
  colors: Map<string, string>,
): string {
  const cells = results.cells.filter((c) => c.scenario === s.scenario);
  const budgets = analysis.run.budgets.filter((b) => b.scenario === s.scenario);
  const failed = budgets.filter((b) => !b.passed);
  const budgetHtml = budgets.length
    ? `<details${failed.length ? ' open' : ''}><summary>Budgets: ${budgets.length - failed.length} passed, ${failed.length} failed</summary><div class="tw"><table><tr><th>strategy</th><th class="l">budget</th><th class="l">result</th><th></th></tr>${budgets
        .map(
          (b) =>
            `<tr><td>${e(b.strategy)}${rep(results, b.repeat)}</td><td class="l mono">${e(b.budget)}</td><td class="l">${e(b.message)}</td><td>${b.passed ? '<span class="badge ok">pass</span>' : '<span class="badge bad">fail</span>'}</td></tr>`,
        )
        .join('')}</table></div></details>`
    : '';
  return `<section id="s-${slug(s.scenario)}"><h2>${e(s.scenario)}${s.topology ? ` <small>topology: ${e(s.topologyLabel ?? s.topology)}</small>` : ''}</h2>
${s.question ? `<p class="q"><b>Question.</b> ${e(s.question)}</p>` : ''}
<div class="verdict"><b>Verdict.</b> ${e(s.verdict)}</div>
${stampedeTimeline(results, s.scenario, analysis, colors)}
${timeSeriesCharts(results, s.scenario, colors)}
${rowsWithBaseline(s, columnsFor(s, 7))}
${faultTable(results, cells, analysis)}
${failoverHtml(results, cells, analysis)}
${budgetHtml}
${dbTable(results, cells, analysis)}
${stampedeTable(results, cells, analysis)}
${stalenessTable(results, cells, analysis)}
${healthTable(cells, analysis)}
${memoryHtml(cells, analysis)}
</section>`;
}

const METHODOLOGY = `<section id="methodology"><h2>Methodology</h2>
<ul>
<li><b>Open-model load.</b> Requests are sent at their scheduled arrival times whether or not earlier ones returned. Latency is measured from the scheduled time, so a stalled target shows its full delay (no coordinated omission). Arrivals that could not be sent because the in-flight cap was reached are counted as dropped and flagged.</li>
<li><b>DB load</b> is the target's own count of queries (all instances), per second and per HTTP request, cross-checked against <code>pg_stat_statements</code> (a difference above 0.5% is flagged).</li>
<li><b>Rebuild</b>: one database load caused by a cache miss or a refresh, recorded by the target with start and end. <b>Expiry episode</b>: per key, rebuilds (from every instance) grouped by overlap — a rebuild that starts while another rebuild of the key is running, or within a 50 ms grace after the last one ended, joins the episode. Rebuilds per expiry is the mean episode size of the hot key — the key with the most rebuilds (ideal 1); the mean over all keys is shown in the stampede detail. Max concurrent is a sweep over start/end events.</li>
<li><b>Stale read</b> (history check): a read of key k that returned version v is stale if a write of k with a version above v had completed before the read started. Age = read start − completion of the earliest such write. Reads of aggregates check each member's version; the read is stale if any is. Failed reads are not checked; failed writes are not counted as writes. Reads stale for longer than the TTL are correctness bugs.</li>
<li><b>Fault windows</b> are cut at the times Toxiproxy acknowledged applying and removing the fault, not at the plan. Inside a window: error rate (non-2xx), p50/p95/p99 of end − scheduled, and DB queries/s versus the same-length window before. <b>Recovery</b>: the time from removal until hit ratio (≥ 90% of the pre-fault mean) and per-second p99 (≤ pre-fault p90 of per-second p99 + max(10%, 1 ms)) hold for 3 consecutive seconds.</li>
<li><b>Validity</b>: a cell is untrusted when the achieved rate is more than 2% short, more than 1% of arrivals were dropped, the load generator used more than 90% of a core, scheduling lag p99 exceeded 100 ms, a fault was not applied, the history was unreadable, or the cell failed. Untrusted cells are marked and left out of verdicts.</li>
</ul></section>`;

function environment(results: RunResults): string {
  const r = results.run;
  const env = r.environment;
  const rows: [string, string][] = [
    ['run id', r.id],
    ['started', isoTime(r.startedAt)],
    ['finished', isoTime(r.finishedAt)],
    ['command', r.command],
    ['profile / seed', `${r.profile} / ${r.seed}`],
    ['repeats / target instances', `${r.repeats} / ${r.instances}`],
    ['infrastructure / driver', `${r.infra} / ${r.driver}`],
    ['baseline strategy', r.baselineStrategy],
    ['node', env.node],
    ['os', env.os],
    ['machine', `${env.cpus} × ${env.cpuModel}, ${env.memGiB} GiB (${env.hostname})`],
    [
      'redis / postgres / toxiproxy',
      `${env.redisVersion ?? '?'} / ${env.postgresVersion ?? '?'} / ${env.toxiproxyVersion ?? '?'}`,
    ],
    ['git', `${env.gitSha ?? 'unknown'}${env.gitDirty ? ' (uncommitted changes)' : ''}`],
    ['results schema', String(results.schemaVersion)],
  ];
  return `<section id="environment"><h2>Environment</h2><div class="tw"><table>${rows
    .map(([k, v]) => `<tr><th class="l">${e(k)}</th><td class="l mono">${e(v)}</td></tr>`)
    .join('')}</table></div></section>`;
}

function validitySection(results: RunResults, analysis: AnalyzedRun): string {
  const items: string[] = [];
  for (const w of analysis.run.warnings) items.push(`<li><span class="badge warn">run</span> ${e(w)}</li>`);
  for (const c of results.cells) {
    for (const f of analysis.cell(c).validity.flags) {
      items.push(
        `<li><span class="badge ${f.severity === 'error' ? 'bad' : 'warn'}">${f.severity === 'error' ? 'untrusted' : 'warning'}</span> <b>${e(c.id)}</b>: ${e(f.message)} <span class="hint">— ${e(f.hint)}</span></li>`,
      );
    }
  }
  return `<section id="validity"><h2>Validity</h2>${items.length ? `<ul class="flags">${items.join('')}</ul>` : '<p>All cells passed the validity checks (rate achieved, nothing dropped, load generator not saturated, faults applied on time).</p>'}</section>`;
}

export function renderHtml(results: RunResults, analysis: AnalyzedRun): string {
  const run = analysis.run;
  const colors = new Map<string, string>();
  for (const s of strategyOrder(results, results.cells))
    colors.set(s, PALETTE[colors.size % PALETTE.length]!);
  const trusted = results.cells.length - run.untrustedCells.length;
  const failedBudgets = run.budgetsFailed;
  const r = results.run;
  const summary = run.scenarios
    .map(
      (s) =>
        `<tr><td><a href="#s-${slug(s.scenario)}">${e(s.scenario)}</a></td><td class="l">${e(s.question)}</td><td class="l">${e(s.verdict)}</td></tr>`,
    )
    .join('');
  const base = effectiveBaseline(results, run);
  const flagCount = results.cells.reduce((n, c) => n + analysis.cell(c).validity.flags.length, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>cachebench report — ${e(r.id)}</title><style>${REPORT_CSS}</style></head>
<body><main>
<h1>cachebench report</h1>
<p class="sub">Run <span class="mono">${e(r.id)}</span> · ${e(isoTime(r.startedAt))} · profile ${e(r.profile)} · ${r.scenarios.length} scenario(s) × ${r.strategies.length} strateg${r.strategies.length === 1 ? 'y' : 'ies'} × ${r.repeats} repeat(s) · baseline <b>${e(base.name)}</b>${base.note ? ` (${e(base.note)})` : ''}</p>
<div class="cards">
<div class="card"><b>${results.cells.length}</b><span>cells</span></div>
<div class="card ${trusted === results.cells.length ? 'ok' : 'bad'}"><b>${trusted}/${results.cells.length}</b><span>trusted cells</span></div>
<div class="card ${failedBudgets ? 'bad' : 'ok'}"><b>${run.budgets.length - failedBudgets}/${run.budgets.length}</b><span>budgets passed</span></div>
<div class="card ${run.untrustedCells.length ? 'bad' : flagCount ? 'warn' : 'ok'}"><b>${flagCount}</b><span>validity flags</span></div>
</div>
${
  run.untrustedCells.length
    ? `<p class="verdict" style="border-color:var(--bad);background:#fef2f2"><b>${run.untrustedCells.length} cell(s) untrusted</b> — their numbers are shown but not ranked: ${run.untrustedCells
        .slice(0, 8)
        .map(
          (u) =>
            `<span class="mono">${e(u.cellId)}</span> (${e(
              u.flags
                .filter((f) => f.severity === 'error')
                .map((f) => f.code)
                .join(', '),
            )})`,
        )
        .join(', ')}${run.untrustedCells.length > 8 ? ', …' : ''}. See <a href="#validity">Validity</a>.</p>`
    : ''
}
<nav class="toc"><a href="#scorecard">scorecard</a>${run.scenarios.map((s) => `<a href="#s-${slug(s.scenario)}">${e(s.scenario)}</a>`).join('')}<a href="#validity">validity</a><a href="#methodology">methodology</a><a href="#environment">environment</a></nav>
${scorecard(results, analysis)}
<h2>Summary</h2>
<div class="tw"><table><tr><th>scenario</th><th class="l">question</th><th class="l">verdict</th></tr>${summary}</table></div>
${run.scenarios.map((s) => scenarioSection(results, s, analysis, colors)).join('\n')}
${leaderboardHtml(results, analysis)}
${memoryRunHtml(results, analysis)}
${validitySection(results, analysis)}
${METHODOLOGY}
${environment(results)}
<p class="small">Generated by cachebench from results.json (schema v${results.schemaVersion}, analysis v${run.analysisVersion}). Charts are static SVG; this file has no script.</p>
</main></body></html>
`;
}

export type ScoreStatus = 'pass' | 'fail' | 'untrusted' | 'no-budgets';

export interface ScoreCell {
  status: ScoreStatus;
  /** Failed budgets as "metric value > limit". */
  failed: string[];
  /** The scenario's question for this strategy: the verdict's claim on its first ranked focus metric. */
  answer: 'best' | 'worse' | 'no-difference' | 'not-ranked';
  metric: string | null;
  /** A cell failed or is untrusted (shown even when a budget failed too). */
  untrusted: boolean;
}

/** One scorecard cell: the strategy's budgets and the verdict's structured claim, never the verdict text. */
export function scoreCell(
  s: ScenarioAnalysis,
  strategy: string,
  analysis: AnalyzedRun,
  results: RunResults,
): ScoreCell {
  const cells = results.cells.filter((c) => c.scenario === s.scenario && c.strategy === strategy);
  const budgets = analysis.run.budgets.filter((b) => b.scenario === s.scenario && b.strategy === strategy);
  const failed = budgets
    .filter((b) => !b.passed)
    .map((b) => `${b.budget} ${b.value === null ? 'missing' : fixed(b.value, 2)} > ${b.limit}`);
  const untrusted = cells.some((c) => c.status !== 'ok' || !analysis.cell(c).validity.trusted);
  const status: ScoreStatus = failed.length
    ? 'fail'
    : untrusted
      ? 'untrusted'
      : budgets.length
        ? 'pass'
        : 'no-budgets';
  const focus = new Set(s.focus);
  const claims = (s.claims ?? []).filter((c) => focus.has(c.metric));
  claims.sort((a, b) => s.focus.indexOf(a.metric) - s.focus.indexOf(b.metric));
  for (const c of claims) {
    if (c.kind === 'best' && c.strategies.includes(strategy))
      return { status, failed, answer: 'best', metric: c.metric, untrusted };
    if (c.kind === 'best' && c.than.includes(strategy))
      return { status, failed, answer: 'worse', metric: c.metric, untrusted };
    if (c.kind === 'no-difference' && c.strategies.includes(strategy))
      return { status, failed, answer: 'no-difference', metric: c.metric, untrusted };
  }
  return { status, failed, answer: 'not-ranked', metric: null, untrusted };
}

const ANSWER_TEXT: Record<ScoreCell['answer'], string> = {
  best: 'best on',
  worse: 'significantly worse on',
  'no-difference': 'no significant difference on',
  'not-ranked': 'not ranked by the verdict',
};

/** Scenario × strategy at a glance: budgets pass/fail, and where the verdict ranked the strategy. */
export function scorecard(results: RunResults, analysis: AnalyzedRun): string {
  const strategies = strategyOrder(results, results.cells);
  const head = `<tr><th class="l">scenario</th>${strategies.map((st) => `<th class="c">${e(st)}</th>`).join('')}</tr>`;
  const rows = analysis.run.scenarios.map((s) => {
    const tds = strategies.map((st) => {
      if (!results.cells.some((c) => c.scenario === s.scenario && c.strategy === st))
        return '<td class="c">–</td>';
      const sc = scoreCell(s, st, analysis, results);
      const badge =
        sc.status === 'pass'
          ? '<span class="badge ok">pass</span>'
          : sc.status === 'fail'
            ? '<span class="badge bad">fail</span>'
            : sc.status === 'untrusted'
              ? '<span class="badge bad">untrusted</span>'
              : '<span class="badge">no budgets</span>';
      const alsoUntrusted =
        sc.untrusted && sc.status === 'fail' ? ' <span class="badge bad">untrusted</span>' : '';
      const metric =
        sc.metric && Object.hasOwn(METRICS, sc.metric) ? METRICS[sc.metric as MetricId].label : '';
      const answer = `<span class="ans ${sc.answer}">${e(ANSWER_TEXT[sc.answer])}${metric ? ` ${e(metric)}` : ''}</span>`;
      const why = sc.failed.length ? `<span class="rel">${e(sc.failed.join('; '))}</span>` : '';
      return `<td class="c sc-${sc.status}" data-status="${sc.status}" data-answer="${sc.answer}">${badge}${alsoUntrusted}${answer}${why}</td>`;
    });
    return `<tr><td class="l"><a href="#s-${slug(s.scenario)}">${e(s.scenario)}</a></td>${tds.join('')}</tr>`;
  });
  return `<section id="scorecard"><h2>Scorecard</h2><div class="tw"><table class="scorecard">${head}${rows.join('')}</table></div>
<ul class="notes"><li><b>pass / fail</b>: the scenario's budgets for that strategy (every repeat); <b>untrusted</b>: a cell failed or its numbers cannot be trusted (see Validity).</li><li>Second line: the verdict's claim on the scenario's question (its first focus metric the verdict could rank): best, significantly worse (95 % intervals apart and at least the minimum effect), or no significant difference.</li></ul></section>`;
}
