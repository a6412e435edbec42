/**
 * The report's charts and scorecard (pure renderers on synthetic results): the stampede timeline
 * shows the real number of concurrent loads, the last partial second is not drawn as a whole one,
 * a lone value between gaps is drawn, identical lines are told apart, fault windows say what
 * happened, every text is at least 11 px, and the scorecard reads budgets and the verdict's claims.
 */
import { describe, expect, it } from 'vitest';
import { analyzeCellRecords, analyzeResults } from '../harness/analysis/index.ts';
import type { CellResult, FaultRecord, RebuildEvent } from '../harness/results/schema.ts';
import { concurrencySteps, peakOf, renderLineChart } from '../reports/charts.ts';
import { faultShadeLabel, renderHtml, seriesPoints } from '../reports/html.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

const EVIL = '<script>alert(1)</script>';

function section(html: string, name: string): string {
  const start = html.indexOf(`<section id="s-${name}">`);
  expect(start).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</section>', start));
}

function timeline(sectionHtml: string): string {
  const start = sectionHtml.indexOf('<figure class="wide">');
  expect(start).toBeGreaterThan(-1);
  return sectionHtml.slice(start, sectionHtml.indexOf('</figure>', start));
}

/** Replace a cell's hot-key loads with `episodes` expiries of `size` loads each, overlapping. */
function stampede(c: CellResult, size: number, episodes: number): void {
  const hot = 'team:1:report';
  const loads: RebuildEvent[] = [];
  for (let e = 0; e < episodes; e++) {
    const at = c.loadStartedAt + 1000 + e * 2000;
    for (let i = 0; i < size; i++)
      loads.push({ key: hot, instance: 'i1', start: at + i * 2, end: at + 35 + i * 2, reason: 'miss' });
  }
  c.rebuilds = loads;
}

describe('stampede timeline', () => {
  it('counts loads running at once, exact at each start and end (a load ending as another starts does not overlap)', () => {
    const seven = Array.from({ length: 7 }, (_, i) => ({ start: 1000 + i, end: 1035 + i }));
    const steps = concurrencySteps(seven, 0);
    expect(peakOf(steps)).toBe(7);
    expect(steps[0]).toEqual([1, 0]);
    expect(steps[steps.length - 1]).toEqual([1.041, 0]);
    expect(
      peakOf(
        concurrencySteps(
          [
            { start: 0, end: 10 },
            { start: 10, end: 20 },
          ],
          0,
        ),
      ),
    ).toBe(1);
  });

  const { results, histories } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => s.name === 'hot-key'),
    strategies: ['no-cache', 'cache-aside', 'lock'],
    seconds: 8,
    historyRate: 20,
  });
  for (const c of results.cells) {
    if (c.strategy === 'no-cache') continue;
    stampede(c, c.strategy === 'cache-aside' ? 7 : 1, 3);
    c.analysis = analyzeCellRecords(c, histories.get(c.id)!);
  }
  const html = renderHtml(results, analyzeResults(results));
  const fig = timeline(section(html, 'hot-key'));

  it('draws one row per cached strategy with its peak: 7 concurrent for the stampede, 1 for the lock', () => {
    expect(fig).toContain(
      'cache-aside — team:1:report: peak 7 concurrent, 21 loads in 3 episodes (7.0 per expiry)',
    );
    expect(fig).toContain('lock — team:1:report: peak 1 concurrent, 3 loads in 3 episodes (1.0 per expiry)');
    // no-cache has no cache, hence no expiry: no row.
    expect(fig).not.toContain('no-cache —');
  });

  it('labels each expiry episode with its number of loads, on one shared y scale', () => {
    expect(fig.match(/>7<\/text>/g)).toHaveLength(3);
    // Both rows' y axes end at the larger peak (7), so the lock row is 1/7 as tall.
    expect(fig.match(/>7<\/text>/g)!.length + 0).toBeGreaterThan(0);
    const yTop = fig.match(/<text[^>]*>7<\/text>/g) ?? [];
    expect(yTop.length).toBeGreaterThanOrEqual(3);
  });
});

