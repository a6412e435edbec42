/**
 * Writes the run's reports next to results.json. The run is analysed once here; each format is a
 * pure function of (results, analysis).
 */
import { join } from 'node:path';
import { analyzeResults } from '../harness/analysis/index.ts';
import { writeFilesAtomic } from '../harness/pipeline/results-store.ts';
import type { RunResults } from '../harness/results/schema.ts';
import { renderCsv } from './csv.ts';
import { renderHtml } from './html.ts';
import { renderJson } from './json.ts';
import { renderJunit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';
import { renderOtlp } from './otlp.ts';

export const REPORT_FORMATS = {
  html: { file: 'report.html', render: renderHtml },
  md: { file: 'report.md', render: renderMarkdown },
  junit: { file: 'junit.xml', render: renderJunit },
  json: { file: 'summary.json', render: renderJson },
  csv: { file: 'results.csv', render: renderCsv },
  otlp: { file: 'results.otlp.json', render: renderOtlp },
} as const;

/** What `cachebench run` writes; csv and otlp are exports, rendered on request by `cachebench report`. */
export const DEFAULT_FORMATS: ReportFormat[] = ['html', 'md', 'junit', 'json'];

export type ReportFormat = keyof typeof REPORT_FORMATS;

export async function writeReports(
  runDir: string,
  results: RunResults,
  formats: string[] = DEFAULT_FORMATS,
): Promise<string[]> {
  const unknown = formats.find((f) => !Object.hasOwn(REPORT_FORMATS, f));
  if (unknown !== undefined)
    throw new Error(
      `format: "${unknown}" is not a report format (allowed: ${Object.keys(REPORT_FORMATS).join(', ')})`,
    );
  const analysis = analyzeResults(results);
  const files: { path: string; data: string }[] = [];
  for (const f of formats) {
    const def = REPORT_FORMATS[f as ReportFormat];
    files.push({ path: join(runDir, def.file), data: def.render(results, analysis) });
  }
  // Rendered first, then written in one synchronous step: after Ctrl-C either every report is
  // there (each complete) or none is.
  writeFilesAtomic(files);
  return files.map((f) => f.path);
}

export { renderCsv, renderHtml, renderJson, renderJunit, renderMarkdown, renderOtlp };
