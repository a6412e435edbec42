/**
 * `--infra local`: redis-server, a throwaway PostgreSQL cluster and toxiproxy-server as local
 * processes on free loopback ports, with Toxiproxy proxies `redis` and `postgres` in front.
 * Everything lives under one private state dir, which stop() removes. Redis and PostgreSQL
 * require a per-run random password (the URLs carry it), because every local user reaches
 * loopback ports; see docs/security.md. Each service is a module in local/ (config and secret,
 * spawn, readiness, restart recipe); this file orders them and owns the stop.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CachebenchError } from '../errors.ts';
import { postgresBase, postgresUser, startPostgres } from './local/postgres.ts';
import { startRedis } from './local/redis.ts';
import { type LocalRedisTopology, startRedisCluster } from './local/redis-cluster.ts';
import { startToxiproxy } from './local/toxiproxy.ts';
import { freePort, requirePort } from './ports.ts';
import { watchServices } from './process-control.ts';
import type { ServiceProcess } from './processes.ts';
import { createStateDir, reapLeftovers } from './reaper.ts';
import type { InfraHandle, RedisTopology } from './types.ts';

export { DATABASE } from './local/postgres.ts';

export interface LocalInfraOptions {
  /** Fixed ports (validated as free); random free ports when omitted. */
  redisPort?: number;
  postgresPort?: number;
  toxiproxyPort?: number;
  redisProxyPort?: number;
  postgresProxyPort?: number;
  /** Also start a second Redis for coordination keys (a scenario with `coordination: separate`). */
  coordination?: boolean;
  /**
   * How Redis runs (default standalone). cluster: local/redis-cluster.ts, replicated:
   * local/redis-replicated.ts; each node behind its own proxy `redis-<i>`, and the `--redis-port`
   * and `--redis-proxy-port` flags address standalone only.
   */
  topology?: RedisTopology;
  /** cluster: one replica per master (default none). */
  replicasPerMaster?: 0 | 1;
  /** Called with one line per step, for progress output. */
  log?: (line: string) => void;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

export function findBinaries(): { redis?: string; pgBin?: string; toxiproxy?: string } {
  let pgBin: string | undefined;
  try {
    pgBin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (!fs.existsSync(path.join(pgBin, 'initdb'))) pgBin = undefined;
  } catch {}
  const tp = process.env.TOXIPROXY_BIN ?? which('toxiproxy-server');
  return { redis: which('redis-server'), pgBin, toxiproxy: tp && fs.existsSync(tp) ? tp : undefined };
}

function missing(what: string, fix: string): never {
  throw new CachebenchError('MISSING_DEPENDENCY', `${what} not found: ${fix}`, { exitCode: 1 });
}

type Binaries = { redis: string; pgBin: string; toxiproxy: string };

function requireBinaries(): Binaries {
  const bins = findBinaries();
  if (!bins.redis) missing('redis-server', "run 'npm run setup' (or apt-get install -y redis-server)");
  if (!bins.pgBin)
    missing('PostgreSQL initdb', "run 'npm run setup' (or apt-get install -y postgresql postgresql-contrib)");
  if (!bins.toxiproxy) missing('toxiproxy-server', "run 'npm run setup', or set TOXIPROXY_BIN");
  return bins as Binaries;
}

/** Kills what an earlier run left (its state dirs record it) and says what it did. */
function reapEarlierRuns(uids: number[], log: (line: string) => void): void {
  const reaped = reapLeftovers(uids);
  if (reaped.killed.length > 0) {
    log(
      `reaped ${reaped.killed.length} process(es) left by an earlier run: ${reaped.killed.map((k) => `${k.name}[${k.pid}]`).join(', ')}`,
    );
  }
  for (const r of reaped.refused) {
    log(`reaper: refused to act on ${r.rec.name ?? '?'}[${r.rec.pid ?? '?'}]: ${r.reason}`);
  }
}

/** The five ports: the given ones (checked free), the rest random free loopback ports. */
async function choosePorts(opts: LocalInfraOptions) {
  const taken = new Set<number>();
  const port = async (flag: string, given?: number) => {
    if (given === undefined) return freePort(taken);
    taken.add(await requirePort(flag, given));
    return given;
  };
  return {
    redis: await port('--redis-port', opts.redisPort),
    postgres: await port('--postgres-port', opts.postgresPort),
    toxiproxy: await port('--toxiproxy-port', opts.toxiproxyPort),
    redisProxy: await port('--redis-proxy-port', opts.redisProxyPort),
    postgresProxy: await port('--postgres-proxy-port', opts.postgresProxyPort),
    coordination: opts.coordination ? await freePort(taken) : undefined,
    /** More free ports for a topology's nodes, bus ports and proxies. */
    next: () => freePort(taken),
  };
}

