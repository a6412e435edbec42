import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyProfile,
  CATALOG_DIR,
  listScenarios,
  loadScenario,
  parseScenarioYaml,
} from '../scenarios/load.ts';
import { parseDuration, ScenarioError } from '../scenarios/schema.ts';
import { PROFILES, type Scenario } from '../scenarios/types.ts';
import { totalDurationMs } from '../scenarios/workload.ts';
import { MINIMAL } from './helpers/scenario.ts';

function errorOf(fn: () => unknown): ScenarioError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error('expected a ScenarioError');
}

/** Replaces one line of MINIMAL-like YAML and returns the error message. */
function messageFor(yaml: string): string {
  const e = errorOf(() => parseScenarioYaml(yaml, 'scenarios/x.yaml', 'x'));
  expect(e.code).toMatch(/^SCENARIO_/);
  expect(e.message).not.toContain('\n');
  return e.message;
}

describe('scenario schema', () => {
  it('parses a minimal file and fills defaults', () => {
    const s = parseScenarioYaml(MINIMAL, 'x.yaml', 'minimal');
    expect(s.name).toBe('minimal');
    expect(s.load).toEqual({
      phases: [{ duration: 30_000, rate: 100 }],
      arrivals: 'constant',
      maxInFlight: 256,
    });
    expect(s.start).toBe('warm');
    expect(s.faults).toEqual([]);
    expect(s.data.users).toBeGreaterThan(0);
  });

  it('parses durations in every form', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('fast')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
  });

  it('turns faults and inline toxic attributes into FaultSpec', () => {
    const s = parseScenarioYaml(
      `${MINIMAL}
faults:
  - { at: 5s, for: 2s, proxy: redis, down: true }
  - { at: 1s, for: 500ms, proxy: postgres, toxic: { type: latency, latency: 200ms, jitter: 20, stream: upstream } }
  - { at: 0, for: 1s, proxy: redis, toxic: { type: timeout, timeout: 0 } }
cache: { ttlMs: 3s, jitterRatio: 0.2, note: x }
`,
      'x.yaml',
      'x',
    );
    expect(s.faults).toEqual([
      { at: 5000, for: 2000, proxy: 'redis', down: true },
      {
        at: 1000,
        for: 500,
        proxy: 'postgres',
        toxic: { type: 'latency', attributes: { latency: 200, jitter: 20 }, stream: 'upstream' },
      },
      { at: 0, for: 1000, proxy: 'redis', toxic: { type: 'timeout', attributes: { timeout: 0 } } },
    ]);
    expect(s.cache).toEqual({ ttlMs: 3000, jitterRatio: 0.2, note: 'x' });
  });

  it('names the field path, the value and what is allowed', () => {
    expect(messageFor(MINIMAL.replace('rate: 100', 'rate: fast'))).toBe(
      'scenarios/x.yaml: load.phases[0].rate: expected a number from 0 to 50000 requests/s, got "fast"',
    );
    expect(messageFor(MINIMAL.replace('duration: 30s', 'duration: soon'))).toBe(
      'scenarios/x.yaml: load.phases[0].duration: expected a positive duration like "30s", "500ms", "2m" or a number of milliseconds up to 3600000 ms, got "soon"',
    );
    expect(messageFor(MINIMAL.replace('{ type: uniform }', '{ type: gaussian }'))).toBe(
      'scenarios/x.yaml: keys.type: expected type uniform, zipf or hot-set, got "gaussian"',
    );
    expect(messageFor(MINIMAL.replace('{ type: uniform }', '{ type: zipf, exponent: -1 }'))).toBe(
      'scenarios/x.yaml: keys.exponent: expected a positive number, got -1',
    );
    expect(messageFor(MINIMAL.replace('{ type: uniform }', '{ type: zipf }'))).toBe(
      'scenarios/x.yaml: keys.exponent: expected a positive number, got nothing (the field is required)',
    );
    expect(messageFor(MINIMAL.replace('read-user: 1', 'read-users: 1'))).toMatch(
      /^scenarios\/x\.yaml: mix(\.read-users)?: .*read-user, update-user/,
    );
    expect(messageFor(`${MINIMAL}start: lukewarm\n`)).toBe(
      'scenarios/x.yaml: start: expected one of warm, cold, got "lukewarm"',
    );
  });

  it('rejects unknown fields, listing the allowed ones', () => {
    const m = messageFor(MINIMAL.replace('phases:', 'phaze: 1\n  phases:'));
    expect(m).toBe('scenarios/x.yaml: load.phaze: unknown field; allowed: phases, arrivals, maxInFlight');
    expect(messageFor(`${MINIMAL}colour: blue\n`)).toMatch(
      /^scenarios\/x\.yaml: colour: unknown field; allowed: name,/,
    );
  });

  it('validates faults: one of down/toxic, toxic type and attributes, offset inside the load', () => {
    expect(messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, proxy: redis }\n`)).toMatch(
      /^scenarios\/x\.yaml: faults\[0\]: expected exactly one of `down: true` or `toxic/,
    );
    expect(
      messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, proxy: redis, toxic: { type: explode } }\n`),
    ).toBe(
      'scenarios/x.yaml: faults[0].toxic.type: expected a toxic type: one of latency, timeout, reset_peer, bandwidth, slow_close, slicer, limit_data, got "explode"',
    );
    expect(
      messageFor(
        `${MINIMAL}faults:\n  - { at: 1s, for: 1s, proxy: redis, toxic: { type: latency, rate: 5 } }\n`,
      ),
    ).toBe(
      'scenarios/x.yaml: faults[0].toxic.rate: unknown field; allowed: type, stream, toxicity, latency, jitter (and 1 more)',
    );
    expect(messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, proxy: mysql, down: true }\n`)).toBe(
      'scenarios/x.yaml: faults[0].proxy: expected one of redis, postgres, got "mysql"',
    );
    expect(messageFor(`${MINIMAL}faults:\n  - { at: 40s, for: 1s, proxy: redis, down: true }\n`)).toBe(
      'scenarios/x.yaml: faults[0].at: expected an offset inside the load (0 to 30000 ms), got 40000',
    );
  });

  it('process faults: a name from the list, and no proxy, down or toxic beside it', () => {
    const s = parseScenarioYaml(
      `${MINIMAL}faults:\n  - { at: 1s, for: 2s, process: redis-restart }\n  - { at: 5s, for: 1s, process: postgres-restart }\n`,
      'scenarios/x.yaml',
      'x',
    );
    expect(s.faults).toEqual([
      { at: 1000, for: 2000, process: 'redis-restart' },
      { at: 5000, for: 1000, process: 'postgres-restart' },
    ]);
    expect(messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, process: redis-reboot }\n`)).toBe(
      'scenarios/x.yaml: faults[0].process: expected one of redis-restart, redis-restart-persisted, redis-flushall, postgres-restart, sentinel-failover, replica-partition, cluster-failover, cluster-replica-partition, slot-migration, got "redis-reboot"',
    );
    expect(
      messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, process: redis-flushall, proxy: redis }\n`),
    ).toMatch(/^scenarios\/x\.yaml: faults\[0\]\.process: a process fault takes no `proxy`/);
    expect(messageFor(`${MINIMAL}faults:\n  - { at: 1s, for: 1s, down: true }\n`)).toMatch(
      /^scenarios\/x\.yaml: faults\[0\]\.proxy: expected one of redis, postgres \(or `process: redis-restart\|/,
    );
  });

  it('reports YAML syntax errors with a line number', () => {
    const e = errorOf(() => parseScenarioYaml('question: [unclosed\n', 'scenarios/y.yaml'));
    expect(e.code).toBe('SCENARIO_YAML');
    expect(e.message).toMatch(/^scenarios\/y\.yaml: line \d+, column \d+: /);
  });

  it('reports the number of further problems', () => {
    const e = errorOf(() =>
      parseScenarioYaml(MINIMAL.replace('rate: 100', 'rate: fast').replace('uniform', 'nope'), 'x.yaml', 'x'),
    );
    expect(e.issues.length).toBe(2);
    expect(e.message).toMatch(/\(and 1 more\)$/);
  });
});

describe('loading and the catalog', () => {
  const expected = [
    'cluster-correctness',
    'cluster-failover',
    'cluster-failover-write-race',
    'cluster-slot-migration',
    'cold-start',
    'coordination-eviction',
    'coordination-eviction-separate',
    'coordination-eviction-volatile',
    'counter-outage',
    'counter-restart',
    'db-slow',
    'delete-race',
    'deploy-restart',
    'endpoint-ttls',
    'failover-db-cost',
    'failover-write-race',
    'hot-key',
    'leaderboard',
    'leaderboard-zset',
    'mass-expiry',
    'memory-pressure',
    'memory-pressure-allkeys-lfu',
    'memory-pressure-noeviction',
    'memory-pressure-volatile-lfu',
    'memory-pressure-volatile-lru',
    'memory-pressure-volatile-ttl',
    'redis-blackhole',
    'redis-latency',
    'redis-outage',
    'steady-read',
    'write-race',
  ];

  it('lists exactly the catalog', () => {
    expect(listScenarios()).toEqual(expected);
  });

  it('every catalog scenario validates, opens with its question and comments budgets as budgets', () => {
    for (const name of expected) {
      const s = loadScenario(name);
      expect(s.name).toBe(name);
      const text = readFileSync(join(CATALOG_DIR, `${name}.yaml`), 'utf8');
      // Line 1 names the JSON Schema for editors (test/json-schema.test.ts); the question follows.
      expect(text.replace(/^# yaml-language-server: .*\n/, '').startsWith('question: ')).toBe(true);
      expect(s.question.endsWith('?')).toBe(true);
      for (const key of Object.keys(s.budgets)) {
        const line = text.split('\n').findIndex((l) => l.trim().startsWith(`${key}:`));
        expect(text.split('\n')[line - 1]?.trim().startsWith('# Budget:'), `${name} budget ${key}`).toBe(
          true,
        );
      }
      // Standard cells ~20–30 s, quick cells ~6–10 s; every fault ends inside the load.
      const std = totalDurationMs(s.load);
      expect(std).toBeGreaterThanOrEqual(15_000);
      expect(std).toBeLessThanOrEqual(30_000);
      const quick = applyProfile(s, 'quick');
      expect(totalDurationMs(quick.load)).toBeLessThanOrEqual(10_000);
      for (const f of s.faults) expect(f.at + f.for).toBeLessThan(std);
    }
  });

  it('unknown names list the valid names', () => {
    const e = errorOf(() => loadScenario('hot-keys'));
    expect(e.code).toBe('SCENARIO_NOT_FOUND');
    expect(e.message).toContain('"hot-keys"');
    for (const n of expected) expect(e.message).toContain(n);
  });

  it('loads a file by path and labels errors with it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-scn-'));
    const good = join(dir, 'my-case.yaml');
    writeFileSync(good, MINIMAL);
    expect(loadScenario(good).name).toBe('my-case');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, MINIMAL.replace('rate: 100', 'rate: -3'));
    expect(errorOf(() => loadScenario(bad)).message).toContain(
      'bad.yaml: load.phases[0].rate: expected a number from 0 to 50000 requests/s, got -3',
    );
    expect(errorOf(() => loadScenario(join(dir, 'missing.yaml'))).code).toBe('SCENARIO_NOT_FOUND');
  });
});

describe('applyProfile', () => {
  it('scales durations, fault offsets and rates, and leaves TTLs alone', () => {
    const s: Scenario = parseScenarioYaml(
      `${MINIMAL.replace('rate: 100 }', 'rate: 100, to: 300 }')}faults:\n  - { at: 10s, for: 5s, proxy: redis, down: true }\ncache: { ttlMs: 2s }\n`,
      'x.yaml',
      'x',
    );
    const q = applyProfile(s, 'quick');
    expect(q.load.phases).toEqual([
      {
        duration: 30_000 * PROFILES.quick.durationScale,
        rate: 100 * PROFILES.quick.rateScale,
        to: 300 * PROFILES.quick.rateScale,
      },
    ]);
    expect(q.faults[0]).toMatchObject({
      at: 10_000 * PROFILES.quick.durationScale,
      for: 5000 * PROFILES.quick.durationScale,
    });
    expect(q.cache.ttlMs).toBe(2000);
    // The input is not mutated.
    expect(s.load.phases[0]?.duration).toBe(30_000);
    expect(applyProfile(s, 'standard')).toEqual(s);
    expect(errorOf(() => applyProfile(s, 'huge')).message).toBe(
      'profile: unknown name "huge"; valid names: quick, standard, full',
    );
  });
});
