/**
 * `--infra local`: redis-server, a throwaway PostgreSQL cluster and toxiproxy-server as local
 * processes on free loopback ports, with Toxiproxy proxies `redis` and `postgres` in front.
 * Everything lives under one state dir, which stop() removes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { CachebenchError } from '../errors.ts';
import { freePort, requirePort } from './ports.ts';
import { watchServices } from './process-control.ts';
import { type ServiceProcess, spawnService, waitUntil } from './processes.ts';
import { createStateDir, reapLeftovers } from './reaper.ts';
import type { InfraHandle } from './types.ts';

export interface LocalInfraOptions {
  /** Fixed ports (validated as free); random free ports when omitted. */
  redisPort?: number;
  postgresPort?: number;
  toxiproxyPort?: number;
  redisProxyPort?: number;
  postgresProxyPort?: number;
  /** Called with one line per step, for progress output. */
  log?: (line: string) => void;
}

export const DATABASE = 'cachebench';

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

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return missing(
      'the postgres user',
      'install PostgreSQL (apt-get install -y postgresql) or run as a non-root user',
    );
  }
}

export async function startLocalInfra(opts: LocalInfraOptions = {}): Promise<InfraHandle> {
  const log = opts.log ?? (() => {});
  const bins = findBinaries();
  if (!bins.redis) missing('redis-server', "run 'npm run setup' (or apt-get install -y redis-server)");
  if (!bins.pgBin)
    missing('PostgreSQL initdb', "run 'npm run setup' (or apt-get install -y postgresql postgresql-contrib)");
  if (!bins.toxiproxy) missing('toxiproxy-server', "run 'npm run setup', or set TOXIPROXY_BIN");

  const reaped = reapLeftovers();
  if (reaped.killed.length > 0) {
    log(
      `reaped ${reaped.killed.length} process(es) left by an earlier run: ${reaped.killed.map((k) => `${k.name}[${k.pid}]`).join(', ')}`,
    );
  }

  const taken = new Set<number>();
  const port = async (flag: string, given?: number) => {
    if (given === undefined) return freePort(taken);
    taken.add(await requirePort(flag, given));
    return given;
  };
  const ports = {
    redis: await port('--redis-port', opts.redisPort),
    postgres: await port('--postgres-port', opts.postgresPort),
    toxiproxy: await port('--toxiproxy-port', opts.toxiproxyPort),
    redisProxy: await port('--redis-proxy-port', opts.redisProxyPort),
    postgresProxy: await port('--postgres-proxy-port', opts.postgresProxyPort),
  };

  const stateDir = createStateDir('infra');
  const started: ServiceProcess[] = [];
  let stopped = false;
  let processes: InfraHandle['processes'];
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    processes?.stopWatching();
    // Toxiproxy first so no client sees half-stopped backends through it, then the databases.
    for (const p of [...started].reverse()) await p.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  };

  try {
    // --- Redis: no persistence; a cache under test must not write snapshots mid-run.
    const redisDir = path.join(stateDir, 'redis');
    fs.mkdirSync(redisDir);
    const redisSpawn = (o: { persistence: boolean }) => ({
      name: 'redis-server',
      command: bins.redis!,
      args: [
        '--port',
        String(ports.redis),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        o.persistence ? 'yes' : 'no',
        '--dir',
        redisDir,
        '--protected-mode',
        'no',
        '--maxclients',
        '10000',
      ],
      logFile: path.join(stateDir, 'redis.log'),
      stateDir,
    });
    const redis = spawnService(redisSpawn({ persistence: false }));
    started.push(redis);

    // --- PostgreSQL: initdb into a dir the postgres user owns, then the postmaster directly
    // (not pg_ctl) so the PID we record is the server's.
    const pgUser = postgresUser();
    const pgDir = path.join(stateDir, 'pg');
    const sockDir = path.join(stateDir, 'pgsock');
    fs.mkdirSync(pgDir, { mode: 0o700 });
    fs.mkdirSync(sockDir);
    if (pgUser) {
      fs.chownSync(pgDir, pgUser.uid, pgUser.gid);
      fs.chownSync(sockDir, pgUser.uid, pgUser.gid);
      fs.chownSync(stateDir, pgUser.uid, pgUser.gid);
    }
    const t0 = Date.now();
    execFileSync(
      path.join(bins.pgBin!, 'initdb'),
      ['-D', pgDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        uid: pgUser?.uid,
        gid: pgUser?.gid,
        cwd: stateDir,
      },
    );
    log(`initdb ${Date.now() - t0} ms`);
    const postgresSpawn = {
      name: 'postgres',
      command: path.join(bins.pgBin!, 'postgres'),
      args: [
        '-D',
        pgDir,
        '-p',
        String(ports.postgres),
        '-k',
        sockDir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'shared_preload_libraries=pg_stat_statements',
        '-c',
        'pg_stat_statements.track=all',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=300',
        '-c',
        'shared_buffers=128MB',
      ],
      logFile: path.join(stateDir, 'postgres.log'),
      stateDir,
      uid: pgUser?.uid,
      gid: pgUser?.gid,
      cwd: stateDir,
      // SIGINT = PostgreSQL's "fast" shutdown: rolls back sessions and exits promptly.
      stopSignal: 'SIGINT' as const,
    };
    const postgres = spawnService(postgresSpawn);
    started.push(postgres);

    // --- Toxiproxy.
    const toxiproxy = spawnService({
      name: 'toxiproxy-server',
      command: bins.toxiproxy!,
      args: ['-host', '127.0.0.1', '-port', String(ports.toxiproxy)],
      logFile: path.join(stateDir, 'toxiproxy.log'),
      stateDir,
    });
    started.push(toxiproxy);

    const redisUrl = `redis://127.0.0.1:${ports.redis}`;
    const toxiproxyUrl = `http://127.0.0.1:${ports.toxiproxy}`;
    const adminUrl = `postgres://postgres@127.0.0.1:${ports.postgres}/postgres`;
    const postgresUrl = `postgres://postgres@127.0.0.1:${ports.postgres}/${DATABASE}`;

    const versions: InfraHandle['versions'] = {};
    await Promise.all([
      waitUntil(
        'redis-server',
        async () => {
          const c = new Redis(redisUrl, {
            lazyConnect: true,
            maxRetriesPerRequest: 0,
            enableOfflineQueue: false,
            retryStrategy: () => null,
          });
          c.on('error', () => {});
          try {
            await c.connect();
            const info = await c.info('server');
            versions.redis = /redis_version:(\S+)/.exec(info)?.[1];
            return (await c.ping()) === 'PONG';
          } finally {
            c.disconnect();
          }
        },
        { timeoutMs: 10_000, proc: redis },
      ),
      waitUntil(
        'postgres',
        async () => {
          const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 1000 });
          c.on('error', () => {});
          try {
            await c.connect();
            const r = await c.query<{ server_version: string }>('SHOW server_version');
            versions.postgres = r.rows[0]?.server_version;
            return true;
          } finally {
            await c.end().catch(() => {});
          }
        },
        { timeoutMs: 20_000, proc: postgres, intervalMs: 50 },
      ),
      waitUntil(
        'toxiproxy-server',
        async () => {
          const r = await fetch(`${toxiproxyUrl}/version`);
          if (!r.ok) return false;
          const body = (await r.text()).trim();
          const v = body.startsWith('{') ? (JSON.parse(body) as { version: string }).version : body;
          // A `go install` build reports "git"; the cache dir name carries the pinned release.
          versions.toxiproxy = v === 'git' ? (/toxiproxy-(v[\d.]+)/.exec(bins.toxiproxy!)?.[1] ?? v) : v;
          return true;
        },
        { timeoutMs: 10_000, proc: toxiproxy },
      ),
    ]);

    // Database + pg_stat_statements.
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    const db = new pg.Client({ connectionString: postgresUrl });
    await db.connect();
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.end();

    await createProxies(toxiproxyUrl, [
      { name: 'redis', listen: `127.0.0.1:${ports.redisProxy}`, upstream: `127.0.0.1:${ports.redis}` },
      {
        name: 'postgres',
        listen: `127.0.0.1:${ports.postgresProxy}`,
        upstream: `127.0.0.1:${ports.postgres}`,
      },
    ]);

    processes = watchServices(
      [
        {
          name: 'redis-server',
          service: 'redis',
          proc: redis,
          respawn: (o) => spawnService(redisSpawn(o)),
          ready: (p) =>
            waitUntil('redis-server', () => redisAnswers(redisUrl), { timeoutMs: 10_000, proc: p }),
          volatileData: [path.join(redisDir, 'appendonlydir'), path.join(redisDir, 'dump.rdb')],
        },
        {
          name: 'postgres',
          service: 'postgres',
          proc: postgres,
          respawn: () => spawnService(postgresSpawn),
          ready: (p) =>
            waitUntil('postgres', () => postgresAnswers(postgresUrl), {
              timeoutMs: 20_000,
              proc: p,
              intervalMs: 50,
            }),
          // A planned PostgreSQL restart is a fast shutdown, so the new postmaster finds no
          // orphaned backends holding the shared memory.
          killSignal: 'SIGINT',
        },
        { name: 'toxiproxy-server', proc: toxiproxy },
      ],
      (old, next) => started.splice(started.indexOf(old), 1, next),
    );

    const handle: InfraHandle = {
      kind: 'local',
      redisUrl,
      redisProxyUrl: `redis://127.0.0.1:${ports.redisProxy}`,
      postgresUrl,
      postgresProxyUrl: `postgres://postgres@127.0.0.1:${ports.postgresProxy}/${DATABASE}`,
      toxiproxyUrl,
      versions,
      pids: started.map((p) => p.pid),
      processes,
      stop,
      [Symbol.asyncDispose]: stop,
    };
    return handle;
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function createProxies(
  toxiproxyUrl: string,
  proxies: { name: string; listen: string; upstream: string }[],
): Promise<void> {
  const r = await fetch(`${toxiproxyUrl}/populate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(proxies.map((p) => ({ ...p, enabled: true }))),
  });
  if (!r.ok) throw new Error(`toxiproxy /populate failed: ${r.status} ${await r.text()}`);
}

async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    // While an AOF loads Redis answers LOADING: not ready yet.
    return (await c.ping()) === 'PONG';
  } finally {
    c.disconnect();
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } finally {
    await c.end().catch(() => {});
  }
}
