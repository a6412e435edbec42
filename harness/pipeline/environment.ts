/** Facts about the machine and the checkout, for the methodology/environment section. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { RunEnvironment } from '../results/schema.ts';

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function collectEnvironment(versions: {
  redis?: string;
  postgres?: string;
  toxiproxy?: string;
}): RunEnvironment {
  const cpus = os.cpus();
  const sha = git(['rev-parse', 'HEAD']);
  return {
    node: process.versions.node,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    hostname: os.hostname(),
    redisVersion: versions.redis,
    postgresVersion: versions.postgres,
    toxiproxyVersion: versions.toxiproxy,
    gitSha: sha,
    gitDirty: sha ? (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '' : undefined,
  };
}
