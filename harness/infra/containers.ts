/**
 * `--infra containers`: Redis, PostgreSQL and Toxiproxy as containers (testcontainers) on a
 * private network, so Toxiproxy reaches the services by alias. Published on 127.0.0.1 only.
 *
 * Redis and PostgreSQL require a random per-run password, as with `--infra local`: a published
 * loopback port is reachable by every local user (docs/security.md). Neither password is ever on
 * a command line (/proc/<pid>/cmdline of a container's process is readable by every host user):
 * Redis reads it from a config file copied into the container, PostgreSQL from the environment
 * (the image's entrypoint hands it to initdb). The URLs handed out carry them.
 *
 * No registry is assumed: testcontainers pulls only images missing locally, so the local
 * `cachebench/*` images from harness/setup/docker.sh are used as is when named.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { StartedNetwork, StartedTestContainer } from 'testcontainers';
import { CachebenchError } from '../errors.ts';
import { watchContainers } from './container-health.ts';
import { createProxies, postgresVersion, redisVersion, toxiproxyVersion } from './probes.ts';
import { redactSecrets } from './redact.ts';
import type { InfraHandle } from './types.ts';

export const DATABASE = 'cachebench';

/**
 * Official images, pinned by multi-arch index digest where one is known (docs/images.md says where
 * each came from; `docker/pin-images.sh` re-pins these and docker-compose.yml together). Valkey 7.2
 * is the BSD-licensed line compatible with Redis 7.2; it is tag-pinned until a digest is resolved.
 */
export const DEFAULT_IMAGES = {
  redis: 'valkey/valkey:7.2',
  postgres: 'postgres:15@sha256:9b1d34adbce1dd07ee6e94b4a2cf698884b89bd44a6c9c12f5da8f3acbfe4957',
  toxiproxy:
    'ghcr.io/shopify/toxiproxy:2.12.0@sha256:9378ed52a28bc50edc1350f936f518f31fa95f0d15917d6eb40b8e376d1a214e',
} as const;

/** The images harness/setup/docker.sh builds locally (tests and CI use these). */
export const LOCAL_IMAGES = {
  redis: 'cachebench/redis:7',
  postgres: 'cachebench/postgres:15',
  toxiproxy: 'cachebench/toxiproxy:2.12.0',
} as const;

/**
 * Proxy listen ports inside the Toxiproxy container. Fixed, because proxies are created before
 * the host knows anything, and outside 32768–61000 so they never collide with ephemeral ports.
 */
export const PROXY_PORTS = { redis: 16379, postgres: 15432 } as const;
const TOXIPROXY_API_PORT = 8474;

/**
 * Where the Redis config is copied. Both the valkey/redis images' entrypoint and ours take a
 * first argument ending in `.conf` as the server's config file.
 */
export const REDIS_CONFIG_PATH = '/cachebench-redis.conf';

/** 24 random bytes, base64url: URL-safe as is and a single token in a Redis config line. */
export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The container's whole Redis config: a throwaway cache (no persistence) that requires the
 * password. Protected mode stays on: it only matters if a password were missing.
 */
export function redisConfig(password: string): string {
  return [
    'port 6379',
    'bind 0.0.0.0',
    'protected-mode yes',
    `requirepass ${password}`,
    'save ""',
    'appendonly no',
    'dir /tmp',
    '',
  ].join('\n');
}

/** Labels that let a later run find containers whose owner process died. */
const LABEL_INFRA = 'cachebench.infra';
const LABEL_OWNER = 'cachebench.owner-pid';

export interface ContainerInfraOptions {
  images?: { redis?: string; postgres?: string; toxiproxy?: string };
  /**
   * Pull missing images (testcontainers' default). false (or CACHEBENCH_IMAGE_PULL=never) keeps
   * the run off the network: a missing image then fails at once.
   */
  pull?: boolean;
  /** Called with one line per step, for progress output. */
  log?: (line: string) => void;
}

export interface ResolvedImages {
  redis: string;
  postgres: string;
  toxiproxy: string;
}

