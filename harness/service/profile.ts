/**
 * The service profile (docs/service-mode.md): how cachebench starts, seeds and drives a service it
 * did not write. YAML → zod → `ServiceProfile`; a bad profile is one line naming the field, the
 * value and what is allowed (a UsageError, exit 2), like a bad scenario file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatIssues, parseDuration } from '../../scenarios/schema.ts';
import { OPERATIONS } from '../../scenarios/types.ts';
import { UsageError } from '../errors.ts';

/** Bytes of a profile file; aliases in it (an alias bomb guard, as for scenarios). */
const MAX_FILE_BYTES = 256 * 1024;
const MAX_ALIASES = 100;

const NAME = /^[a-z0-9][a-z0-9._-]*$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const name = z
  .string()
  .regex(NAME, 'expected a name of letters, digits, . _ - (starting with a letter or digit)');
const envName = z.string().regex(ENV_NAME, 'expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)');
const argv = z
  .array(z.string().min(1, 'expected a non-empty string'))
  .min(1, 'expected a command as a list: [program, arg, …]');
const httpPath = z.string().regex(/^\/\S*$/, 'expected a path starting with /');

const timeout = z.unknown().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0 || ms > 600_000) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a positive duration like "30s" or "500ms" up to 10m',
      input: v,
    });
    return z.NEVER;
  }
  return ms;
});

/** Hosts a service may be reached at: load and faults stay on this machine (docs/security.md). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const baseUrl = z.string().superRefine((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an http:// URL', input: v });
    return;
  }
  if (u.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: 'expected an http:// URL', input: v });
  else if (!isLoopbackHost(u.hostname))
    ctx.addIssue({
      code: 'custom',
      message: 'expected a loopback host (127.0.0.1, ::1 or localhost): load never leaves this machine',
      input: v,
    });
});

/**
 * What cachebench hands the service through its environment: the variable names it reads. The
 * URLs go through Toxiproxy (the setup command gets direct ones); the rest are the scenario's.
 */
const serviceEnv = z.strictObject({
  redisUrl: envName.describe('receives the Redis URL (through Toxiproxy; with password)'),
  postgresUrl: envName.describe('receives the PostgreSQL URL (through Toxiproxy; with password)'),
  ttlMs: envName.optional().describe("receives the scenario's cache.ttlMs (ms) when it is one number"),
  reportCostMs: envName.optional().describe("receives the scenario's data.reportCostMs"),
  userReadCostMs: envName.optional().describe("receives the scenario's data.userReadCostMs"),
  users: envName.optional().describe("receives the scenario's data.users (rows to seed)"),
  teams: envName.optional().describe("receives the scenario's data.teams"),
  counters: envName.optional().describe("receives the scenario's data.counters"),
});
export type ServiceEnvKey = keyof z.infer<typeof serviceEnv>;

const literalEnv = z.record(envName, z.string());

const service = z
  .strictObject({
    command: argv.optional().describe('started per cell, in cwd; exclusive with baseUrl'),
    cwd: z.string().default('.').describe('relative to the profile file'),
    baseUrl: baseUrl
      .optional()
      .describe('an already running service (loopback only); exclusive with command'),
    port: z.strictObject({ env: envName }).optional().describe('cachebench picks a free loopback port'),
    env: serviceEnv,
    extraEnv: literalEnv.default({}).describe('literal variables for the service and setup'),
    ready: z.strictObject({ path: httpPath, timeout: timeout.default(30_000) }),
    setup: argv.optional().describe('run before each cell with direct URLs: schema and seed'),
    setupTimeout: timeout.default(120_000),
  })
  .superRefine((s, ctx) => {
    if ((s.command === undefined) === (s.baseUrl === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: 'expected exactly one of service.command (cachebench starts it) or service.baseUrl',
        input: s.command,
      });
    if (s.command && !s.port)
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'expected { env: NAME } when cachebench starts the service (it picks the port)',
        input: s.port,
      });
  });

const versionFrom = z
  .strictObject({
    json: z
      .string()
      .regex(/^(\/([^~/]|~[01])*)+$/, 'expected a JSON pointer like /version')
      .optional(),
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a header name')
      .transform((h) => h.toLowerCase())
      .optional(),
  })
  .refine((v) => (v.json === undefined) !== (v.header === undefined), {
    message: 'expected exactly one of json (a JSON pointer) or header',
  });
export type VersionFrom = z.infer<typeof versionFrom>;

