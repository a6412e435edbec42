/**
 * The run directory and its canonical results.json. Written atomically (tmp + rename) after
 * every cell, so an interrupted run keeps its finished cells and `--resume` can complete it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { type CellResult, RESULTS_SCHEMA_VERSION, type RunResults } from '../results/schema.ts';

export const RESULTS_FILE = 'results.json';

export function writeResults(runDir: string, results: RunResults): void {
  const file = path.join(runDir, RESULTS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(results));
  fs.renameSync(tmp, file);
}

export function readResults(dirOrFile: string): { runDir: string; results: RunResults } {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : path.join(dirOrFile, RESULTS_FILE);
  if (!fs.existsSync(file)) {
    throw new UsageError(
      'NO_RESULTS',
      `${dirOrFile}: no ${RESULTS_FILE} found (expected a run directory written by 'cachebench run')`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError('BAD_RESULTS', `${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = parsed as Partial<RunResults>;
  if (r.schemaVersion !== RESULTS_SCHEMA_VERSION || !Array.isArray(r.cells) || !r.run) {
    throw new UsageError(
      'BAD_RESULTS',
      `${file}: schemaVersion ${String(r.schemaVersion)} is not supported (allowed: ${RESULTS_SCHEMA_VERSION})`,
    );
  }
  return { runDir: path.dirname(file), results: parsed as RunResults };
}

export function cellId(scenario: string, strategy: string, repeat: number): string {
  return `${scenario}/${strategy}/${repeat}`;
}

/** Directory for a cell's raw files; strategy specs may contain '+' or a path, so sanitize. */
export function cellDir(runDir: string, cell: Pick<CellResult, 'scenario' | 'strategy' | 'repeat'>): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9+._-]/g, '_');
  return path.join(runDir, 'cells', `${safe(cell.scenario)}--${safe(cell.strategy)}--${cell.repeat}`);
}
