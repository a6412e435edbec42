/** Gate entry points used by `cachebench compare` and `cachebench run --baseline`. */
import fs from 'node:fs';
import path from 'node:path';
import { gateJunit, gateMarkdown } from '../../reports/gate.ts';
import { loadBaselineOrRun } from './baseline.ts';
import { compareBaselines, type GateVerdict } from './compare.ts';
import { loadRules } from './rules.ts';

export async function gateRun(
  baselinePath: string,
  currentPath: string,
  opts: { rules?: string; outDir?: string; print?: (s: string) => void } = {},
): Promise<GateVerdict> {
  const rules = loadRules(opts.rules);
  const verdict = compareBaselines(loadBaselineOrRun(baselinePath), loadBaselineOrRun(currentPath), rules);
  const md = gateMarkdown(verdict);
  const outDir =
    opts.outDir ?? (fs.existsSync(path.join(currentPath, 'results.json')) ? currentPath : undefined);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'gate.md'), md);
    fs.writeFileSync(path.join(outDir, 'gate-junit.xml'), gateJunit(verdict));
  }
  if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, md);
  (opts.print ?? ((s) => process.stdout.write(s)))(md);
  return verdict;
}
