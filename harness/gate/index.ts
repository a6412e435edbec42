/**
 * Gate entry points used by `cachebench compare` and `cachebench run --baseline`. The gate writes
 * files (gate.md, gate-junit.xml) and prints; it never appends to `$GITHUB_STEP_SUMMARY`: the
 * GitHub Action (action.yml) is the step summary's one owner, so the verdict appears there once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { gateHtml } from '../../reports/compare-html.ts';
import { gateJunit, gateMarkdown } from '../../reports/gate.ts';
import { cellSeconds } from '../../reports/junit.ts';
import { UsageError } from '../errors.ts';
import { readResults } from '../pipeline/results-store.ts';
import { loadBaselineOrRun } from './baseline.ts';
import { compareBaselines, type GateVerdict } from './compare.ts';
import { loadRules } from './rules.ts';

export async function gateRun(
  baselinePath: string,
  currentPath: string,
  opts: { rules?: string; outDir?: string; html?: string; print?: (s: string) => void } = {},
): Promise<GateVerdict> {
  // Checked before comparing: a bad --html is a usage error, not a lost comparison.
  if (opts.html !== undefined) checkHtmlPath(opts.html);
  const rules = loadRules(opts.rules);
  const verdict = compareBaselines(loadBaselineOrRun(baselinePath), loadBaselineOrRun(currentPath), rules);
  const md = gateMarkdown(verdict);
  const outDir =
    opts.outDir ?? (fs.existsSync(path.join(currentPath, 'results.json')) ? currentPath : undefined);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'gate.md'), md);
    fs.writeFileSync(path.join(outDir, 'gate-junit.xml'), gateJunit(verdict, pairSeconds(currentPath)));
  }
  const html = outDir || opts.html ? gateHtml(verdict, { baseline: baselinePath, current: currentPath }) : '';
  if (outDir) fs.writeFileSync(path.join(outDir, 'gate.html'), html);
  if (opts.html) fs.writeFileSync(opts.html, html);
  (opts.print ?? ((s) => process.stdout.write(s)))(md);
  return verdict;
}

/** Wall-clock seconds per (scenario, strategy) of a run directory's cells; 0 for a baseline file. */
function pairSeconds(currentPath: string): (scenario: string, strategy: string) => number {
  const file = path.join(currentPath, 'results.json');
  if (!fs.existsSync(file)) return () => 0;
  const { results } = readResults(currentPath);
  const sums = new Map<string, number>();
  for (const c of results.cells) {
    const k = `${c.scenario}\u0000${c.strategy}`;
    sums.set(k, (sums.get(k) ?? 0) + cellSeconds(c));
  }
  return (scenario, strategy) => sums.get(`${scenario}\u0000${strategy}`) ?? 0;
}

/** `--html FILE`: a file path in an existing directory, never a directory. */
function checkHtmlPath(file: string): void {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (file === '' || st?.isDirectory())
    throw new UsageError(
      'BAD_HTML',
      `--html: "${file}" is not a file path (allowed: a file in an existing directory, e.g. compare.html)`,
    );
  const dir = path.dirname(path.resolve(file));
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new UsageError(
      'BAD_HTML',
      `--html: ${file}: directory ${dir} does not exist (allowed: a file in an existing directory)`,
    );
}
