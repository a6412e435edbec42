/**
 * Streams the NDJSON operation history (one HistoryRecord per line). Histories reach a million
 * lines, so they are never loaded whole; analyses that need two passes read the file twice.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { HistoryRecord } from '../results/schema.ts';

export interface HistoryReadStats {
  lines: number;
  malformed: number;
}

/**
 * Yields the records of `path`. `filter` sees the raw line first, so a pass that needs only
 * writes can skip JSON.parse for the other 90% of lines. Malformed lines are counted, not fatal:
 * a crash mid-write leaves a torn last line.
 */
export async function* readHistory(
  path: string,
  stats: HistoryReadStats = { lines: 0, malformed: 0 },
  filter?: (line: string) => boolean,
): AsyncGenerator<HistoryRecord> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.length === 0) continue;
    stats.lines++;
    if (filter && !filter(line)) continue;
    let rec: HistoryRecord;
    try {
      rec = JSON.parse(line) as HistoryRecord;
    } catch {
      stats.malformed++;
      continue;
    }
    if (typeof rec !== 'object' || rec === null || typeof rec.start !== 'number') {
      stats.malformed++;
      continue;
    }
    yield rec;
  }
}

export function isOk(rec: HistoryRecord): boolean {
  return rec.status >= 200 && rec.status < 300 && !rec.error;
}
