/**
 * The end-of-run summary at the terminal (as k6 ends a test with its summary and threshold
 * results): per scenario the verdict, failed budgets with their values, untrusted and failed
 * cells, and where the report is; then the exit code and why.
 *
 * Exit codes (README): 2 usage error (raised before a run starts), 1 a cell failed or its numbers
 * are untrusted, 3 a budget failed, 0 otherwise. Budgets do not fail the exit code of the default
 * comparison (there, strategies are expected to break budgets: that is the finding) nor with
 * `--no-fail-on-budgets`.
 */
import { analyzeRun } from '../analysis/index.ts';
import type { RunAnalysis } from '../analysis/types.ts';
import type { RunResults } from '../results/schema.ts';

export const EXIT_CELL_FAILED = 1;
export const EXIT_BUDGET_FAILED = 3;

export interface SummaryOptions {
  /** The report files written (first HTML one is named as "the report"). */
  reports: string[];
  resultsFile: string;
  /** Failed budgets set the exit code (false for --default and --no-fail-on-budgets). */
  failOnBudgets: boolean;
  /** Why budgets do not fail, for the last line. */
  budgetsNote?: string;
}

export interface RunSummary {
  text: string;
  exitCode: number;
  failedCells: string[];
}

/** Cells that did not finish: in results.warnings as "<cell id> failed: …", or status != ok. */
export function failedCells(results: RunResults): string[] {
  const out = new Set<string>();
  for (const c of results.cells) if (c.status !== 'ok') out.add(`${c.id}: ${c.error ?? c.status}`);
  for (const w of results.warnings) {
    const m = /^(\S+) failed: (.*)$/.exec(w);
    if (m) out.add(`${m[1]}: ${m[2]}`);
  }
  return [...out];
}

export function exitCodeFor(a: RunAnalysis, failed: number, failOnBudgets: boolean): number {
  if (failed > 0 || a.untrustedCells.length > 0) return EXIT_CELL_FAILED;
  if (failOnBudgets && a.budgetsFailed > 0) return EXIT_BUDGET_FAILED;
  return 0;
}

export function runSummary(
  results: RunResults,
  o: SummaryOptions,
  analysis = analyzeRun(results),
): RunSummary {
  const failed = failedCells(results);
  const out: string[] = ['', '── summary ──'];
  for (const s of analysis.scenarios) {
    out.push(`${s.scenario}: ${s.verdict}`);
    const budgets = analysis.budgets.filter((b) => b.scenario === s.scenario && !b.passed);
    for (const b of budgets)
      out.push(
        `  ✘ budget ${b.budget} — ${b.strategy}${results.run.repeats > 1 ? ` #${b.repeat}` : ''}: ${b.message}`,
      );
  }
  for (const u of analysis.untrustedCells)
    out.push(
      `⚠ untrusted ${u.cellId}: ${u.flags
        .filter((f) => f.severity === 'error')
        .map((f) => f.message)
        .join('; ')}`,
    );
  for (const f of failed) out.push(`✘ failed ${f}`);
  const report = o.reports.find((r) => r.endsWith('.html')) ?? o.reports[0];
  out.push(`results: ${o.resultsFile}`);
  if (report) {
    const others = o.reports.filter((r) => r !== report);
    out.push(`report:  ${report}${others.length ? ` (also ${others.join(', ')})` : ''}`);
  }
  const code = exitCodeFor(analysis, failed.length, o.failOnBudgets);
  const counts = `${results.cells.length} cell(s), ${failed.length} failed, ${analysis.untrustedCells.length} untrusted, ${analysis.budgetsFailed} budget check(s) failed`;
  const why =
    code === EXIT_CELL_FAILED
      ? 'a cell failed or its numbers are untrusted'
      : code === EXIT_BUDGET_FAILED
        ? 'budgets failed (--no-fail-on-budgets reports without failing)'
        : analysis.budgetsFailed > 0
          ? `budgets reported, not failed${o.budgetsNote ? ` (${o.budgetsNote})` : ''}`
          : 'every cell ran and was trusted';
  out.push(`${counts} → exit ${code}: ${why}`);
  return { text: `${out.join('\n')}\n`, exitCode: code, failedCells: failed };
}
