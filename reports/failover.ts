/**
 * The failover figures of a scenario's cells (harness/analysis/failover.ts), one row per cell:
 * what the harness measured around a Sentinel failover and a primary/replica partition — never
 * the target's account of itself. docs/measurements.md (Failover) defines every column.
 */
import { cellMetrics } from '../harness/analysis/metrics.ts';
import type { AnalyzedRun } from '../harness/analysis/types.ts';
import { fixed } from '../harness/results/format.ts';
import type { CellResult, RunResults } from '../harness/results/schema.ts';
import { escapeHtml as e } from './common.ts';

const n = (v: number | null | undefined) => (v === null || v === undefined ? '–' : String(v));
const of = (lost: number | undefined, all: number | undefined) =>
  lost === undefined ? '–' : `${lost}<span class="rel">of ${n(all)}</span>`;
const secs = (ms: number | undefined) => (ms === undefined ? '–' : `${fixed(ms / 1000, 2)} s`);

const byNamespace = (m: Record<string, number> | undefined) =>
  m && Object.keys(m).length
    ? `<span class="rel">${e(
        Object.entries(m)
          .sort((a, b) => b[1] - a[1])
          .map(([ns, v]) => `${ns} ${v}`)
          .join(', '),
      )}</span>`
    : '';

/** '' when no cell of the scenario ran a failover or partition fault. */
export function failoverHtml(results: RunResults, cells: CellResult[], analysis: AnalyzedRun): string {
  const rows = cells.flatMap((c) => {
    const a = analysis.cell(c);
    const f = a.failover;
    if (!f) return [];
    const m = cellMetrics(a);
    const repeat = results.run.repeats > 1 ? `&nbsp;<small>#${c.repeat}</small>` : '';
    const untrusted = a.validity.trusted ? '' : ' <span class="badge warn">untrusted</span>';
    return [
      `<tr><td>${e(c.strategy)}${repeat}${untrusted}</td><td>${n(f.staleAfterFailover)}</td>` +
        `<td>${of(f.lostDeletes, f.deletesDuringPartition)}${byNamespace(f.lostDeletesByNamespace)}</td><td>${of(f.lostOverwrites, f.setsDuringPartition)}</td>` +
        `<td>${of(f.lostIncrs, f.incrsDuringPartition)}</td><td>${of(f.probeLostDeletes, f.probeDeletes)}</td>` +
        `<td>${n(m.duplicateRebuilds)}</td><td>${n(m.lostIncrements)}</td>` +
        `<td>${secs(f.failoverMs)}<span class="rel">+switch-master ${secs(f.switchMasterMs)}</span></td>` +
        `<td>${f.errorsDuring}<span class="rel">of ${f.requestsDuring}</span></td><td>${f.p99DuringMs === undefined ? '–' : `${fixed(f.p99DuringMs, 0)} ms`}</td></tr>`,
    ];
  });
  if (!rows.length) return '';
  return `<h3>Failover (measured by the harness)</h3><div class="tw"><table><tr><th>strategy</th><th>stale reads after failover</th><th>lost DELs</th><th>lost overwrites</th><th>lost INCRs</th><th>probe DELs lost</th><th>duplicate rebuilds</th><th>lost increments</th><th>failover</th><th>errors during</th><th>p99 during</th></tr>${rows.join('')}</table></div>
<ul class="notes"><li><b>Lost DELs / overwrites / INCRs</b>: the target's writes the partitioned primary acknowledged after the cut (its keyevent notifications) that the frozen replica lacked when it was promoted — "of" is how many keys were deleted / set / incremented in that span; lost DELs by key namespace below (a cached value, a lock, a buffer). <b>Probe DELs lost</b>: the harness's own 20 DELs, the cross-check that the measure saw every DEL. <b>Stale reads after failover</b>: the staleness checker's stale reads that started after the first write on the new primary. <b>Duplicate rebuilds</b>: rebuilds that began inside another's load of the same key (two lock holders at once where the strategy locks). <b>Lost increments</b>: acknowledged increments missing from the database, reconciled. <b>Failover</b>: primary killed → first write acknowledged by and found on the new primary. <b>Errors / p99 during</b>: requests that started between the cut (or kill) and that first write.</li></ul>`;
}
