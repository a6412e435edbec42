/**
 * How a strategy module is declared: a name, a summary and the policies it puts in each slot
 * (policies/types.ts). Catalog strategies and users' modules alike:
 * `export default defineStrategy({ name, summary, guard: lock(), freshness: jitter() })`.
 */
import type { Strategy, StrategyContext, StrategyModule } from '../strategy.ts';
import { createComposedStrategy } from './parts/core.ts';
import { StrategyCompositionError } from './parts/errors.ts';
import { defaultsOf, type OptionName, readOptions, type StrategyOptions } from './parts/options.ts';
import { type Declaration, optionsOf, type Plan, planOf } from './policies/compose.ts';
import type { PolicySlots } from './policies/types.ts';

export interface CatalogModule extends StrategyModule {
  /** The policies this strategy declares; composition ("a+b") merges these. */
  declaration: Declaration;
  /** A job running beside the pipeline (pre-warm); such a strategy composes with nothing. */
  background?: BackgroundJob;
}

/**
 * Work no policy slot holds because it runs beside the requests, not inside one: it sees every
 * read (`wrap`) and owns timers the strategy's close() stops.
 */
export interface BackgroundJob {
  name: string;
  /** Options it reads (rows of parts/options.ts); added to the strategy's defaults. */
  options: readonly OptionName[];
  wrap(pipeline: Strategy, ctx: StrategyContext, options: StrategyOptions): Strategy;
}

export interface StrategyDefinition extends PolicySlots {
  name: string;
  summary?: string;
  /** true: Redis is never touched (no-cache); composes with nothing. */
  uncached?: boolean;
  background?: BackgroundJob;
}

export function defineStrategy(def: StrategyDefinition): CatalogModule {
  const { summary = '', background, ...declaration } = def;
  const plan = planOf([declaration]);
  if (typeof plan === 'string') throw new StrategyCompositionError(def.name, plan);
  const mod = moduleFromPlan(def.name, summary, declaration, plan);
  if (!background) return mod;
  return {
    ...mod,
    background,
    defaults: { ...mod.defaults, ...defaultsOf(background.options) },
    create: (ctx) => background.wrap(mod.create(ctx), ctx, readOptions(def.name, ctx.options)),
  };
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