export const OPERATION_KINDS = ['read', 'write', 'increment', 'delete'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

const operation = z.strictObject({
  kind: z.enum(OPERATION_KINDS),
  method: z.enum(['GET', 'PUT', 'POST', 'DELETE']),
  path: httpPath.describe('template: {id} is the picked id'),
  ids: name.describe('a key of `ids`'),
  body: z.string().optional().describe('JSON body template: {id}, {seq}'),
  entity: z.string().min(1).describe('entity key template for staleness, e.g. "user:{id}"'),
  cacheKey: z
    .string()
    .min(1)
    .optional()
    .describe('the Redis key the value is cached under, e.g. "user:{id}": rebuilds are SETs of it'),
  version: versionFrom
    .optional()
    .describe('where a response says the version it reflects (reads) or committed (writes)'),
});
export type ServiceOperation = z.infer<typeof operation>;

const idRange = z
  .tuple([z.int().min(0), z.int().min(0)])
  .refine(([lo, hi]) => hi >= lo, { message: 'expected [low, high] with high >= low' });

export const serviceProfileSchema = z
  .strictObject({
    name,
    service,
    variants: z
      .record(
        name,
        z.strictObject({
          env: literalEnv.default({}),
          args: z.array(z.string()).default([]).describe('appended to service.command'),
        }),
      )
      .refine((v) => Object.keys(v).length > 0, { message: 'expected at least one variant' }),
    ids: z.record(name, idRange),
    operations: z.record(name, operation),
    sql: z
      .record(name, z.array(z.string().min(1)).min(1))
      .default({})
      .describe('operation → pg_stat_statements query patterns (SQL LIKE)'),
    scenarioOps: z
      .partialRecord(z.enum(OPERATIONS), name)
      .describe("catalog operation (a scenario's mix) → this profile's operation"),
    probe: z.strictObject({ path: httpPath }).optional(),
    cacheTtl: timeout
      .optional()
      .describe("the service's cache TTL when a scenario sets no cache.ttlMs (for stale beyond TTL)"),
  })
  .superRefine((p, ctx) => {
    for (const [op, o] of Object.entries(p.operations)) {
      if (!Object.hasOwn(p.ids, o.ids))
        ctx.addIssue({
          code: 'custom',
          path: ['operations', op, 'ids'],
          message: `expected one of the ids ranges (${Object.keys(p.ids).join(', ')})`,
          input: o.ids,
        });
    }
    const ops = Object.keys(p.operations).join(', ');
    for (const [k, v] of Object.entries(p.scenarioOps)) {
      if (!Object.hasOwn(p.operations, v))
        ctx.addIssue({
          code: 'custom',
          path: ['scenarioOps', k],
          message: `expected an operation of this profile (${ops})`,
          input: v,
        });
    }
    for (const k of Object.keys(p.sql)) {
      if (!Object.hasOwn(p.operations, k))
        ctx.addIssue({
          code: 'custom',
          path: ['sql', k],
          message: `expected an operation of this profile as key (${ops})`,
          input: k,
        });
    }
    if (p.service.baseUrl) {
      for (const [v, spec] of Object.entries(p.variants)) {
        if (Object.keys(spec.env).length > 0 || spec.args.length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['variants', v],
            message: 'expected no env or args with service.baseUrl (cachebench does not start that service)',
            input: spec,
          });
      }
    }
  });

export type ServiceProfile = z.infer<typeof serviceProfileSchema>;

/** A loaded profile: the validated document, where it lives, and its content hash for results. */
export interface LoadedProfile {
  profile: ServiceProfile;
  /** Absolute path of the profile file. */
  file: string;
  /** Absolute working directory of the service and setup commands. */
  cwd: string;
  /** sha256 of the file's bytes (first 16 hex digits): which profile a result came from. */
  hash: string;
}

export class ProfileError extends UsageError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('SERVICE_PROFILE_INVALID', message, opts);
    this.name = 'ProfileError';
  }
}

/** Validates a parsed document; throws a ProfileError with the first problem (and a count of the rest). */
export function validateProfile(doc: unknown, label: string): ServiceProfile {
  const r = serviceProfileSchema.safeParse(doc, { reportInput: true });
  if (!r.success) {
    const lines = formatIssues(label, r.error.issues);
    throw new ProfileError(lines.length > 1 ? `${lines[0]} (and ${lines.length - 1} more)` : lines[0]!);
  }
  return r.data;
}

export function loadProfile(path: string): LoadedProfile {
  const file = resolve(path);
  if (!existsSync(file) || !statSync(file).isFile())
    throw new ProfileError(`--service: ${path}: no such file (allowed: a service profile .yaml)`);
  if (statSync(file).size > MAX_FILE_BYTES)
    throw new ProfileError(`--service: ${path}: larger than ${MAX_FILE_BYTES} bytes (allowed: up to that)`);
  const bytes = readFileSync(file);
  const doc = parseDocument(bytes.toString('utf8'), { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ProfileError(
      `${path}: ${pos ? `line ${pos.line}, column ${pos.col}` : 'YAML'}: ${e.message.split('\n')[0]}`,
    );
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw new ProfileError(`${path}: YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const profile = validateProfile(js, path);
  const cwd = resolve(dirname(file), profile.service.cwd);
  if (profile.service.command && !(existsSync(cwd) && statSync(cwd).isDirectory()))
    throw new ProfileError(
      `${path}: service.cwd: "${profile.service.cwd}" is not a directory (allowed: a directory relative to the profile file)`,
    );
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  return { profile, file, cwd, hash };
}
