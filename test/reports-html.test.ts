import { describe, expect, it } from 'vitest';
import { analyzeCellRecords, analyzeResults } from '../harness/analysis/index.ts';
import { renderHtml } from '../reports/html.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

const EVIL = '<script>alert(1)</script>';
const EVIL2 = '"><img src=x onerror=alert(2)>';

describe('HTML report', () => {
  const { results, histories } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'redis-outage'].includes(s.name)),
    strategies: ['no-cache', 'cache-aside', EVIL, EVIL2],
    seconds: 16,
    historyRate: 30,
  });
  // Recorded times differ from the plan: the report must use the recorded ones.
  for (const c of results.cells.filter((c) => c.scenario === 'redis-outage')) {
    c.faults[0]!.appliedAt = c.loadStartedAt + 7500;
    c.faults[0]!.removedAt = c.loadStartedAt + 12250;
    c.analysis = analyzeCellRecords(c, histories.get(c.id)!);
  }
  results.run.command = `cachebench run --strategy '${EVIL}'`;
  const html = renderHtml(results, analyzeResults(results));

  it('is one self-contained document with an inline SVG per chart (stampede timeline + 6 per-second charts per scenario)', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg[\s>]/g)).toHaveLength(14);
    expect(html).not.toMatch(/<link|src="http|href="http/);
  });

  it('contains no executable script and no injected element from data, inside SVG text too', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/onerror=alert\(2\)>/);
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g)!;
    // The legend of every chart shows the hostile names as text.
    for (const svg of svgs) expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // And the tables/verdicts do as well.
    const outside = html.replace(/<svg[\s\S]*?<\/svg>/g, '');
    expect(outside).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(outside).toContain('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
  });

  it('shades the recorded fault window in each chart of a fault scenario, and only there', () => {
    const section = (name: string) => {
      const start = html.indexOf(`<section id="s-${name}">`);
      return html.slice(start, html.indexOf('</section>', start));
    };
    const shade = /<polygon [^>]*fill="rgb\(220,38,38\)" fill-opacity="0\.1"/g;
    // 6 per-second charts + one per row of the stampede timeline (3 cached strategies).
    expect(section('redis-outage').match(shade)).toHaveLength(9);
    expect(section('hot-key').match(shade)).toBeNull();
    expect(section('redis-outage')).toContain('>redis down 4.8 s</text>');
    // The fault table shows the recorded window (7.5–12.25 s), not the plan (6–12 s).
    expect(section('redis-outage')).toContain('7.50–12.25 s');
  });

  it('has the summary, verdicts, relative-to-baseline column, methodology and environment', () => {
    expect(html).toContain('<h2>Summary</h2>');
    expect(html).toContain('How many rebuilds hit the database per expiry of a hot key?');
    expect(html).toMatch(/<b>Verdict\.<\/b> .*rebuilds \/ expiry/);
    expect(html).toContain('relative to baseline');
    expect(html).toContain('id="methodology"');
    expect(html).toContain('0123456789abcdef0123456789abcdef01234567');
    expect(html).toContain('cachebench run --strategy &#39;&lt;script&gt;');
  });

  it('renders a run whose cells carry no analysis (old results.json) without throwing', () => {
    const copy = structuredClone(results);
    for (const c of copy.cells) delete c.analysis;
    const h = renderHtml(copy, analyzeResults(copy));
    expect(h).toContain('cell has no stored analysis');
    expect(h.match(/<svg[\s>]/g)).toHaveLength(14);
  });
});
