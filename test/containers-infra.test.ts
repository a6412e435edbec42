/**
 * The containers provisioner against a real Docker engine, with the local cachebench/* images
 * (no registry). Skips, saying why, only when no engine answers.
 */
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chooseImages,
  DEFAULT_IMAGES,
  dockerAvailable,
  LOCAL_IMAGES,
  newSecret,
  PROXY_PORTS,
  reapContainerLeftovers,
  redisConfig,
  resolveImages,
  startContainerInfra,
} from '../harness/infra/containers.ts';
import { redactSecrets } from '../harness/infra/redact.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { docker, dockerSkipReason, missingImages } from './helpers/docker.ts';
import { redisPing as ping, toxiproxy } from './helpers/infra.ts';

describe('resolveImages', () => {
  it('prefers options, then CACHEBENCH_*_IMAGE, then pinned official images', () => {
    expect(resolveImages({}, {})).toEqual(DEFAULT_IMAGES);
    const env = { CACHEBENCH_REDIS_IMAGE: 'r:1', CACHEBENCH_POSTGRES_IMAGE: 'p:2' };
    expect(resolveImages({ postgres: 'p:opt' }, env)).toEqual({
      redis: 'r:1',
      postgres: 'p:opt',
      toxiproxy: DEFAULT_IMAGES.toxiproxy,
    });
    // name:tag, with the index digest where one is pinned (docs/images.md).
    for (const image of Object.values(DEFAULT_IMAGES))
      expect(image).toMatch(/:\d+(\.\d+)*(@sha256:[0-9a-f]{64})?$/);
  });
});

describe('container secrets', () => {
  it('are fresh, URL-safe and long enough', () => {
    const a = newSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(newSecret()).not.toBe(a);
  });

  it('the Redis config requires the password, keeps protected mode and persists nothing', () => {
    const lines = redisConfig('pw-1').split('\n');
    expect(lines).toContain('requirepass pw-1');
    expect(lines).toContain('protected-mode yes');
    expect(lines).toContain('save ""');
    expect(lines).toContain('appendonly no');
  });
});

/**
 * The first reply of a server to one inline command on a raw socket: a client library would hide
 * the refusal behind its own reconnect and error handling.
 */
function rawRedisReply(port: number, command: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`${command}\r\n`));
    s.setTimeout(5_000, () => {
      s.destroy();
      reject(new Error(`no reply from 127.0.0.1:${port} within 5 s`));
    });
    s.once('data', (d) => {
      resolve(d.toString().trim());
      s.destroy();
    });
    s.once('error', reject);
  });
}

/** connect() with `password` in place of the URL's; resolves to the refusal's message. */
async function pgRefusal(url: string, password: string): Promise<string> {
  const u = new URL(url);
  u.password = password;
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.end();
    return 'accepted';
  } catch (e) {
    await c.end().catch(() => {});
    return (e as Error).message;
  }
}

const skip = dockerSkipReason('containers provisioner');

