/**
 * `cachebench doctor`: each dependency with version and path, or "missing" with the exact command
 * that installs it on this platform. Also the preflight of the commands that start local
 * infrastructure (`run`, `up`, `check-strategy`): the same checks, one line, before anything
 * starts. Neither installs anything.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinaries } from '../infra/local.ts';

/** The Toxiproxy release the harness is tested with (also pinned in harness/setup/with-env.sh). */
export const TOXIPROXY_VERSION = 'v2.12.0';

interface Check {
  name: string;
  path?: string;
  version?: string;
  fix: string;
  required: boolean;
}

/** The tool cache shared with harness/setup/with-env.sh. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.CACHEBENCH_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'cachebench')
  );
}

function cachedToxiproxy(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(toolCacheDir(env), `toxiproxy-${TOXIPROXY_VERSION}`, 'toxiproxy-server');
}

/**
 * Points TOXIPROXY_BIN at the tool cache's toxiproxy-server when neither TOXIPROXY_BIN nor PATH
 * has one, so a packaged install finds what `npm run setup` (or the printed fix) built.
 */
export function useToolCache(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TOXIPROXY_BIN || whichPath('toxiproxy-server')) return;
  const cached = cachedToxiproxy(env);
  if (fs.existsSync(cached)) env.TOXIPROXY_BIN = cached;
}

function version(cmd: string, args: string[], re: RegExp): string | undefined {
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
    });
    return re.exec(out)?.[1] ?? out.trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

