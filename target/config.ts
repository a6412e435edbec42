/**
 * Options of one target instance, declared once: each row of TARGET_OPTIONS gives an option's
 * type (through its check), default, validation, CLI flag, environment variable and help text.
 * The `TargetOptions` type, the defaults, the validation both entry points go through
 * (programmatic `startTarget` and the `target/main.ts` CLI, so a bad value gets the same one-line
 * message wherever it comes from), main.ts's flags and the flags `startTargets` passes to a child
 * are all derived from it.
 */
import type { FailurePolicy } from './strategy.ts';

export class TargetOptionError extends Error {
  readonly code = 'TARGET_BAD_OPTION';
  readonly option: string;
  constructor(option: string, message: string) {
    super(message);
    this.name = 'TargetOptionError';
    this.option = option;
  }
}

interface Row<T> {
  /** undefined: required. */
  default: T | undefined;
  /** Placeholder in the flag (`--port <n>`). */
  arg: string;
  doc: string;
  /** Overrides the flag derived from the option name (kept for compatibility). */
  flag?: string;
  /** A CLI or environment string → a value (checked afterwards). */
  parse(raw: string): unknown;
  /** Validates a value of any origin; throws TargetOptionError naming the option. */
  check(name: string, value: unknown): T;
}

function int(min: number, max: number, def: number, doc: string, flag?: string): Row<number> {
  return {
    default: def,
    arg: 'n',
    doc,
    flag,
    // Not a number stays a string, so check() names it in the one message every origin gets.
    parse: (raw) => (/^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw),
    check(name, value) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new TargetOptionError(
          name,
          `${name}: ${JSON.stringify(value)} is not allowed; expected an integer from ${min} to ${max}`,
        );
      }
      return value;
    },
  };
}

function text(def: string, arg: string, doc: string, pattern: RegExp, allowed: string): Row<string> {
  return {
    default: def,
    arg,
    doc,
    parse: (raw) => raw,
    check(name, value) {
      if (typeof value !== 'string' || !pattern.test(value))
        throw new TargetOptionError(
          name,
          `${name}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`,
        );
      return value;
    },
  };
}

function url(protocols: string[], doc: string): Row<string> {
  return {
    default: undefined,
    arg: 'url',
    doc,
    parse: (raw) => raw,
    check(name, value) {
      if (typeof value !== 'string' || value === '')
        throw new TargetOptionError(name, `${name} is required; expected a ${protocols[0]}//host:port URL`);
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        throw new TargetOptionError(name, `${name}: ${JSON.stringify(value)} is not a URL`);
      }
      if (!protocols.includes(parsed.protocol)) {
        throw new TargetOptionError(
          name,
          `${name}: ${JSON.stringify(value)} has protocol ${parsed.protocol}; expected ${protocols.join(' or ')}`,
        );
      }
      return value;
    },
  };
}

/** A URL that may be left out: '' (the default) means none. */
function optionalUrl(protocols: string[], doc: string): Row<string> {
  const required = url(protocols, doc);
  return {
    ...required,
    default: '',
    check: (name, value) => (value === '' ? '' : required.check(name, value)),
  };
}

const strategy: Row<string> = {
  default: 'cache-aside',
  arg: 'spec',
  doc: 'catalog name, "a+b" composition, or a path to a user strategy module',
  parse: (raw) => raw,
  check(name, value) {
    if (typeof value !== 'string' || value.trim() === '')
      throw new TargetOptionError(name, `${name} is required; expected a catalog name or a module path`);
    return value;
  },
};

const strategyOptions: Row<Record<string, unknown>> = {
  default: {},
  arg: 'json',
  doc: 'strategy options as a JSON object, merged over the strategy defaults',
  parse(raw) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  },
  check(name, value) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new TargetOptionError(
        name,
        `${name}: ${JSON.stringify(value)} is not allowed; expected a JSON object like '{"ttlMs":5000}'`,
      );
    return value as Record<string, unknown>;
  },
};

/**
 * Announced node address → the address the target uses instead (host:port → host:port): cluster
 * and replicated nodes announce their direct port, the target goes through each node's proxy.
 */
const natMap: Row<Record<string, string>> = {
  default: {},
  arg: 'json',
  doc: 'cluster/replicated: announced node address → address to use, as JSON {"127.0.0.1:7000":"127.0.0.1:17000"}',
  parse: strategyOptions.parse,
  check(name, value) {
    const hostPort = /^[^\s:]+:\d{1,5}$/;
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      !Object.entries(value).every(([k, v]) => hostPort.test(k) && typeof v === 'string' && hostPort.test(v))
    )
      throw new TargetOptionError(
        name,
        `${name}: ${JSON.stringify(value)} is not allowed; expected a JSON object of "host:port": "host:port"`,
      );
    return value as Record<string, string>;
  },
};

const policy: Row<FailurePolicy> = {
  default: 'fail-open',
  arg: 'policy',
  doc: 'Redis failure policy: fail-open | fail-closed',
  parse: (raw) => raw,
  check(name, value) {
    if (value !== 'fail-open' && value !== 'fail-closed')
      throw new TargetOptionError(
        name,
        `${name}: ${JSON.stringify(value)} is not allowed; expected fail-open or fail-closed`,
      );
    return value;
  },
};

