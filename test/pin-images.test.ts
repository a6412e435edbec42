/**
 * Image pins: docker-compose.yml and DEFAULT_IMAGES name the same official images, each pinned as
 * `name:tag@sha256:<index digest>` (or tag-only where docs/images.md says no digest was found),
 * docs/images.md lists every pin, and docker/pin-images.sh rewrites both files from the digests a
 * resolver reports — all or nothing. No registry answers here, so the script runs against a
 * resolver command that reads digests from a file (CACHEBENCH_DIGEST_RESOLVER, the script's own
 * hook for mirrors); the rewriting and failure handling under test are the script's real code.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_IMAGES } from '../harness/infra/containers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (f: string, root = ROOT) => fs.readFileSync(path.join(root, f), 'utf8');
const PINNED = /^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)@sha256:[0-9a-f]{64}$/;
const TAG_ONLY = /^[a-z0-9./_-]+:[A-Za-z0-9._-]+$/;

/** `${VAR:-default}` of each compose service's image, by service. */
function composeDefaults(root = ROOT): Record<string, string> {
  const compose = YAML.parse(read('docker-compose.yml', root)) as {
    services: Record<string, { image?: string }>;
  };
  const out: Record<string, string> = {};
  for (const [name, s] of Object.entries(compose.services)) {
    const m = /^\$\{CACHEBENCH_[A-Z_]+_IMAGE:-([^}]+)\}$/.exec(s.image ?? '');
    if (m) out[name] = m[1]!;
  }
  return out;
}

describe('pinned images', () => {
  it('compose and DEFAULT_IMAGES name the same references, each digest-pinned or listed as tag-only', () => {
    const compose = composeDefaults();
    expect(compose.redis).toBe(DEFAULT_IMAGES.redis);
    expect(compose.postgres).toBe(DEFAULT_IMAGES.postgres);
    expect(compose.toxiproxy).toBe(DEFAULT_IMAGES.toxiproxy);
    const docs = read('docs/images.md');
    for (const [service, ref] of Object.entries(compose)) {
      if (PINNED.test(ref)) {
        expect(docs, `${service}: ${ref} missing from docs/images.md`).toContain(ref);
      } else {
        // A tag-only default must be one docs/images.md declares as such (no digest found).
        expect(ref, service).toMatch(TAG_ONLY);
        expect(docs, `${service}: ${ref} not declared tag-only`).toMatch(
          new RegExp(`\`${ref.replace(/[.]/g, '\\.')}\` \\| tag only`),
        );
      }
    }
  });
});

describe('docker/pin-images.sh', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A copy of the two pinned files and the script, and a resolver answering from `digests`. */
  function sandbox(digests: Record<string, string>) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cachebench-pin-'));
    dirs.push(dir);
    for (const f of ['docker-compose.yml', 'harness/infra/containers.ts', 'docker/pin-images.sh']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    }
    const table = path.join(dir, 'digests.txt');
    fs.writeFileSync(
      table,
      Object.entries(digests)
        .map(([k, v]) => `${k} ${v}\n`)
        .join(''),
    );
    const resolver = path.join(dir, 'resolve.sh');
    // Unknown tag: no output, exit 1 (what a registry's "manifest unknown" amounts to).
    fs.writeFileSync(
      resolver,
      `#!/bin/sh\nawk -v r="$1" '$1 == r { print $2; f = 1 } END { exit !f }' '${table}'\n`,
    );
    fs.chmodSync(resolver, 0o755);
    const run = (...args: string[]) =>
      spawnSync('bash', [path.join(dir, 'docker/pin-images.sh'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, CACHEBENCH_DIGEST_RESOLVER: resolver },
      });
    return { dir, run };
  }

  const tagsOf = () => [...new Set(Object.values(composeDefaults()).map((r) => r.split('@')[0]!))].sort();
  const fakeDigest = (i: number) => `sha256:${i.toString(16).padStart(2, '0').repeat(32)}`;

  it('rewrites every pin in both files to the resolved index digest, tag kept', () => {
    const tags = tagsOf();
    expect(tags.length).toBeGreaterThanOrEqual(5);
    const digests = Object.fromEntries(tags.map((t, i) => [t, fakeDigest(i + 1)]));
    const { dir, run } = sandbox(digests);
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const after = composeDefaults(dir);
    for (const ref of Object.values(after))
      expect(ref).toBe(`${ref.split('@')[0]}@${digests[ref.split('@')[0]!]}`);
    const ts = read('harness/infra/containers.ts', dir);
    for (const service of ['redis', 'postgres', 'toxiproxy']) expect(ts).toContain(`'${after[service]}'`);
    // Nothing else in either file moved.
    const strip = (s: string) => s.replace(/@sha256:[0-9a-f]{64}/g, '');
    expect(strip(read('docker-compose.yml', dir))).toBe(strip(read('docker-compose.yml')));
    expect(strip(ts)).toBe(strip(read('harness/infra/containers.ts')));
    // A second run finds nothing stale.
    const check = run('--check');
    expect(check.status).toBe(0);
    expect(check.stdout).not.toMatch(/^stale/m);
  });

  it('--check names stale pins and exits 1 without writing', () => {
    const digests = Object.fromEntries(tagsOf().map((t, i) => [t, fakeDigest(i + 1)]));
    const { dir, run } = sandbox(digests);
    const before = read('docker-compose.yml', dir);
    const r = run('--check');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^stale {4}postgres:15@sha256:[0-9a-f]{64} -> postgres:15@sha256:/m);
    expect(r.stderr).toMatch(/pin\(s\) stale/);
    expect(read('docker-compose.yml', dir)).toBe(before);
  });

  it('one tag that does not resolve: exit 1 naming it, both files untouched', () => {
    const digests = Object.fromEntries(
      tagsOf()
        .filter((t) => t !== 'grafana/grafana:11.1.0')
        .map((t, i) => [t, fakeDigest(i + 1)]),
    );
    const { dir, run } = sandbox(digests);
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^pin-images: grafana\/grafana:11\.1\.0: custom gave no sha256 digest/);
    expect(read('docker-compose.yml', dir)).toBe(read('docker-compose.yml'));
    expect(read('harness/infra/containers.ts', dir)).toBe(read('harness/infra/containers.ts'));
  });

  it('a bad flag is one line naming it, exit 2', () => {
    const { run } = sandbox({});
    const r = run('--pin-everything');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/"--pin-everything" is not allowed; allowed: --check, --list/);
  });
});