describe.skipIf(skip !== undefined)('startContainerInfra (real engine)', () => {
  let infra: InfraHandle | undefined;
  let startMs = 0;
  const ownContainers = () =>
    docker(['ps', '-a', '--filter', `label=cachebench.owner-pid=${process.pid}`, '--format', '{{.Names}}'])
      .split('\n')
      .filter(Boolean);

  beforeAll(async () => {
    const missing = missingImages(Object.values(LOCAL_IMAGES));
    if (missing.length > 0)
      throw new Error(`missing images ${missing.join(', ')}: run harness/setup/docker.sh`);
    const t = performance.now();
    infra = await startContainerInfra({ images: LOCAL_IMAGES });
    startMs = performance.now() - t;
    console.log(`containers started in ${Math.round(startMs)} ms`);
  }, 180_000);
  afterAll(async () => {
    await infra?.stop();
  }, 60_000);

  it('dockerAvailable() says yes (what --infra auto asks)', async () => {
    expect(await dockerAvailable()).toBe(true);
  });

  it('starts all three, published on 127.0.0.1 only, with versions', () => {
    const i = infra!;
    expect(i.kind).toBe('containers');
    expect(i.pids).toEqual([]);
    const names = ownContainers();
    expect(names).toHaveLength(3);
    for (const name of names) {
      const bindings = JSON.parse(
        docker(['inspect', '-f', '{{json .HostConfig.PortBindings}}', name]),
      ) as Record<string, { HostIp: string }[]>;
      for (const list of Object.values(bindings)) for (const b of list) expect(b.HostIp).toBe('127.0.0.1');
    }
    expect(i.versions.redis).toMatch(/^7\./);
    expect(i.versions.postgres).toMatch(/^15\./);
    expect(i.versions.toxiproxy).toBe('v2.12.0');
  });

  it('Redis PING and a Postgres query work directly and through the proxies', async () => {
    const i = infra!;
    expect(await ping(i.redisUrl)).toBe('PONG');
    expect(await ping(i.redisProxyUrl)).toBe('PONG');
    expect(i.redisProxyUrl).not.toBe(i.redisUrl);
    for (const url of [i.postgresUrl, i.postgresProxyUrl]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const r = await c.query<{ db: string; n: number }>('SELECT current_database() AS db, 40 + 2 AS n');
        expect(r.rows[0]).toEqual({ db: 'cachebench', n: 42 });
        // pg_stat_statements is preloaded: the view is readable and counts our query.
        const s = await c.query<{ calls: string }>(
          "SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements WHERE query LIKE 'SELECT current_database()%'",
        );
        expect(Number(s.rows[0]?.calls)).toBeGreaterThanOrEqual(1);
      } finally {
        await c.end();
      }
    }
    const proxies = (await toxiproxy(i.toxiproxyUrl, 'GET', '/proxies')) as Record<
      string,
      { listen: string }
    >;
    expect(proxies.redis?.listen).toMatch(new RegExp(`:${PROXY_PORTS.redis}$`));
    expect(proxies.postgres?.listen).toMatch(new RegExp(`:${PROXY_PORTS.postgres}$`));
    expect(Object.keys(proxies).sort()).toEqual(['postgres', 'redis']);
  });

  it('the URLs carry per-run credentials; without them Redis and PostgreSQL refuse, directly and through the proxies', async () => {
    const i = infra!;
    const redisPw = new URL(i.redisUrl).password;
    const pgPw = new URL(i.postgresUrl).password;
    expect(redisPw).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pgPw).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pgPw).not.toBe(redisPw);
    expect(new URL(i.redisProxyUrl).password).toBe(redisPw);
    expect(new URL(i.postgresProxyUrl).password).toBe(pgPw);
    expect(redactSecrets(i.postgresUrl)).not.toContain(pgPw);
    for (const url of [i.redisUrl, i.redisProxyUrl]) {
      const port = Number(new URL(url).port);
      const reply = await rawRedisReply(port, 'GET x');
      console.log(`redis 127.0.0.1:${port} without a password: GET x → ${reply}`);
      expect(reply).toMatch(/^-NOAUTH Authentication required/);
      const wrong = await rawRedisReply(port, 'AUTH wrong');
      console.log(`redis 127.0.0.1:${port}: AUTH wrong → ${wrong}`);
      expect(wrong).toMatch(/^-WRONGPASS/);
      expect(await rawRedisReply(port, `AUTH ${redisPw}`)).toBe('+OK');
      expect(await ping(url)).toBe('PONG');
    }
    for (const url of [i.postgresUrl, i.postgresProxyUrl]) {
      const port = new URL(url).port;
      for (const password of ['', 'wrong']) {
        const refusal = await pgRefusal(url, password);
        console.log(`postgres 127.0.0.1:${port} with password '${password}': ${refusal}`);
        // No password: the client cannot answer the server's SCRAM challenge; wrong: the server says no.
        expect(refusal).toMatch(
          password ? /password authentication failed for user "postgres"/ : /SASL|password/,
        );
      }
      expect(await pgRefusal(url, pgPw)).toBe('accepted');
    }
  });

  it('no password is on a container command line or in the postgres server environment', () => {
    const i = infra!;
    const secrets = [new URL(i.redisUrl).password, new URL(i.postgresUrl).password];
    for (const name of ownContainers()) {
      const [pid, args] = docker(['inspect', '-f', '{{.State.Pid}} {{json .Args}}', name]).split(' ');
      // What every host user can read: the container processes' command lines.
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      for (const secret of secrets) {
        expect(args).not.toContain(secret);
        expect(cmdline).not.toContain(secret);
      }
      // Our image's entrypoint hands the password to initdb and drops it before exec.
      if (docker(['inspect', '-f', '{{.Config.Image}}', name]) === LOCAL_IMAGES.postgres)
        expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain(secrets[1]);
    }
  });

  it('disabling the redis proxy makes PING fail; enabling it restores it', async () => {
    const i = infra!;
    await toxiproxy(i.toxiproxyUrl, 'POST', '/proxies/redis', { enabled: false });
    await expect(ping(i.redisProxyUrl)).rejects.toThrow();
    // The direct path is unaffected: the fault is in the proxy, not in Redis.
    expect(await ping(i.redisUrl)).toBe('PONG');
    await toxiproxy(i.toxiproxyUrl, 'POST', '/proxies/redis', { enabled: true });
    expect(await ping(i.redisProxyUrl)).toBe('PONG');
  });

  it('falls back to the local builds only where nobody chose an image and the official one is absent', async () => {
    const present = missingImages(Object.values(DEFAULT_IMAGES)).length === 0;
    const auto = await chooseImages({}, {});
    if (!present) {
      // No registry here: the official images are not on the engine, the local builds are.
      for (const s of ['redis', 'postgres', 'toxiproxy'] as const) {
        const official = missingImages([DEFAULT_IMAGES[s]]).length === 0;
        expect(auto.images[s]).toBe(official ? DEFAULT_IMAGES[s] : LOCAL_IMAGES[s]);
      }
    }
    const chosen = await chooseImages(
      { redis: 'example.invalid/redis:1' },
      { CACHEBENCH_POSTGRES_IMAGE: 'x/pg:1' },
    );
    expect(chosen.images.redis).toBe('example.invalid/redis:1');
    expect(chosen.images.postgres).toBe('x/pg:1');
  });

  it('an image that is neither local nor pullable fails with a hint, leaving nothing behind', async () => {
    await expect(
      // pull: false keeps the test off the network (no registry request at all).
      startContainerInfra({ images: { ...LOCAL_IMAGES, redis: 'cachebench/no-such-image:0' }, pull: false }),
    ).rejects.toThrow(/no-such-image.*harness\/setup\/docker\.sh/s);
    // Only the handle from beforeAll remains.
    expect(ownContainers()).toHaveLength(3);
  }, 60_000);

  it('reaps containers whose owner process is gone, and only those', async () => {
    // A container "left by" a dead run (PID 2^22 + 1 is above Linux's pid_max limit).
    const name = `cachebench-leftover-${process.pid}`;
    docker([
      'create',
      '--name',
      name,
      '--label',
      'cachebench.infra=containers',
      '--label',
      'cachebench.owner-pid=4194305',
      LOCAL_IMAGES.redis,
    ]);
    const removed = await reapContainerLeftovers();
    expect(removed).toContain(`/${name}`);
    expect(docker(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}'])).toBe('');
    // Ours (owner alive) stay.
    expect(ownContainers()).toHaveLength(3);
  });

  it('stop() removes every container it started and is idempotent', async () => {
    expect(ownContainers()).toHaveLength(3);
    await infra!.stop();
    await infra!.stop();
    expect(ownContainers()).toEqual([]);
    await expect(ping(infra!.redisUrl)).rejects.toThrow();
  }, 60_000);
});
