/**
 * Service profiles: a bad profile or flag is one line naming the field, the value and what is
 * allowed (exit 2) before anything starts; the shipped JSON Schema matches the zod schema; the
 * mapping of a scenario's mix onto the profile's operations and the version extraction.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  createServiceRequestGenerator,
  jsonPointer,
  requestPlan,
  responseVersion,
  versionNumber,
} from '../harness/service/operations.ts';
import { isLoopbackHost, loadProfile, validateProfile } from '../harness/service/profile.ts';
import { PROFILE_SCHEMA_FILE, profileJsonSchema } from '../harness/service/profile-json-schema.ts';
import { applyProfile, loadScenario } from '../scenarios/load.ts';

const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/service/cachebench.yaml');
const HOT = path.resolve(import.meta.dirname, 'fixtures/service-hot.yaml');
const base = parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

// biome-ignore lint/suspicious/noExplicitAny: the tests write arbitrary (also invalid) profile fields
type Doc = Record<string, any>;

/** Writes a variant of the fixture profile with its cwd pointing at the fixture service. */
function profileWith(edit: (p: Doc) => void): string {
  const p = structuredClone(base) as Doc;
  edit(p);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-profile-'));
  const file = path.join(dir, 'cachebench.yaml');
  p.service.cwd = path.dirname(FIXTURE);
  fs.writeFileSync(file, JSON.stringify(p));
  return file;
}

function run(...args: string[]) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-svc-bad-'));
  fs.rmSync(out, { recursive: true });
  const r = spawnSync(process.execPath, [CLI, 'run', ...args, '--out', out], { encoding: 'utf8' });
  // Refused before the run directory is claimed: nothing is left behind.
  expect(fs.existsSync(out)).toBe(false);
  return r;
}

function expectUsage(r: ReturnType<typeof spawnSync>, pattern: RegExp): void {
  expect(r.status, String(r.stderr)).toBe(2);
  const lines = String(r.stderr).trim().split('\n');
  expect(lines, String(r.stderr)).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/\bat .*\.ts:\d+/);
}

