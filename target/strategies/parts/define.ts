/**
 * How a strategy module is declared: a name, a summary and the parts it changes. Also usable by
 * a user's own module (`--strategy ./x.ts`): `export default defineStrategy({...})`.
 */
import type { StrategyModule } from '../../strategy.ts';
import { createComposedStrategy } from './core.ts';
import { defaultsFor } from './options.ts';
import { BASE_PARTS, type Parts } from './parts.ts';

export interface CatalogModule extends StrategyModule {
  /** The dimensions this strategy sets; composition merges these. */
  parts: Partial<Parts>;
}

export function defineStrategy(def: { name: string; summary: string; parts: Partial<Parts> }): CatalogModule {
  return moduleFromParts(def.name, def.summary, def.parts, { ...BASE_PARTS, ...def.parts });
}

export function moduleFromParts(
  name: string,
  summary: string,
  declared: Partial<Parts>,
  parts: Parts,
): CatalogModule {
  return {
    name,
    summary,
    parts: declared,
    defaults: { ...defaultsFor(parts) },
    create: (ctx) => createComposedStrategy(name, parts, ctx),
  };
}
