/**
 * The strategy registry: catalog names, compositions ("jitter+lock") and user modules
 * (`./x.ts` exporting a StrategyModule as default).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StrategyModule } from '../strategy.ts';
import cacheAside from './cache-aside.ts';
import { type CatalogModule, moduleFromPlan } from './define.ts';
import jitter from './jitter.ts';
import lease from './lease.ts';
import lock from './lock.ts';
import noCache from './no-cache.ts';
import { StrategyCompositionError, StrategyModuleError, UnknownStrategyError } from './parts/errors.ts';
import { mergeDeclarations, planOf } from './policies/compose.ts';
import preWarm from './pre-warm.ts';
import singleFlight from './single-flight.ts';
import staleWhileRevalidate from './stale-while-revalidate.ts';
import versioning from './versioning.ts';
import writeBehind from './write-behind.ts';
import writeThrough from './write-through.ts';
import xfetch from './xfetch.ts';

export { type CatalogModule, defineStrategy, type StrategyDefinition } from './define.ts';
export {
  CacheUnavailableError,
  StrategyCompositionError,
  StrategyError,
  StrategyModuleError,
  StrategyOptionError,
  UnknownStrategyError,
} from './parts/errors.ts';
export * from './policies/index.ts';

const CATALOG: CatalogModule[] = [
  noCache,
  cacheAside,
  jitter,
  lock,
  versioning,
  writeThrough,
  singleFlight,
  staleWhileRevalidate,
  xfetch,
  lease,
  writeBehind,
  preWarm,
];
const BY_NAME = new Map(CATALOG.map((m) => [m.name, m]));

/** The 12 catalog names, in the order of the README's strategy table. */
export function strategyNames(): string[] {
  return CATALOG.map((m) => m.name);
}

function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec) || /\.(m?[jt]s)$/.test(spec);
}

/** A catalog name, a composition of catalog names joined by '+', or a path to a module. */
export async function loadStrategyModule(spec: string): Promise<StrategyModule> {
  const trimmed = spec.trim();
  if (looksLikePath(trimmed)) return importUserModule(trimmed);
  const names = trimmed.split('+').map((s) => s.trim());
  const modules = names.map((n) => {
    const m = BY_NAME.get(n);
    if (!m) throw new UnknownStrategyError(n === '' ? trimmed : n, strategyNames());
    return m;
  });
  const [only] = modules;
  if (modules.length === 1 && only) return only;
  const solo = modules.find((m) => m.background);
  if (solo)
    throw new StrategyCompositionError(
      trimmed,
      `'${solo.name}' runs its ${solo.background?.name} beside a cache-aside pipeline, so nothing can be layered on it`,
    );
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new StrategyCompositionError(trimmed, `'${n}' is listed twice`);
    seen.add(n);
  }
  const plan = planOf(modules.map((m) => m.declaration));
  if (typeof plan === 'string') throw new StrategyCompositionError(trimmed, plan);
  const name = names.join('+');
  const declaration = mergeDeclarations(
    name,
    modules.map((m) => m.declaration),
  );
  return moduleFromPlan(name, modules.map((m) => m.summary).join(' + '), declaration, plan);
}

async function importUserModule(path: string): Promise<StrategyModule> {
  const url = pathToFileURL(resolve(process.cwd(), path)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new StrategyModuleError(path, `cannot be imported: ${reason}`, err);
  }
  const m = mod.default as Partial<StrategyModule> | undefined;
  if (!m || typeof m !== 'object' || typeof m.name !== 'string' || typeof m.create !== 'function') {
    throw new StrategyModuleError(
      path,
      'its default export must be a StrategyModule {name, summary, defaults, create(ctx)}',
    );
  }
  return { summary: '', defaults: {}, ...m } as StrategyModule;
}