/** The non-standalone topologies' provisioners; each module owns its nodes and formation. */
async function startTopology(
  opts: LocalInfraOptions,
  bins: Binaries,
  stateDir: string,
  next: () => Promise<number>,
): Promise<LocalRedisTopology> {
  switch (opts.topology) {
    case 'cluster':
      return startRedisCluster({
        bin: bins.redis,
        stateDir,
        port: next,
        replicasPerMaster: opts.replicasPerMaster,
      });
    case 'replicated': {
      const { startRedisReplicated } = await import('./local/redis-replicated.ts');
      return startRedisReplicated({ bin: bins.redis, stateDir, port: next });
    }
    default:
      throw new Error(`topology ${opts.topology}: no local provisioner`);
  }
}

export async function startLocalInfra(opts: LocalInfraOptions = {}): Promise<InfraHandle> {
  const log = opts.log ?? (() => {});
  const bins = requireBinaries();
  const pgUser = postgresUser();
  reapEarlierRuns(pgUser ? [pgUser.uid] : [], log);
  const ports = await choosePorts(opts);
  const stateDir = createStateDir('infra');
  const pgBase = postgresBase(stateDir, pgUser);
  const started: ServiceProcess[] = [];
  let stopped = false;
  let processes: InfraHandle['processes'];
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    processes?.stopWatching();
    // Toxiproxy first so no client sees half-stopped backends through it, then the databases.
    for (const p of [...started].reverse()) await p.stop();
    if (pgBase !== stateDir) fs.rmSync(pgBase, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
  };

  try {
    const topology =
      opts.topology && opts.topology !== 'standalone'
        ? await startTopology(opts, bins, stateDir, ports.next)
        : undefined;
    if (topology) for (const s of topology.services) started.push(s.managed.proc);
    const redis = topology?.services[0] ?? startRedis({ bin: bins.redis, port: ports.redis, stateDir });
    if (!topology) started.push(redis.managed.proc);
    const redisUrl = topology ? topology.url : redis.url;
    const redisServices = topology?.services ?? [redis];
    const postgres = startPostgres({
      pgBin: bins.pgBin,
      port: ports.postgres,
      stateDir,
      base: pgBase,
      user: pgUser,
      log,
    });
    started.push(postgres.managed.proc);
    const toxiproxy = startToxiproxy({ bin: bins.toxiproxy, port: ports.toxiproxy, stateDir });
    started.push(toxiproxy.managed.proc);
    const coordination =
      ports.coordination === undefined
        ? undefined
        : startRedis({ bin: bins.redis, port: ports.coordination, stateDir, role: 'coordination' });
    if (coordination) started.push(coordination.managed.proc);

    const [redisVersion, postgresVersion, toxiproxyVersion] = await Promise.all([
      // A topology's nodes answer first; it forms (replication, Sentinels) once its proxies exist.
      topology ? Promise.all(topology.services.map((s) => s.ready())).then((v) => v[0]) : redis.ready(),
      postgres.ready(),
      toxiproxy.ready(),
      coordination?.ready(),
    ]);
    // Every port we hand out must be held by the process we started, not another user's.
    const services = [...redisServices, postgres, toxiproxy, ...(coordination ? [coordination] : [])];
    for (const s of services) s.assertOwned();
    await postgres.createDatabase();
    await toxiproxy.proxy([
      ...(topology?.proxies ?? [{ name: 'redis', port: ports.redisProxy, upstreamPort: ports.redis }]),
      { name: 'postgres', port: ports.postgresProxy, upstreamPort: ports.postgres },
    ]);
    // The replicated topology replicates and is watched by Sentinel through its link proxies.
    await topology?.ready();
    const managed = services.map((s) => s.managed);
    processes = watchServices(managed, (old, next) => started.splice(started.indexOf(old), 1, next));
    return {
      kind: 'local',
      redisUrl: redisUrl(topology ? topology.info.nodes[0]!.port : ports.redis),
      redisProxyUrl: redisUrl(topology ? topology.info.proxiedNodes[0]!.port : ports.redisProxy),
      ...(topology ? { redisTopology: topology.info } : {}),
      ...(topology?.reset ? { resetRedisTopology: topology.reset } : {}),
      ...(coordination ? { coordinationRedisUrl: coordination.url(ports.coordination!) } : {}),
      postgresUrl: postgres.url(ports.postgres),
      postgresProxyUrl: postgres.url(ports.postgresProxy),
      toxiproxyUrl: toxiproxy.url,
      versions: { redis: redisVersion, postgres: postgresVersion, toxiproxy: toxiproxyVersion },
      pids: started.map((p) => p.pid),
      processes,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
