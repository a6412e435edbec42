/**
 * The memory part of the cache-health section: how each strategy fares under the cell's
 * maxmemory and eviction policy (hit ratio, evictions/s, DB queries per request, errors, OOM
 * refusals) and which namespaces hold the memory. Shared by the HTML and Markdown reports.
 * Stored analyses written before these fields existed lack them: shown as "–".
 */
import type { AnalyzedRun, CellAnalysis } from '../harness/analysis/types.ts';
import { bytes, fixed, percent as pct } from '../harness/results/format.ts';
import type { CellResult } from '../harness/results/schema.ts';
import { escapeHtml as e, escapeMd as m } from './common.ts';

interface PressureRow {
  strategy: string;
  limit: string;
  hitRatio: string;
  evictionsPerSecond: string;
  queriesPerRequest: string;
  errors: string;
  oomRejections: string;
  usedMemory: string;
  unexpected: boolean;
}

interface NamespaceRow {
  strategy: string;
  namespace: string;
  keys: number;
  sampled: number;
  estimated: string;
  p50: string;
  p99: string;
  max: string;
}

const PRESSURE_HEAD = [
  'strategy',
  'maxmemory / policy',
  'hit ratio',
  'evictions/s',
  'DB queries/request',
  'errors',
  'OOM-refused commands',
  'used memory',
];
const NAMESPACE_HEAD = ['strategy', 'namespace', 'keys', 'sampled', 'est. memory', 'p50', 'p99', 'max'];
const EVICTED_HEAD = [
  'strategy',
  'evicted during the load, by namespace (keyspace events)',
  'total',
  'INFO evicted_keys',
];

interface EvictedRow {
  strategy: string;
  byNamespace: string;
  total: string;
  info: string;
}

/** Evicted keys by namespace (most first), for cells that watched them (redis.maxmemory set). */
function evictedRows(cells: CellResult[]): EvictedRow[] {
  return firstRepeats(cells).flatMap((c) => {
    const by = c.redis?.evictedByNamespace;
    if (!by) return [];
    const entries = Object.entries(by).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return [
      {
        strategy: c.strategy,
        byNamespace: entries.length ? entries.map(([ns, n]) => `${ns} ${n}`).join(', ') : 'none',
        total: String(entries.reduce((a, [, n]) => a + n, 0)),
        info: c.redis?.evictedDuringLoad === undefined ? '–' : String(c.redis.evictedDuringLoad),
      },
    ];
  });
}

function firstRepeats(cells: CellResult[]): CellResult[] {
  const seen = new Set<string>();
  return cells.filter((c) => c.status === 'ok' && !seen.has(c.strategy) && seen.add(c.strategy));
}

function limitLabel(h: CellAnalysis['cacheHealth']): string {
  if (h.maxmemory === undefined || h.maxmemory === null) return '–';
  const size = h.maxmemory === 0 ? 'none' : bytes(h.maxmemory);
  return `${size} / ${h.maxmemoryPolicy ?? '?'}`;
}

function pressureRows(cells: CellResult[], analysis: AnalyzedRun): PressureRow[] {
  return firstRepeats(cells).map((c) => {
    const a = analysis.cell(c);
    const h = a.cacheHealth;
    const eps = h.evictionsPerSecond ?? null;
    return {
      strategy: c.strategy,
      limit: limitLabel(h),
      hitRatio: pct(h.hitRatio),
      evictionsPerSecond: eps === null ? '–' : fixed(eps, 1),
      queriesPerRequest: a.dbLoad.queriesPerRequest === null ? '–' : fixed(a.dbLoad.queriesPerRequest, 3),
      errors: String(c.load.errors),
      oomRejections:
        h.oomRejections === undefined || h.oomRejections === null ? '–' : String(h.oomRejections),
      usedMemory: bytes(h.usedMemoryBytes),
      unexpected: h.unexpectedEvictions === true,
    };
  });
}

function namespaceRows(cells: CellResult[], analysis: AnalyzedRun): NamespaceRow[] {
  return firstRepeats(cells).flatMap((c) =>
    (analysis.cell(c).cacheHealth.namespaces ?? []).map((n) => ({
      strategy: c.strategy,
      namespace: n.namespace,
      keys: n.keys,
      sampled: n.sampled,
      estimated: bytes(n.estimatedBytes),
      p50: bytes(n.p50),
      p99: bytes(n.p99),
      max: bytes(n.max),
    })),
  );
}

const UNEXPECTED_NOTE =
  'evictions during the load of a scenario that sets no redis.maxmemory: normal traffic already exceeds the server’s memory limit';

