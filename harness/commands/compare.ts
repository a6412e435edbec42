/** `cachebench compare` and `cachebench baseline save`. */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { baselineFromResults } from '../gate/baseline.ts';
import { gateRun } from '../gate/index.ts';
import { readResults, writeFilesAtomic } from '../pipeline/results-store.ts';

export async function compareCommand(
  baseline: string,
  current: string,
  opts: { rules?: string; out?: string; html?: string },
): Promise<void> {
  const verdict = await gateRun(baseline, current, { rules: opts.rules, outDir: opts.out, html: opts.html });
  process.exitCode = verdict.pass ? 0 : 1;
}

export async function baselineSaveCommand(dir: string, opts: { out: string }): Promise<void> {
  const parent = path.dirname(path.resolve(opts.out));
  if (fs.statSync(opts.out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(
      'BAD_OUT',
      `--out: ${opts.out} is a directory (allowed: a file path, e.g. ${path.join(opts.out, 'cachebench-baseline.json')})`,
    );
  }
  if (!fs.statSync(parent, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(
      'BAD_OUT',
      `--out: ${opts.out}: directory ${parent} does not exist (allowed: a file in an existing directory)`,
    );
  }
  const b = baselineFromResults(readResults(dir).results);
  writeFilesAtomic([{ path: path.resolve(opts.out), data: `${JSON.stringify(b, null, 2)}\n` }]);
  process.stdout.write(
    `baseline: ${opts.out} (${Object.keys(b.groups).length} scenario × strategy groups from run ${b.source.runId})\n`,
  );
}
