/** Chooses the provisioner for `--infra`. Containers/external modules load lazily. */
import { UsageError } from '../errors.ts';
import { type LocalInfraOptions, startLocalInfra } from './local.ts';
import type { InfraHandle, RedisTopology } from './types.ts';

export interface StartInfraOptions {
  infra: 'local' | 'containers' | 'external' | 'auto';
  local?: LocalInfraOptions;
  external?: {
    redisUrl?: string;
    postgresUrl?: string;
    toxiproxyUrl?: string;
    /** Where the target reaches Redis/PostgreSQL through Toxiproxy (defaults: read from the proxies). */
    redisProxyUrl?: string;
    postgresProxyUrl?: string;
    /** The second Redis for coordination keys (`--coordination-redis-url`). */
    coordinationRedisUrl?: string;
  };
  /**
   * A scenario keeps coordination keys on a second Redis (`coordination: separate`): local starts
   * one, external needs `--coordination-redis-url`; names the scenario in the error.
   */
  coordinationFor?: string;
  /** How Redis runs (default standalone); only `local` starts the others. */
  topology?: RedisTopology;
  log?: (line: string) => void;
}

export async function startInfra(o: StartInfraOptions): Promise<InfraHandle> {
  let kind = o.infra;
  if (kind === 'auto') {
    const { dockerAvailable } = await import('./containers.ts');
    kind = (await dockerAvailable()) ? 'containers' : 'local';
    o.log?.(`--infra auto: using ${kind}`);
  }
  if (kind !== 'local' && o.topology && o.topology !== 'standalone')
    throw new UsageError(
      'UNSUPPORTED_TOPOLOGY',
      `topology ${o.topology} is not supported with --infra ${kind} (allowed: standalone; use --infra local for ${o.topology})`,
    );
  switch (kind) {
    case 'local':
      return startLocalInfra({
        ...o.local,
        coordination: o.coordinationFor !== undefined,
        ...(o.topology ? { topology: o.topology } : {}),
        log: o.log,
      });
    case 'containers': {
      if (o.coordinationFor !== undefined)
        throw new UsageError(
          'UNSUPPORTED_COORDINATION',
          `scenario ${o.coordinationFor}: redis.coordination: "separate" is not supported with --infra containers yet; use --infra local or external`,
        );
      const { startContainerInfra } = await import('./containers.ts');
      return startContainerInfra({ log: o.log });
    }
    case 'external': {
      const e = o.external ?? {};
      for (const [flag, v] of [
        ['--redis-url', e.redisUrl],
        ['--postgres-url', e.postgresUrl],
        ['--toxiproxy-url', e.toxiproxyUrl],
      ] as const) {
        if (!v) throw new UsageError('MISSING_FLAG', `${flag} is required with --infra external`);
      }
      if (o.coordinationFor !== undefined && !e.coordinationRedisUrl)
        throw new UsageError(
          'MISSING_FLAG',
          `--coordination-redis-url is required with --infra external: scenario ${o.coordinationFor} sets redis.coordination: separate`,
        );
      const { connectExternalInfra } = await import('./external.ts');
      return connectExternalInfra({
        redisUrl: e.redisUrl!,
        postgresUrl: e.postgresUrl!,
        toxiproxyUrl: e.toxiproxyUrl!,
        redisProxyUrl: e.redisProxyUrl,
        postgresProxyUrl: e.postgresProxyUrl,
        coordinationRedisUrl: e.coordinationRedisUrl,
        log: o.log,
      });
    }
  }
}
