import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeResults } from '../harness/analysis/index.ts';
import { writeReports } from '../reports/index.ts';
import { renderJson } from '../reports/json.ts';
import { renderJunit } from '../reports/junit.ts';
import { MARKDOWN_LIMIT, renderMarkdown } from '../reports/markdown.ts';
import { CATALOG_LIKE, synthRun } from './fixtures/synthetic.ts';

/** Minimal XML well-formedness: balanced tags, quoted attributes, no bare < or & in text. */
function wellFormed(xml: string): { ok: boolean; why?: string; testcases: number } {
  let body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let testcases = 0;
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi;
  while (body.length) {
    const lt = body.indexOf('<');
    const text = lt < 0 ? body : body.slice(0, lt);
    if (/[<>]/.test(text.replace(entity, '')) || /&/.test(text.replace(entity, '')))
      return { ok: false, why: `bad text: ${text.slice(0, 40)}`, testcases };
    if (lt < 0) break;
    const gt = body.indexOf('>', lt);
    if (gt < 0) return { ok: false, why: 'unclosed tag', testcases };
    const tag = body.slice(lt + 1, gt);
    body = body.slice(gt + 1);
    if (tag.startsWith('/')) {
      if (stack.pop() !== tag.slice(1)) return { ok: false, why: `mismatched </${tag.slice(1)}>`, testcases };
      continue;
    }
    const m = /^([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
    if (!m) return { ok: false, why: `bad tag <${tag.slice(0, 60)}>`, testcases };
    for (const [, v] of m[2]!.matchAll(/="([^"]*)"/g))
      if (/&/.test(v!.replace(entity, ''))) return { ok: false, why: `bad attribute ${v}`, testcases };
    if (m[1] === 'testcase') testcases++;
    if (!m[3]) stack.push(m[1]!);
  }
  return stack.length
    ? { ok: false, why: `unclosed ${stack.join(',')}`, testcases }
    : { ok: true, testcases };
}

describe('JUnit, Markdown, JSON reports', () => {
  const { results } = synthRun({
    scenarios: CATALOG_LIKE.filter((s) => ['hot-key', 'redis-outage', 'counter-outage'].includes(s.name)),
    strategies: ['no-cache', 'cache-aside', 'write-behind', 'a&b <"evil">'],
    seconds: 14,
    historyRate: 30,
  });

  it('JUnit: well-formed XML, one testcase per budget per cell, failures carry metric, value and budget', () => {
    const xml = renderJunit(results, analyzeResults(results));
    const budgets = results.cells.reduce((n, c) => n + Object.keys(c.scenario_spec.budgets).length, 0);
    const wf = wellFormed(xml);
    expect(wf).toEqual({ ok: true, testcases: budgets });
    const failures = xml.match(/<failure /g)?.length ?? 0;
    expect(xml).toContain(`tests="${budgets}" failures="${failures}"`);
    expect(failures).toBeGreaterThan(0);
    expect(xml).toMatch(
      /<failure type="budget" message="[^"]+">metric: [^\n]+\nvalue: [^\n]+\nbudget: &lt;= /,
    );
    expect(xml).toContain('a&amp;b &lt;&quot;evil&quot;&gt;');
    expect(wellFormed('<a><b></a>').ok).toBe(false);
    expect(wellFormed('<a>x & y</a>').ok).toBe(false);
  });

  it('Markdown: verdict per scenario, compact tables, escaped cells', () => {
    const md = renderMarkdown(results, analyzeResults(results));
    expect(md).toContain('### hot-key');
    expect(md).toContain('**Verdict:**');
    expect(md).toMatch(/\| strategy \| .* \| vs cache-aside/);
    expect(md).toContain('a&amp;b &lt;"evil"&gt;');
    expect(md).not.toContain('<"evil">');
    expect(Buffer.byteLength(md)).toBeLessThan(MARKDOWN_LIMIT);
  });

  it('Markdown stays under 60 KB for a very large run', () => {
    const many = Array.from({ length: 45 }, (_, i) => ({
      name: `scenario-${i}-with-a-rather-long-name`,
      question: 'What happens to every one of these strategies when the scenario with a long name runs?',
      budgets: { p99: 1, queriesPerRequest: 0.01, errorRate: 0 },
    }));
    const big = synthRun({
      scenarios: many,
      strategies: [
        'no-cache',
        'cache-aside',
        'jitter',
        'lock',
        'lease',
        'xfetch',
        'single-flight',
        'write-through',
      ],
      seconds: 6,
      historyRate: 5,
    }).results;
    const md = renderMarkdown(big, analyzeResults(big));
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(MARKDOWN_LIMIT);
    expect(md).toContain('### scenario-0-with-a-rather-long-name');
  });

  it('JSON summary parses and carries per-cell metrics and the run analysis', () => {
    const j = JSON.parse(renderJson(results, analyzeResults(results)));
    expect(j.format).toBe('cachebench-summary');
    expect(j.cells).toHaveLength(results.cells.length);
    expect(j.analysis.scenarios).toHaveLength(3);
    const wb = j.cells.find((c: { id: string }) => c.id === 'counter-outage/write-behind/1');
    expect(wb.metrics.lostIncrements).toBeGreaterThan(0);
  });

  it('writeReports writes the four files and rejects an unknown format with a one-line message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-rep-'));
    const paths = await writeReports(dir, results);
    expect(paths.map((p) => p.slice(dir.length + 1))).toEqual([
      'report.html',
      'report.md',
      'junit.xml',
      'summary.json',
    ]);
    expect(readFileSync(paths[0]!, 'utf8')).toContain('<svg');
    await expect(writeReports(dir, results, ['pdf'])).rejects.toThrow(
      'format: "pdf" is not a report format (allowed: html, md, junit, json, csv, otlp)',
    );
  });
});