/** Options win over CACHEBENCH_{REDIS,POSTGRES,TOXIPROXY}_IMAGE, which win over the defaults. */
export function resolveImages(
  opts: ContainerInfraOptions['images'] = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedImages {
  return {
    redis: opts.redis ?? env.CACHEBENCH_REDIS_IMAGE ?? DEFAULT_IMAGES.redis,
    postgres: opts.postgres ?? env.CACHEBENCH_POSTGRES_IMAGE ?? DEFAULT_IMAGES.postgres,
    toxiproxy: opts.toxiproxy ?? env.CACHEBENCH_TOXIPROXY_IMAGE ?? DEFAULT_IMAGES.toxiproxy,
  };
}

/**
 * resolveImages, then for each service nobody chose explicitly: when the official image is not
 * on the engine but the local `cachebench/*` one is (harness/setup/docker.sh built it), use the
 * local one rather than attempt a pull that fails without a registry.
 */
export async function chooseImages(
  opts: ContainerInfraOptions['images'] = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ images: ResolvedImages; substituted: string[] }> {
  configureTestcontainers();
  const images = resolveImages(opts, env);
  const substituted: string[] = [];
  const { getContainerRuntimeClient, ImageName } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const has = (name: string) => client.image.exists(ImageName.fromString(name)).catch(() => false);
  const envName = {
    redis: 'CACHEBENCH_REDIS_IMAGE',
    postgres: 'CACHEBENCH_POSTGRES_IMAGE',
    toxiproxy: 'CACHEBENCH_TOXIPROXY_IMAGE',
  };
  for (const service of ['redis', 'postgres', 'toxiproxy'] as const) {
    if (opts[service] !== undefined || env[envName[service]] !== undefined) continue;
    if (!(await has(images[service])) && (await has(LOCAL_IMAGES[service]))) {
      substituted.push(`${images[service]} → ${LOCAL_IMAGES[service]}`);
      images[service] = LOCAL_IMAGES[service];
    }
  }
  return { images, substituted };
}

/**
 * Settings testcontainers reads once, before its first engine call; the user's own values win.
 * - Ryuk cannot be pulled without a registry; our stop() and the leftover reaper replace it.
 * - Ports are published on 127.0.0.1 only, so that is the host to reach them on. Without this,
 *   a machine that has /.dockerenv (an image-built VM, a dev container) makes testcontainers
 *   use the bridge gateway (172.17.0.1), where nothing listens.
 */
function configureTestcontainers(): void {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
}

/** True when a container engine answers within `timeoutMs` (for `--infra auto`). */
export async function dockerAvailable(timeoutMs = 5_000): Promise<boolean> {
  configureTestcontainers();
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const probe = getContainerRuntimeClient().then(
      (c) => c.container.dockerode.ping().then(() => true),
      () => false,
    );
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes containers a crashed earlier run left behind (its owner PID is gone). */
export async function reapContainerLeftovers(): Promise<string[]> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const docker = client.container.dockerode;
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_INFRA] } });
  const removed: string[] = [];
  for (const c of list) {
    const owner = Number(c.Labels[LABEL_OWNER]);
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) continue;
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .then(() => removed.push(c.Names[0] ?? c.Id))
      .catch(() => {});
  }
  return removed;
}

async function waitFor<T>(what: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new CachebenchError(
    'INFRA_START',
    `${what} did not answer within ${timeoutMs} ms: ${redactSecrets(String(last))}`,
    {
      cause: last,
    },
  );
}

/** Idempotent, so official images (which do not create it) and ours end up the same. */
async function ensureStatStatements(c: pg.Client): Promise<void> {
  await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await c.query('SELECT count(*) FROM pg_stat_statements');
}

