/**
 * How a strategy module is declared: a name, a summary and the policies it puts in each slot
 * (policies/types.ts). Catalog strategies and users' modules alike:
 * `export default defineStrategy({ name, summary, guard: lock(), freshness: jitter() })`.
 */
import type { StrategyModule } from '../strategy.ts';
import { createComposedStrategy } from './parts/core.ts';
import { StrategyCompositionError } from './parts/errors.ts';
import { defaultsOf } from './parts/options.ts';
import { type Declaration, optionsOf, type Plan, planOf } from './policies/compose.ts';
import type { PolicySlots } from './policies/types.ts';

export interface CatalogModule extends StrategyModule {
  /** The policies this strategy declares; composition ("a+b") merges these. */
  declaration: Declaration;
}

export interface StrategyDefinition extends PolicySlots {
  name: string;
  summary?: string;
  /** true: Redis is never touched (no-cache); composes with nothing. */
  uncached?: boolean;
}

export function defineStrategy(def: StrategyDefinition): CatalogModule {
  const { summary = '', ...declaration } = def;
  const plan = planOf([declaration]);
  if (typeof plan === 'string') throw new StrategyCompositionError(def.name, plan);
  return moduleFromPlan(def.name, summary, declaration, plan);
}

export function moduleFromPlan(
  name: string,
  summary: string,
  declaration: Declaration,
  plan: Plan,
): CatalogModule {
  return {
    name,
    summary,
    declaration,
    defaults: { ...defaultsOf(plan.uncached ? [] : optionsOf(plan)) },
    create: (ctx) => createComposedStrategy(name, plan, ctx),
  };
}
