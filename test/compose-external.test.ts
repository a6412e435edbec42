/**
 * docker-compose.yml brought up for real (local cachebench/* images, free ports, its own project
 * name, random passwords) and `connectExternalInfra` against it; then the external provisioner's
 * own behaviour (creating missing proxies, cleaning leftovers, errors) against the local stack.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_IMAGES } from '../harness/infra/containers.ts';
import { connectExternalInfra, listenPort, proxyUrlFor } from '../harness/infra/external.ts';
import { startLocalInfra } from '../harness/infra/local.ts';
import { freePort } from '../harness/infra/ports.ts';
import type { InfraHandle } from '../harness/infra/types.ts';
import { docker, dockerSkipReason, missingImages } from './helpers/docker.ts';
import { redisPing as ping, toxiproxy } from './helpers/infra.ts';

async function selectOne(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await c.connect();
  try {
    return (await c.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n;
  } finally {
    await c.end();
  }
}

describe('external provisioner helpers', () => {
  it('derives a proxy URL from the Toxiproxy host and the listen port, keeping user and db', () => {
    expect(listenPort('0.0.0.0:16379')).toBe(16379);
    expect(listenPort('[::]:15432')).toBe(15432);
    expect(
      proxyUrlFor(
        new URL('postgres://postgres:pw@db.internal:5432/cachebench'),
        new URL('http://127.0.0.1:8474'),
        '[::]:15432',
      ),
    ).toBe('postgres://postgres:pw@127.0.0.1:15432/cachebench');
  });

  it('rejects a malformed URL naming the flag and the value', async () => {
    await expect(
      connectExternalInfra({
        redisUrl: 'localhost:6379',
        postgresUrl: 'postgres://x@h/db',
        toxiproxyUrl: 'http://h',
      }),
    ).rejects.toThrow(/--redis-url 'localhost:6379' is not valid; expected redis: or rediss:/);
  });
});

describe('connectExternalInfra against a local stack', () => {
  let local: InfraHandle | undefined;
  beforeAll(async () => {
    local = await startLocalInfra();
  }, 60_000);
  afterAll(async () => {
    await local?.stop();
  }, 30_000);

  it('names the service that does not answer', async () => {
    const dead = await freePort();
    await expect(
      connectExternalInfra({
        redisUrl: `redis://127.0.0.1:${dead}`,
        postgresUrl: local!.postgresUrl,
        toxiproxyUrl: local!.toxiproxyUrl,
      }),
    ).rejects.toThrow(new RegExp(`--redis-url redis://127.0.0.1:${dead} did not answer`));
  });

  it('uses existing proxies, cleans leftover faults, and stop() removes nothing it did not create', async () => {
    const l = local!;
    await toxiproxy(l.toxiproxyUrl, 'POST', '/proxies/redis/toxics', {
      name: 'leftover',
      type: 'latency',
      attributes: { latency: 500 },
    });
    await toxiproxy(l.toxiproxyUrl, 'POST', '/proxies/postgres', { enabled: false });
    const ext = await connectExternalInfra({
      redisUrl: l.redisUrl,
      postgresUrl: l.postgresUrl,
      toxiproxyUrl: l.toxiproxyUrl,
    });
    expect(ext.kind).toBe('external');
    expect(ext.redisProxyUrl).toBe(l.redisProxyUrl);
    expect(ext.postgresProxyUrl).toBe(l.postgresProxyUrl);
    expect(ext.versions.redis).toMatch(/^\d+\./);
    expect(ext.versions.postgres).toMatch(/^15\./);
    expect(await toxiproxy(l.toxiproxyUrl, 'GET', '/proxies/redis/toxics')).toEqual([]);
    const t = performance.now();
    expect(await ping(ext.redisProxyUrl)).toBe('PONG');
    expect(performance.now() - t).toBeLessThan(400);
    expect(await selectOne(ext.postgresProxyUrl)).toBe(1);
    await ext.stop();
    const proxies = (await toxiproxy(l.toxiproxyUrl, 'GET', '/proxies')) as Record<string, unknown>;
    expect(Object.keys(proxies).sort()).toEqual(['postgres', 'redis']);
    expect(await ping(l.redisUrl)).toBe('PONG');
  });

  it('creates missing proxies where asked, and stop() deletes exactly those', async () => {
    const l = local!;
    const saved = (await toxiproxy(l.toxiproxyUrl, 'GET', '/proxies')) as Record<
      string,
      { name: string; listen: string; upstream: string; enabled: boolean }
    >;
    await toxiproxy(l.toxiproxyUrl, 'DELETE', '/proxies/redis');
    await toxiproxy(l.toxiproxyUrl, 'DELETE', '/proxies/postgres');
    try {
      const taken = new Set<number>();
      const rp = await freePort(taken);
      const pp = await freePort(taken);
      const ext = await connectExternalInfra({
        redisUrl: l.redisUrl,
        postgresUrl: l.postgresUrl,
        toxiproxyUrl: l.toxiproxyUrl,
        // The proxy URLs carry the services' credentials, like every URL the harness uses.
        redisProxyUrl: l.redisUrl.replace(/:\d+$/, `:${rp}`),
        postgresProxyUrl: l.postgresUrl.replace(/:\d+\//, `:${pp}/`),
      });
      expect(await ping(ext.redisProxyUrl)).toBe('PONG');
      expect(await selectOne(ext.postgresProxyUrl)).toBe(1);
      const made = (await toxiproxy(l.toxiproxyUrl, 'GET', '/proxies')) as Record<string, { listen: string }>;
      expect(made.redis?.listen).toBe(`127.0.0.1:${rp}`);
      await ext.stop();
      expect(await toxiproxy(l.toxiproxyUrl, 'GET', '/proxies')).toEqual({});
    } finally {
      await toxiproxy(l.toxiproxyUrl, 'POST', '/populate', Object.values(saved));
    }
  });
});

const skip = dockerSkipReason('docker-compose stack');

describe.skipIf(skip !== undefined)('docker-compose.yml (real engine)', () => {
  const project = `cachebenchtest${process.pid}`;
  const passwords = { redis: randomBytes(18).toString('hex'), postgres: randomBytes(18).toString('hex') };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    COMPOSE_PROJECT_NAME: project,
    CACHEBENCH_REDIS_PASSWORD: passwords.redis,
    CACHEBENCH_POSTGRES_PASSWORD: passwords.postgres,
  };
  const redisAt = (port: number) => `redis://:${passwords.redis}@127.0.0.1:${port}`;
  const postgresAt = (port: number) =>
    `postgres://postgres:${passwords.postgres}@127.0.0.1:${port}/cachebench`;
  const ports: Record<string, number> = {};
  const compose = (args: string[], timeout = 180_000) =>
    execFileSync('docker-compose', args, {
      env,
      encoding: 'utf8',
      timeout,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const projectContainers = () =>
    docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}'])
      .split('\n')
      .filter(Boolean);
  const health = (service: string) =>
    docker([
      'inspect',
      '-f',
      '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}',
      `${project}_${service}_1`,
    ]);
  async function waitHealthy(services: string[], timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      if (services.every((s) => health(s) === 'healthy')) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `not healthy after ${timeoutMs} ms: ${services.map((s) => `${s}=${health(s)}`).join(', ')}`,
    );
  }

  beforeAll(async () => {
    const images = [...Object.values(LOCAL_IMAGES), 'cachebench/node:24'];
    const missing = missingImages(images);
    if (missing.length > 0)
      throw new Error(`missing images ${missing.join(', ')}: run harness/setup/docker.sh`);
    const taken = new Set<number>();
    for (const k of ['REDIS', 'POSTGRES', 'TOXIPROXY', 'REDIS_PROXY', 'POSTGRES_PROXY', 'TARGET']) {
      ports[k] = await freePort(taken);
      env[`CACHEBENCH_${k}_PORT`] = String(ports[k]);
    }
    Object.assign(env, {
      CACHEBENCH_REDIS_IMAGE: LOCAL_IMAGES.redis,
      CACHEBENCH_POSTGRES_IMAGE: LOCAL_IMAGES.postgres,
      CACHEBENCH_TOXIPROXY_IMAGE: LOCAL_IMAGES.toxiproxy,
      CACHEBENCH_NODE_IMAGE: 'cachebench/node:24',
    });
  });
  afterAll(() => {
    // Always, even after a failure: nothing may stay running.
    if (projectContainers().length > 0) compose(['down', '-v', '--remove-orphans', '-t', '1']);
  }, 120_000);

  it('without the password variables, compose refuses with one line naming the variable', () => {
    for (const missing of ['CACHEBENCH_REDIS_PASSWORD', 'CACHEBENCH_POSTGRES_PASSWORD']) {
      const r = spawnSync('docker-compose', ['config', '-q'], {
        env: { ...env, [missing]: undefined },
        encoding: 'utf8',
        timeout: 60_000,
      });
      const lines = r.stderr.trim().split('\n');
      console.log(`docker-compose without ${missing}: exit ${r.status}: ${lines.join(' | ')}`);
      expect(r.status).not.toBe(0);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`set ${missing} to a password of letters, digits, - and _`);
    }
    // Nothing was started.
    expect(projectContainers()).toEqual([]);
  });

  it('up -d brings redis, postgres and toxiproxy to healthy, published on 127.0.0.1 only', async () => {
    const t = performance.now();
    compose(['up', '-d', 'redis', 'postgres', 'toxiproxy']);
    await waitHealthy(['redis', 'postgres', 'toxiproxy'], 90_000);
    console.log(`compose infra healthy in ${Math.round(performance.now() - t)} ms`);
    for (const name of projectContainers()) {
      const bindings = JSON.parse(
        docker(['inspect', '-f', '{{json .HostConfig.PortBindings}}', name]),
      ) as Record<string, { HostIp: string }[]>;
      for (const list of Object.values(bindings)) for (const b of list) expect(b.HostIp).toBe('127.0.0.1');
    }
  }, 120_000);

  it('Redis and PostgreSQL refuse clients without the password, directly and through the proxies', async () => {
    for (const port of [ports.REDIS!, ports.REDIS_PROXY!]) {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('GET x\r\n'));
        s.once('data', (d) => {
          resolve(d.toString().trim());
          s.destroy();
        });
        s.once('error', reject);
      });
      console.log(`compose redis 127.0.0.1:${port} without a password: ${reply}`);
      expect(reply).toMatch(/^-NOAUTH Authentication required/);
      expect(await ping(redisAt(port))).toBe('PONG');
    }
    for (const port of [ports.POSTGRES!, ports.POSTGRES_PROXY!]) {
      const c = new pg.Client({
        connectionString: postgresAt(port).replace(passwords.postgres, 'wrong'),
        connectionTimeoutMillis: 10_000,
      });
      c.on('error', () => {});
      await expect(c.connect()).rejects.toThrow(/password authentication failed for user "postgres"/);
      await c.end().catch(() => {});
      expect(await selectOne(postgresAt(port))).toBe(1);
    }
  });

  it('connectExternalInfra works against it: proxies from toxiproxy.json, faults reach the client', async () => {
    const ext = await connectExternalInfra({
      redisUrl: redisAt(ports.REDIS!),
      postgresUrl: postgresAt(ports.POSTGRES!),
      toxiproxyUrl: `http://127.0.0.1:${ports.TOXIPROXY}`,
      // Published on ports other than the listen ports, so they cannot be derived.
      redisProxyUrl: redisAt(ports.REDIS_PROXY!),
      postgresProxyUrl: postgresAt(ports.POSTGRES_PROXY!),
    });
    try {
      expect(ext.versions.postgres).toMatch(/^15\./);
      expect(await ping(ext.redisProxyUrl)).toBe('PONG');
      expect(await selectOne(ext.postgresProxyUrl)).toBe(1);
      const c = new pg.Client({ connectionString: ext.postgresUrl });
      await c.connect();
      const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_statements');
      expect(Number(r.rows[0]?.n)).toBeGreaterThan(0);
      await c.end();
      await toxiproxy(ext.toxiproxyUrl, 'POST', '/proxies/redis', { enabled: false });
      await expect(ping(ext.redisProxyUrl)).rejects.toThrow();
      await toxiproxy(ext.toxiproxyUrl, 'POST', '/proxies/redis', { enabled: true });
      expect(await ping(ext.redisProxyUrl)).toBe('PONG');
    } finally {
      await ext.stop();
    }
    // stop() of an external handle stops nothing: the stack is still up.
    expect(health('redis')).toBe('healthy');
    const proxies = (await toxiproxy(`http://127.0.0.1:${ports.TOXIPROXY}`, 'GET', '/proxies')) as object;
    expect(Object.keys(proxies).sort()).toEqual(['postgres', 'redis']);
  }, 60_000);

  it('the seeded target comes up healthy behind the proxies and returns versions', async () => {
    const t = performance.now();
    compose(['up', '-d']);
    await waitHealthy(['target'], 120_000);
    console.log(`compose target healthy in ${Math.round(performance.now() - t)} ms`);
    const res = await fetch(`http://127.0.0.1:${ports.TARGET}/users/1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { versions: Record<string, number> };
    expect(body.versions['user:1']).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('x-instance')).toBe('compose-target-1');
    // The target got its URLs (with the passwords) from the environment, not its command line.
    const cmd = docker(['inspect', '-f', '{{json .Args}}', `${project}_target_1`]);
    expect(cmd).not.toContain(passwords.redis);
    expect(cmd).not.toContain(passwords.postgres);
    expect(cmd).not.toContain('--redis-url');
  }, 150_000);

  it('down removes every container and the network', () => {
    compose(['down', '-v', '--remove-orphans', '-t', '1']);
    expect(projectContainers()).toEqual([]);
    expect(docker(['network', 'ls', '--filter', `name=${project}`, '--format', '{{.Name}}'])).toBe('');
  }, 120_000);
});
