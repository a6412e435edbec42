// The service's settings, all from the environment. A bad value stops the process with one line
// naming the variable, the value and what is allowed (exit 2), before anything is started.

export const CACHE_MODES = ['aside', 'locked', 'regressed'];

export class ConfigError extends Error {}

function required(env, name) {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`${name} is not set; it is required`);
  return value;
}

function url(env, name, protocols) {
  const value = required(env, name);
  let parsed;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name}=${redact(value)} is not a URL; expected ${protocols[0]}//…`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(
      `${name}=${redact(value)} has protocol ${parsed.protocol}; allowed: ${protocols.join(', ')}`,
    );
  }
  return value;
}

function int(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is not allowed; expected an integer from ${min} to ${max}`);
  }
  return value;
}

// Passwords travel in the URLs: never echo them back in an error.
function redact(value) {
  return value.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

export function loadConfig(env = process.env) {
  const mode = env.CACHE_MODE || 'aside';
  if (!CACHE_MODES.includes(mode)) {
    throw new ConfigError(`CACHE_MODE=${mode} is not allowed; expected one of ${CACHE_MODES.join(', ')}`);
  }
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    mode,
    ttlMs: int(env, 'CACHE_TTL_MS', 1000, 1, 86_400_000),
    reportCostMs: int(env, 'REPORT_COST_MS', 50, 0, 10_000),
    userReadCostMs: int(env, 'USER_READ_COST_MS', 0, 0, 10_000),
    // The await between a cache miss's DB read and its SET: the response is "enriched" by a
    // downstream call, as real services do, which is what leaves room for the stale-set race.
    enrichMs: int(env, 'ENRICH_MS', 10, 0, 10_000),
    // Redis answers in well under a millisecond on loopback: a command that takes longer than
    // this is treated as a Redis failure and the request is answered from PostgreSQL. Not much
    // less: a busy machine delays replies by tens of ms, and each miss costs a reconnect.
    redisTimeoutMs: int(env, 'REDIS_TIMEOUT_MS', 100, 1, 10_000),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 200),
    probe: env.CACHEBENCH_PROBE === '1',
  };
}
