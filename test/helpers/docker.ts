/**
 * Docker checks shared by the container and compose tests. They run against a real engine;
 * `harness/setup/docker.sh` starts one and builds the local images.
 */
import { execFileSync } from 'node:child_process';

export function engineAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Skip reason, printed once, or undefined when the engine answers. */
export function dockerSkipReason(suite: string): string | undefined {
  if (engineAnswers()) return undefined;
  const reason = `${suite}: skipped, no Docker engine answers ('docker info' failed); run 'bash harness/setup/docker.sh' (root) to install/start one and build the images`;
  console.warn(reason);
  return reason;
}

export function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: 60_000 }).trim();
}

export function missingImages(images: string[]): string[] {
  return images.filter((i) => {
    try {
      execFileSync('docker', ['image', 'inspect', i], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}
