/**
 * How far the built-in driver's numbers can be trusted, measured on this machine:
 *   1. rate accuracy: R req/s for S s against the real target (cache-aside, read-user) → achieved
 *      rate, dropped, scheduling lag;
 *   2. coordinated omission: the real target under no-cache with PostgreSQL blackholed for 2 s
 *      through Toxiproxy (the fault executor) → the open-model p99/max beside what a closed loop
 *      with the same connections (latency from the actual send) reports for the same setting;
 *   3. memory: ~1,000,000 operations against a trivial server → the driver's peak RSS.
 *
 *   node harness/bench/driver-accuracy.ts [--rate 2000] [--seconds 30] [--only accuracy,co,memory]
 *        [--memory-rate 10000] [--memory-seconds 100] [--trivial]   (--trivial: no real target)
 *
 * The machine is shared: every part prints the load average before and after, because a busy
 * machine delays the driver's thread and that shows up as scheduling lag, not as a driver bug.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { runBuiltinLoad } from '../driver/builtin.ts';
import { createHistogram, recordMs, summarize } from '../driver/histogram.ts';
import { runFaultTimeline } from '../faults.ts';
import type { InfraHandle } from '../infra/types.ts';
import type { LatencySummary } from '../results/schema.ts';
import { readUserScenario, startTrivialServer, warmTrivialServer } from './trivial-server.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '30' },
    only: { type: 'string', default: 'accuracy,co,memory' },
    'memory-rate': { type: 'string', default: '10000' },
    'memory-seconds': { type: 'string', default: '100' },
    trivial: { type: 'boolean', default: false },
    'max-in-flight': { type: 'string', default: '512' },
  },
});
const parts = new Set(String(args.only).split(','));
const now = () => performance.timeOrigin + performance.now();
const dir = mkdtempSync(join(tmpdir(), 'cb-driver-bench-'));
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
const ms = (s: LatencySummary) =>
  `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms (n=${s.count})`;

interface RealTarget {
  infra: InfraHandle;
  start(strategy: string): Promise<{ url: string; stop(): Promise<void> }>;
}

async function startRealStack(): Promise<RealTarget | undefined> {
  try {
    const { startLocalInfra } = await import('../infra/local.ts');
    const { seedDatabase } = await import('../../target/db.ts');
    const { startTargets } = await import('../../target/instance.ts');
    const infra = await startLocalInfra();
    await seedDatabase(infra.postgresUrl, { users: 10_000, teams: 100, counters: 10 });
    return {
      infra,
      async start(strategy: string) {
        const t = await startTargets({
          instances: 1,
          strategy,
          strategyOptions: strategy === 'no-cache' ? {} : { ttlMs: 60_000 },
          redisUrl: infra.redisProxyUrl,
          postgresUrl: infra.postgresProxyUrl,
          forwardLogs: false,
        });
        return { url: t.urls[0] as string, stop: () => t.stop() };
      },
    };
  } catch (err) {
    console.log(
      `real target unavailable (${(err as Error).message}); falling back to a node:http JSON server`,
    );
    return undefined;
  }
}

/**
 * The closed-loop contrast: `connections` virtual users, each paced at rate/connections, that send
 * the next request only after the previous one returned, timing from the actual send — what most
 * load tools report. A stall then holds each user on one request, so only `connections` requests
 * ever see it and the arrivals the stall should have delayed are never made.
 */