/** HTML: a collapsible "Memory" block for one scenario's cells; '' when nothing was recorded. */
export function memoryHtml(cells: CellResult[], analysis: AnalyzedRun): string {
  const pressure = pressureRows(cells, analysis);
  const ns = namespaceRows(cells, analysis);
  if (pressure.length === 0) return '';
  const th = (h: string[]) =>
    `<tr>${h.map((x, i) => `<th${i < 2 ? ' class="l"' : ''}>${e(x)}</th>`).join('')}</tr>`;
  const flagged = pressure.some((p) => p.unexpected);
  const pRows = pressure.map(
    (p) =>
      `<tr><td class="l">${e(p.strategy)}</td><td class="l">${e(p.limit)}</td><td>${e(p.hitRatio)}</td><td>${e(p.evictionsPerSecond)}${p.unexpected ? ' <span class="badge bad">unexpected</span>' : ''}</td><td>${e(p.queriesPerRequest)}</td><td>${e(p.errors)}</td><td>${e(p.oomRejections)}</td><td>${e(p.usedMemory)}</td></tr>`,
  );
  const nRows = ns.map(
    (n) =>
      `<tr><td class="l">${e(n.strategy)}</td><td class="l mono">${e(n.namespace)}</td><td>${n.keys}</td><td>${n.sampled}</td><td>${e(n.estimated)}</td><td>${e(n.p50)}</td><td>${e(n.p99)}</td><td>${e(n.max)}</td></tr>`,
  );
  const evicted = evictedRows(cells).map(
    (r) =>
      `<tr><td class="l">${e(r.strategy)}</td><td class="l mono">${e(r.byNamespace)}</td><td>${e(r.total)}</td><td>${e(r.info)}</td></tr>`,
  );
  return `<details${flagged ? ' open' : ''}><summary>Memory: pressure and namespaces (first repeat)</summary>${
    flagged ? `<p><span class="badge bad">unexpected evictions</span> ${e(UNEXPECTED_NOTE)}.</p>` : ''
  }<div class="tw"><table>${th(PRESSURE_HEAD)}${pRows.join('')}</table></div>${
    evicted.length
      ? `<h3>Evicted keys by namespace (Redis keyspace events; locks end in -lock, leases in -lease, write-behind buffers are counter-pending)</h3><div class="tw"><table>${th(EVICTED_HEAD)}${evicted.join('')}</table></div>`
      : ''
  }${
    nRows.length
      ? `<h3>Memory by namespace (MEMORY USAGE of a bounded sample per namespace, largest first)</h3><div class="tw"><table>${th(NAMESPACE_HEAD)}${nRows.join('')}</table></div>`
      : ''
  }</details>`;
}

function mdTable(head: string[], rows: string[][]): string {
  return [
    `| ${head.map(m).join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? '---' : '--:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(m).join(' | ')} |`),
  ].join('\n');
}

/**
 * Markdown: the pressure table for a scenario that sets `redis:` or saw unexpected evictions;
 * the namespace table only when `namespaces` (the most detailed level of the summary).
 */
export function memoryMarkdown(cells: CellResult[], analysis: AnalyzedRun, namespaces: boolean): string {
  const pressure = pressureRows(cells, analysis);
  if (pressure.length === 0) return '';
  const constrained = cells.some((c) => c.scenario_spec.redis !== undefined);
  const flagged = pressure.some((p) => p.unexpected);
  const out: string[] = [];
  if (constrained || flagged) {
    out.push('**Memory pressure**');
    if (flagged) out.push(`⚠️ ${m(UNEXPECTED_NOTE)}.`);
    out.push('');
    out.push(
      mdTable(
        PRESSURE_HEAD,
        pressure.map((p) => [
          p.strategy,
          p.limit,
          p.hitRatio,
          `${p.evictionsPerSecond}${p.unexpected ? ' ⚠️' : ''}`,
          p.queriesPerRequest,
          p.errors,
          p.oomRejections,
          p.usedMemory,
        ]),
      ),
    );
  }
  const evicted = evictedRows(cells);
  if (evicted.length > 0) {
    if (out.length) out.push('');
    out.push(
      '**Evicted keys by namespace** (Redis keyspace events; `-lock`, `-lease`, `counter-pending` are coordination keys)',
    );
    out.push('');
    out.push(
      mdTable(
        EVICTED_HEAD,
        evicted.map((r) => [r.strategy, r.byNamespace, r.total, r.info]),
      ),
    );
  }
  const ns = namespaceRows(cells, analysis);
  if (namespaces && ns.length > 0) {
    if (out.length) out.push('');
    out.push('**Memory by namespace** (bounded MEMORY USAGE sample, largest first)');
    out.push('');
    out.push(
      mdTable(
        NAMESPACE_HEAD,
        ns.map((n) => [
          n.strategy,
          n.namespace,
          String(n.keys),
          String(n.sampled),
          n.estimated,
          n.p50,
          n.p99,
          n.max,
        ]),
      ),
    );
  }
  return out.join('\n');
}
