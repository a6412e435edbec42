/**
 * `cachebench report <run-dir>`: re-render reports from results.json alone; `--format csv` and
 * `--format otlp` export the metrics (results.csv, results.otlp.json) for other tools.
 */
import { UsageError } from '../errors.ts';
import { readResults } from '../pipeline/results-store.ts';
import { millis } from '../results/format.ts';

const FORMATS = ['html', 'md', 'junit', 'json', 'csv', 'otlp'];

export async function reportCommand(dir: string, opts: { format: string }): Promise<void> {
  const formats = opts.format.split(',').map((f) => f.trim());
  const bad = formats.find((f) => !FORMATS.includes(f));
  if (bad)
    throw new UsageError('BAD_FORMAT', `--format: "${bad}" is not a format (allowed: ${FORMATS.join(', ')})`);
  const { runDir, results } = readResults(dir);
  const { writeReports } = await import('../../reports/index.ts');
  const t0 = performance.now();
  const files = await writeReports(runDir, results, formats);
  for (const f of files) process.stdout.write(`${f}\n`);
  process.stderr.write(`rendered ${results.cells.length} cells in ${millis(performance.now() - t0, 0)}\n`);
}
