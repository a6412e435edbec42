/**
 * The contract kit for strategy authors: a user module built from two catalog policies and a
 * guard of its own passes it; a module that never invalidates on write fails it (the write and
 * delete checks, naming the stale read); one that forgets the aggregates on delete fails the
 * delete check alone; a module written by hand against the StrategyModule interface
 * (no policies) still loads and passes; `cachebench check-strategy` prints one line per check
 * and exits 0 / 1 / 2 (bad path). Real Redis, PostgreSQL and Toxiproxy throughout.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTRACT_CHECKS, runContract } from '../target/strategies/contract/index.ts';
import { defineStrategy, jitter, loadStrategyModule, lock } from '../target/strategies/index.ts';
import forgets from './fixtures/forgets-dependent-on-delete.ts';
import { useInfra } from './helpers/infra.ts';

const infra = useInfra();
const FIXTURES = path.resolve(import.meta.dirname, 'fixtures/strategies');
const CLI = path.resolve(import.meta.dirname, '../harness/cli.ts');

async function check(file: string) {
  return runContract(await loadStrategyModule(path.join(FIXTURES, file)), infra());
}

describe('contract kit on user modules', () => {
  it('a module of two catalog policies plus its own guard passes every check', async () => {
    const results = await check('mine.ts');
    expect(results.map((r) => r.name)).toEqual(CONTRACT_CHECKS.map((c) => c.name));
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });

  it('a module that never invalidates on write fails the write check, naming the stale read', async () => {
    const failed = (await check('broken.ts')).filter((r) => !r.ok);
    expect(failed.map((r) => r.name)).toEqual([
      'after a write completes, entity and aggregate reads return the new version',
      'after a delete completes, neither the entity nor an aggregate that embedded it is served',
    ]);
    expect(failed[0]!.reason).toMatch(/read after write 1 is stale: got 1, expected 2/);
    expect(failed[0]!.reason).not.toContain('\n');
  });

  it('a module that forgets a dependent key on delete fails the delete check alone, naming the aggregate', async () => {
    const failed = (await runContract(forgets, infra())).filter((r) => !r.ok);
    expect(failed.map((r) => r.name)).toEqual([
      'after a delete completes, neither the entity nor an aggregate that embedded it is served',
    ]);
    expect(failed[0]!.reason).toMatch(/aggregate read 1 after delete still embeds item 9/);
  });

  it('a module written against the StrategyModule interface alone loads and passes', async () => {
    const m = await loadStrategyModule(path.join(FIXTURES, 'legacy.ts'));
    expect(m.name).toBe('legacy');
    expect(m.defaults).toEqual({ ttlMs: 30_000 });
    expect((await check('legacy.ts')).filter((r) => !r.ok)).toEqual([]);
  });

  it('defineStrategy composes catalog policies in code, with the options they read as defaults', async () => {
    const m = defineStrategy({ name: 'jl', summary: 'jitter + lock', guard: lock(), freshness: jitter() });
    expect(m.defaults).toEqual({
      ttlMs: 30_000,
      jitterFraction: 0.2,
      lockTtlMs: 5_000,
      waitMs: 2_000,
      pollMs: 10,
    });
    expect((await runContract(m, infra())).filter((r) => !r.ok)).toEqual([]);
  });
});

describe('cachebench check-strategy', () => {
  const run = (spec: string) =>
    spawnSync(process.execPath, [CLI, 'check-strategy', spec], { encoding: 'utf8', timeout: 120_000 });

  it('exit 0 and one ✔ line per check for a passing module', () => {
    const r = run(path.join(FIXTURES, 'mine.ts'));
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('✔'))).toHaveLength(CONTRACT_CHECKS.length);
  });

  it('exit 1 and a ✘ line naming the failed check for the broken module', () => {
    const r = run(path.join(FIXTURES, 'broken.ts'));
    expect(r.status).toBe(1);
    const bad = r.stdout.split('\n').filter((l) => l.startsWith('✘'));
    expect(bad).toHaveLength(2);
    expect(bad[0]).toContain('after a write completes');
    expect(bad[1]).toContain('after a delete completes');
    expect(r.stdout).toContain('2 check(s) failed');
  });

  it('exit 2 and one line for a path that cannot be imported', () => {
    const r = run('./no-such-strategy.ts');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("strategy module './no-such-strategy.ts': cannot be imported");
  });
});
