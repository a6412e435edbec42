/** `cachebench up`: start the stack, print the URLs, keep it up until Ctrl-C. */
import { registerCleanup } from '../infra/cleanup.ts';
import { startInfra } from '../infra/index.ts';

export async function upCommand(opts: {
  infra: 'local' | 'containers' | 'auto';
  redisPort?: number;
  postgresPort?: number;
  toxiproxyPort?: number;
  json?: boolean;
}): Promise<void> {
  const t0 = Date.now();
  const infra = await startInfra({
    infra: opts.infra,
    local: { redisPort: opts.redisPort, postgresPort: opts.postgresPort, toxiproxyPort: opts.toxiproxyPort },
    log: (l) => process.stderr.write(`${l}\n`),
  });
  registerCleanup('infra', () => infra.stop());
  const urls = {
    redis: infra.redisUrl,
    redisProxy: infra.redisProxyUrl,
    postgres: infra.postgresUrl,
    postgresProxy: infra.postgresProxyUrl,
    toxiproxy: infra.toxiproxyUrl,
    pids: infra.pids,
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(urls)}\n`);
  } else {
    process.stdout.write(
      [
        `cachebench stack up (${infra.kind}) in ${Date.now() - t0} ms — Ctrl-C to stop`,
        `  redis            ${urls.redis}`,
        `  redis (proxy)    ${urls.redisProxy}`,
        `  postgres         ${urls.postgres}`,
        `  postgres (proxy) ${urls.postgresProxy}`,
        `  toxiproxy API    ${urls.toxiproxy}`,
        '',
      ].join('\n'),
    );
  }
  // Stay alive until a signal: a pending promise alone does not hold Node's event loop open
  // (with containers nothing else would), so keep a timer. The SIGINT/SIGTERM handler in
  // cleanup.ts stops the stack and exits.
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
}
