/**
 * summary.json: the analysis as data, for dashboards and scripts that do not want to parse the
 * full results.json (which carries series and rebuild events).
 */
import { analyzeRun, cellAnalysis } from '../harness/analysis/index.ts';
import { cellMetrics } from '../harness/analysis/metrics.ts';
import type { RunResults } from '../harness/results/schema.ts';

export function renderJson(results: RunResults): string {
  const analysis = analyzeRun(results);
  const { environment, ...run } = results.run;
  return `${JSON.stringify(
    {
      format: 'cachebench-summary',
      schemaVersion: results.schemaVersion,
      run,
      environment,
      analysis,
      cells: results.cells.map((c) => {
        const a = cellAnalysis(c);
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
