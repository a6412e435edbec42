/**
 * The local provisioner's redis-server: loopback only, a per-run password, no persistence unless
 * a planned `redis-restart-persisted` fault asks for it (a cache under test must not write
 * snapshots mid-run). The password goes in a 0600 config file, not argv: /proc/<pid>/cmdline is
 * world-readable. The file is rewritten before each (re)start, with `appendonly` set by the
 * restart's persistence flag.
 *
 * A scenario with `redis: { coordination: separate }` gets a second server (`role:
 * 'coordination'`) for locks, lease tokens and write-behind buffers: its own password, data dir,
 * config and log, never CONFIG SET by a scenario (so no maxmemory), and not addressable by
 * process faults (those are the cache Redis's).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { assertListenerOwned } from '../listener.ts';
import { redisVersion } from '../probes.ts';
import type { ManagedService } from '../process-control.ts';
import { type ServiceProcess, spawnService, waitUntil } from '../processes.ts';
import type { LocalService } from './service.ts';

export type RedisRole = 'cache' | 'coordination';

/**
 * One node of a replicated or cluster topology (local/redis-cluster.ts, local/redis-replicated.ts):
 * its own name, data dir and config, the password shared by every node of the topology (also as
 * `masterauth`, so replicas authenticate to their primary), and the topology's config lines.
 */
export interface RedisNodeSpec {
  /** File and process name: `redis-0` → redis-0.conf, redis-0/, "redis-server (redis-0)". */
  name: string;
  password: string;
  extraConfig: string[];
}

export function startRedis(o: {
  bin: string;
  port: number;
  stateDir: string;
  role?: RedisRole;
  node?: RedisNodeSpec;
}): LocalService {
  const role = o.role ?? 'cache';
  const base = o.node?.name ?? (role === 'cache' ? 'redis' : 'redis-coordination');
  const NAME = o.node
    ? `redis-server (${o.node.name})`
    : role === 'cache'
      ? 'redis-server'
      : 'redis-server (coordination)';
  const password = o.node?.password ?? randomBytes(18).toString('base64url');
  const dataDir = path.join(o.stateDir, base);
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const conf = path.join(o.stateDir, `${base}.conf`);
  const spawn = ({ persistence }: { persistence: boolean }): ServiceProcess => {
    const lines = [
      `port ${o.port}`,
      'bind 127.0.0.1',
      'save ""',
      `appendonly ${persistence ? 'yes' : 'no'}`,
      `dir ${dataDir}`,
      'protected-mode yes',
      `requirepass ${password}`,
      'maxclients 10000',
      ...(o.node ? [`masterauth ${password}`, ...o.node.extraConfig] : []),
      '',
    ];
    fs.writeFileSync(conf, lines.join('\n'), { mode: 0o600 });
    return spawnService({
      name: NAME,
      command: o.bin,
      args: [conf],
      logFile: path.join(o.stateDir, `${base}.log`),
      stateDir: o.stateDir,
    });
  };
  const url = (port: number) => `redis://:${password}@127.0.0.1:${port}`;
  let version: string | undefined;
  const ready = (p: ServiceProcess) =>
    waitUntil(
      NAME,
      async () => {
        version = await redisVersion(url(o.port));
        return true;
      },
      { timeoutMs: 10_000, proc: p },
    );
  const managed: ManagedService = {
    name: NAME,
    // A topology's nodes are not the one `redis` a process fault addresses.
    ...(role === 'cache' && !o.node ? { service: 'redis' as const } : {}),
    proc: spawn({ persistence: false }),
    respawn: spawn,
    ready,
    volatileData: [path.join(dataDir, 'appendonlydir'), path.join(dataDir, 'dump.rdb')],
  };
  return {
    managed,
    url,
    ready: async () => {
      await ready(managed.proc);
      return version;
    },
    assertOwned: () => assertListenerOwned(NAME, o.port, { pid: managed.proc.pid }),
  };
}
