/**
 * Validation of scenario files (harness side; the k6 script never imports this). The zod schema
 * turns what a person writes ("30s", inline toxic attributes, omitted defaults) into the plain
 * `Scenario` of types.ts, and every rejection becomes one line naming the field path, the value
 * and what is allowed — the reader of that line is a user editing YAML, not a developer.
 */
import * as z from 'zod';
import { METRICS } from '../harness/analysis/metrics.ts';
import { UsageError } from '../harness/errors.ts';
import {
  BUDGET_ALIASES,
  type BudgetMetric,
  type Budgets,
  CACHE_NAMESPACES,
  type CacheOptionValue,
  COORDINATION_MODES,
  type FaultSpec,
  LEADERBOARD_STORAGES,
  MAXMEMORY_POLICIES,
  OPERATIONS,
  PROCESS_FAULTS,
  REDIS_TOPOLOGIES,
  type Scenario,
  type ToxicSpec,
  type ToxicType,
  type TtlByNamespace,
} from './types.ts';
import { totalDurationMs } from './workload.ts';

export type ScenarioErrorCode =
  | 'SCENARIO_INVALID'
  | 'SCENARIO_YAML'
  | 'SCENARIO_NOT_FOUND'
  | 'SCENARIO_UNREADABLE'
  | 'PROFILE_UNKNOWN';

/**
 * A bad scenario file or name: a usage error (the CLI prints the one-line `message`, exit 2).
 * `issues` holds every problem found; `message` is the first plus a count of the rest.
 */
export class ScenarioError extends UsageError {
  declare readonly code: ScenarioErrorCode;
  readonly issues: string[];
  constructor(code: ScenarioErrorCode, issues: string[], options: { cause?: unknown } = {}) {
    const first = issues[0] ?? code;
    super(code, issues.length > 1 ? `${first} (and ${issues.length - 1} more)` : first, options);
    this.name = 'ScenarioError';
    this.issues = issues;
  }
}

/**
 * Upper bounds for what a scenario file may ask for (docs/security.md, "Input limits"). A typo like `rate: 1e12`
 * must be refused at load time, not discovered after an hour of dropped arrivals; a huge file is
 * copied into every cell of results.json. The bounds sit far above the catalog's needs.
 */
export const LIMITS = {
  /** Bytes of one scenario file. */
  fileBytes: 256 * 1024,
  /** YAML aliases (`*name`) in one file: more is a resource-exhaustion pattern (alias bomb). */
  yamlAliases: 100,
  /** Arrival rate of a phase (`rate`, `to`), requests per second. */
  rate: 50_000,
  phases: 50,
  /** One phase, ms. */
  phaseDurationMs: 3_600_000,
  /** All phases together, ms. */
  loadDurationMs: 2 * 3_600_000,
  /** Planned arrivals of one cell (sum of rate × duration), also after a profile scales it. */
  arrivalsPerCell: 2_000_000,
  maxInFlight: 4_096,
  /** Rows of each seeded table (data.users/teams/counters). */
  dataRows: 1_000_000,
  /** Server-side cost of one request (data.reportCostMs/userReadCostMs), ms. */
  costMs: 10_000,
  faults: 100,
  /** A fault offset or length, ms. */
  faultMs: 2 * 3_600_000,
  cacheOptions: 32,
  /** Characters of a string field (cache option values, name). */
  shortText: 256,
  /** Characters of question/description. */
  longText: 4_000,
  /** redis.maxmemory, bytes: below 1 MiB Redis holds little more than its own bookkeeping. */
  maxmemoryMinBytes: 1024 * 1024,
  maxmemoryMaxBytes: 4 * 1024 * 1024 * 1024,
} as const;

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "30s" | "500ms" | "2m" | "1.5h" | "250" | 250 → ms; undefined when not a duration. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = DURATION_RE.exec(v);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] as number));
}

const DURATION_HINT = 'duration like "30s", "500ms", "2m" or a number of milliseconds';

function duration(opts: { positive?: boolean; maxMs?: number } = {}) {
  const max = opts.maxMs ?? Number.POSITIVE_INFINITY;
  const bound = Number.isFinite(max) ? ` up to ${max} ms` : '';
  const what = opts.positive
    ? `expected a positive ${DURATION_HINT}${bound}`
    : `expected a ${DURATION_HINT}${bound}`;
  return z.unknown().transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || (opts.positive && ms <= 0) || ms > max) {
      ctx.addIssue({ code: 'custom', message: what, input: v });
      return z.NEVER;
    }
    return ms;
  });
}

