/**
 * The target option table (target/config.ts) is the one source of the target's flags, env
 * variables, defaults and validation: what startTargets passes to a child is what main.ts parses,
 * and an environment variable reaches the same validation as a flag.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envOf, flagOf, TARGET_DEFAULTS, TARGET_OPTIONS, targetFlags } from '../target/config.ts';

const MAIN = path.resolve(import.meta.dirname, '../target/main.ts');
const URLS = { redisUrl: 'redis://127.0.0.1:1', postgresUrl: 'postgres://u@127.0.0.1:1/db' };
const main = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });

describe('target option table', () => {
  it('gives every option but the two URLs a default, and names flags and env variables after the option', () => {
    expect(Object.keys(TARGET_DEFAULTS).sort()).toEqual(
      Object.keys(TARGET_OPTIONS)
        .filter((n) => n !== 'redisUrl' && n !== 'postgresUrl')
        .sort(),
    );
    expect(flagOf('pgPoolSize')).toBe('--pg-pool-size');
    expect(flagOf('redisCommandTimeoutMs')).toBe('--redis-timeout-ms');
    expect(envOf('pgPoolSize')).toBe('CACHEBENCH_TARGET_PG_POOL_SIZE');
  });

  it('targetFlags writes what main.ts parses: a bad value comes back named, exit 2', () => {
    const args = targetFlags({ ...URLS, strategyOptions: { ttlMs: 5 }, pgPoolSize: 501 });
    expect(args).toContain('--strategy-options');
    const r = main(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('pgPoolSize: 501 is not allowed; expected an integer from 1 to 500');
  });

  it('an environment variable goes through the same validation as its flag', () => {
    const r = main(targetFlags(URLS), { CACHEBENCH_TARGET_POLICY: 'fail-sideways' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('policy: "fail-sideways" is not allowed');
  });
});
