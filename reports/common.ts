/**
 * Shared pieces of the renderers (run reports and the gate's): escaping for each output format,
 * column choice, colours. Numbers are formatted by harness/results/format.ts.
 */
import type { MetricId } from '../harness/analysis/metrics.ts';
import type { RunAnalysis, ScenarioAnalysis } from '../harness/analysis/types.ts';
import type { RunResults } from '../harness/results/schema.ts';

export function escapeHtml(s: unknown): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** XML 1.0 forbids most control characters even escaped: drop them, then escape. */
export function escapeXml(s: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  return escapeHtml(String(s).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, ''));
}

/** Markdown table cell: no pipes or newlines, and no raw HTML (GitHub renders it). */
export function escapeMd(s: unknown): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ');
}

/** Safe id for anchors: user text never reaches an attribute unescaped or unslugged. */
export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'x'
  );
}

const GENERAL: MetricId[] = ['queriesPerRequest', 'dbReduction', 'p95', 'p99', 'errorRate', 'hitRatio'];

/** Table columns for a scenario: its focus metrics first, then the general ones, without blanks. */
export function columnsFor(s: ScenarioAnalysis, max = 8): MetricId[] {
  const cols: MetricId[] = [];
  for (const id of [...(s.focus as MetricId[]), ...GENERAL]) {
    if (cols.includes(id)) continue;
    if (s.rows.every((r) => r.metrics[id] === null || r.metrics[id] === undefined)) continue;
    cols.push(id);
  }
  return cols.slice(0, max);
}

/**
 * The metric of the "relative to baseline" column: the first focus metric (then table column)
 * for which some strategy has a ratio to the baseline. On hot-key the no-cache baseline has no
 * rebuilds, so "rebuilds / expiry relative to no-cache" would be a column of dashes; the next
 * focus metric (p99 latency) has ratios.
 */
export function relativeColumn(s: ScenarioAnalysis, cols: MetricId[]): MetricId | undefined {
  const candidates = [...(s.focus as MetricId[]), ...cols];
  const hasRatio = (id: MetricId) =>
    s.rows.some((r) => r.strategy !== s.baselineStrategy && typeof r.relative[id] === 'number');
  return candidates.find(hasRatio) ?? candidates[0];
}

export const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
  '#7c3aed',
  '#0d9488',
];

/** The baseline the tables really use: the requested one, or what analyzeRun fell back to. */
export function effectiveBaseline(results: RunResults, run: RunAnalysis): { name: string; note: string } {
  const used = [...new Set(run.scenarios.map((s) => s.baselineStrategy))];
  const asked = results.run.baselineStrategy;
  if (used.length === 0 || (used.length === 1 && used[0] === asked)) return { name: asked, note: '' };
  return { name: used.join(', '), note: `${asked} is not in this run` };
}
