/**
 * Does the gate tell noise from a regression? Runs one baseline, then N candidate runs of the
 * same code and configuration (each must pass), then N runs with a deliberate regression (each
 * must fail, naming the metric). Prints the tallies and the time of one gate run.
 *
 *   node harness/bench/gate-noise.ts [--n 10] [--profile quick]
 *     [--scenarios hot-key,write-race] [--strategies cache-aside,lock]
 *     [--regression lock=cache-aside]   # the lock label now runs plain cache-aside
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10' },
    profile: { type: 'string', default: 'quick' },
    scenarios: { type: 'string', default: 'hot-key,write-race' },
    strategies: { type: 'string', default: 'cache-aside,lock' },
    regression: { type: 'string', default: 'lock=cache-aside' },
  },
});
const n = Number(values.n);
const cli = path.resolve(import.meta.dirname, '../cli.ts');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-gate-noise-'));

function run(out: string, strategies: string): number {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      cli,
      'run',
      '--scenarios',
      values.scenarios!,
      '--strategies',
      strategies,
      '--profile',
      values.profile!,
      '--out',
      out,
      '--no-reports',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0)
    throw new Error(`run failed (${r.status}): ${r.stderr.split('\n').slice(-5).join('\n')}`);
  return (performance.now() - t0) / 1000;
}

function compare(base: string, cur: string): { code: number | null; regressions: string[] } {
  const r = spawnSync(process.execPath, [cli, 'compare', base, cur], { encoding: 'utf8' });
  const md = fs.existsSync(path.join(cur, 'gate.md'))
    ? fs.readFileSync(path.join(cur, 'gate.md'), 'utf8')
    : '';
  const summary = md.split('<details>')[0] ?? '';
  const regressions = summary
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| scenario'))
    .map((l) =>
      l
        .split('|')
        .map((x) => x.trim())
        .slice(1, 4)
        .join(' / '),
    );
  return { code: r.status, regressions };
}

const base = path.join(work, 'baseline');
const runSeconds = run(base, values.strategies!);
console.log(
  `baseline run: ${runSeconds.toFixed(1)} s (${values.scenarios} × ${values.strategies}, ${values.profile})`,
);

let falseAlarms = 0;
for (let i = 1; i <= n; i++) {
  const dir = path.join(work, `same-${i}`);
  const secs = run(dir, values.strategies!);
  const v = compare(base, dir);
  if (v.code !== 0) falseAlarms++;
  console.log(
    `same-vs-same ${i}/${n}: exit ${v.code} (${secs.toFixed(1)} s)${v.regressions.length ? ` — ${v.regressions.join('; ')}` : ''}`,
  );
}

const regressed = values
  .strategies!.split(',')
  .map((s) => (s === values.regression!.split('=')[0] ? values.regression! : s))
  .join(',');
let caught = 0;
const metrics = new Map<string, number>();
for (let i = 1; i <= n; i++) {
  const dir = path.join(work, `regressed-${i}`);
  run(dir, regressed);
  const v = compare(base, dir);
  if (v.code === 1) caught++;
  for (const r of v.regressions) metrics.set(r, (metrics.get(r) ?? 0) + 1);
  console.log(
    `regression ${i}/${n}: exit ${v.code}${v.regressions.length ? ` — ${v.regressions.join('; ')}` : ''}`,
  );
}

console.log('');
console.log(`same vs same: ${n - falseAlarms}/${n} passed (${falseAlarms} false alarms)`);
console.log(`deliberate regression (${values.regression}): caught ${caught}/${n}`);
for (const [m, c] of metrics) console.log(`  ${c}× ${m}`);
console.log(`one gate run (${values.profile}): ${runSeconds.toFixed(1)} s`);
fs.rmSync(work, { recursive: true, force: true });