async function closedLoop(
  url: string,
  rate: number,
  durationMs: number,
  connections: number,
  startAt: number,
) {
  const pool = new Pool(url, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const hist = createHistogram();
  const interval = (1000 * connections) / rate;
  let sent = 0;
  let errors = 0;
  const end = startAt + durationMs;
  const vu = async (i: number) => {
    let next = startAt + (i * interval) / connections;
    while (next < end) {
      const wait = next - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = now();
      sent++;
      try {
        const res = await pool.request({ path: `/users/${1 + ((sent * 7919) % 10_000)}`, method: 'GET' });
        await res.body.text();
        if (res.statusCode >= 400) errors++;
      } catch {
        errors++;
      }
      recordMs(hist, now() - t);
      next = Math.max(next + interval, now());
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => vu(i)));
  await pool.destroy();
  return { sent, errors, latency: summarize(hist) };
}

async function main() {
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  console.log(`driver-accuracy: node ${process.version}, load average ${load()}`);
  const real = args.trivial ? undefined : await startRealStack();
  const trivial = await startTrivialServer();
  try {
    // A cell's target is warm when its load starts; so is this server (its JIT otherwise stalls
    // second 0, and the driver's pool grows to its cap meeting that stall).
    await warmTrivialServer(trivial.url);
    if (parts.has('accuracy')) {
      const t = real ? await real.start('cache-aside') : undefined;
      const url = t?.url ?? trivial.url;
      const label = t ? 'real target (cache-aside, read-user)' : 'node:http JSON server';
      // Prime the cache so the run measures the driver against the hit path, not the warm-up.
      await runBuiltinLoad({
        scenario: readUserScenario('prime', 2000, 6000, 512, 10_000),
        targets: [url],
        seed: 99,
        historyPath: join(dir, 'prime.ndjson'),
      });
      console.log(
        `\n[1] rate accuracy: ${rate} req/s for ${seconds} s against ${label}, in-flight cap ${args['max-in-flight']}; load average ${load()}`,
      );
      const r = await runBuiltinLoad({
        scenario: readUserScenario('accuracy', rate, seconds * 1000, Number(args['max-in-flight']), 10_000),
        targets: [url],
        seed: 1,
        historyPath: join(dir, 'accuracy.ndjson'),
        startAt: now() + 1500,
      });
      const l = r.load;
      const dev = ((l.achievedRate - l.requestedRate) / l.requestedRate) * 100;
      console.log(
        `    requested ${l.requestedRate} req/s, achieved ${l.achievedRate} req/s (${dev >= 0 ? '+' : ''}${dev.toFixed(3)}%), ` +
          `sent ${l.sent}/${l.scheduled}, dropped ${l.dropped}, errors ${l.errors}, start late ${r.startLateMs} ms`,
      );
      console.log(`    scheduling lag: ${ms(l.schedulingLag)}`);
      console.log(`    latency (from scheduled time): ${ms(l.overall.latency)}`);
      const worst = r.series.p99
        .map((p99, i) => ({ i, p99, dropped: r.series.dropped[i] ?? 0 }))
        .sort((x, y) => y.p99 - x.p99)
        .slice(0, 3)
        .map((w) => `s${w.i}: p99 ${w.p99.toFixed(1)} ms, dropped ${w.dropped}`);
      console.log(`    worst seconds: ${worst.join('; ')}`);
      console.log(
        `    driver CPU ${(l.driverCpu * 100).toFixed(1)}% of a core, peak RSS ${l.driverPeakRssMB} MB; load average ${load()}`,
      );
      await t?.stop();
    }

    if (parts.has('co')) {
      const coRate = 500;
      const coMs = 10_000;
      const stall = { at: 4000, for: 2000 };
      const connections = 32;
      const t = real ? await real.start('no-cache') : undefined;
      const label = t
        ? 'real target (no-cache) with PostgreSQL blackholed through Toxiproxy'
        : 'server stalled';
      console.log(
        `\n[2] coordinated omission: ${coRate} req/s for ${coMs / 1000} s, ${stall.for / 1000} s stall at ${stall.at / 1000} s, ` +
          `${connections} connections; ${label}; load average ${load()}`,
      );
      const stallFault = {
        ...stall,
        proxy: 'postgres' as const,
        toxic: { type: 'timeout' as const, attributes: { timeout: 0 } },
      };
      const runStall = async (startAt: number) => {
        if (real) {
          return runFaultTimeline({
            toxiproxyUrl: real.infra.toxiproxyUrl,
            faults: [stallFault],
            loadStartedAt: startAt,
          });
        }
        return [];
      };
      if (!t) {
        // Without the real stack, stall the trivial server's process for 2 s instead.
        console.log('    (fallback: SIGSTOP/SIGCONT of the JSON server process)');
      }
      const stopFor = async (startAt: number) => {
        if (t) return runStall(startAt);
        await new Promise((r) => setTimeout(r, startAt + stall.at - now()));
        trivial.child.kill('SIGSTOP');
        await new Promise((r) => setTimeout(r, stall.for));
        trivial.child.kill('SIGCONT');
        return [];
      };
      const url = t?.url ?? trivial.url;

      let startAt = now() + 1500;
      const [open, faultsOpen] = await Promise.all([
        runBuiltinLoad({
          scenario: readUserScenario('co-open', coRate, coMs, 20_000, 10_000),
          targets: [url],
          seed: 3,
          historyPath: join(dir, 'co-open.ndjson'),
          startAt,
          maxConnectionsPerTarget: connections,
        }),
        stopFor(startAt),
      ]);
      const f = faultsOpen[0];
      if (f) {
        console.log(
          `    fault applied at +${((f.appliedAt ?? 0) - startAt).toFixed(1)} ms, removed at +${((f.removedAt ?? 0) - startAt).toFixed(1)} ms (planned ${stall.at}/${stall.at + stall.for})`,
        );
      }
      console.log(
        `    open model  : ${ms(open.load.overall.latency)}; sent ${open.load.sent}, errors ${open.load.errors}, dropped ${open.load.dropped}`,
      );
      await new Promise((r) => setTimeout(r, 2000));
      startAt = now() + 500;
      const [closed] = await Promise.all([
        closedLoop(url, coRate, coMs, connections, startAt),
        stopFor(startAt),
      ]);
      console.log(
        `    closed loop : ${ms(closed.latency)}; sent ${closed.sent} of ${(coRate * coMs) / 1000} planned, errors ${closed.errors}`,
      );
      console.log(
        `    → the closed loop under-reports p99 by ${(open.load.overall.latency.p99 / Math.max(0.001, closed.latency.p99)).toFixed(1)}×` +
          ` and never sends ${(coRate * coMs) / 1000 - closed.sent} of the planned requests; load average ${load()}`,
      );
      await t?.stop();
    }

    if (parts.has('memory')) {
      const mRate = Number(args['memory-rate']);
      const mSec = Number(args['memory-seconds']);
      console.log(
        `\n[3] memory: ${mRate} req/s for ${mSec} s (${(mRate * mSec).toLocaleString('en')} planned operations) against the node:http JSON server; load average ${load()}`,
      );
      const r = await runBuiltinLoad({
        scenario: readUserScenario('memory', mRate, mSec * 1000, 4096, 100_000),
        targets: [trivial.url],
        seed: 5,
        historyPath: join(dir, 'memory.ndjson'),
        onProgress: (p) => {
          if (p.elapsedMs % 10_000 < 1000) {
            console.log(
              `    t=${Math.round(p.elapsedMs / 1000)} s sent ${p.sent} dropped ${p.dropped} driver rss ${p.rssMB} MB`,
            );
          }
        },
      });
      const l = r.load;
      console.log(
        `    operations completed ${l.completed.toLocaleString('en')} (sent ${l.sent}, dropped ${l.dropped}, errors ${l.errors}), achieved ${l.achievedRate} req/s`,
      );
      console.log(
        `    driver peak RSS ${l.driverPeakRssMB} MB (the driver process, VmHWM read from /proc); driver CPU ${(l.driverCpu * 100).toFixed(1)}% of a core`,
      );
      console.log(`    scheduling lag: ${ms(l.schedulingLag)}; load average ${load()}`);
      if (l.errors > 0)
        console.log(`    errors by kind: ${await errorKinds(join(dir, 'memory.ndjson'), r.loadStartedAt)}`);
    }
  } finally {
    trivial.child.kill('SIGCONT');
    trivial.child.kill('SIGTERM');
    await real?.infra.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the failed requests of a history were: status or error text, count, first and last second. */
async function errorKinds(historyPath: string, t0: number): Promise<string> {
  const kinds = new Map<string, { n: number; first: number; last: number }>();
  for await (const line of createInterface({ input: createReadStream(historyPath) })) {
    if (line.includes('"status":200')) continue;
    const r = JSON.parse(line) as { status: number; error?: string; scheduled: number };
    if (r.status >= 200 && r.status < 400) continue;
    const key = r.error ? `${r.status} ${r.error}` : `status ${r.status}`;
    const s = Math.floor((r.scheduled - t0) / 1000);
    const k = kinds.get(key) ?? { n: 0, first: s, last: s };
    k.n++;
    k.last = s;
    kinds.set(key, k);
  }
  return [...kinds].map(([key, k]) => `${key} ×${k.n} (seconds ${k.first}–${k.last})`).join('; ');
}

main().catch((err: unknown) => {
  console.error(`driver-accuracy: ${(err as Error).message}`);
  process.exitCode = 1;
});
