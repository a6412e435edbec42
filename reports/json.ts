/**
 * summary.json: the analysis as data, for dashboards and scripts that do not want to parse the
 * full results.json (which carries series and rebuild events).
 */
import { cellMetrics } from '../harness/analysis/metrics.ts';
import type { AnalyzedRun } from '../harness/analysis/types.ts';
import type { RunResults } from '../harness/results/schema.ts';

export function renderJson(results: RunResults, analyzed: AnalyzedRun): string {
  const { environment, ...run } = results.run;
  return `${JSON.stringify(
    {
      format: 'cachebench-summary',
      schemaVersion: results.schemaVersion,
      run,
      environment,
      analysis: analyzed.run,
      cells: results.cells.map((c) => {
        const a = analyzed.cell(c);
        return {
          id: c.id,
          scenario: c.scenario,
          strategy: c.strategy,
          repeat: c.repeat,
          status: c.status,
          trusted: a.validity.trusted,
          metrics: cellMetrics(a),
          analysis: a,
        };
      }),
    },
    null,
    2,
  )}\n`;
}