const positiveNumber = () =>
  z
    .number({ error: 'expected a positive number' })
    .refine((n) => Number.isFinite(n) && n > 0, { error: 'expected a positive number' });
const nonNegativeNumber = () =>
  z
    .number({ error: 'expected a number >= 0' })
    .refine((n) => Number.isFinite(n) && n >= 0, { error: 'expected a number >= 0' });
const boundedNumber = (max: number, unit: string) =>
  z
    .number({ error: `expected a number from 0 to ${max} ${unit}` })
    .refine((n) => Number.isFinite(n) && n >= 0 && n <= max, {
      error: `expected a number from 0 to ${max} ${unit}`,
    });
const positiveInt = (max = Number.MAX_SAFE_INTEGER) => {
  const error =
    max === Number.MAX_SAFE_INTEGER ? 'expected a positive integer' : `expected an integer from 1 to ${max}`;
  return z.number({ error }).int({ error }).min(1, { error }).max(max, { error });
};
const fraction = () =>
  z
    .number({ error: 'expected a number from 0 to 1' })
    .min(0, { error: 'expected a number from 0 to 1' })
    .max(1, {
      error: 'expected a number from 0 to 1',
    });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` });

/** A strict object whose unknown-field error lists the allowed fields. */
function obj<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown field; allowed: ${allowed}`
        : `expected a mapping with fields ${allowed}`,
  });
}

const phaseSchema = obj({
  duration: duration({ positive: true, maxMs: LIMITS.phaseDurationMs }),
  rate: boundedNumber(LIMITS.rate, 'requests/s'),
  to: boundedNumber(LIMITS.rate, 'requests/s').optional(),
});

/** Planned arrivals of a load shape: Σ duration × mean rate. */
export function plannedArrivals(phases: readonly { duration: number; rate: number; to?: number }[]): number {
  return phases.reduce((sum, p) => sum + ((p.rate + (p.to ?? p.rate)) / 2) * (p.duration / 1000), 0);
}

const loadSchema = obj({
  phases: z
    .array(phaseSchema, { error: 'expected a list of phases' })
    .min(1, { error: 'expected at least one phase' })
    .max(LIMITS.phases, { error: `expected at most ${LIMITS.phases} phases` }),
  arrivals: oneOf(['constant', 'poisson']).default('constant'),
  maxInFlight: positiveInt(LIMITS.maxInFlight).default(256),
});

const keysSchema = z.discriminatedUnion(
  'type',
  [
    obj({ type: z.literal('uniform') }),
    obj({ type: z.literal('zipf'), exponent: positiveNumber() }),
    obj({ type: z.literal('hot-set'), hotKeys: positiveInt(), hotFraction: fraction() }),
  ],
  { error: 'expected type uniform, zipf or hot-set' },
);

/**
 * Toxiproxy's toxic attributes per type (its own names). `ms` marks attributes in milliseconds,
 * which may be written as durations; slicer's `delay` is microseconds in Toxiproxy and stays a number.
 */
export const TOXIC_ATTRIBUTES: Record<ToxicType, Record<string, { required: boolean; ms: boolean }>> = {
  latency: { latency: { required: true, ms: true }, jitter: { required: false, ms: true } },
  timeout: { timeout: { required: true, ms: true } },
  reset_peer: { timeout: { required: false, ms: true } },
  bandwidth: { rate: { required: true, ms: false } },
  slow_close: { delay: { required: true, ms: true } },
  slicer: {
    average_size: { required: true, ms: false },
    size_variation: { required: false, ms: false },
    delay: { required: false, ms: false },
  },
  limit_data: { bytes: { required: true, ms: false } },
};

function toxicVariant<T extends ToxicType>(type: T) {
  const shape: Record<string, z.ZodType> = {
    type: z.literal(type),
    stream: oneOf(['upstream', 'downstream']).optional(),
    toxicity: fraction().optional(),
  };
  for (const [name, a] of Object.entries(TOXIC_ATTRIBUTES[type])) {
    const base = a.ms ? duration() : nonNegativeNumber();
    shape[name] = a.required ? base : base.optional();
  }
  return obj(shape).transform((t): ToxicSpec => {
    const rec = t as Record<string, unknown>;
    const attributes: Record<string, number> = {};
    for (const name of Object.keys(TOXIC_ATTRIBUTES[type])) {
      if (typeof rec[name] === 'number') attributes[name] = rec[name];
    }
    const spec: ToxicSpec = { type, attributes };
    if (rec.stream !== undefined) spec.stream = rec.stream as 'upstream' | 'downstream';
    if (rec.toxicity !== undefined) spec.toxicity = rec.toxicity as number;
    return spec;
  });
}

