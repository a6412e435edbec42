/**
 * Strategy options, declared once: each row is an option's default, allowed range and meaning.
 * A policy lists the option names it reads; a strategy's `defaults` are `ttlMs` plus the rows its
 * policies list. Unknown option names are ignored on purpose: a scenario passes one option set
 * (e.g. ttlMs) to every strategy in the matrix, including ones that do not use it.
 */
import { StrategyOptionError } from './errors.ts';

interface OptionRow {
  default: number;
  min: number;
  max: number;
  integer: boolean;
  doc: string;
}

export const STRATEGY_OPTIONS = {
  ttlMs: {
    default: 30_000,
    min: 1,
    max: 86_400_000,
    integer: true,
    doc: 'base TTL (stale-while-revalidate: the soft TTL); or per namespace: {user: 60000, team-report: 1000, default: 5000}',
  },
  jitterFraction: {
    default: 0.2,
    min: 0,
    max: 10,
    integer: false,
    doc: 'jitter: TTL = ttlMs × (1 + U[0, jitterFraction))',
  },
  lockTtlMs: {
    default: 5_000,
    min: 1,
    max: 600_000,
    integer: true,
    doc: 'lock: lifetime of the rebuild lock (a dead holder stops blocking after it)',
  },
  waitMs: {
    default: 2_000,
    min: 0,
    max: 600_000,
    integer: true,
    doc: 'lock / lease: how long a loser waits for the winner before loading itself',
  },
  pollMs: {
    default: 10,
    min: 1,
    max: 60_000,
    integer: true,
    doc: 'lock / lease: first poll interval while waiting (backs off ×1.5 to 4× this)',
  },
  leaseTtlMs: {
    default: 5_000,
    min: 1,
    max: 600_000,
    integer: true,
    doc: 'lease: lifetime of a lease token',
  },
  staleTtlMs: {
    default: 30_000,
    min: 0,
    max: 86_400_000,
    integer: true,
    doc: 'stale-while-revalidate: how long after the soft TTL a stale value may be served',
  },
  refreshLockMs: {
    default: 5_000,
    min: 1,
    max: 600_000,
    integer: true,
    doc: 'stale-while-revalidate: lifetime of the cross-instance refresh lock',
  },
  beta: {
    default: 1,
    min: 0,
    max: 100,
    integer: false,
    doc: 'xfetch: β of Vattani et al.; > 1 recomputes earlier, < 1 later',
  },
  flushIntervalMs: {
    default: 1_000,
    min: 10,
    max: 3_600_000,
    integer: true,
    doc: 'write-behind: flush period',
  },
  counterBaseTtlMs: {
    default: 1_000,
    min: 0,
    max: 3_600_000,
    integer: true,
    doc: 'write-behind: how long this process trusts its last known DB value of a counter',
  },
  topN: {
    default: 64,
    min: 1,
    max: 10_000,
    integer: true,
    doc: 'pre-warm: how many of the hottest keys the background job keeps warm',
  },
  refreshAheadMs: {
    default: 5_000,
    min: 0,
    max: 86_400_000,
    integer: true,
    doc: 'pre-warm: a hot key whose remaining TTL is below this is reloaded in the background',
  },
  intervalMs: {
    default: 250,
    min: 10,
    max: 3_600_000,
    integer: true,
    doc: 'pre-warm: period of the background job (persist the hot set, refresh what is due)',
  },
} as const satisfies Record<string, OptionRow>;

export type OptionName = keyof typeof STRATEGY_OPTIONS;
export type StrategyOptions = Record<OptionName, number> & {
  /**
   * TTL per cache namespace, from `ttlMs: {user: 60000, team-report: 1000, default: 5000}`:
   * a namespace not named takes `default`, else the strategy's ttlMs default (`ttlMs` above holds
   * that fallback). Empty when ttlMs is a number.
   */
  ttlByNamespace: Readonly<Record<string, number>>;
};

const NAMES = Object.keys(STRATEGY_OPTIONS) as OptionName[];

/** The TTL of a value of `namespace`: the one place a per-endpoint TTL is resolved. */
export function ttlFor(o: Pick<StrategyOptions, 'ttlMs' | 'ttlByNamespace'>, namespace: string): number {
  return o.ttlByNamespace[namespace] ?? o.ttlMs;
}

/** The defaults of the given options (ttlMs always: every scenario passes it). */
export function defaultsOf(names: Iterable<OptionName>): Partial<StrategyOptions> {
  const d: Partial<StrategyOptions> = { ttlMs: STRATEGY_OPTIONS.ttlMs.default };
  for (const n of names) d[n] = STRATEGY_OPTIONS[n].default;
  return d;
}

const NAMESPACE_RE = /^[a-z0-9]+(-[a-z0-9]+)*$/;

function checkValue(strategy: string, field: string, rule: OptionRow, raw: unknown): number {
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= rule.min &&
    value <= rule.max &&
    (!rule.integer || Number.isInteger(value));
  if (!ok) {
    const kind = rule.integer ? 'an integer' : 'a number';
    throw new StrategyOptionError(strategy, field, raw, `allowed: ${kind} from ${rule.min} to ${rule.max}`);
  }
  return value as number;
}

/** Validates the known options (numbers or numeric strings from a CLI) and fills defaults. */
export function readOptions(strategy: string, given: Record<string, unknown>): StrategyOptions {
  const out = {
    ...Object.fromEntries(NAMES.map((n) => [n, STRATEGY_OPTIONS[n].default])),
    ttlByNamespace: {},
  } as StrategyOptions;
  const ttlByNamespace: Record<string, number> = Object.create(null);
  for (const name of NAMES) {
    const raw = given[name];
    if (raw === undefined) continue;
    const rule: OptionRow = STRATEGY_OPTIONS[name];
    if (name === 'ttlMs' && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
      for (const [ns, v] of Object.entries(raw)) {
        if (!NAMESPACE_RE.test(ns))
          throw new StrategyOptionError(
            strategy,
            'ttlMs',
            ns,
            'allowed: a kebab-case namespace name or default',
          );
        const ms = checkValue(strategy, `ttlMs.${ns}`, rule, v);
        if (ns === 'default') out.ttlMs = ms;
        else ttlByNamespace[ns] = ms;
      }
      continue;
    }
    out[name] = checkValue(strategy, name, rule, raw);
  }
  out.ttlByNamespace = { ...ttlByNamespace };
  return out;
}
