/**
 * Does the gate tell noise from a regression? For each case: one baseline run, N candidate runs
 * of the same code and configuration (each must pass: false alarms), then N runs with a
 * deliberate regression under the same label (each must fail: caught). Prints the tallies, which
 * rows fired, and the time of one run.
 *
 *   node harness/bench/gate-noise.ts [--n 10] [--profile quick] [--cases invalidation,stampede,latency]
 *
 * Cases (modules in test/fixtures/):
 * - invalidation: write-race, cache-aside vs a cache-aside that never deletes on write.
 * - stampede:     hot-key, lock vs plain cache-aside labelled `lock` that reports nothing about
 *                 itself (no hits, misses or rebuilds): caught from what the harness measures.
 * - latency:      steady-read, 3 repeats, cache-aside vs a cache-aside whose reads take 3× as long
 *                 (p99 triples, not only p50).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cli, root, runCachebench } from './cachebench-run.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10' },
    profile: { type: 'string', default: 'quick' },
    cases: { type: 'string', default: 'invalidation,stampede,latency' },
    keep: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const fixture = (f: string) => path.join(root, 'test/fixtures', f);

interface Case {
  scenario: string;
  label: string;
  repeats: number;
  regression: string;
}
const CASES: Record<string, Case> = {
  invalidation: {
    scenario: 'write-race',
    label: 'cache-aside',
    repeats: 1,
    regression: fixture('never-invalidates.ts'),
  },
  stampede: { scenario: 'hot-key', label: 'lock', repeats: 1, regression: fixture('silent-cache-aside.ts') },
  latency: {
    scenario: 'steady-read',
    label: 'cache-aside',
    repeats: 3,
    regression: fixture('triple-latency-cache-aside.ts'),
  },
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-gate-noise-'));

function run(out: string, c: Case, strategy: string): number | null {
  const r = runCachebench([
    ...['--scenarios', c.scenario, '--strategies', strategy, '--profile', values.profile!],
    ...['--repeats', String(c.repeats), '--out', out, '--no-fail-on-budgets'],
  ]);
  // 1 with a finished results.json = an untrusted cell (a loaded machine): still compared, and
  // the gate warns about it; anything else did not produce a run to compare.
  if (r.status === 1 && fs.existsSync(path.join(out, 'results.json'))) {
    untrustedRuns++;
    console.log(
      `  run ${path.basename(out)}: untrusted cell(s) (${r.stderr.trim().split('\n').slice(-1)[0]})`,
    );
  } else if (r.status !== 0) {
    console.log(
      `  run ${path.basename(out)} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
    return null;
  }
  return r.seconds;
}

function compare(
  base: string,
  cur: string,
): { code: number | null; regressions: string[]; unjudged: boolean } {
  const r = spawnSync(process.execPath, [cli, 'compare', base, cur], { encoding: 'utf8', cwd: root });
  const md = fs.existsSync(path.join(cur, 'gate.md'))
    ? fs.readFileSync(path.join(cur, 'gate.md'), 'utf8')
    : '';
  const summary = md.split('<details>')[0] ?? '';
  const regressions = summary
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| scenario'))
    .map((l) => {
      const cols = l.split('|').map((x) => x.trim());
      return `${cols[3]}: ${cols[4]} → ${cols[5]}`;
    });
  // "cannot judge" (untrusted repeats, latency on a busy machine) is not a claim of regression.
  return { code: r.status, regressions, unjudged: /cannot judge/.test(summary) };
}

const lines: string[] = [];
let untrustedRuns = 0;
for (const name of values.cases!.split(',')) {
  const c = CASES[name];
  if (!c) {
    console.error(`--cases: "${name}" is not a case (allowed: ${Object.keys(CASES).join(', ')})`);
    process.exit(2);
  }
  const dir = path.join(work, name);
  const base = path.join(dir, 'baseline');
  const secs = run(base, c, c.label);
  if (secs === null) {
    lines.push(`${name}: the baseline run failed; case not measured`);
    continue;
  }
  console.log(
    `[${name}] baseline: ${c.scenario} × ${c.label}, ${c.repeats} repeat(s), ${values.profile}: ${secs.toFixed(1)} s`,
  );
  let falseAlarms = 0;
  let untrustedAlarms = 0;
  let cannotJudge = 0;
  let unusable = 0;
  const alarms = new Map<string, number>();
  for (let i = 1; i <= n; i++) {
    const out = path.join(dir, `same-${i}`);
    const untrustedBefore = untrustedRuns;
    const s = run(out, c, c.label);
    if (s === null) {
      unusable++;
      continue;
    }
    const v = compare(base, out);
    // An alarm on a run whose cells the validity checks rejected is the machine, not the code:
    // tallied apart, so "false alarms" counts only what a trusted run would have failed on.
    const trusted = untrustedRuns === untrustedBefore;
    const alarm = v.regressions.length > 0;
    if (alarm && trusted) falseAlarms++;
    if (alarm && !trusted) untrustedAlarms++;
    if (!alarm && v.code !== 0) cannotJudge++;
    for (const r of v.regressions) alarms.set(r.split(':')[0]!, (alarms.get(r.split(':')[0]!) ?? 0) + 1);
    console.log(
      `[${name}] same-vs-same ${i}/${n}: exit ${v.code} (${s.toFixed(1)} s)${v.regressions.length ? ` — ${v.regressions.join('; ')}` : ''}`,
    );
  }
  let caught = 0;
  let regressionUnjudged = 0;
  const fired = new Map<string, number>();
  for (let i = 1; i <= n; i++) {
    const out = path.join(dir, `regressed-${i}`);
    if (run(out, c, `${c.label}=${c.regression}`) === null) {
      unusable++;
      continue;
    }
    const v = compare(base, out);
    if (v.code === 1 && v.regressions.length > 0) caught++;
    else if (v.code === 1) regressionUnjudged++;
    for (const r of v.regressions) fired.set(r.split(':')[0]!, (fired.get(r.split(':')[0]!) ?? 0) + 1);
    console.log(
      `[${name}] regression ${i}/${n}: exit ${v.code}${v.regressions.length ? ` — ${v.regressions.join('; ')}` : ''}`,
    );
  }
  const tally = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}×`).join(', ') || 'none';
  lines.push(
    `${name} (${c.scenario}, ${c.label} vs ${path.basename(c.regression)}, ${c.repeats} repeat(s)): same-vs-same ${falseAlarms}/${n} false alarms on trusted runs${untrustedAlarms ? ` (+${untrustedAlarms} on runs with untrusted cells)` : ''}${cannotJudge ? `, ${cannotJudge} "cannot judge"` : ''} (rows: ${tally(alarms)}); regression caught ${caught}/${n}${regressionUnjudged ? ` (+${regressionUnjudged} "cannot judge")` : ''} (rows: ${tally(fired)}); one run ${secs.toFixed(1)} s${unusable ? `; ${unusable} run(s) unusable (failed or untrusted cell)` : ''}`,
  );
}
console.log('');
for (const l of lines) console.log(l);
console.log(`runs with untrusted cells (compared anyway; the gate warns): ${untrustedRuns}`);
if (values.keep) console.log(`runs kept in ${work}`);
else fs.rmSync(work, { recursive: true, force: true });