/** "git" is what a `go install` build reports; the image tag then carries the release. */
function releaseOf(reported: string, image: string): string {
  if (reported !== 'git') return reported;
  const tag = /:v?(\d+\.\d+\.\d+)(?:@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
  return tag ? `v${tag}` : reported;
}

export async function startContainerInfra(opts: ContainerInfraOptions = {}): Promise<InfraHandle> {
  configureTestcontainers();
  const log = opts.log ?? (() => {});
  const { images, substituted } = await chooseImages(opts.images);
  if (substituted.length > 0)
    log(`official images not on this engine, using local builds: ${substituted.join(', ')}`);
  const { GenericContainer, Network, PullPolicy, Wait } = await import('testcontainers');

  /** Binds every published port to 127.0.0.1: testcontainers alone publishes on all interfaces. */
  class LoopbackContainer extends GenericContainer {
    protected override async beforeContainerCreated(): Promise<void> {
      const bindings = this.hostConfig.PortBindings as Record<
        string,
        { HostPort?: string; HostIp?: string }[]
      >;
      for (const list of Object.values(bindings ?? {})) for (const b of list) b.HostIp = '127.0.0.1';
    }
  }
  const labels = { [LABEL_INFRA]: 'containers', [LABEL_OWNER]: String(process.pid) };
  const pull = opts.pull ?? process.env.CACHEBENCH_IMAGE_PULL !== 'never';

  const leftovers = await reapContainerLeftovers().catch(() => []);
  if (leftovers.length > 0) log(`removed ${leftovers.length} leftover container(s): ${leftovers.join(', ')}`);

  let network: StartedNetwork | undefined;
  const started: StartedTestContainer[] = [];
  let stopping: Promise<void> | undefined;
  // Like the local provisioner's child processes, a started stack keeps this process alive until
  // stop(): containers live outside it, and an exit without stop() would leak them.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const stop = (): Promise<void> => {
    clearInterval(keepAlive);
    stopping ??= (async () => {
      // Toxiproxy first so no client sees half-stopped backends through it.
      const order = [...started].reverse();
      for (const c of order) await c.stop({ remove: true, removeVolumes: true }).catch(() => {});
      await network?.stop().catch(() => {});
    })();
    return stopping;
  };

  const secrets = { redis: newSecret(), postgres: newSecret() };
  try {
    network = await new Network().start();
    log(`starting ${images.redis} and ${images.postgres}`);
    // allSettled: when one fails, the other may still start and must be stopped too.
    const settled = await Promise.allSettled([
      new LoopbackContainer(images.redis)
        .withNetwork(network)
        .withNetworkAliases('redis')
        .withLabels(labels)
        .withPullPolicy(pull ? PullPolicy.defaultPolicy() : PullPolicy.neverPull())
        // 0644: the copy is owned by root and the server runs unprivileged (the official
        // images drop root, ours starts as `redis`); only that server runs in the container,
        // and the host copy sits in the engine's root-only storage.
        .withCopyContentToContainer([
          { content: redisConfig(secrets.redis), target: REDIS_CONFIG_PATH, mode: 0o644 },
        ])
        .withCommand([REDIS_CONFIG_PATH])
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/i))
        .withStartupTimeout(60_000)
        .start(),
      new LoopbackContainer(images.postgres)
        .withNetwork(network)
        .withNetworkAliases('postgres')
        .withLabels(labels)
        .withPullPolicy(pull ? PullPolicy.defaultPolicy() : PullPolicy.neverPull())
        .withEnvironment({
          POSTGRES_DB: DATABASE,
          // Honoured by the official image and ours: initdb sets the superuser's password and
          // every TCP connection must authenticate with SCRAM.
          POSTGRES_HOST_AUTH_METHOD: 'scram-sha-256',
          POSTGRES_PASSWORD: secrets.postgres,
        })
        .withCommand([
          'postgres',
          '-c',
          'shared_preload_libraries=pg_stat_statements',
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
        ])
        .withExposedPorts(5432)
        // Both the official image and ours run init on a socket-only server first: TCP on
        // 127.0.0.1 answering means the final server is up.
        .withWaitStrategy(Wait.forSuccessfulCommand('pg_isready -h 127.0.0.1 -p 5432 -U postgres'))
        .withStartupTimeout(90_000)
        .start(),
    ]);
    for (const s of settled) if (s.status === 'fulfilled') started.push(s.value);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const [redis, postgres] = started as [StartedTestContainer, StartedTestContainer];

    log(`starting ${images.toxiproxy}`);
    const toxiproxy = await new LoopbackContainer(images.toxiproxy)
      .withNetwork(network)
      .withNetworkAliases('toxiproxy')
      .withLabels(labels)
      .withPullPolicy(pull ? PullPolicy.defaultPolicy() : PullPolicy.neverPull())
      .withExposedPorts(TOXIPROXY_API_PORT, PROXY_PORTS.redis, PROXY_PORTS.postgres)
      // The official image is distroless (no shell): an HTTP probe works for both.
      .withWaitStrategy(Wait.forHttp('/version', TOXIPROXY_API_PORT))
      .withStartupTimeout(60_000)
      .start();
    started.push(toxiproxy);

    const host = '127.0.0.1';
    // The proxies forward bytes: the same credentials work through them.
    const redisAt = (port: number) => `redis://:${secrets.redis}@${host}:${port}`;
    const postgresAt = (port: number) =>
      `postgres://postgres:${secrets.postgres}@${host}:${port}/${DATABASE}`;
    const redisUrl = redisAt(redis.getMappedPort(6379));
    const postgresUrl = postgresAt(postgres.getMappedPort(5432));
    const toxiproxyUrl = `http://${host}:${toxiproxy.getMappedPort(TOXIPROXY_API_PORT)}`;
    const redisProxyUrl = redisAt(toxiproxy.getMappedPort(PROXY_PORTS.redis));
    const postgresProxyUrl = postgresAt(toxiproxy.getMappedPort(PROXY_PORTS.postgres));

    await createProxies(toxiproxyUrl, [
      { name: 'redis', listen: `0.0.0.0:${PROXY_PORTS.redis}`, upstream: 'redis:6379' },
      { name: 'postgres', listen: `0.0.0.0:${PROXY_PORTS.postgres}`, upstream: 'postgres:5432' },
    ]);

    const versions: InfraHandle['versions'] = {};
    versions.toxiproxy = releaseOf(await toxiproxyVersion(toxiproxyUrl), images.toxiproxy);
    // Through the proxies, as the target will connect: proves the whole path, not just the ports.
    [versions.redis, versions.postgres] = await Promise.all([
      waitFor('redis through the toxiproxy', () => redisVersion(redisProxyUrl), 15_000),
      waitFor(
        'postgres through the toxiproxy',
        () => postgresVersion(postgresProxyUrl, { prepare: ensureStatStatements }),
        30_000,
      ),
    ]);
    log(
      `containers ready: redis ${versions.redis}, postgres ${versions.postgres}, toxiproxy ${versions.toxiproxy}`,
    );

    return {
      kind: 'containers',
      redisUrl,
      redisProxyUrl,
      postgresUrl,
      postgresProxyUrl,
      toxiproxyUrl,
      versions,
      pids: [],
      processes: watchContainers([
        { name: 'redis container', container: redis },
        { name: 'postgres container', container: postgres },
        { name: 'toxiproxy container', container: toxiproxy },
      ]),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    if (e instanceof CachebenchError) throw e;
    const msg = redactSecrets(e instanceof Error ? e.message : String(e));
    // Without a registry a missing image surfaces as a pull error: say how to get images.
    const hint = /pull|manifest|no such image|not found|registry/i.test(msg)
      ? "; images must exist on the engine or be pullable: 'bash harness/setup/docker.sh' builds cachebench/* images locally, CACHEBENCH_{REDIS,POSTGRES,TOXIPROXY}_IMAGE choose others"
      : '';
    throw new CachebenchError(
      'INFRA_START',
      `container infra failed to start (images ${images.redis}, ${images.postgres}, ${images.toxiproxy}): ${msg}${hint}`,
      { cause: e },
    );
  }
}