export const TARGET_OPTIONS = {
  redisUrl: url(['redis:', 'rediss:'], 'Redis URL the target caches in, e.g. redis://127.0.0.1:6379'),
  postgresUrl: url(['postgres:', 'postgresql:'], 'PostgreSQL URL of the seeded database'),
  coordinationRedisUrl: optionalUrl(
    ['redis:', 'rediss:'],
    'second Redis for locks, lease tokens and write-behind buffers; default: the cache Redis',
  ),
  redisTopology: text(
    'standalone',
    'name',
    'how Redis runs: standalone (redisUrl is the server), cluster (redisUrl is a seed node), replicated (Sentinels in redisSentinels)',
    /^(standalone|replicated|cluster)$/,
    'standalone, replicated or cluster',
  ),
  redisNatMap: natMap,
  redisSentinels: text(
    '',
    'list',
    'replicated: the Sentinels as host:port,host:port (they take the password of redisUrl)',
    /^$|^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/,
    'a comma-separated list of host:port',
  ),
  redisMasterName: text(
    'mymaster',
    'name',
    'replicated: the name the Sentinels monitor the primary under',
    /^[A-Za-z0-9._-]{1,64}$/,
    '1-64 of [A-Za-z0-9._-]',
  ),
  strategy,
  strategyOptions,
  policy,
  port: int(0, 65535, 0, 'HTTP port of the API; 0 = a free port'),
  host: text(
    '127.0.0.1',
    'host',
    'interface the API binds (loopback: the harness is local)',
    /^\S+$/,
    'a host name or address',
  ),
  controlPort: int(0, 65535, 0, 'port of the loopback-only control server; 0 = a free port'),
  instanceId: text(
    'target-1',
    'id',
    'shows in x-instance and in every rebuild event',
    /^[A-Za-z0-9._-]{1,64}$/,
    '1-64 of [A-Za-z0-9._-]',
  ),
  reportCostMs: int(0, 60_000, 50, 'server-side cost of one team report (pg_sleep), ms'),
  userReadCostMs: int(0, 60_000, 0, 'server-side cost of one user read (pg_sleep), ms; 0 = none'),
  redisCommandTimeoutMs: int(
    1,
    60_000,
    100,
    'budget of one Redis command before it counts as a timeout',
    '--redis-timeout-ms',
  ),
  pgPoolSize: int(1, 500, 10, 'size of the PostgreSQL pool'),
  pgQueryTimeoutMs: int(
    100,
    600_000,
    5000,
    'bounds a query on a blackholed/slow PostgreSQL (client and server side)',
  ),
  pgConnectionTimeoutMs: int(
    100,
    600_000,
    2000,
    'bounds acquiring a pooled connection (including connecting to a blackholed server)',
  ),
  keyPrefix: text(
    'cb:',
    'prefix',
    'namespace prefix of every cache key',
    /^[A-Za-z0-9:_.-]{0,32}$/,
    'up to 32 of [A-Za-z0-9:_.-]',
  ),
  maxBodyBytes: int(64, 10_000_000, 4096, 'largest accepted request body, bytes'),
  leaderboardStorage: text(
    'zset',
    'mode',
    'how /leaderboard keeps scores in Redis: blob (one JSON value, GET-modify-SET) or zset (sorted set)',
    /^(blob|zset)$/,
    'blob or zset',
  ),
} satisfies Record<string, Row<unknown>>;

type Table = typeof TARGET_OPTIONS;
export type TargetOptionName = keyof Table;
export type TargetOptions = { [K in TargetOptionName]: ReturnType<Table[K]['check']> };

const NAMES = Object.keys(TARGET_OPTIONS) as TargetOptionName[];
const row = (name: TargetOptionName): Row<unknown> => TARGET_OPTIONS[name];

/** `redisCommandTimeoutMs` → `--redis-command-timeout-ms` unless the row overrides it. */
export function flagOf(name: TargetOptionName): string {
  return row(name).flag ?? `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** `redisUrl` → `CACHEBENCH_TARGET_REDIS_URL`. */
export function envOf(name: TargetOptionName): string {
  return `CACHEBENCH_TARGET_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export const TARGET_DEFAULTS = Object.fromEntries(
  NAMES.filter((n) => row(n).default !== undefined).map((n) => [n, row(n).default]),
) as Omit<TargetOptions, 'redisUrl' | 'postgresUrl'>;

/** Applies the defaults and checks every field; throws TargetOptionError naming the field. */
export function resolveTargetOptions(
  input: Partial<TargetOptions> & Pick<TargetOptions, 'redisUrl' | 'postgresUrl'>,
): TargetOptions {
  const given: Record<string, unknown> = { ...TARGET_DEFAULTS, ...stripUndefined(input) };
  const out: Record<string, unknown> = {};
  for (const name of NAMES) out[name] = row(name).check(name, given[name]);
  return out as TargetOptions;
}

/** The command line of target/main.ts for the given options (what `startTargets` spawns). */
export function targetFlags(o: Partial<Record<TargetOptionName, unknown>>): string[] {
  const args: string[] = [];
  for (const name of NAMES) {
    const v = o[name];
    if (v === undefined) continue;
    if (typeof v === 'object') {
      if (v !== null && Object.keys(v).length > 0) args.push(flagOf(name), JSON.stringify(v));
    } else args.push(flagOf(name), String(v));
  }
  return args;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
