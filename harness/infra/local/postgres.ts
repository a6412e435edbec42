/**
 * The local provisioner's PostgreSQL: a throwaway cluster (initdb), then the postmaster directly
 * (not pg_ctl) so the PID we record is the server's. Password (SCRAM) authentication on TCP and
 * on the socket, and the socket in a 0700 dir: every local user reaches loopback ports.
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, in its own 0700
 * base dir (it cannot enter our private state root), recorded so the reaper removes it after a
 * kill -9.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CachebenchError } from '../../errors.ts';
import { assertListenerOwned } from '../listener.ts';
import { postgresVersion } from '../probes.ts';
import type { ManagedService } from '../process-control.ts';
import { type ServiceProcess, spawnService, waitUntil } from '../processes.ts';
import { recordPath } from '../reaper.ts';
import type { LocalService } from './service.ts';

const NAME = 'postgres';
export const DATABASE = 'cachebench';

export interface PostgresUser {
  uid: number;
  gid: number;
}

/** The `postgres` user when we are root, else undefined (PostgreSQL runs as us). */
export function postgresUser(): PostgresUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new CachebenchError(
      'MISSING_DEPENDENCY',
      'the postgres user not found: install PostgreSQL (apt-get install -y postgresql) or run as a non-root user',
      { exitCode: 1 },
    );
  }
}

/** Where PostgreSQL's files go: the state dir, or (as root) a 0700 dir the postgres user owns. */
export function postgresBase(stateDir: string, user: PostgresUser | undefined): string {
  if (!user) return stateDir;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cachebench-pg-'));
  recordPath(stateDir, base);
  fs.chmodSync(base, 0o700);
  fs.chownSync(base, user.uid, user.gid);
  return base;
}

function initdb(o: { pgBin: string; base: string; dataDir: string; password: string; user?: PostgresUser }) {
  const pwFile = path.join(o.base, 'pwfile');
  fs.writeFileSync(pwFile, `${o.password}\n`, { mode: 0o600 });
  if (o.user) fs.chownSync(pwFile, o.user.uid, o.user.gid);
  try {
    const args = ['-D', o.dataDir, '-A', 'scram-sha-256', '--pwfile', pwFile, '-U', 'postgres'];
    execFileSync(path.join(o.pgBin, 'initdb'), [...args, '--no-sync', '-E', 'UTF8', '--locale', 'C'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      uid: o.user?.uid,
      gid: o.user?.gid,
      cwd: o.base,
    });
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

const SETTINGS = [
  'listen_addresses=127.0.0.1',
  'unix_socket_permissions=0700',
  'shared_preload_libraries=pg_stat_statements',
  'pg_stat_statements.track=all',
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'max_connections=300',
  'shared_buffers=128MB',
];

export interface LocalPostgres extends LocalService {
  /** Creates the `cachebench` database with pg_stat_statements. */
  createDatabase(): Promise<void>;
}

export function startPostgres(o: {
  pgBin: string;
  port: number;
  stateDir: string;
  base: string;
  user?: PostgresUser;
  log: (line: string) => void;
}): LocalPostgres {
  const password = randomBytes(18).toString('base64url');
  const dataDir = path.join(o.base, 'pg');
  const sockDir = path.join(o.base, 'pgsock');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  fs.mkdirSync(sockDir, { mode: 0o700 });
  if (o.user) for (const p of [dataDir, sockDir]) fs.chownSync(p, o.user.uid, o.user.gid);
  const t0 = Date.now();
  initdb({ pgBin: o.pgBin, base: o.base, dataDir, password, user: o.user });
  o.log(`initdb ${Date.now() - t0} ms`);

  const spawn = (): ServiceProcess =>
    spawnService({
      name: NAME,
      command: path.join(o.pgBin, 'postgres'),
      args: ['-D', dataDir, '-p', String(o.port), '-k', sockDir, ...SETTINGS.flatMap((s) => ['-c', s])],
      logFile: path.join(o.stateDir, 'postgres.log'),
      stateDir: o.stateDir,
      uid: o.user?.uid,
      gid: o.user?.gid,
      cwd: o.base,
      // SIGINT = PostgreSQL's "fast" shutdown: rolls back sessions and exits promptly.
      stopSignal: 'SIGINT',
    });
  const dbUrl = (port: number, db: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  const waitFor = (db: string, p: ServiceProcess) => {
    let version: string | undefined;
    return waitUntil(
      NAME,
      async () => {
        version = await postgresVersion(dbUrl(o.port, db));
        return true;
      },
      { timeoutMs: 20_000, proc: p, intervalMs: 50 },
    ).then(() => version);
  };
  const managed: ManagedService = {
    name: NAME,
    service: 'postgres',
    proc: spawn(),
    respawn: spawn,
    // Restarted, it answers on the benchmark's database, which the first start created.
    ready: async (p) => {
      await waitFor(DATABASE, p);
    },
    // A planned PostgreSQL restart is a fast shutdown, so the new postmaster finds no orphaned
    // backends holding the shared memory.
    killSignal: 'SIGINT',
  };
  const uids = o.user ? [process.getuid!(), o.user.uid] : undefined;
  return {
    managed,
    url: (port) => dbUrl(port, DATABASE),
    ready: () => waitFor('postgres', managed.proc),
    assertOwned: () => assertListenerOwned(NAME, o.port, { pid: managed.proc.pid, uids }),
    async createDatabase() {
      const admin = new pg.Client({ connectionString: dbUrl(o.port, 'postgres') });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${DATABASE}`);
      await admin.end();
      const db = new pg.Client({ connectionString: dbUrl(o.port, DATABASE) });
      await db.connect();
      await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await db.end();
    },
  };
}
