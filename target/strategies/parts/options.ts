/**
 * Strategy options: defaults per part, and validation of what the user gave. Unknown option
 * names are ignored on purpose: a scenario passes one option set (e.g. ttlMs) to every strategy
 * in the matrix, including ones that do not use it.
 */
import { StrategyOptionError } from './errors.ts';
import type { Parts } from './parts.ts';

export interface StrategyOptions {
  /** Base TTL of a cached value. For stale-while-revalidate: the soft TTL. */
  ttlMs: number;
  /** jitter: TTL = ttlMs × (1 + U[0, jitterFraction)). */
  jitterFraction: number;
  /** lock: lifetime of the rebuild lock (a dead holder's lock expires after this). */
  lockTtlMs: number;
  /** lock / lease: how long a loser waits for the winner's value before loading itself. */
  waitMs: number;
  /** lock / lease: first poll interval while waiting (backs off ×1.5 to 4× this). */
  pollMs: number;
  /** lease: lifetime of a lease token. */
  leaseTtlMs: number;
  /** stale-while-revalidate: how long after the soft TTL a stale value may still be served. */
  staleTtlMs: number;
  /** stale-while-revalidate: lifetime of the cross-instance refresh lock. */
  refreshLockMs: number;
  /** xfetch: β of Vattani et al.; > 1 recomputes earlier, < 1 later. */
  beta: number;
  /** write-behind: flush period. */
  flushIntervalMs: number;
  /** write-behind: how long this process trusts its last known DB value of a counter. */
  counterBaseTtlMs: number;
}

const COMMON = { ttlMs: 30_000 };

/** Defaults of the options each part reads; a module's `defaults` is the union for its parts. */
export function defaultsFor(parts: Parts): Partial<StrategyOptions> {
  const d: Partial<StrategyOptions> = { ...COMMON };
  // no-cache accepts (and ignores) ttlMs, so one scenario's cache settings fit every strategy.
  if (parts.cache === 'none') return d;
  if (parts.ttl === 'jitter') d.jitterFraction = 0.2;
  if (parts.guard === 'lock' || parts.freshness === 'stale-while-revalidate') d.lockTtlMs = 5_000;
  if (parts.guard !== 'none') Object.assign(d, { waitMs: 2_000, pollMs: 10 });
  if (parts.guard === 'lease') d.leaseTtlMs = 5_000;
  if (parts.freshness === 'stale-while-revalidate')
    Object.assign(d, { staleTtlMs: 30_000, refreshLockMs: 5_000 });
  if (parts.freshness === 'xfetch') d.beta = 1;
  if (parts.counters === 'write-behind')
    Object.assign(d, { flushIntervalMs: 1_000, counterBaseTtlMs: 1_000 });
  return d;
}

const ALL_DEFAULTS: StrategyOptions = {
  ttlMs: 30_000,
  jitterFraction: 0.2,
  lockTtlMs: 5_000,
  waitMs: 2_000,
  pollMs: 10,
  leaseTtlMs: 5_000,
  staleTtlMs: 30_000,
  refreshLockMs: 5_000,
  beta: 1,
  flushIntervalMs: 1_000,
  counterBaseTtlMs: 1_000,
};

const RULES: Record<keyof StrategyOptions, { min: number; max: number; integer: boolean }> = {
  ttlMs: { min: 1, max: 86_400_000, integer: true },
  jitterFraction: { min: 0, max: 10, integer: false },
  lockTtlMs: { min: 1, max: 600_000, integer: true },
  waitMs: { min: 0, max: 600_000, integer: true },
  pollMs: { min: 1, max: 60_000, integer: true },
  leaseTtlMs: { min: 1, max: 600_000, integer: true },
  staleTtlMs: { min: 0, max: 86_400_000, integer: true },
  refreshLockMs: { min: 1, max: 600_000, integer: true },
  beta: { min: 0, max: 100, integer: false },
  flushIntervalMs: { min: 10, max: 3_600_000, integer: true },
  counterBaseTtlMs: { min: 0, max: 3_600_000, integer: true },
};

/** Validates the known options (numbers or numeric strings from a CLI) and fills defaults. */
export function readOptions(strategy: string, parts: Parts, given: Record<string, unknown>): StrategyOptions {
  const out: StrategyOptions = { ...ALL_DEFAULTS, ...defaultsFor(parts) };
  for (const name of Object.keys(RULES) as (keyof StrategyOptions)[]) {
    const raw = given[name];
    if (raw === undefined) continue;
    const rule = RULES[name];
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      value >= rule.min &&
      value <= rule.max &&
      (!rule.integer || Number.isInteger(value));
    if (!ok) {
      const kind = rule.integer ? 'an integer' : 'a number';
      throw new StrategyOptionError(strategy, name, raw, `allowed: ${kind} from ${rule.min} to ${rule.max}`);
    }
    out[name] = value;
  }
  return out;
}
