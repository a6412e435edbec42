/**
 * runK6Load and findK6 with a stand-in `k6` executable (a shell script): k6 itself is AGPL and
 * never installed here. The stand-in records its arguments, writes NDJSON in k6's format to the
 * `--out json=` path, and exits with the code a test asks for.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { buildK6Options, findK6, K6_ENTRY, runK6Load } from '../harness/driver/k6.ts';
import type { Scenario } from '../scenarios/types.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-k6-driver-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const binDir = path.join(dir, 'bin');
fs.mkdirSync(binDir);
const fakeK6 = path.join(binDir, 'k6');
fs.writeFileSync(
  fakeK6,
  `#!/usr/bin/env bash
out=""
for a in "$@"; do case "$a" in json=*) out="\${a#json=}";; esac; done
printf '%s\\n' "$@" > "$FAKE_K6_ARGS"
finish() { [ -n "$FAKE_K6_NDJSON" ] && cp "$FAKE_K6_NDJSON" "$out"; echo "fake k6: done" >&2; exit "$1"; }
if [ -n "$FAKE_K6_WAIT" ]; then trap 'kill $! 2>/dev/null; finish 105' INT; sleep 30 & wait; fi
echo "fake k6: running" >&2
finish "\${FAKE_K6_EXIT:-0}"
`,
);
fs.chmodSync(fakeK6, 0o755);

const T0 = Date.parse('2026-11-26T16:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');
const ndjson = path.join(dir, 'fixture.ndjson');
fs.writeFileSync(
  ndjson,
  [
    { type: 'Point', metric: 'cachebench_load_start', data: { time: iso(T0), value: T0, tags: null } },
    ...[0, 500, 1000, 1500].map((at, i) => ({
      type: 'Point',
      metric: 'cachebench_req',
      data: {
        time: iso(T0 + at + 5),
        value: 5,
        tags: { op: 'read-user', kind: 'read', instance: String(i % 2), status: '200', ok: 'true' },
        metadata: {
          key: `user:${i + 1}`,
          scheduled: String(T0 + at),
          start: String(T0 + at),
          end: String(T0 + at + 5),
          versions: JSON.stringify({ [`user:${i + 1}`]: 1 }),
        },
      },
    })),
    { type: 'Point', metric: 'dropped_iterations', data: { time: iso(T0 + 1200), value: 1, tags: {} } },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n'),
);

const scenario: Scenario = {
  name: 'fake',
  question: 'q?',
  description: '',
  load: { arrivals: 'constant', maxInFlight: 4, phases: [{ duration: 2000, rate: 2.5 }] },
  keys: { type: 'uniform' },
  mix: { 'read-user': 1 },
  data: { users: 10, teams: 2, counters: 2, reportCostMs: 0, userReadCostMs: 0 },
  cache: {},
  start: 'warm',
  faults: [],
  budgets: { p99: 50, errorRate: 0.01, queriesPerRequest: 1 },
};

const argsFile = path.join(dir, 'args.txt');
beforeEach(() => {
  process.env.FAKE_K6_ARGS = argsFile;
  process.env.FAKE_K6_NDJSON = ndjson;
  delete process.env.FAKE_K6_EXIT;
  delete process.env.FAKE_K6_WAIT;
});

describe('findK6', () => {
  it('prefers K6_BIN, else looks on PATH, else undefined', () => {
    expect(findK6({ PATH: binDir })).toBe(fakeK6);
    expect(findK6({ PATH: '/nonexistent', K6_BIN: fakeK6 })).toBe(fakeK6);
    expect(findK6({ PATH: binDir, K6_BIN: 'k6' })).toBe(fakeK6);
    expect(findK6({ PATH: binDir, K6_BIN: path.join(dir, 'missing-k6') })).toBeUndefined();
    expect(findK6({ PATH: '/nonexistent' })).toBeUndefined();
    expect(findK6({})).toBeUndefined();
  });
});

describe('runK6Load', () => {
  it('runs the entry script with --out json and -e vars; exit 99 is failed thresholds, not a crash', async () => {
    process.env.FAKE_K6_EXIT = '99';
    const work = path.join(dir, 'cell-99');
    const logs: string[] = [];
    const r = await runK6Load({
      scenario,
      targets: ['http://127.0.0.1:1', 'http://127.0.0.1:2'],
      seed: 7,
      historyPath: path.join(work, 'history.ndjson'),
      startAt: T0,
      k6Bin: fakeK6,
      onLog: (l) => logs.push(l),
    });
    expect(r.exitCode).toBe(99);
    expect(r.thresholdsFailed).toBe(true);
    expect(r.aborted).toBe(false);
    expect(r.load).toMatchObject({ sent: 4, dropped: 1, scheduled: 5, errors: 0, requestedRate: 2.5 });
    expect(r.series.requests).toEqual([2, 2]);
    expect(r.unenforcedBudgets).toEqual(['queriesPerRequest']);
    expect(r.loadStartedAt).toBe(T0);
    expect(r.warnings).toEqual([]);
    expect(logs).toContain('fake k6: running');

    const history = fs
      .readFileSync(path.join(work, 'history.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(history.map((h) => h.key)).toEqual(['user:1', 'user:2', 'user:3', 'user:4']);
    expect(history[1]).toMatchObject({ instance: 1, versions: { 'user:2': 1 }, scheduled: T0 + 500 });

    expect(JSON.parse(fs.readFileSync(path.join(work, 'scenario.json'), 'utf8'))).toEqual(scenario);
    expect(JSON.parse(fs.readFileSync(path.join(work, 'k6-options.json'), 'utf8'))).toEqual(
      buildK6Options(scenario).options,
    );
    const args = fs.readFileSync(argsFile, 'utf8').trim().split('\n');
    expect(args.slice(0, 2)).toEqual(['run', '--no-usage-report']);
    expect(args).toContain(`json=${path.join(work, 'k6.ndjson')}`);
    expect(args).toContain('CACHEBENCH_TARGETS=http://127.0.0.1:1,http://127.0.0.1:2');
    expect(args).toContain('CACHEBENCH_SEED=7');
    expect(args).toContain(`CACHEBENCH_K6_SUMMARY=${path.join(work, 'k6-summary.json')}`);
    expect(args).toContain(`CACHEBENCH_START_AT=${T0}`);
    expect(args).toContain(`CACHEBENCH_SCENARIO=${path.join(work, 'scenario.json')}`);
    expect(args.at(-1)).toBe(K6_ENTRY);
    expect(fs.existsSync(K6_ENTRY)).toBe(true);
  });

  it('reports any other exit code as a driver failure naming it, with k6 output', async () => {
    process.env.FAKE_K6_EXIT = '107';
    await expect(
      runK6Load({
        scenario,
        targets: ['http://127.0.0.1:1'],
        seed: 1,
        historyPath: path.join(dir, 'cell-107', 'history.ndjson'),
        k6Bin: fakeK6,
      }),
    ).rejects.toThrow(/k6 exited with code 107 \(script exception\):\n.*fake k6: running/s);
  });

  it('aborts k6 with SIGINT and still returns what it wrote', async () => {
    process.env.FAKE_K6_WAIT = '1';
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 300);
    const r = await runK6Load({
      scenario,
      targets: ['http://127.0.0.1:1'],
      seed: 1,
      historyPath: path.join(dir, 'cell-abort', 'history.ndjson'),
      k6Bin: fakeK6,
      startAt: T0 - 2000,
      signal: ac.signal,
    });
    expect(r.aborted).toBe(true);
    expect(r.exitCode).toBe(105);
    // Planned 2 s before the load start the fixture reports: the lateness is reported.
    expect(r.warnings.join(' ')).toMatch(/started the load 2000 ms after the planned start/);
    expect(r.load.sent).toBe(4);
  });

  it('says how to get k6 when there is none', async () => {
    const saved = { PATH: process.env.PATH, K6_BIN: process.env.K6_BIN };
    process.env.PATH = '/nonexistent';
    delete process.env.K6_BIN;
    try {
      await expect(
        runK6Load({ scenario, targets: ['http://x'], seed: 1, historyPath: path.join(dir, 'h.ndjson') }),
      ).rejects.toThrow(/no k6 binary .* not bundled \(AGPL\)/);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.K6_BIN !== undefined) process.env.K6_BIN = saved.K6_BIN;
    }
  });
});
