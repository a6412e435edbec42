/**
 * History-analysis benchmark: writes a synthetic 1,000,000-line NDJSON history (reads, aggregate
 * reads, writes over 5,000 keys; a Redis outage that loses invalidations) and times analyzeCell
 * on it (two streaming passes: write index, then every record). Prints figures.
 *   node harness/bench/history.ts [--lines N]
 */
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng, synthCell } from '../../test/fixtures/synthetic.ts';
import { analyzeCell } from '../analysis/index.ts';

const li = process.argv.indexOf('--lines');
const lines = li > 0 ? Number(process.argv[li + 1]) : 1_000_000;
const seconds = 200;
const { cell } = synthCell({
  scenario: 'redis-outage',
  strategy: 'cache-aside',
  seconds,
  historyRate: 1,
  faults: [{ atS: 60, forS: 20, proxy: 'redis', down: true }],
});
const dir = mkdtempSync(join(tmpdir(), 'cb-hist-bench-'));
cell.historyFile = 'history.ndjson';
const t0 = cell.loadStartedAt;
const rnd = prng(11);
const versions = new Map<number, { v: number; end: number }[]>();
const cached = new Map<number, number>();
const down = (t: number) => t >= t0 + 60_000 && t < t0 + 80_000;
const out = createWriteStream(join(dir, 'history.ndjson'));
let writes = 0;
let t = performance.now();
for (let i = 0; i < lines; i++) {
  const scheduled = t0 + (i * seconds * 1000) / lines;
  const start = scheduled + rnd() * 0.5;
  const end = start + 1 + rnd() * 3;
  const id = 1 + Math.floor(rnd() ** 2 * 5000);
  const hist = versions.get(id) ?? [{ v: 1, end: 0 }];
  const r = rnd();
  let op: string;
  let key = `user:${id}`;
  let recVersions: Record<string, number>;
  if (r < 0.1) {
    const v = hist[hist.length - 1]!.v + 1;
    hist.push({ v, end });
    versions.set(id, hist);
    if (!down(start)) cached.delete(id);
    writes++;
    op = 'update-user';
    recVersions = { [key]: v };
  } else if (r < 0.2) {
    recVersions = {};
    for (const m of [id, (id % 4999) + 1, ((id + 7) % 4999) + 1]) {
      const h = versions.get(m);
      recVersions[`user:${m}`] = h ? h[h.length - 1]!.v : 1;
    }
    op = 'read-team-members';
    key = `team:${id % 100}`;
  } else {
    let v = cached.get(id);
    if (v === undefined) {
      v = hist.filter((w) => w.end < start).reduce((m, w) => Math.max(m, w.v), 1);
      cached.set(id, v);
    }
    op = 'read-user';
    recVersions = { [key]: v };
  }
  const rec = {
    op,
    kind: op === 'update-user' ? 'write' : 'read',
    key,
    scheduled,
    start,
    end,
    status: 200,
    instance: i % 2,
    versions: recVersions,
  };
  if (!out.write(`${JSON.stringify(rec)}\n`)) await once(out, 'drain');
}
out.end();
await once(out, 'finish');
const genMs = performance.now() - t;
const size = statSync(join(dir, 'history.ndjson')).size;
t = performance.now();
const rss0 = process.memoryUsage().rss;
const a = await analyzeCell(cell, dir);
const ms = performance.now() - t;
const s = a.staleness!;
process.stdout.write(
  `history: ${lines} lines (${writes} writes), ${(size / 1048576).toFixed(0)} MiB, generated in ${genMs.toFixed(0)} ms\n` +
    `analyzeCell: ${ms.toFixed(0)} ms (${((lines / ms) * 1000).toFixed(0)} lines/s), rss +${((process.memoryUsage().rss - rss0) / 1048576).toFixed(0)} MiB\n` +
    `stale reads ${s.staleReads}/${s.readsChecked} (${((s.staleReadRatio ?? 0) * 100).toFixed(2)}%), age p50 ${s.age.p50?.toFixed(0)} ms p99 ${s.age.p99?.toFixed(0)} ms max ${s.age.max?.toFixed(0)} ms, beyond TTL ${s.staleBeyondTtl}, after faults ${s.staleAfterFaults}\n`,
);
rmSync(dir, { recursive: true, force: true });
