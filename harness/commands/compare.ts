/** `cachebench compare` and `cachebench baseline save`. */
import fs from 'node:fs';
import { baselineFromResults } from '../gate/baseline.ts';
import { gateRun } from '../gate/index.ts';
import { readResults } from '../pipeline/results-store.ts';

export async function compareCommand(
  baseline: string,
  current: string,
  opts: { rules?: string; out?: string },
): Promise<void> {
  const verdict = await gateRun(baseline, current, { rules: opts.rules, outDir: opts.out });
  process.exitCode = verdict.pass ? 0 : 1;
}

export async function baselineSaveCommand(dir: string, opts: { out: string }): Promise<void> {
  const b = baselineFromResults(readResults(dir).results);
  fs.writeFileSync(opts.out, `${JSON.stringify(b, null, 2)}\n`);
  process.stdout.write(
    `baseline: ${opts.out} (${Object.keys(b.groups).length} scenario × strategy groups from run ${b.source.runId})\n`,
  );
}
