/**
 * The memory part of the cache-health section: how each strategy fares under the cell's
 * maxmemory and eviction policy (hit ratio, evictions/s, DB queries per request, errors, OOM
 * refusals) and which namespaces hold the memory; at run level, every policy's cells side by side
 * and the coordination scenarios shared vs separate. Shared by the HTML and Markdown reports.
 * Stored analyses written before these fields existed lack them: shown as "–".
 */

import { lostIncrementsOf } from '../harness/analysis/fail-open.ts';
import type { AnalyzedRun, CellAnalysis } from '../harness/analysis/types.ts';
import { bytes, fixed, percent as pct } from '../harness/results/format.ts';
import type { CellResult, RunResults } from '../harness/results/schema.ts';
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

// ---- Run level: the policies side by side, and coordination keys shared vs separate ----

/** Redis's policies in the order the docs discuss them; others (none in the catalog) sort last. */
const POLICY_ORDER = [
  'allkeys-lru',
  'allkeys-lfu',
  'volatile-lru',
  'volatile-lfu',
  'volatile-ttl',
  'noeviction',
];

const POLICY_HEAD = [
  'policy',
  'maxmemory',
  'scenario',
  'strategy',
  'hit ratio',
  'reads answered by the cache',
  'evictions/s (load)',
  'DB queries/request',
  'errors',
  'OOM-refused commands',
  'Redis command errors / timeouts (target)',
  'fallbacks',
];

const POLICY_NOTE =
  'One row per cell (first repeat) of a scenario that sets redis.maxmemory with coordination keys left alone: the same load under each maxmemory-policy. Evictions/s = Redis INFO evicted_keys over the load ÷ load seconds (the warm-up’s evictions are before the baseline). OOM-refused = INFO errorstats errorstat_OOM over the load (noeviction refusing SETs); the target sees each as a failed command and, failing open, serves the read from the database — errors stay 0 while DB queries per request rise. Hit ratio = hits ÷ (hits + misses); reads answered by the cache = (hits + stale serves) ÷ (those + misses + fallbacks): a read whose lock SET was refused, or whose Redis command timed out (a busy machine; after a few the circuit breaker opens and reads go to the database until it closes), is a fallback, neither hit nor miss.';

/** Cells of a scenario with `redis.maxmemory` and no `redis.coordination` (the policy axis). */
function policyCells(results: RunResults): CellResult[] {
  const seen = new Set<string>();
  return results.cells.filter((c) => {
    const r = c.scenario_spec.redis;
    const id = `${c.scenario}\0${c.strategy}`;
    if (c.status !== 'ok' || r?.maxmemory === undefined || r.coordination !== undefined || seen.has(id))
      return false;
    seen.add(id);
    return true;
  });
}

/**
 * Reads the cache answered (hits, stale serves) ÷ every read that asked it, fallbacks included:
 * a read whose lock or lease SET Redis refused is a fallback, neither hit nor miss, so lock's hit
 * ratio under noeviction reads 100% over the few reads that did hit.
 */
function servedByCache(c: CellResult): number | null {
  const t = c.target.cache;
  const served = t.hits + t.staleServed;
  const all = served + t.misses + t.fallbacks;
  return all > 0 ? served / all : null;
}

const policyRank = (p: string | null | undefined) => {
  const i = POLICY_ORDER.indexOf(p ?? '');
  return i < 0 ? POLICY_ORDER.length : i;
};

function policyRows(results: RunResults, analysis: AnalyzedRun): string[][] {
  return policyCells(results)
    .map((c) => ({ c, a: analysis.cell(c) }))
    .sort(
      (x, y) =>
        policyRank(x.a.cacheHealth.maxmemoryPolicy) - policyRank(y.a.cacheHealth.maxmemoryPolicy) ||
        x.c.scenario.localeCompare(y.c.scenario) ||
        x.c.strategy.localeCompare(y.c.strategy),
    )
    .map(({ c, a }) => {
      const h = a.cacheHealth;
      return [
        h.maxmemoryPolicy ?? '–',
        h.maxmemory ? bytes(h.maxmemory) : '–',
        c.scenario,
        c.strategy,
        pct(h.hitRatio),
        pct(servedByCache(c)),
        h.evictionsPerSecond === null || h.evictionsPerSecond === undefined
          ? '–'
          : fixed(h.evictionsPerSecond, 1),
        a.dbLoad.queriesPerRequest === null ? '–' : fixed(a.dbLoad.queriesPerRequest, 3),
        String(c.load.errors),
        h.oomRejections === null || h.oomRejections === undefined ? '–' : String(h.oomRejections),
        `${h.redisErrors} / ${h.redisTimeouts}`,
        String(h.fallbacks),
      ];
    });
}