function whichPath(cmd: string): string | undefined {
  try {
    return (
      execFileSync('sh', ['-c', `command -v ${cmd}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

export interface Platform {
  os: NodeJS.Platform;
  root: boolean;
  has: (cmd: string) => boolean;
}

const thisPlatform = (): Platform => ({
  os: process.platform,
  root: process.getuid?.() === 0,
  has: (cmd) => whichPath(cmd) !== undefined,
});

export type Tool = 'redis-server' | 'postgres' | 'toxiproxy-server' | 'node';

/** The exact command that installs `tool` here: apt (with sudo unless root), dnf, or Homebrew. */
export function installCommand(
  tool: Tool,
  p: Platform = thisPlatform(),
  env: NodeJS.ProcessEnv = process.env,
): string {
  const sudo = p.root ? '' : 'sudo ';
  if (tool === 'node') {
    return p.os === 'darwin'
      ? 'brew install node@24'
      : 'nvm install 24 (https://github.com/nvm-sh/nvm), or a Node 24 build from https://nodejs.org/en/download';
  }
  if (p.os === 'darwin') {
    if (tool === 'redis-server') return 'brew install redis';
    if (tool === 'postgres') return 'brew install postgresql@17 && brew link --force postgresql@17';
    return 'brew install toxiproxy';
  }
  if (tool === 'toxiproxy-server') {
    const dir = path.dirname(cachedToxiproxy(env));
    const go = `GOBIN="${dir}" go install github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION} && mv "${dir}/server" "${dir}/toxiproxy-server"`;
    if (p.has('go')) return go;
    const getGo = p.has('apt-get')
      ? `${sudo}apt-get install -y golang-go`
      : p.has('dnf')
        ? `${sudo}dnf install -y golang`
        : 'install Go (https://go.dev/dl)';
    return `${getGo} && ${go} (or set TOXIPROXY_BIN to a toxiproxy-server binary)`;
  }
  const apt = tool === 'redis-server' ? 'redis-server' : 'postgresql postgresql-contrib';
  const dnf = tool === 'redis-server' ? 'redis' : 'postgresql-server postgresql-contrib';
  if (p.has('apt-get')) return `${sudo}apt-get update && ${sudo}apt-get install -y ${apt}`;
  if (p.has('dnf')) return `${sudo}dnf install -y ${dnf}`;
  return tool === 'redis-server'
    ? 'install Redis >= 6 so that redis-server is on PATH'
    : 'install PostgreSQL >= 14 with its contrib modules so that pg_config and initdb are on PATH';
}

/** pg_stat_statements ships in PostgreSQL's contrib package; the DB-load cross-check needs it. */
function hasPgStatStatements(): boolean {
  const share = version('pg_config', ['--sharedir'], /^(.+)$/m);
  return share !== undefined && fs.existsSync(path.join(share, 'extension', 'pg_stat_statements.control'));
}

/**
 * The fix when `docker` is installed but `docker info` fails. A non-root user outside the docker
 * group gets "permission denied" from a running engine: starting it again would not help.
 */
function dockerEngineFix(): string {
  try {
    execFileSync('docker', ['info'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  } catch (e) {
    if (/permission denied/i.test(String((e as { stderr?: unknown }).stderr ?? ''))) {
      const user = os.userInfo().username;
      return `the engine runs but ${user} may not use its socket: sudo usermod -aG docker ${user}, then log in again (or use rootless Docker) — only for --infra containers`;
    }
  }
  return 'start the Docker engine — only for --infra containers';
}

export function collectChecks(): Check[] {
  const bins = findBinaries();
  const k6 = process.env.K6_BIN ?? whichPath('k6');
  const docker = whichPath('docker');
  const dockerEngine = docker
    ? version('docker', ['info', '--format', '{{.ServerVersion}}'], /^(\S+)/)
    : undefined;
  const pgOk = bins.pgBin !== undefined && hasPgStatStatements();
  return [
    {
      name: 'node',
      path: process.execPath,
      version: process.versions.node,
      fix: installCommand('node'),
      required: true,
    },
    {
      name: 'redis-server',
      path: bins.redis,
      version: bins.redis ? version(bins.redis, ['--version'], /v=(\S+)/) : undefined,
      fix: installCommand('redis-server'),
      required: true,
    },
    {
      name: 'postgres/initdb',
      path: pgOk ? path.join(bins.pgBin!, 'initdb') : undefined,
      version: pgOk ? version(path.join(bins.pgBin!, 'postgres'), ['--version'], /(\d+\.\d+)/) : undefined,
      fix: `${installCommand('postgres')}${bins.pgBin ? ' (pg_stat_statements is missing: it is in the contrib package)' : ''}`,
      required: true,
    },
    {
      name: 'toxiproxy-server',
      path: bins.toxiproxy,
      version: bins.toxiproxy
        ? (/toxiproxy-(v[\d.]+)/.exec(bins.toxiproxy)?.[1] ?? version(bins.toxiproxy, ['-version'], /(\S+)$/))
        : undefined,
      fix: installCommand('toxiproxy-server'),
      required: true,
    },
    {
      name: 'docker engine',
      path: docker,
      version: dockerEngine,
      fix: docker ? dockerEngineFix() : 'install Docker — only for --infra containers',
      required: false,
    },
    {
      name: 'k6',
      path: k6,
      version: k6 ? version(k6, ['version'], /k6 (v\S+)/) : undefined,
      fix: 'optional: install k6 yourself (https://grafana.com/docs/k6/) or set K6_BIN; the built-in driver needs nothing',
      required: false,
    },
  ];
}

const ok = (c: Check) => c.path !== undefined && c.version !== undefined;

/**
 * One line for a command that needs local infrastructure, or undefined when everything is there:
 * what is missing and the exact commands to run.
 */
export function missingToolsLine(command: string): string | undefined {
  const missing = collectChecks().filter((c) => c.required && !ok(c));
  if (missing.length === 0) return undefined;
  return `${command} needs ${missing.map((c) => c.name).join(', ')} (not found on PATH, in TOXIPROXY_BIN or in ${toolCacheDir()}); install: ${missing.map((c) => c.fix).join('; ')}; then check with: cachebench doctor`;
}

export async function doctorCommand(): Promise<void> {
  const checks = collectChecks();
  const w = Math.max(...checks.map((c) => c.name.length));
  let bad = 0;
  for (const c of checks) {
    if (!ok(c) && c.required) bad++;
    const status = ok(c)
      ? `${c.version}  ${c.path}`
      : `missing${c.required ? '' : ' (optional)'} — fix: ${c.fix}`;
    process.stdout.write(`${ok(c) ? '✔' : c.required ? '✘' : '·'} ${c.name.padEnd(w)}  ${status}\n`);
  }
  if (bad > 0) {
    process.stdout.write(`\n${bad} required dependenc${bad === 1 ? 'y is' : 'ies are'} missing.\n`);
    process.exitCode = 1;
  }
}
