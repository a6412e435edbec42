// fastify-users: a small users-and-teams API with a Redis cache in front of PostgreSQL, written to
// be measured by cachebench from the outside (README.md). Reads return the version they reflect
// (JSON `version`; the team report also as ETag); writes return the version they committed.
import Fastify from 'fastify';
import { createCache } from './cache.js';
import { ConfigError, loadConfig } from './config.js';
import { createDb } from './db.js';
import { createMode, createStats } from './modes.js';
import { mountProbe } from './probe.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`fastify-users: ${error.message}\n`);
  process.exit(2);
}

const app = Fastify({ logger: { level: process.env.LOG_LEVEL || 'warn' } });
const stats = createStats();
const cache = createCache({ redisUrl: config.redisUrl, redisTimeoutMs: config.redisTimeoutMs, log: app.log });
const db = createDb(config);
const cached = createMode(config, cache, stats);

const idParam = {
  params: {
    type: 'object',
    properties: { id: { type: 'integer', minimum: 1, maximum: 2147483647 } },
    required: ['id'],
  },
};
const nameBody = {
  body: {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
    required: ['name'],
  },
};

if (config.probe) mountProbe(app, stats);

app.get('/healthz', async () => {
  await db.ping();
  return { ok: true, mode: config.mode };
});

const notFound = (reply, what, id) => reply.code(404).send({ error: `${what} ${id} not found` });

app.get('/users/:id', { schema: idParam }, async (request, reply) => {
  const { id } = request.params;
  const { value } = await cached.read(`user:${id}`, () => db.getUser(id));
  return value ?? notFound(reply, 'user', id);
});

app.put('/users/:id', { schema: { ...idParam, ...nameBody } }, async (request, reply) => {
  const { id } = request.params;
  const user = await db.updateUser(id, request.body.name);
  if (!user) return notFound(reply, 'user', id);
  await cached.written(`user:${id}`, [`team-members:${user.teamId}`]);
  return user;
});

app.delete('/users/:id', { schema: idParam }, async (request, reply) => {
  const { id } = request.params;
  const deleted = await db.deleteUser(id);
  if (!deleted) return notFound(reply, 'user', id);
  const tombstone = { id, deleted: true, version: deleted.version };
  await cached.written(`user:${id}`, [`team-members:${deleted.teamId}`]);
  return tombstone;
});

app.get('/teams/:id/members', { schema: idParam }, async (request, reply) => {
  const { id } = request.params;
  const { value } = await cached.read(`team-members:${id}`, () => db.getTeamMembers(id));
  return value ?? notFound(reply, 'team', id);
});

app.get('/teams/:id/report', { schema: idParam }, async (request, reply) => {
  const { id } = request.params;
  const { value } = await cached.read(`team-report:${id}`, () => db.getTeamReport(id));
  if (!value) return notFound(reply, 'team', id);
  reply.header('etag', `"${value.version}"`);
  return value;
});

async function shutdown(signal) {
  app.log.info({ signal }, 'shutting down');
  try {
    await app.close();
  } finally {
    await Promise.allSettled([cache.close(), db.close()]);
    process.exit(0);
  }
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

// Not awaited: the service answers from PostgreSQL until Redis is reachable (fail-open).
void cache.connect();
try {
  await app.listen({ host: config.host, port: config.port });
} catch (error) {
  process.stderr.write(`fastify-users: cannot listen on ${config.host}:${config.port}: ${error.message}\n`);
  process.exit(1);
}