const COORD_HEAD = [
  'scenario',
  'coordination keys',
  'policy',
  'strategy',
  'rebuilds',
  'duplicate rebuilds (inside a guard window)',
  'repeated rebuilds (value lost again)',
  'evicted locks + leases',
  'evicted write-behind buffers',
  'OOM-refused commands',
  'lost increments (reconciled)',
];

const COORD_NOTE =
  'One row per cell (first repeat) of a scenario that sets redis.coordination. Duplicate rebuilds = rebuilds that began while another rebuild of the same key was still loading (all instances): what a lock or lease prevents unless its guard key is gone. Repeated rebuilds = the other rebuilds beyond the first of an expiry episode: they began after the previous one ended — its value was evicted or refused again at once, which no guard prevents. Evicted keys come from Redis’s evicted keyspace events on the cache server (a lower bound). Lost increments = increments the driver saw acknowledged − what the counters in PostgreSQL gained after the final flush.';

function coordinationRows(results: RunResults, analysis: AnalyzedRun): string[][] {
  const seen = new Set<string>();
  return results.cells
    .filter((c) => {
      const id = `${c.scenario}\0${c.strategy}`;
      if (c.status !== 'ok' || c.scenario_spec.redis?.coordination === undefined || seen.has(id))
        return false;
      seen.add(id);
      return true;
    })
    .sort((x, y) => x.scenario.localeCompare(y.scenario) || x.strategy.localeCompare(y.strategy))
    .map((c) => {
      const a = analysis.cell(c);
      const st = a.stampede;
      const by = c.redis?.evictedByNamespace;
      const sum = (pick: (ns: string) => boolean) =>
        by
          ? String(
              Object.entries(by)
                .filter(([ns]) => pick(ns))
                .reduce((t, [, n]) => t + n, 0),
            )
          : '–';
      const wb = a.failOpen.writeBehind;
      const h = a.cacheHealth;
      return [
        c.scenario,
        c.scenario_spec.redis?.coordination ?? 'shared',
        h.maxmemoryPolicy ?? '–',
        c.strategy,
        String(st.rebuilds),
        st.overlappingRebuilds === undefined ? '–' : String(st.overlappingRebuilds),
        st.repeatedRebuilds === undefined ? '–' : String(st.repeatedRebuilds),
        sum((ns) => ns.endsWith('-lock') || ns.endsWith('-lease')),
        sum((ns) => ns === 'counter-pending' || ns === 'counter-inflight'),
        h.oomRejections === null || h.oomRejections === undefined ? '–' : String(h.oomRejections),
        wb ? String(lostIncrementsOf(wb)) : '–',
      ];
    });
}

function runTable(head: string[], rows: string[][], left: number): { html: string; md: string } {
  const th = `<tr>${head.map((h, i) => `<th${i < left ? ' class="l"' : ''}>${e(h)}</th>`).join('')}</tr>`;
  const trs = rows.map(
    (x) => `<tr>${x.map((v, i) => `<td${i < left ? ' class="l"' : ''}>${e(v)}</td>`).join('')}</tr>`,
  );
  return {
    html: `<div class="tw"><table>${th}${trs.join('')}</table></div>`,
    md: [
      `| ${head.map(m).join(' | ')} |`,
      `|${head.map((_, i) => (i < left ? '---' : '--:')).join('|')}|`,
      ...rows.map((x) => `| ${x.map(m).join(' | ')} |`),
    ].join('\n'),
  };
}

/** HTML: "Memory pressure by policy" and "Coordination keys under eviction"; '' when neither ran. */
export function memoryRunHtml(results: RunResults, analysis: AnalyzedRun): string {
  const p = policyRows(results, analysis);
  const c = coordinationRows(results, analysis);
  const out: string[] = [];
  if (p.length)
    out.push(
      `<section id="memory-policies"><h2>Memory pressure by eviction policy</h2>${runTable(POLICY_HEAD, p, 4).html}<p class="note">${e(POLICY_NOTE)}</p></section>`,
    );
  if (c.length)
    out.push(
      `<section id="coordination-eviction"><h2>Coordination keys under eviction: shared vs separate</h2>${runTable(COORD_HEAD, c, 4).html}<p class="note">${e(COORD_NOTE)}</p></section>`,
    );
  return out.join('\n');
}

/** Markdown twin of memoryRunHtml. */
export function memoryRunMarkdown(results: RunResults, analysis: AnalyzedRun): string {
  const p = policyRows(results, analysis);
  const c = coordinationRows(results, analysis);
  const out: string[] = [];
  if (p.length)
    out.push(
      '### Memory pressure by eviction policy',
      '',
      runTable(POLICY_HEAD, p, 4).md,
      '',
      `_${m(POLICY_NOTE)}_`,
    );
  if (c.length) {
    if (out.length) out.push('');
    out.push(
      '### Coordination keys under eviction: shared vs separate',
      '',
      runTable(COORD_HEAD, c, 4).md,
      '',
      `_${m(COORD_NOTE)}_`,
    );
  }
  return out.join('\n');
}
