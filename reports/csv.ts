/**
 * results.csv: one row per cell × comparison metric, for spreadsheets and notebooks. Each row has
 * the cell's own value and its 95 % interval from the units inside that cell (the same evidence
 * the tables and the gate use); repeats are separate rows, so a reader can pool them as they like.
 * Columns and units: docs/observability/README.md ("results.csv").
 */
import { cellMetrics, METRICS, type MetricId } from '../harness/analysis/metrics.ts';
import type { AnalyzedRun } from '../harness/analysis/types.ts';
import { cellEvidence, combineEstimate } from '../harness/analysis/uncertainty.ts';
import type { Unit } from '../harness/results/format.ts';
import type { RunResults } from '../harness/results/schema.ts';

/** The unit a CSV/OTLP value is in: fractions stay fractions (0.25, not 25 %). */
export const EXPORT_UNIT: Record<Unit, string> = {
  '': 'number',
  ms: 'ms',
  s: 's',
  '%': 'fraction',
  '/s': 'per_second',
  '×': 'ratio',
};

export interface MetricRow {
  runId: string;
  cellId: string;
  scenario: string;
  strategy: string;
  repeat: number;
  status: string;
  trusted: boolean;
  metric: MetricId;
  label: string;
  unit: Unit;
  value: number;
  lo: number | null;
  hi: number | null;
  basis: string;
  startedAt: number;
  endedAt: number;
}

/** Every measured (non-null) metric of every cell, with the cell's own interval. */
export function metricRows(results: RunResults, analysis: AnalyzedRun): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const cell of results.cells) {
    const a = analysis.cell(cell);
    const values = cellMetrics(a);
    const evidence = cellEvidence(cell, a);
    for (const id of Object.keys(METRICS) as MetricId[]) {
      const value = values[id];
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      const est = combineEstimate([value], [evidence[id]]);
      rows.push({
        runId: results.run.id,
        cellId: cell.id,
        scenario: cell.scenario,
        strategy: cell.strategy,
        repeat: cell.repeat,
        status: cell.status,
        trusted: a.validity.trusted,
        metric: id,
        label: METRICS[id].label,
        unit: METRICS[id].unit,
        value,
        lo: est ? est.lo : null,
        // Empty for a right-censored interval (open upper end); the basis says so.
        hi: est && Number.isFinite(est.hi) ? est.hi : null,
        basis: est?.basis ?? '',
        startedAt: cell.startedAt,
        endedAt: cell.endedAt,
      });
    }
  }
  return rows;
}

export const CSV_COLUMNS = [
  'run_id',
  'cell_id',
  'scenario',
  'strategy',
  'repeat',
  'status',
  'trusted',
  'metric',
  'label',
  'value',
  'interval_lo',
  'interval_hi',
  'unit',
  'interval_basis',
] as const;

/** RFC 4180: quote a field holding a comma, quote, CR or LF; double the quotes inside. */
export function csvField(v: string | number | boolean | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Leading =, +, - or @ would run as a formula when a spreadsheet opens user text (strategy labels). */
function text(s: string): string {
  return /^[=+\-@]/.test(s) ? `'${s}` : s;
}

export function renderCsv(results: RunResults, analysis: AnalyzedRun): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of metricRows(results, analysis)) {
    lines.push(
      [
        text(r.runId),
        text(r.cellId),
        text(r.scenario),
        text(r.strategy),
        r.repeat,
        r.status,
        r.trusted,
        r.metric,
        text(r.label),
        r.value,
        r.lo,
        r.hi,
        EXPORT_UNIT[r.unit],
        r.basis,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
