/**
 * Reads V8 .cpuprofile files (node --cpu-prof) and says where the time went: top self-time
 * entries, time per area (our code, each library, Node internals, native), and — given two
 * profiles and the requests each process served — the difference in µs per request, entry by
 * entry. hit-path.ts prints it for the floor and the target; as a command it reads any files:
 *
 *   node harness/bench/cpu-profile.ts PROFILE [--top 20]
 *   node harness/bench/cpu-profile.ts --base FLOOR.cpuprofile --base-requests N \
 *                                     --other TARGET.cpuprofile --other-requests M [--top 20]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per entry (function file:line), µs, idle excluded, and the busy total. */
export interface SelfTimes {
  busyUs: number;
  byEntry: Map<string, number>;
  byArea: Map<string, number>;
}

/** Short location: paths relative to the checkout or node_modules, so outputs compare. */
function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|target|harness)\//, '$1/');
}

/**
 * Which part of the process an entry belongs to: a package (node_modules/<name>), one of our
 * directories (target/strategies/parts, …), Node's own JS (node:), or native/VM work (no URL:
 * syscalls behind writeUtf8String, the garbage collector, (program)).
 */
export function areaOf(url: string): string {
  const u = shortUrl(url);
  if (u === '') return '(native / VM)';
  if (u.startsWith('node:')) return 'node: internals';
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
  if (pkg) return pkg[1]!;
  const slash = u.lastIndexOf('/');
  return slash > 0 ? u.slice(0, slash) : u;
}

export function selfTimes(profile: CpuProfile): SelfTimes {
  const frames = new Map(profile.nodes.map((x) => [x.id, x.callFrame]));
  const byEntry = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const f = frames.get(id);
    if (!f || f.functionName === '(idle)') return;
    const us = profile.timeDeltas[i] ?? 0;
    busyUs += us;
    const url = shortUrl(f.url);
    const entry = `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
    byEntry.set(entry, (byEntry.get(entry) ?? 0) + us);
    const area = areaOf(f.url);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  });
  return { busyUs, byEntry, byArea };
}

export function readProfile(file: string): SelfTimes {
  return selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
}

const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
const us = (x: number) => `${x.toFixed(2).padStart(7)} µs`;

function top(m: Map<string, number>, n: number): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
}

/** Lines: the top self-time entries and areas, as shares of busy time (and µs/request if known). */
export function describe(label: string, t: SelfTimes, n: number, requests?: number): string[] {
  const per = (v: number) => (requests ? `  ${us(v / requests)}/req` : '');
  const lines = [
    `${label}: busy ${(t.busyUs / 1e6).toFixed(2)} s` +
      (requests ? ` over ${requests} requests = ${(t.busyUs / requests).toFixed(1)} µs/req (profiled)` : ''),
    '  areas:',
  ];
  for (const [a, v] of top(t.byArea, 12)) lines.push(`    ${pct(v / t.busyUs)}${per(v)}  ${a}`);
  lines.push('  top self time:');
  for (const [e, v] of top(t.byEntry, n)) lines.push(`    ${pct(v / t.busyUs)}${per(v)}  ${e}`);
  return lines;
}

/**
 * Where `other` spends more per request than `base` (target vs floor): µs/request difference per
 * area and per entry, largest first. Entries only one side has count fully on that side.
 */
export function compare(
  base: { label: string; t: SelfTimes; requests: number },
  other: { label: string; t: SelfTimes; requests: number },
  n: number,
): string[] {
  const diff = (pick: (t: SelfTimes) => Map<string, number>) => {
    const d = new Map<string, number>();
    for (const [k, v] of pick(other.t)) d.set(k, v / other.requests);
    for (const [k, v] of pick(base.t)) d.set(k, (d.get(k) ?? 0) - v / base.requests);
    return [...d].sort((a, b) => b[1] - a[1]);
  };
  const total = other.t.busyUs / other.requests - base.t.busyUs / base.requests;
  const lines = [
    `${other.label} − ${base.label}, profiled CPU per request: ${(base.t.busyUs / base.requests).toFixed(1)} → ` +
      `${(other.t.busyUs / other.requests).toFixed(1)} µs (${total >= 0 ? '+' : ''}${total.toFixed(1)} µs)`,
    '  by area (µs/req more in the second; negative = less):',
  ];
  for (const [a, v] of diff((t) => t.byArea).filter(([, v]) => Math.abs(v) >= 0.05))
    lines.push(`    ${us(v)}  ${a}`);
  lines.push(`  top ${n} entries by extra µs/req:`);
  for (const [e, v] of diff((t) => t.byEntry).slice(0, n)) lines.push(`    ${us(v)}  ${e}`);
  return lines;
}

// --- as a command ---------------------------------------------------------------------------
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = (v: string) => {
    if (!/^[1-9][0-9]*$/.test(v))
      throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const program = new Command('cpu-profile')
    .argument('[profile]', 'one .cpuprofile to describe')
    .option('--top <n>', 'entries to print', count, 20)
    .option('--base <file>', 'baseline .cpuprofile (e.g. the floor)')
    .option('--base-requests <n>', 'requests the baseline process served', count)
    .option('--other <file>', '.cpuprofile compared with the baseline (e.g. the target)')
    .option('--other-requests <n>', 'requests the compared process served', count)
    .exitOverride();
  try {
    program.parse(process.argv);
  } catch (err) {
    process.exit((err as { exitCode?: number }).exitCode === 0 ? 0 : 2);
  }
  const o = program.opts<{
    top: number;
    base?: string;
    baseRequests?: number;
    other?: string;
    otherRequests?: number;
  }>();
  const one = program.args[0];
  try {
    if (one) {
      for (const l of describe(one, readProfile(one), o.top)) console.log(l);
    } else if (o.base && o.other && o.baseRequests && o.otherRequests) {
      const base = { label: o.base, t: readProfile(o.base), requests: o.baseRequests };
      const other = { label: o.other, t: readProfile(o.other), requests: o.otherRequests };
      for (const l of [
        ...describe('base', base.t, o.top, base.requests),
        ...describe('other', other.t, o.top, other.requests),
        ...compare(base, other, o.top),
      ])
        console.log(l);
    } else {
      console.error(
        'cpu-profile: give one PROFILE, or --base, --base-requests, --other and --other-requests together',
      );
      process.exit(2);
    }
  } catch (err) {
    console.error(`cpu-profile: ${(err as Error).message}`);
    process.exit(2);
  }
}