const TOXIC_TYPES = Object.keys(TOXIC_ATTRIBUTES) as ToxicType[];

const faultSchema = obj({
  at: duration({ maxMs: LIMITS.faultMs }),
  for: duration({ positive: true, maxMs: LIMITS.faultMs }),
  proxy: oneOf(['redis', 'postgres']).optional(),
  down: z.literal(true, { error: 'expected true (omit the field for a toxic)' }).optional(),
  toxic: z.unknown().optional(),
  process: oneOf(PROCESS_FAULTS).optional(),
  // slot-migration: how many of the hottest slots to move (a Cluster has 16384).
  slots: positiveInt(16_384).optional(),
}).transform((f, ctx): FaultSpec => {
  if (f.slots !== undefined && f.process !== 'slot-migration') {
    ctx.addIssue({
      code: 'custom',
      message: 'expected only with process: slot-migration (the slots it moves)',
      input: f.slots,
      path: ['slots'],
    });
    return z.NEVER;
  }
  if (f.process !== undefined) {
    if (f.proxy !== undefined || f.down !== undefined || f.toxic !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'a process fault takes no `proxy`, `down` or `toxic` (it acts on the service itself)',
        input: f.process,
        path: ['process'],
      });
      return z.NEVER;
    }
    return { at: f.at, for: f.for, process: f.process, ...(f.slots !== undefined ? { slots: f.slots } : {}) };
  }
  if (f.proxy === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected one of redis, postgres (or \`process: ${PROCESS_FAULTS.join('|')}\`)`,
      input: undefined,
      path: ['proxy'],
    });
    return z.NEVER;
  }
  if ((f.down === true) === (f.toxic !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected exactly one of `down: true` or `toxic: {type, …}`',
      input: { down: f.down, toxic: f.toxic },
    });
    return z.NEVER;
  }
  if (f.toxic === undefined) return { at: f.at, for: f.for, proxy: f.proxy, down: true as const };
  const toxic = parseToxic(f.toxic, ctx);
  if (!toxic) return z.NEVER;
  return { at: f.at, for: f.for, proxy: f.proxy, toxic };
});

/**
 * Toxics are validated by hand against the variant their `type` names, so an error speaks about
 * that variant ("toxic.latency: …") instead of a union of seven mismatches.
 */
