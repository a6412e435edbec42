/** `cachebench doctor`: each dependency with version and path, or "missing" with the exact fix. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { findBinaries } from '../infra/local.ts';

interface Check {
  name: string;
  path?: string;
  version?: string;
  fix: string;
  required: boolean;
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
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function collectChecks(): Check[] {
  const bins = findBinaries();
  const k6 = process.env.K6_BIN ?? whichPath('k6');
  const docker = whichPath('docker');
  const dockerEngine = docker
    ? version('docker', ['info', '--format', '{{.ServerVersion}}'], /^(\S+)/)
    : undefined;
  return [
    {
      name: 'node',
      path: process.execPath,
      version: process.versions.node,
      fix: 'npm run setup (installs node@24 from npm when the system Node is older than 22.22)',
      required: true,
    },
    {
      name: 'redis-server',
      path: bins.redis,
      version: bins.redis ? version(bins.redis, ['--version'], /v=(\S+)/) : undefined,
      fix: 'apt-get install -y redis-server',
      required: true,
    },
    {
      name: 'postgres/initdb',
      path: bins.pgBin ? path.join(bins.pgBin, 'initdb') : undefined,
      version: bins.pgBin
        ? version(path.join(bins.pgBin, 'postgres'), ['--version'], /(\d+\.\d+)/)
        : undefined,
      fix: 'apt-get install -y postgresql postgresql-contrib',
      required: true,
    },
    {
      name: 'toxiproxy-server',
      path: bins.toxiproxy,
      version: bins.toxiproxy
        ? (/toxiproxy-(v[\d.]+)/.exec(bins.toxiproxy)?.[1] ?? version(bins.toxiproxy, ['-version'], /(\S+)$/))
        : undefined,
      fix: 'npm run setup (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0), or set TOXIPROXY_BIN',
      required: true,
    },
    {
      name: 'docker engine',
      path: docker,
      version: dockerEngine,
      fix: docker
        ? 'start the engine: bash harness/setup/docker.sh (root) — only for --infra containers'
        : 'apt-get install -y docker.io — only for --infra containers',
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

export async function doctorCommand(): Promise<void> {
  const checks = collectChecks();
  const w = Math.max(...checks.map((c) => c.name.length));
  let bad = 0;
  for (const c of checks) {
    const ok = c.path !== undefined && c.version !== undefined;
    if (!ok && c.required) bad++;
    const status = ok
      ? `${c.version}  ${c.path}`
      : `missing${c.required ? '' : ' (optional)'} — fix: ${c.fix}`;
    process.stdout.write(`${ok ? '✔' : c.required ? '✘' : '·'} ${c.name.padEnd(w)}  ${status}\n`);
  }
  if (bad > 0) {
    process.stdout.write(`\n${bad} required dependenc${bad === 1 ? 'y is' : 'ies are'} missing.\n`);
    process.exitCode = 1;
  }
}
