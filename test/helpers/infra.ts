/**
 * vitest helper: one real local stack (Redis, PostgreSQL, Toxiproxy) per test file.
 * `const infra = useInfra();` then `infra()` inside tests returns the started InfraHandle.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type LocalInfraOptions, startLocalInfra } from '../../harness/infra/local.ts';
import type { InfraHandle } from '../../harness/infra/types.ts';

export function useInfra(opts: LocalInfraOptions = {}): () => InfraHandle {
  let handle: InfraHandle | undefined;
  beforeAll(async () => {
    handle = await startLocalInfra(opts);
  }, 60_000);
  afterAll(async () => {
    await handle?.stop();
  }, 30_000);
  return () => {
    if (!handle) throw new Error('infra not started (useInfra must be called at describe/file level)');
    return handle;
  };
}

/** Toxiproxy calls used by tests: the contract kit's fixture has the one implementation. */
export { toxiproxy } from '../../target/strategies/contract/fixture.ts';

/** One PING over a fresh fail-fast connection (1 s timeouts, no retries): proves a URL answers. */
export async function redisPing(url: string): Promise<string> {
  const c = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    return await c.ping();
  } finally {
    c.disconnect();
  }
}