describe('per-second charts', () => {
  const { results } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => s.name === 'steady-read'),
    strategies: ['cache-aside'],
    seconds: 4,
    historyRate: 10,
  });
  const cell = results.cells[0]!;

  it('leaves out a last bucket covering under 0.25 s of load, and places points mid-bucket', () => {
    const c = structuredClone(cell);
    c.series.t0 = c.loadStartedAt;
    c.load.durationMs = 3200;
    const pts = seriesPoints(c, [400, 400, 400, 80], 'rate');
    expect(pts).toEqual([
      [0.5, 400],
      [1.5, 400],
      [2.5, 400],
    ]);
  });

  it('scales a partial last bucket of a rate by its real duration; a level keeps its value', () => {
    const c = structuredClone(cell);
    c.series.t0 = c.loadStartedAt;
    c.load.durationMs = 3600;
    // 240 requests in the last 0.6 s is 400/s, not 240/s.
    expect(seriesPoints(c, [400, 400, 400, 240], 'rate')[3]).toEqual([3.3, 400]);
    expect(seriesPoints(c, [12, 12, 12, 30], 'level')[3]).toEqual([3.3, 30]);
  });

  it('draws a lone value between two gaps (the hit ratio before an outage)', () => {
    const svg = renderLineChart({
      title: 'Cache hit ratio',
      yName: '%',
      shades: [],
      series: [
        {
          name: 'cache-aside',
          color: '#2563eb',
          points: [
            [0.5, null],
            [1.5, 92],
            [2.5, null],
          ],
        },
      ],
    });
    expect(svg).toMatch(/<path [^>]*transform="matrix[^>]*ecmeta_series_index="0" ecmeta_data_index="1"/);
  });

  it('gives identical lines different dash patterns and markers', () => {
    const same: [number, number | null][] = [
      [0.5, 10],
      [1.5, 10],
    ];
    const svg = renderLineChart({
      title: 'p99',
      yName: 'ms',
      shades: [],
      series: [
        { name: 'a', color: '#111', points: same, styleIndex: 0 },
        { name: 'b', color: '#222', points: same, styleIndex: 1 },
      ],
    });
    const lines = svg.match(/<path d="M[^"]*L[^"]*" fill="none"[^>]*stroke="#(111|222)"[^>]*>/g) ?? [];
    const dashes = new Set(lines.map((l) => l.match(/stroke-dasharray="([^"]*)"/)?.[1] ?? 'solid'));
    expect(dashes.size).toBeGreaterThanOrEqual(2);
  });

  it('labels a fault window by what happened and for how long', () => {
    const f = (spec: FaultRecord['spec'], ms: number): FaultRecord => ({
      spec,
      plannedAt: 1000,
      plannedFor: ms,
      appliedAt: 10_000,
      removedAt: 10_000 + ms,
      ok: true,
    });
    expect(faultShadeLabel(f({ at: 1000, for: 2000, proxy: 'redis', down: true }, 2000))).toBe(
      'redis down 2.0 s',
    );
    expect(
      faultShadeLabel(
        f(
          { at: 1000, for: 2000, proxy: 'redis', toxic: { type: 'latency', attributes: { latency: 200 } } },
          2000,
        ),
      ),
    ).toBe('redis latency 200 ms');
    expect(faultShadeLabel(f({ at: 1000, for: 1500, process: 'redis-restart' }, 1500))).toBe(
      'redis-restart 1.5 s',
    );
  });
});

