/**
 * Composition: the policies of several declarations are merged slot by slot, and a slot's hooks
 * come from whichever policy provides them. Two policies providing the same hook of one slot
 * cannot be composed (there is no meaningful "lock and lease at once").
 */
import { StrategyError } from '../parts/errors.ts';
import type { OptionName } from '../parts/options.ts';
import type { Policy, PolicyEnv, PolicySlots, SlotName } from './types.ts';

const SLOT_LABEL: Record<SlotName, string> = {
  guard: 'the rebuild guard',
  freshness: 'the freshness policy',
  keys: 'the key scheme',
  write: 'the write policy',
  counters: 'the counter policy',
};
const SLOTS = Object.keys(SLOT_LABEL) as SlotName[];

interface Placed {
  /** The strategy that declared the policy (for error messages). */
  owner: string;
  policy: Policy<object>;
}

/** A validated composition: every slot's policies, no hook provided twice. */
export interface Plan {
  /** no-cache: Redis is never touched; composes with nothing. */
  uncached: boolean;
  slots: Record<SlotName, Placed[]>;
}

export interface Declaration extends PolicySlots {
  name: string;
  uncached?: boolean;
}

const asList = <P>(p: P | readonly P[] | undefined): P[] =>
  p === undefined ? [] : Array.isArray(p) ? [...p] : [p as P];

function isPolicy(p: unknown): p is Policy<object> {
  const q = p as Partial<Policy<object>> | null;
  return typeof q?.name === 'string' && Array.isArray(q.provides) && typeof q.create === 'function';
}

/** Merges declarations left to right; returns a reason string when they cannot compose. */
export function planOf(declared: Declaration[]): Plan | string {
  const uncached = declared.find((d) => d.uncached);
  if (uncached && declared.length > 1)
    return `'${uncached.name}' has no cache, so nothing can be layered on it`;
  const slots = Object.fromEntries(SLOTS.map((s) => [s, [] as Placed[]])) as Plan['slots'];
  for (const slot of SLOTS) {
    const providedBy = new Map<PropertyKey, Placed>();
    for (const d of declared) {
      for (const policy of asList(d[slot]) as Policy<object>[]) {
        if (!isPolicy(policy))
          return `'${d.name}' puts ${JSON.stringify(policy)} in ${slot}; expected a policy {name, provides: [hooks], create(env)}`;
        if (slots[slot].some((p) => p.policy.name === policy.name)) continue;
        const placed = { owner: d.name, policy };
        for (const hook of policy.provides) {
          const prev = providedBy.get(hook);
          if (prev)
            return `'${prev.owner}' and '${d.name}' both choose ${SLOT_LABEL[slot]} (${prev.policy.name} vs ${policy.name}); pick one`;
          providedBy.set(hook, placed);
        }
        slots[slot].push(placed);
      }
    }
  }
  return { uncached: Boolean(uncached), slots };
}

/** Several declarations as one (slot lists concatenated): what a composition declares. */
export function mergeDeclarations(name: string, declared: Declaration[]): Declaration {
  const out: Declaration = { name };
  for (const slot of SLOTS) {
    const all = declared.flatMap((d) => asList(d[slot]) as Policy<object>[]);
    if (all.length > 0) (out as Record<SlotName, unknown>)[slot] = all;
  }
  return out;
}

/** Every option the plan's policies read. */
export function optionsOf(plan: Plan): OptionName[] {
  return SLOTS.flatMap((s) => plan.slots[s].flatMap((p) => [...(p.policy.options ?? [])]));
}

/** Creates a slot's policies for one strategy instance and merges their hooks over the defaults. */
export function instantiate<H extends object>(
  strategy: string,
  placed: Placed[],
  env: PolicyEnv,
  defaults: H,
): H & { provided: Set<keyof H> } {
  const merged = { ...defaults, provided: new Set<keyof H>() };
  for (const { policy } of placed as { policy: Policy<H> }[]) {
    const hooks = policy.create(env);
    for (const hook of policy.provides) {
      const fn = hooks[hook];
      if (typeof fn !== 'function')
        throw new StrategyError(
          'INVALID_STRATEGY_MODULE',
          `strategy '${strategy}': policy '${policy.name}' says it provides ${String(hook)} but create() returned no such function`,
        );
      (merged as Record<keyof H, unknown>)[hook] = (fn as (...a: unknown[]) => unknown).bind(hooks);
      merged.provided.add(hook);
    }
  }
  return merged;
}
