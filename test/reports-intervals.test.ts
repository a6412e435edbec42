/** The comparison tables show each value's 95 % interval (reports/intervals.ts). */
import { describe, expect, it } from 'vitest';
import { analyzeResults } from '../harness/analysis/index.ts';
import { renderHtml } from '../reports/html.ts';
import { renderMarkdown } from '../reports/markdown.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

describe('comparison tables show 95% intervals', () => {
  const { results } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => s.name === 'write-race'),
    strategies: ['cache-aside', 'lease'],
    seconds: 8,
    historyRate: 40,
  });

  it('markdown: value [lo, hi] for metrics with an interval, and the note', () => {
    const md = renderMarkdown(results, analyzeResults(results));
    expect(md).toMatch(/\| \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\] \|/);
    expect(md).toMatch(/is its 95% interval/);
  });

  it('html: the interval on its own line under the value', () => {
    const html = renderHtml(results, analyzeResults(results));
    expect(html).toMatch(/<td>\d+\.\d+%<span class="ci">\[\d+\.\d+%, \d+\.\d+%\]<\/span>/);
  });
});
