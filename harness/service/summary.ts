/**
 * The service-mode comparison (docs/service-mode.md "Reading the results"): per cell, the
 * figures of the issue — rebuilds per expiry, stale reads, DB queries per request, fault error
 * rate, hit ratio — black-box and from the probe side by side, and every figure that could not be
 * measured with its reason. Written to <run>/service.md and printed at the end of the run.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CellResult, RunResults } from '../results/schema.ts';
import type { ServiceFigures } from './types.ts';

export const NOT_MEASURED = 'not measured';

const FIGURES: { id: keyof ServiceFigures; label: string; fmt: (v: number) => string }[] = [
  { id: 'rebuildsPerExpiry', label: 'rebuilds per expiry (hot key)', fmt: (v) => v.toFixed(2) },
  { id: 'staleReads', label: 'stale reads', fmt: (v) => String(v) },
  { id: 'dbQueriesPerRequest', label: 'DB queries per request', fmt: (v) => v.toFixed(3) },
  { id: 'faultErrorRate', label: 'fault error rate', fmt: (v) => `${(v * 100).toFixed(1)}%` },
  { id: 'hitRatio', label: 'hit ratio', fmt: (v) => `${(v * 100).toFixed(1)}%` },
];

function show(v: number | null | undefined, fmt: (v: number) => string, missing: string): string {
  return v === null || v === undefined ? missing : fmt(v);
}

/** Why a black-box figure is missing: a fault error rate needs a fault window to exist. */
function missingBlackBox(id: keyof ServiceFigures, c: CellResult): string {
  return id === 'faultErrorRate' && (c.faults?.length ?? 0) === 0 ? 'no fault in scenario' : NOT_MEASURED;
}

export function serviceSummary(results: RunResults): string {
  const t = results.run.target;
  const lines: string[] = [];
  lines.push(`# ${t?.name ?? 'service'}: black-box vs probe`, '');
  lines.push(
    `Profile ${t?.profile ?? '?'} (sha256 ${t?.profileHash ?? '?'}), profile ${results.run.profile}.`,
    '',
  );
  for (const c of results.cells) {
    const svc = c.service;
    if (!svc) continue;
    lines.push(`## ${c.scenario} × ${c.strategy}${c.repeat > 1 ? ` #${c.repeat}` : ''}`, '');
    lines.push('| figure | black-box | probe |', '|---|---|---|');
    for (const f of FIGURES) {
      // Which figures the probe gives: hit ratio and source loads per request; the rest are not its.
      const probeCell = svc.probe
        ? f.id === 'hitRatio' || f.id === 'dbQueriesPerRequest'
          ? show(svc.probe[f.id], f.fmt, '—')
          : '—'
        : 'no probe';
      const label = f.id === 'dbQueriesPerRequest' ? `${f.label} (probe: source loads)` : f.label;
      lines.push(
        `| ${label} | ${show(svc.blackBox[f.id], f.fmt, missingBlackBox(f.id, c))} | ${probeCell} |`,
      );
    }
    lines.push('');
    const ev = Object.entries(svc.keyspaceEvents)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(`Keyspace events on cached keys: ${ev || 'none'}.`);
    const ops = Object.entries(svc.dbQueriesByOperation)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    if (ops) lines.push(`DB statements by operation (pg_stat_statements): ${ops}.`);
    lines.push('', 'Not measured:', '');
    for (const [k, why] of Object.entries(svc.notMeasured)) lines.push(`- \`${k}\`: ${why}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** Writes <runDir>/service.md; returns the compact terminal version. */
export function writeServiceSummary(runDir: string, results: RunResults): string {
  const file = path.join(runDir, 'service.md');
  fs.writeFileSync(file, serviceSummary(results));
  const out: string[] = ['', 'service figures (black-box | probe):'];
  for (const c of results.cells) {
    const svc = c.service;
    if (!svc) continue;
    const parts = FIGURES.map((f) => {
      const bb = show(svc.blackBox[f.id], f.fmt, missingBlackBox(f.id, c));
      const pr =
        svc.probe && (f.id === 'hitRatio' || f.id === 'dbQueriesPerRequest')
          ? ` | ${show(svc.probe[f.id], f.fmt, '—')}`
          : '';
      return `${f.id} ${bb}${pr}`;
    });
    out.push(`  ${c.id}: ${parts.join('; ')}`);
  }
  out.push(`  → ${file}`, '');
  return `${out.join('\n')}\n`;
}
