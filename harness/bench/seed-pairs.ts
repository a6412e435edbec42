/**
 * Do the default comparison's claims hold run to run? Runs it N times in seed pairs (seeds 1/2,
 * 3/4, …), analyses each run with the current verdict rules, and prints every "best" claim and
 * every pair of claims that contradict each other: a strategy named among the best on a metric in
 * one run and significantly worse than the best on that metric in the other. Goal: 0.
 *
 *   node harness/bench/seed-pairs.ts [--pairs 5] [--profile quick] [--out DIR] [--repeats 1]
 *
 * Runs go to DIR/seed-<n> (default: a temp dir, removed at the end). A seed whose directory
 * already holds a finished results.json is analysed, not run again, so the verdict rules can be
 * re-checked on the same runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { analyzeRun } from '../analysis/index.ts';
import type { Claim } from '../analysis/verdict.ts';
import { readResults } from '../pipeline/results-store.ts';
import { runCachebench } from './cachebench-run.ts';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '5' },
    profile: { type: 'string', default: 'quick' },
    repeats: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1) {
  console.error(`--pairs: "${values.pairs}" is not a positive integer`);
  process.exit(2);
}
const keep = values.out !== undefined;
const work = values.out ? path.resolve(values.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'cb-seed-pairs-'));
fs.mkdirSync(work, { recursive: true });

interface Run {
  seed: number;
  seconds: number | null;
  claims: Map<string, Claim>;
}

function finished(dir: string): boolean {
  try {
    return !!readResults(dir).results.run.finishedAt;
  } catch {
    return false;
  }
}

function runSeed(seed: number): Run {
  const dir = path.join(work, `seed-${seed}`);
  let seconds: number | null = null;
  if (!finished(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    const r = runCachebench([
      ...['--default', '--profile', values.profile!, '--repeats', values.repeats!],
      ...['--seed', String(seed), '--out', dir],
    ]);
    seconds = r.seconds;
    if (r.status !== 0 && !finished(dir))
      throw new Error(`seed ${seed}: run failed (${r.status}): ${r.stderr.split('\n').slice(-4).join(' ')}`);
  }
  const analysis = analyzeRun(readResults(dir).results);
  const claims = new Map<string, Claim>();
  for (const s of analysis.scenarios)
    for (const c of s.claims ?? []) claims.set(`${s.scenario} / ${c.metric}`, c);
  return { seed, seconds, claims };
}

const describe = (c: Claim) =>
  c.kind === 'best'
    ? `best: ${c.strategies.join(', ')} (worse: ${c.than.join(', ')})`
    : `no difference among ${c.strategies.join(', ')}`;

let totalClaims = 0;
let contradictions = 0;
let repeated = 0;
const times: number[] = [];
for (let p = 0; p < pairs; p++) {
  const a = runSeed(2 * p + 1);
  const b = runSeed(2 * p + 2);
  for (const r of [a, b]) if (r.seconds !== null) times.push(r.seconds);
  console.log(`pair ${p + 1}: seeds ${a.seed} and ${b.seed}`);
  const keys = new Set([...a.claims.keys(), ...b.claims.keys()]);
  for (const key of [...keys].sort()) {
    const ca = a.claims.get(key);
    const cb = b.claims.get(key);
    for (const c of [ca, cb]) if (c?.kind === 'best') totalClaims++;
    let verdict = '';
    if (ca?.kind === 'best' && cb?.kind === 'best') {
      const clash = ca.strategies.filter((s) => cb.than.includes(s));
      const clash2 = cb.strategies.filter((s) => ca.than.includes(s));
      if (clash.length || clash2.length) {
        contradictions++;
        verdict = `CONTRADICTION (${[...clash, ...clash2].join(', ')} best in one run, significantly worse in the other)`;
      } else {
        repeated++;
        verdict = 'consistent';
      }
    } else if (ca?.kind === 'best' || cb?.kind === 'best') verdict = 'claimed in one run only';
    else verdict = 'no claim in either run';
    console.log(`  ${key}: ${verdict}`);
    console.log(`    seed ${a.seed}: ${ca ? describe(ca) : '–'}`);
    console.log(`    seed ${b.seed}: ${cb ? describe(cb) : '–'}`);
  }
}
console.log('');
console.log(
  `${pairs} pair(s), ${values.profile}, ${values.repeats} repeat(s): ${totalClaims} "best" claims made, ${repeated} made and consistent in both runs of a pair, ${contradictions} contradiction(s) (goal 0)`,
);
if (times.length)
  console.log(
    `default comparison wall time: ${times.map((t) => `${t.toFixed(0)} s`).join(', ')} (max ${Math.max(...times).toFixed(0)} s)`,
  );
else console.log('default comparison wall time: not measured (every run was reused)');
if (!keep) fs.rmSync(work, { recursive: true, force: true });