describe('report layout', () => {
  const { results, histories } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'redis-outage'].includes(s.name)),
    strategies: ['no-cache', 'cache-aside', 'lock', EVIL],
    seconds: 12,
    historyRate: 20,
  });
  for (const c of results.cells.filter((c) => c.scenario === 'redis-outage')) {
    c.faults[0]!.appliedAt = c.loadStartedAt + 6000;
    c.faults[0]!.removedAt = c.loadStartedAt + 8500;
    c.analysis = analyzeCellRecords(c, histories.get(c.id)!);
    const lat = { count: 100, mean: 4, p50: 3, p90: 8, p95: 9, p99: 17, p999: 20, max: 21 };
    c.load.perOp = { 'read-user': { count: 100, errors: 0, latency: lat, statuses: { '200': 100 } } };
  }
  const html = renderHtml(results, analyzeResults(results));

  it('shades the outage with what happened, from the recorded window', () => {
    expect(section(html, 'redis-outage')).toContain('>redis down 2.5 s</text>');
    expect(html).not.toContain('>fault 1</text>');
  });

  it('writes no text under 11 px, in the SVGs or the CSS', () => {
    const sizes = [...html.matchAll(/font-size:\s*([\d.]+)px/g)].map((m) => Number(m[1]));
    const attrs = [...html.matchAll(/font-size="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(50);
    expect(Math.min(...sizes, ...attrs)).toBeGreaterThanOrEqual(11);
    // Charts are shown at their own width at most (never scaled up or squeezed into thirds).
    expect(html).toContain('max-width:100%');
    expect(html).not.toMatch(/\.charts svg\{width:100%/);
    for (const w of html.matchAll(/<svg [^>]*width="(\d+)"/g)) expect(Number(w[1])).toBeLessThanOrEqual(1170);
  });

  it('draws throughput, errors, p50, p99, DB load and hit ratio per scenario, plus per-operation latency', () => {
    const s = section(html, 'redis-outage');
    for (const t of [
      'Throughput (requests/s)',
      'Errors (/s)',
      'p50 latency from schedule (ms)',
      'p99 latency from schedule (ms)',
      'DB load (queries/s)',
      'Cache hit ratio (%)',
      'Latency by operation (ms)',
    ])
      expect(s).toContain(`>${t}</text>`);
    // One bar per percentile and strategy for read-user, labelled with both.
    expect(s).toContain('>read-user</text>');
  });

  it('opens with a scorecard: scenario × strategy, budgets and the verdict claim per cell', () => {
    const start = html.indexOf('<section id="scorecard">');
    expect(start).toBeGreaterThan(-1);
    expect(start).toBeLessThan(html.indexOf('<h2>Summary</h2>'));
    const card = html.slice(start, html.indexOf('</section>', start));
    const row = (scenario: string) => {
      const i = card.indexOf(`href="#s-${scenario}"`);
      return card.slice(i, card.indexOf('</tr>', i));
    };
    const cellsOf = (r: string) =>
      [...r.matchAll(/data-status="([a-z-]+)" data-answer="([a-z-]+)"/g)].map((m) => `${m[1]}/${m[2]}`);
    // hot-key: budget rebuildsPerExpiry ≤ 1.5; the synthetic cache-aside stampedes, lock does not.
    const hot = cellsOf(row('hot-key'));
    expect(hot).toHaveLength(4);
    expect(hot[1]).toMatch(/^fail\//);
    expect(hot[2]).toMatch(/^pass\/best$/);
    expect(row('hot-key')).toContain('rebuildsPerExpiry');
    // The hostile strategy name is a header, escaped.
    expect(card).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(card).not.toContain(EVIL);
    expect(cellsOf(row('redis-outage'))).toHaveLength(4);
  });
});

describe('scorecard with an untrusted cell', () => {
  const { results } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => s.name === 'hot-key'),
    strategies: ['cache-aside', 'lock'],
    seconds: 8,
    historyRate: 20,
    saturated: ['cache-aside'],
  });
  const html = renderHtml(results, analyzeResults(results));
  const card = html.slice(html.indexOf('<section id="scorecard">'), html.indexOf('<h2>Summary</h2>'));

  it('shows a failed budget and the untrusted numbers both, and the verdict does not rank the cell', () => {
    const cell = card.slice(
      card.indexOf('data-status="fail"'),
      card.indexOf('</td>', card.indexOf('data-status="fail"')),
    );
    expect(cell).toContain('data-answer="not-ranked"');
    expect(cell).toContain('<span class="badge bad">untrusted</span>');
    expect(cell).toContain('rebuildsPerExpiry');
  });
});
