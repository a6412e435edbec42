/**
 * JUnit XML for CI: one <testsuite> per scenario, one <testcase> per budget per cell. A failed
 * budget is a <failure> with the metric, the measured value and the budget; an untrusted cell's
 * cases carry its validity flags in <system-out> so a red build explains itself.
 * Times are wall-clock seconds: a case's time is its cell's duration (all of a cell's budgets are
 * checked against the one run), a suite's time the sum of its cells, so CI shows where time went.
 */
import type { AnalyzedRun } from '../harness/analysis/types.ts';
import type { RunResults } from '../harness/results/schema.ts';
import { escapeXml as x } from './common.ts';

export function renderJunit(results: RunResults, analysis: AnalyzedRun): string {
  const run = analysis.run;
  const byCell = new Map(results.cells.map((c) => [c.id, c]));
  const suites = new Map<string, typeof run.budgets>();
  for (const b of run.budgets) {
    const list = suites.get(b.scenario) ?? [];
    list.push(b);
    suites.set(b.scenario, list);
  }
  const total = run.budgets.length;
  const suiteSeconds = (list: typeof run.budgets) =>
    [...new Set(list.map((b) => b.cellId))].reduce((sum, id) => sum + cellSeconds(byCell.get(id)), 0);
  const failures = run.budgetsFailed;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="cachebench ${x(results.run.id)}" tests="${total}" failures="${failures}" errors="0" time="${seconds(suiteSeconds(run.budgets))}">`,
  );
  for (const [scenario, list] of suites) {
    const f = list.filter((b) => !b.passed).length;
    out.push(
      `  <testsuite name="${x(scenario)}" tests="${list.length}" failures="${f}" errors="0" skipped="0" time="${seconds(suiteSeconds(list))}">`,
    );
    for (const b of list) {
      const cell = byCell.get(b.cellId);
      const v = cell ? analysis.cell(cell).validity : null;
      const name = `${b.budget}${results.run.repeats > 1 ? ` [repeat ${b.repeat}]` : ''}`;
      out.push(
        `    <testcase classname="${x(`cachebench.${scenario}.${b.strategy}`)}" name="${x(name)}" time="${seconds(cellSeconds(cell))}">`,
      );
      if (!b.passed) {
        const value = b.value === null ? 'not measured' : String(b.value);
        out.push(
          `      <failure type="budget" message="${x(b.message)}">${x(`metric: ${b.metric}\nvalue: ${value}\nbudget: <= ${b.limit}\ncell: ${b.cellId}`)}</failure>`,
        );
      }
      if (v && !v.trusted) {
        out.push(
          `      <system-out>${x(`cell untrusted:\n${v.flags.map((fl) => `- ${fl.message} (${fl.hint})`).join('\n')}`)}</system-out>`,
        );
      }
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** A cell's wall-clock duration in seconds (0 only when the cell is unknown). */
export function cellSeconds(cell: { startedAt: number; endedAt: number } | undefined): number {
  return cell ? Math.max(0, cell.endedAt - cell.startedAt) / 1000 : 0;
}

/** JUnit `time`: seconds with millisecond precision. */
export function seconds(s: number): string {
  return s.toFixed(3);
}
