/**
 * `--infra local`: redis-server, a throwaway PostgreSQL cluster and toxiproxy-server as local
 * processes on free loopback ports, with Toxiproxy proxies `redis` and `postgres` in front.
 * Everything lives under one private state dir, which stop() removes. Redis and PostgreSQL
 * require a per-run random password (the URLs carry it), because every local user reaches
 * loopback ports; see docs/security.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { CachebenchError } from '../errors.ts';
import { assertListenerOwned } from './listener.ts';
import { freePort, requirePort } from './ports.ts';
import { watchServices } from './process-control.ts';
import { type ServiceProcess, spawnService, waitUntil } from './processes.ts';
import { createStateDir, reapLeftovers, recordPath } from './reaper.ts';
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

  const pgUser = postgresUser();
  const reaped = reapLeftovers(pgUser ? [pgUser.uid] : []);
  if (reaped.killed.length > 0) {
    log(
      `reaped ${reaped.killed.length} process(es) left by an earlier run: ${reaped.killed.map((k) => `${k.name}[${k.pid}]`).join(', ')}`,
    );
  }
  for (const r of reaped.refused) {
    log(`reaper: refused to act on ${r.rec.name ?? '?'}[${r.rec.pid ?? '?'}]: ${r.reason}`);
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
  // Per-run secrets: another local user reaches the loopback ports too, and must be refused.
  const redisPassword = randomBytes(18).toString('base64url');
  const pgPassword = randomBytes(18).toString('base64url');
  // PostgreSQL's files must belong to the user it runs as. Run as the postgres user (we are
  // root), it cannot enter our private state root, so it gets its own 0700 dir, recorded so
  // the reaper removes it after a kill -9.
  let pgBase = stateDir;
  if (pgUser) {
    pgBase = fs.mkdtempSync(path.join(os.tmpdir(), 'cachebench-pg-'));
    recordPath(stateDir, pgBase);
    fs.chmodSync(pgBase, 0o700);
    fs.chownSync(pgBase, pgUser.uid, pgUser.gid);
  }
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
    // --- Redis: no persistence unless a fault asks for it; a cache under test must not write
    // snapshots mid-run.
    // The password goes in a 0600 config file, not argv: /proc/<pid>/cmdline is world-readable.
    const redisDir = path.join(stateDir, 'redis');
    fs.mkdirSync(redisDir, { mode: 0o700 });
    const redisConf = path.join(stateDir, 'redis.conf');
    // Persistence only for a planned `redis-restart-persisted` fault (process-control.ts): the
    // config is rewritten before each (re)start.
    const redisSpawn = (o: { persistence: boolean }) => {
      fs.writeFileSync(
        redisConf,
        [
          `port ${ports.redis}`,
          'bind 127.0.0.1',
          'save ""',
          `appendonly ${o.persistence ? 'yes' : 'no'}`,
          `dir ${redisDir}`,
          'protected-mode yes',
          `requirepass ${redisPassword}`,
          'maxclients 10000',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return {
        name: 'redis-server',
        command: bins.redis!,
        args: [redisConf],
        logFile: path.join(stateDir, 'redis.log'),
        stateDir,
      };
    };
    const redis = spawnService(redisSpawn({ persistence: false }));
    started.push(redis);

    // --- PostgreSQL: initdb into a dir the postgres user owns, then the postmaster directly
    // (not pg_ctl) so the PID we record is the server's.
    // Password (SCRAM) authentication on TCP and on the socket, and the socket in a 0700 dir.
    const pgDir = path.join(pgBase, 'pg');
    const sockDir = path.join(pgBase, 'pgsock');
    const pwFile = path.join(pgBase, 'pwfile');
    fs.mkdirSync(pgDir, { mode: 0o700 });
    fs.mkdirSync(sockDir, { mode: 0o700 });
    fs.writeFileSync(pwFile, `${pgPassword}\n`, { mode: 0o600 });
    if (pgUser) {
      for (const p of [pgDir, sockDir, pwFile]) fs.chownSync(p, pgUser.uid, pgUser.gid);
    }
    const t0 = Date.now();
    try {
      execFileSync(
        path.join(bins.pgBin!, 'initdb'),
        [
          '-D',
          pgDir,
          '-A',
          'scram-sha-256',
          '--pwfile',
          pwFile,
          '-U',
          'postgres',
          '--no-sync',
          '-E',
          'UTF8',
          '--locale',
          'C',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          uid: pgUser?.uid,
          gid: pgUser?.gid,
          cwd: pgBase,
        },
      );
    } finally {
      fs.rmSync(pwFile, { force: true });
    }
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
        'unix_socket_permissions=0700',
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
      cwd: pgBase,
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

    const redisAuth = `:${redisPassword}@`;
    const pgAuth = `postgres:${pgPassword}@`;
    const redisUrl = `redis://${redisAuth}127.0.0.1:${ports.redis}`;
    const toxiproxyUrl = `http://127.0.0.1:${ports.toxiproxy}`;
    const adminUrl = `postgres://${pgAuth}127.0.0.1:${ports.postgres}/postgres`;
    const postgresUrl = `postgres://${pgAuth}127.0.0.1:${ports.postgres}/${DATABASE}`;

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

    // Every port we hand out must be held by the process we started, not another user's.
    const uids = pgUser ? [process.getuid!(), pgUser.uid] : undefined;
    assertListenerOwned('redis-server', ports.redis, { pid: redis.pid });
    assertListenerOwned('postgres', ports.postgres, { pid: postgres.pid, uids });
    assertListenerOwned('toxiproxy-server', ports.toxiproxy, { pid: toxiproxy.pid });

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

    assertListenerOwned('toxiproxy proxy redis', ports.redisProxy, { pid: toxiproxy.pid });
    assertListenerOwned('toxiproxy proxy postgres', ports.postgresProxy, { pid: toxiproxy.pid });
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
      redisProxyUrl: `redis://${redisAuth}127.0.0.1:${ports.redisProxy}`,
      postgresUrl,
      postgresProxyUrl: `postgres://${pgAuth}127.0.0.1:${ports.postgresProxy}/${DATABASE}`,
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