function parseToxic(raw: unknown, ctx: z.RefinementCtx): ToxicSpec | undefined {
  const type = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).type : undefined;
  if (typeof type !== 'string' || !(TOXIC_TYPES as string[]).includes(type)) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a toxic type: one of ${TOXIC_TYPES.join(', ')}`,
      input: type,
      path: ['toxic', 'type'],
    });
    return undefined;
  }
  const r = toxicVariant(type as ToxicType).safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  for (const iss of r.error.issues) {
    ctx.addIssue({ ...iss, path: ['toxic', ...iss.path] } as Parameters<typeof ctx.addIssue>[0]);
  }
  return undefined;
}

const dataSchema = obj({
  users: positiveInt(LIMITS.dataRows).default(1000),
  teams: positiveInt(LIMITS.dataRows).default(50),
  counters: positiveInt(LIMITS.dataRows).default(100),
  reportCostMs: duration({ maxMs: LIMITS.costMs }).default(0),
  userReadCostMs: duration({ maxMs: LIMITS.costMs }).default(0),
});

/** Budgets are keyed by metric id; the keys older files used are accepted and renamed. */
const budgetsSchema = obj({
  p99: positiveNumber().optional(),
  errorRate: fraction().optional(),
  queriesPerRequest: nonNegativeNumber().optional(),
  rebuildsPerExpiry: nonNegativeNumber().optional(),
  duplicateRebuilds: nonNegativeNumber().optional(),
  staleBeyondTtl: nonNegativeNumber().optional(),
  servedAfterDelete: nonNegativeNumber().optional(),
  faultReadErrors: nonNegativeNumber().optional(),
  recoverySeconds: nonNegativeNumber().optional(),
  lostIncrements: nonNegativeNumber().optional(),
  p99Ms: positiveNumber().optional(),
  dbQueriesPerRequest: nonNegativeNumber().optional(),
  readErrorsDuringFaults: nonNegativeNumber().optional(),
}).transform((raw, ctx): Budgets => {
  const out: Budgets = {};
  for (const [key, limit] of Object.entries(raw)) {
    if (limit === undefined) continue;
    const id = BUDGET_ALIASES[key as keyof typeof BUDGET_ALIASES] ?? (key as BudgetMetric);
    if (out[id] !== undefined || (id !== key && raw[id as keyof typeof raw] !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `${key} is another name for ${id}; give only one of them`,
        input: limit,
        path: [key],
      });
      continue;
    }
    out[id] = limit;
  }
  return out;
});

const opSchema = oneOf(OPERATIONS);

const SIZE_RE = /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i;
const SIZE_UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "8mb" | "512kb" | "1gb" | 8388608 → bytes (Redis's own units: kb = 1024); undefined when not a size. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = SIZE_RE.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * (SIZE_UNIT[(m[2] ?? 'b').toLowerCase()] as number);
}

const SIZE_HINT = 'expected a size from 1mb to 4gb like "8mb", "512kb" or a number of bytes';

const redisSchema = obj({
  // A union (not `unknown`) as input, so the JSON Schema says "number or string", not "duration".
  maxmemory: z
    .union([z.number(), z.string()], { error: SIZE_HINT })
    .transform((v, ctx) => {
      const bytes = parseBytes(v);
      if (bytes === undefined || bytes < LIMITS.maxmemoryMinBytes || bytes > LIMITS.maxmemoryMaxBytes) {
        ctx.addIssue({ code: 'custom', message: SIZE_HINT, input: v });
        return z.NEVER;
      }
      return bytes;
    })
    .optional(),
  maxmemoryPolicy: oneOf(MAXMEMORY_POLICIES).optional(),
  // Where locks, lease tokens and write-behind buffers live: the cache Redis, or a second one.
  coordination: oneOf(COORDINATION_MODES).optional(),
  // How Redis runs; absent: `run --topology`, else standalone.
  topology: oneOf(REDIS_TOPOLOGIES).optional(),
  // Replicas per Cluster master (local/redis-cluster.ts); cluster-failover needs 1.
  replicasPerMaster: z
    .union([z.literal(0), z.literal(1)], { error: 'expected 0 or 1 (replicas per master, topology cluster)' })
    .optional(),
});

/** Longest TTL a scenario may set (the strategies' own ttlMs limit, target/strategies/parts/options.ts). */
const TTL_MAX_MS = 86_400_000;
const TTL_NAMESPACES = ['default', ...CACHE_NAMESPACES] as const;
const TTL_HINT = `expected a positive ${DURATION_HINT} up to ${TTL_MAX_MS} ms`;

/**
 * `cache.ttlMs`: one duration for every namespace, or a mapping namespace → duration
 * (`{user: 60s, team-report: 1s, default: 5s}`). Validated by hand so an error names the
 * namespace (`cache.ttlMs.team-report: …`); generate-json-schema.ts describes both forms.
 */
export const ttlMsSchema = z.unknown().transform((v, ctx): number | TtlByNamespace => {
  const one = (raw: unknown, path: string[]): number | undefined => {
    const ms = parseDuration(raw);
    if (ms === undefined || ms <= 0 || ms > TTL_MAX_MS) {
      ctx.addIssue({ code: 'custom', message: TTL_HINT, input: raw, path });
      return undefined;
    }
    return ms;
  };
  if (typeof v !== 'object' || v === null) return one(v, []) ?? z.NEVER;
  if (Array.isArray(v) || Object.keys(v).length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration or a mapping of namespace → duration (namespaces: ${TTL_NAMESPACES.join(', ')})`,
      input: v,
    });
    return z.NEVER;
  }
  const out: TtlByNamespace = {};
  for (const [ns, raw] of Object.entries(v)) {
    if (!(TTL_NAMESPACES as readonly string[]).includes(ns)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown namespace; allowed: ${TTL_NAMESPACES.join(', ')}`,
        input: ns,
        path: [ns],
      });
      continue;
    }
    const ms = one(raw, [ns]);
    if (ms !== undefined) out[ns as keyof TtlByNamespace] = ms;
  }
  return out;
});

/** The JSON Schema of `cache.ttlMs` (generate-json-schema.ts puts it in place of the transform). */
export const TTL_MS_JSON_SCHEMA = {
  anyOf: [
    { type: 'number', exclusiveMinimum: 0, maximum: TTL_MAX_MS },
    { type: 'string', pattern: '^\\s*(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?\\s*$' },
    {
      type: 'object',
      minProperties: 1,
      additionalProperties: false,
      properties: Object.fromEntries(
        TTL_NAMESPACES.map((ns) => [
          ns,
          {
            anyOf: [
              { type: 'number', exclusiveMinimum: 0, maximum: TTL_MAX_MS },
              { type: 'string', pattern: '^\\s*(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?\\s*$' },
            ],
          },
        ]),
      ),
    },
  ],
  description:
    'the cache TTL: one duration for every namespace, or per namespace (user, team-members, team-report); a namespace not named takes `default`, else the strategy default',
};

const cacheValueSchema = z.union([z.number(), z.string().max(LIMITS.shortText), z.boolean()], {
  error: `expected a number, a boolean or a string of at most ${LIMITS.shortText} characters`,
});

/**
 * Cache options go to the strategy as-is, except `…Ms` options, which may be written as durations,
 * and `ttlMs`, which may also be a mapping per namespace.
 */
const cacheSchema = z
  .object(
    { ttlMs: ttlMsSchema.optional() },
    { error: 'expected a mapping of option → number, string or boolean' },
  )
  .catchall(cacheValueSchema)
  .refine((rec) => Object.keys(rec).length <= LIMITS.cacheOptions, {
    error: `expected at most ${LIMITS.cacheOptions} options`,
  })
  .transform((rec, ctx) => {
    // Null prototype: option names are user keys and must never meet Object.prototype.
    const out: Record<string, CacheOptionValue> = Object.create(null);
    for (const [k, v] of Object.entries(rec)) {
      if (v === undefined) continue;
      if (k !== 'ttlMs' && k.endsWith('Ms') && typeof v === 'string') {
        const ms = parseDuration(v);
        if (ms === undefined) {
          ctx.addIssue({ code: 'custom', message: `expected a ${DURATION_HINT}`, input: v, path: [k] });
          continue;
        }
        out[k] = ms;
      } else out[k] = v as CacheOptionValue;
    }
    // A plain object again; spreading defines `__proto__` as an own key, never as the prototype.
    return { ...out };
  });

export const scenarioFileSchema = obj({
  name: z
    .string({ error: 'expected a kebab-case name' })
    .max(64, { error: 'expected a kebab-case name of at most 64 characters' })
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, {
      error: 'expected a kebab-case name',
    }),
  question: z
    .string({ error: 'expected one sentence: the question this scenario answers' })
    .min(1, {
      error: 'expected one sentence: the question this scenario answers',
    })
    .max(LIMITS.longText, { error: `expected at most ${LIMITS.longText} characters` }),
  description: z
    .string({ error: 'expected text' })
    .max(LIMITS.longText, { error: `expected at most ${LIMITS.longText} characters` })
    .default(''),
  load: loadSchema,
  keys: keysSchema,
  mix: z
    .partialRecord(opSchema, nonNegativeNumber(), {
      error: (iss) =>
        // zod reports unknown enum keys of a partial record as unrecognized_keys (types say otherwise).
        (iss.code as string) === 'invalid_key' || (iss.code as string) === 'unrecognized_keys'
          ? `unknown operation; allowed: ${OPERATIONS.join(', ')}`
          : 'expected a mapping of operation → weight',
    })
    .refine((m) => Object.values(m).some((w) => (w ?? 0) > 0), {
      error: `expected at least one positive weight among ${OPERATIONS.join(', ')}`,
    }),
  data: dataSchema.default({ users: 1000, teams: 50, counters: 100, reportCostMs: 0, userReadCostMs: 0 }),
  cache: cacheSchema.default({}),
  start: oneOf(['warm', 'cold']).default('warm'),
  faults: z
    .array(faultSchema, { error: 'expected a list of faults' })
    .max(LIMITS.faults, { error: `expected at most ${LIMITS.faults} faults` })
    .default([]),
  budgets: budgetsSchema.default({}),
  // The metrics the scenario's question is about first (correctness): harness/analysis/verdict.ts.
  primary: z
    .array(oneOf(Object.keys(METRICS) as [string, ...string[]]), { error: 'expected a list of metric ids' })
    .optional(),
  redis: redisSchema.optional(),
  leaderboard: obj({ storage: oneOf(LEADERBOARD_STORAGES) }).optional(),
}).superRefine((s, ctx) => {
  const total = totalDurationMs(s.load as Scenario['load']);
  if (total > LIMITS.loadDurationMs) {
    ctx.addIssue({
      code: 'custom',
      message: `expected phases of at most ${LIMITS.loadDurationMs} ms in total`,
      input: total,
      path: ['load', 'phases'],
    });
  }
  const arrivals = plannedArrivals(s.load.phases);
  if (arrivals > LIMITS.arrivalsPerCell) {
    ctx.addIssue({
      code: 'custom',
      message: `expected at most ${LIMITS.arrivalsPerCell} planned arrivals per cell (Σ rate × duration)`,
      input: Math.round(arrivals),
      path: ['load', 'phases'],
    });
  }
  const topology = s.redis?.topology;
  if (s.redis?.replicasPerMaster !== undefined && topology !== 'cluster') {
    ctx.addIssue({
      code: 'custom',
      message: `expected only with redis.topology: cluster (topology is ${topology ?? 'unset'})`,
      input: s.redis.replicasPerMaster,
      path: ['redis', 'replicasPerMaster'],
    });
  }
  const clusterOnly = ['cluster-failover', 'cluster-replica-partition', 'slot-migration'];
  s.faults.forEach((f, i) => {
    if (clusterOnly.includes(f.process ?? '') && topology !== 'cluster') {
      ctx.addIssue({
        code: 'custom',
        message: `expected only with redis.topology: cluster (topology is ${topology ?? 'unset'})`,
        input: f.process,
        path: ['faults', i, 'process'],
      });
    } else if (
      (f.process === 'cluster-failover' || f.process === 'cluster-replica-partition') &&
      s.redis?.replicasPerMaster !== 1
    ) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected redis.replicasPerMaster: 1 with it (a master needs a replica to fail over to)',
        input: f.process,
        path: ['faults', i, 'process'],
      });
    } else if (
      f.process === 'cluster-replica-partition' &&
      !s.faults.some((k) => k.process === 'cluster-failover' && k.at >= f.at && k.at < f.at + f.for)
    ) {
      // The cluster promotes the cut-off master's replica only once that master dies.
      ctx.addIssue({
        code: 'custom',
        message: `expected a cluster-failover starting inside its window (${f.at} to ${f.at + f.for} ms), which kills the cut-off master`,
        input: f.process,
        path: ['faults', i, 'process'],
      });
    }
    if (f.at >= total) {
      ctx.addIssue({
        code: 'custom',
        message: `expected an offset inside the load (0 to ${total} ms)`,
        input: f.at,
        path: ['faults', i, 'at'],
      });
    }
  });
  if (s.keys.type === 'hot-set') {
    const smallest = Math.min(s.data.users, s.data.teams, s.data.counters);
    if (s.keys.hotKeys > smallest) {
      ctx.addIssue({
        code: 'custom',
        message: `expected at most ${smallest} (the smallest of data.users/teams/counters)`,
        input: s.keys.hotKeys,
        path: ['keys', 'hotKeys'],
      });
    }
  }
});

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** One line per zod issue: `<label>: <path>: <what is allowed>, got <value>`. */
export function formatIssues(label: string, issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  // Unknown fields first: a misspelt field name usually also causes the "required" issue next to it.
  const ordered = [...issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  for (const iss of ordered) {
    const path = [...iss.path];
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) lines.push(`${label}: ${formatPath([...path, key])}: ${iss.message}`);
      continue;
    }
    let input = (iss as { input?: unknown }).input;
    // A bad discriminator ("keys.type") carries the whole object as input: show just the field.
    const last = path[path.length - 1];
    if (
      iss.code === 'invalid_union' &&
      typeof input === 'object' &&
      input !== null &&
      typeof last === 'string'
    ) {
      input = (input as Record<string, unknown>)[last];
    }
    const got = input === undefined ? 'got nothing (the field is required)' : `got ${show(input)}`;
    lines.push(`${label}: ${formatPath(path)}: ${iss.message}, ${got}`);
  }
  return lines;
}

/**
 * Validates an already-parsed document (from YAML, JSON or code). `label` prefixes every error line
 * (usually the file path); `defaultName` fills `name` when the file leaves it out.
 */
export function validateScenario(doc: unknown, label: string, defaultName?: string): Scenario {
  const input =
    defaultName && typeof doc === 'object' && doc !== null && !Object.hasOwn(doc, 'name')
      ? { name: defaultName, ...doc }
      : doc;
  const r = scenarioFileSchema.safeParse(input, { reportInput: true });
  if (!r.success) throw new ScenarioError('SCENARIO_INVALID', formatIssues(label, r.error.issues));
  return r.data as Scenario;
}
