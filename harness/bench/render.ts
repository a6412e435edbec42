/**
 * Render benchmark: builds a synthetic 50-cell run (10 catalog-like scenarios × 5 strategies,
 * analyses included) and times every report format. Prints figures; the budget is < 5 s total.
 *   node harness/bench/render.ts [--out <dir>]   (with --out, also writes the reports there)
 */
import { mkdirSync } from 'node:fs';
import { renderHtml } from '../../reports/html.ts';
import { writeReports } from '../../reports/index.ts';
import { renderJson } from '../../reports/json.ts';
import { renderJunit } from '../../reports/junit.ts';
import { renderMarkdown } from '../../reports/markdown.ts';
import { CATALOG_LIKE, synthRun } from '../../test/fixtures/synthetic.ts';
import { analyzeResults } from '../analysis/index.ts';

const outIdx = process.argv.indexOf('--out');
const out = outIdx > 0 ? process.argv[outIdx + 1] : undefined;

let t = performance.now();
const { results } = synthRun({
  scenarios: CATALOG_LIKE,
  strategies: ['no-cache', 'cache-aside', 'jitter', 'lock', 'stale-while-revalidate'],
  seconds: 20,
  historyRate: 50,
});
const synthMs = performance.now() - t;

const timings: [string, number, number][] = [];
const total0 = performance.now();
// The run is analysed once (as writeReports does) and every format renders from that.
t = performance.now();
const analysis = analyzeResults(results);
timings.push(['analysis', performance.now() - t, Buffer.byteLength(JSON.stringify(analysis.run))]);
for (const [name, fn] of [
  ['html', renderHtml],
  ['markdown', renderMarkdown],
  ['junit', renderJunit],
  ['json', renderJson],
] as const) {
  t = performance.now();
  const text = fn(results, analysis);
  timings.push([name, performance.now() - t, Buffer.byteLength(text)]);
}
const totalMs = performance.now() - total0;

process.stdout.write(
  `synthetic run: ${results.cells.length} cells, built and analysed in ${synthMs.toFixed(0)} ms\n`,
);
for (const [name, ms, size] of timings)
  process.stdout.write(
    `${name.padEnd(9)} ${ms.toFixed(0).padStart(6)} ms  ${(size / 1024).toFixed(1).padStart(8)} KiB\n`,
  );
process.stdout.write(
  `all formats ${totalMs.toFixed(0)} ms (budget 5000 ms): ${totalMs < 5000 ? 'OK' : 'TOO SLOW'}\n`,
);
if (out) {
  mkdirSync(out, { recursive: true });
  for (const p of await writeReports(out, results)) process.stdout.write(`wrote ${p}\n`);
}
if (totalMs >= 5000) process.exitCode = 1;
