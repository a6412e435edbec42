/**
 * Finds live processes by an environment marker. A test starts the CLI with a unique
 * CACHEBENCH_TEST_TAG; every descendant inherits it (services, target instances), so a scan of
 * /proc/<pid>/environ finds anything the run left behind, even after re-parenting to init.
 */
import fs from 'node:fs';

export function processesWithTag(tag: string): number[] {
  const needle = `CACHEBENCH_TEST_TAG=${tag}`;
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (env.split('\0').includes(needle)) found.push(Number(entry));
    } catch {}
  }
  return found;
}

export function newTag(): string {
  return `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}
