/**
 * The local provisioner's toxiproxy-server: its API on a loopback port (it has no
 * authentication, so the listener ownership checks matter), the `redis` and `postgres` proxies
 * created through that API like on every provisioner. Health only: no planned fault restarts it.
 */
import path from 'node:path';
import { assertListenerOwned } from '../listener.ts';
import { createProxies, toxiproxyVersion } from '../probes.ts';
import type { ManagedService } from '../process-control.ts';
import { spawnService, waitUntil } from '../processes.ts';

const NAME = 'toxiproxy-server';

export interface LocalToxiproxy {
  managed: ManagedService;
  url: string;
  ready(): Promise<string | undefined>;
  assertOwned(): void;
  /**
   * Creates a loopback proxy per entry (listening on `host`, 127.0.0.1 unless given) and checks
   * the toxiproxy-server holds each port.
   */
  proxy(proxies: { name: string; port: number; upstreamPort: number; host?: string }[]): Promise<void>;
}

export function startToxiproxy(o: { bin: string; port: number; stateDir: string }): LocalToxiproxy {
  const proc = spawnService({
    name: NAME,
    command: o.bin,
    args: ['-host', '127.0.0.1', '-port', String(o.port)],
    logFile: path.join(o.stateDir, 'toxiproxy.log'),
    stateDir: o.stateDir,
  });
  const url = `http://127.0.0.1:${o.port}`;
  return {
    managed: { name: NAME, proc },
    url,
    async ready() {
      let reported = '';
      await waitUntil(
        NAME,
        async () => {
          reported = await toxiproxyVersion(url);
          return true;
        },
        { timeoutMs: 10_000, proc },
      );
      // A `go install` build reports "git"; the cache dir name carries the pinned release.
      return reported === 'git' ? (/toxiproxy-(v[\d.]+)/.exec(o.bin)?.[1] ?? reported) : reported;
    },
    assertOwned: () => assertListenerOwned(NAME, o.port, { pid: proc.pid }),
    async proxy(proxies) {
      await createProxies(
        url,
        proxies.map((p) => ({
          name: p.name,
          listen: `${p.host ?? '127.0.0.1'}:${p.port}`,
          upstream: `127.0.0.1:${p.upstreamPort}`,
        })),
      );
      for (const p of proxies) assertListenerOwned(`toxiproxy proxy ${p.name}`, p.port, { pid: proc.pid });
    },
  };
}