describe('service profile validation (CLI, exit 2, one line)', () => {
  it('refuses a baseUrl off loopback, naming field, value and what is allowed', () => {
    const f = profileWith((p) => {
      delete p.service.command;
      delete p.service.port;
      p.service.baseUrl = 'http://10.1.2.3:8080';
      p.variants = { live: {} };
    });
    expectUsage(
      run('--service', f, '--scenarios', HOT, '--profile', 'quick'),
      /service\.baseUrl: expected a loopback host.*got "http:\/\/10\.1\.2\.3:8080"/,
    );
  });

  it('refuses an unknown field, a bad kind, an unknown ids range, a bad version source, a missing file, bad YAML', () => {
    const cases: [string, RegExp][] = [
      [profileWith((p) => (p.servce = {})), /servce: Unrecognized key/],
      [
        profileWith((p) => (p.operations['read-item'].kind = 'fetch')),
        /operations\.read-item\.kind: .*"read".*got "fetch"/,
      ],
      [
        profileWith((p) => (p.operations['read-item'].ids = 'widgets')),
        /operations\.read-item\.ids: expected one of the ids ranges \(users\), got "widgets"/,
      ],
      [
        profileWith((p) => (p.operations['read-item'].version = { json: '/v', header: 'etag' })),
        /operations\.read-item\.version: expected exactly one of json/,
      ],
      [
        profileWith((p) => (p.service.ready.timeout = 'soon')),
        /service\.ready\.timeout: expected a positive duration.*got "soon"/,
      ],
      [profileWith((p) => delete p.service.port), /service\.port: expected \{ env: NAME \}/],
      ['/nonexistent/cb.yaml', /\/nonexistent\/cb\.yaml: no such file/],
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-profile-'));
    fs.writeFileSync(path.join(dir, 'p.yaml'), 'name: x\nops: { path: /a/{id} }\n');
    cases.push([path.join(dir, 'p.yaml'), /p\.yaml: line 2, column \d+/]);
    for (const [file, pattern] of cases) {
      let err: (Error & { exitCode?: number }) | undefined;
      try {
        loadProfile(file);
      } catch (e) {
        err = e as Error & { exitCode?: number };
      }
      expect(err?.exitCode, `${file}: ${err?.message}`).toBe(2);
      expect(err!.message.split('\n')).toHaveLength(1);
      expect(err!.message).toMatch(pattern);
    }
  });

  it('refuses --strategies with --service, an unknown variant, --variants without --service', () => {
    expectUsage(
      run('--service', FIXTURE, '--scenarios', HOT, '--strategies', 'lock'),
      /--strategies: "lock" cannot be combined with --service \(allowed: --variants/,
    );
    expectUsage(
      run('--service', FIXTURE, '--scenarios', HOT, '--variants', 'asid'),
      /--variants: "asid" is not a variant of fixture-items.*aside.*\(allowed: aside, locked\)/,
    );
    expectUsage(
      run('--scenarios', HOT, '--variants', 'aside', '--strategies', 'lock'),
      /--variants: .*needs --service/,
    );
  });

  it('refuses a scenario whose mix sends an operation the profile does not map', () => {
    expectUsage(
      run('--service', FIXTURE, '--scenarios', 'hot-key', '--profile', 'quick'),
      /scenarioOps\.read-team-report: scenario hot-key sends read-team-report but the profile does not map it/,
    );
    expectUsage(
      run(
        '--service',
        profileWith((p) => (p.scenarioOps['update-user'] = 'read-item')),
        '--scenarios',
        HOT,
      ),
      /scenarioOps\.update-user: "read-item" is a read operation \(allowed: a write operation for update-user\)/,
    );
  });
});

describe('service profile schema and mapping', () => {
  it('ships a JSON Schema generated from the zod schema that accepts the fixture profile', () => {
    expect(fs.readFileSync(PROFILE_SCHEMA_FILE, 'utf8')).toBe(profileJsonSchema());
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(JSON.parse(profileJsonSchema()));
    expect(validate(base), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...base, service: { ...(base.service as object), bogus: 1 } })).toBe(false);
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.4.5.6', 'localhost', '[::1]', '::1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['10.0.0.1', 'example.com', '0.0.0.0', '128.0.0.1', 'localhost.evil.com'])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('maps the mix onto the profile operations, ids into the range, catalog names into the history', () => {
    const loaded = loadProfile(FIXTURE);
    const profile = validateProfile({ ...structuredClone(base), ids: { users: [101, 1100] } }, 'inline');
    expect(loaded.hash).toMatch(/^[0-9a-f]{16}$/);
    const s = applyProfile(loadScenario(HOT), 'quick');
    const next = createServiceRequestGenerator(s, requestPlan(profile, s, 'inline'), 7);
    const reqs = Array.from({ length: 2000 }, next);
    const ops = new Set(reqs.map((r) => r.op));
    expect([...ops].sort()).toEqual(['read-user', 'update-user']);
    for (const r of reqs) {
      const id = Number(/\/items\/(\d+)$/.exec(r.path)![1]);
      // The scenario seeds 50 users: ids 101..150 of the profile's range.
      expect(id).toBeGreaterThanOrEqual(101);
      expect(id).toBeLessThanOrEqual(150);
      expect(r.key).toBe(`item:${id}`);
      if (r.op === 'update-user') {
        expect(r.kind).toBe('write');
        expect(r.method).toBe('PUT');
        expect(JSON.parse(r.body!).name).toMatch(/^n-\d+$/);
      } else expect(r.kind).toBe('read');
    }
    // hot-set, 90% to the first id
    expect(reqs.filter((r) => r.path === '/items/101').length / reqs.length).toBeGreaterThan(0.85);
  });

  it('reads versions from a JSON pointer or a header (ETag), and none from an error', () => {
    expect(jsonPointer({ a: { 'b/c': [5, { v: 9 }] } }, '/a/b~1c/1/v')).toBe(9);
    expect(jsonPointer({ a: 1 }, '/b/c')).toBeUndefined();
    expect(versionNumber('W/"17"')).toBe(17);
    expect(versionNumber('"v3-7"')).toBeUndefined();
    expect(versionNumber(4)).toBe(4);
    const plan = {
      op: 'read-user' as const,
      kind: 'read' as const,
      method: 'GET' as const,
      path: '/x',
      key: 'user:1',
    };
    expect(
      responseVersion({ ...plan, versionFrom: { json: '/version' } }, 200, { version: 3 }, undefined),
    ).toEqual({
      'user:1': 3,
    });
    expect(responseVersion({ ...plan, versionFrom: { header: 'etag' } }, 200, undefined, '"12"')).toEqual({
      'user:1': 12,
    });
    expect(
      responseVersion({ ...plan, versionFrom: { json: '/version' } }, 500, { version: 3 }, undefined),
    ).toBeUndefined();
  });
});
