/**
 * Options of one target instance, their defaults, and the one validation both entry points
 * (programmatic `startTarget` and the `target/main.ts` CLI) go through, so a bad value gets the
 * same one-line message wherever it comes from.
 */
import type { FailurePolicy } from './strategy.ts';

export interface TargetOptions {
  /** HTTP port of the API; 0 = a free port. */
  port: number;
  /** Interface the API binds; loopback by default (the harness and the drivers are local). */
  host: string;
  /** Port of the loopback-only control server; 0 = a free port. */
  controlPort: number;
  /** Catalog name, "a+b" composition, or a path to a user strategy module. */
  strategy: string;
  /** Merged over the strategy's defaults. */
  strategyOptions: Record<string, unknown>;
  policy: FailurePolicy;
  redisUrl: string;
  postgresUrl: string;
  /** Shows in `x-instance` and in every rebuild event. */
  instanceId: string;
  /** Server-side cost of one team report (pg_sleep), ms. */
  reportCostMs: number;
  /** Server-side cost of one user read (pg_sleep), ms; 0 = none. */
  userReadCostMs: number;
  /** Budget of one Redis command before it counts as a timeout. */
  redisCommandTimeoutMs: number;
  /** Size of the PostgreSQL pool. */
  pgPoolSize: number;
  /** Bounds a query on a blackholed/slow PostgreSQL (client and server side). */
  pgQueryTimeoutMs: number;
  /** Bounds acquiring a pooled connection (including connecting to a blackholed server). */
  pgConnectionTimeoutMs: number;
  /** Namespace prefix of every cache key. */
  keyPrefix: string;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
}

export const TARGET_DEFAULTS: Omit<TargetOptions, 'redisUrl' | 'postgresUrl'> = {
  port: 0,
  host: '127.0.0.1',
  controlPort: 0,
  strategy: 'cache-aside',
  strategyOptions: {},
  policy: 'fail-open',
  instanceId: 'target-1',
  reportCostMs: 50,
  userReadCostMs: 0,
  redisCommandTimeoutMs: 100,
  pgPoolSize: 10,
  pgQueryTimeoutMs: 5000,
  pgConnectionTimeoutMs: 2000,
  keyPrefix: 'cb:',
  maxBodyBytes: 4096,
};

export class TargetOptionError extends Error {
  readonly code = 'TARGET_BAD_OPTION';
  readonly option: string;
  constructor(option: string, message: string) {
    super(message);
    this.name = 'TargetOptionError';
    this.option = option;
  }
}

function intIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TargetOptionError(
      name,
      `${name}: ${JSON.stringify(value)} is not allowed; expected an integer from ${min} to ${max}`,
    );
  }
  return value;
}

function url(name: string, value: unknown, protocols: string[]): string {
  if (typeof value !== 'string' || value === '') {
    throw new TargetOptionError(name, `${name} is required; expected a ${protocols[0]}//host:port URL`);
  }
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
}

/** Applies the defaults and checks every field; throws TargetOptionError naming the field. */
export function resolveTargetOptions(
  input: Partial<TargetOptions> & Pick<TargetOptions, 'redisUrl' | 'postgresUrl'>,
): TargetOptions {
  const o: TargetOptions = { ...TARGET_DEFAULTS, ...stripUndefined(input) } as TargetOptions;
  intIn('port', o.port, 0, 65535);
  intIn('controlPort', o.controlPort, 0, 65535);
  if (o.policy !== 'fail-open' && o.policy !== 'fail-closed') {
    throw new TargetOptionError(
      'policy',
      `policy: ${JSON.stringify(o.policy)} is not allowed; expected fail-open or fail-closed`,
    );
  }
  if (typeof o.strategy !== 'string' || o.strategy.trim() === '') {
    throw new TargetOptionError('strategy', 'strategy is required; expected a catalog name or a module path');
  }
  if (
    typeof o.strategyOptions !== 'object' ||
    o.strategyOptions === null ||
    Array.isArray(o.strategyOptions)
  ) {
    throw new TargetOptionError('strategyOptions', 'strategyOptions: expected an object of option → value');
  }
  url('redisUrl', o.redisUrl, ['redis:', 'rediss:']);
  url('postgresUrl', o.postgresUrl, ['postgres:', 'postgresql:']);
  if (typeof o.instanceId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.instanceId)) {
    throw new TargetOptionError(
      'instanceId',
      `instanceId: ${JSON.stringify(o.instanceId)} is not allowed; expected 1-64 of [A-Za-z0-9._-]`,
    );
  }
  intIn('reportCostMs', o.reportCostMs, 0, 60_000);
  intIn('userReadCostMs', o.userReadCostMs, 0, 60_000);
  intIn('redisCommandTimeoutMs', o.redisCommandTimeoutMs, 1, 60_000);
  intIn('pgPoolSize', o.pgPoolSize, 1, 500);
  intIn('pgQueryTimeoutMs', o.pgQueryTimeoutMs, 100, 600_000);
  intIn('pgConnectionTimeoutMs', o.pgConnectionTimeoutMs, 100, 600_000);
  intIn('maxBodyBytes', o.maxBodyBytes, 64, 10_000_000);
  if (typeof o.keyPrefix !== 'string' || !/^[A-Za-z0-9:_.-]{0,32}$/.test(o.keyPrefix)) {
    throw new TargetOptionError(
      'keyPrefix',
      `keyPrefix: ${JSON.stringify(o.keyPrefix)} is not allowed; expected up to 32 of [A-Za-z0-9:_.-]`,
    );
  }
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
