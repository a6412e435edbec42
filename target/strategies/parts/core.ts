/**
 * The pipeline every strategy runs, over its policies (policies/types.ts). Read: resolve the key
 * (keys) → GET → judge freshness → on a miss rebuild under the guard. Write: DB first, then the
 * key policy (version bumps), the write policy (DEL or SET) and the guard's helper keys.
 *
 * Failure rules, the same for every composition:
 *   - A read touches Redis only while the breaker admits it; the first failed Redis call of a
 *     read ends that read's use of Redis (no SET after a failed GET): fail-open loads from the DB
 *     (`fallback`, rebuild reason 'fallback'); fail-closed throws CACHE_UNAVAILABLE.
 *   - A failed SET after a successful load is ignored (the value is correct, only not cached).
 *   - A failed invalidation after a committed write is queued (repairs.ts) and retried when Redis
 *     returns; fail-closed refuses writes while the breaker is open and throws after the commit
 *     if invalidation failed (the write is committed; the error says so).
 */
import type { CacheError } from '../../cache-client.ts';
import { DEFAULT_KEY_PREFIX } from '../../keys.ts';
import type {
  ReadRequest,
  ReadResult,
  Strategy,
  StrategyContext,
  Versioned,
  WriteRequest,
} from '../../strategy.ts';
import { instantiate, type Plan } from '../policies/compose.ts';
import { defaultHooks } from '../policies/defaults.ts';
import type { CounterHooks, PolicyEnv } from '../policies/types.ts';
import { direct } from '../policies/writes/direct.ts';
import { CacheUnavailableError } from './errors.ts';
import { readOptions } from './options.ts';
import { ReadKit } from './read-kit.ts';
import { Refresher } from './refresh.ts';
import { Repairs } from './repairs.ts';

const BREAKER_OPEN: CacheError = { kind: 'breaker-open', message: 'circuit breaker open', sent: false };

export function createComposedStrategy(name: string, plan: Plan, ctx: StrategyContext): Strategy {
  const options = readOptions(name, ctx.options);
  if (plan.uncached) return uncached(name, ctx);
  const { cache, events } = ctx;
  const failClosed = ctx.policy === 'fail-closed';
  const prefix = ctx.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const repairs = new Repairs(cache, prefix);
  const coordination = ctx.coordination ?? cache;
  const env: PolicyEnv = {
    cache,
    coordination,
    events,
    options,
    failClosed,
    instanceId: ctx.instanceId,
    prefix,
    repairs,
  };
  const d = defaultHooks(env);
  const guard = instantiate(name, plan.slots.guard, env, d.guard);
  const freshness = instantiate(name, plan.slots.freshness, env, d.freshness);
  const keys = instantiate(name, plan.slots.keys, env, d.keys);
  const write = instantiate(name, plan.slots.write, env, d.write);
  const counters = instantiate(name, plan.slots.counters, env, d.counters);
  const kit = new ReadKit(env, guard, freshness);
  // Without a key policy the key is the request's own: no async resolve (a promise and a
  // microtask) on every read.
  const resolvesKeys = keys.provided.has('resolve');
  // Without a freshness policy that judges, every decoded value is fresh: no clock read per hit.
  const judges = freshness.provided.has('judge');
  const refresher = new Refresher(
    env,
    kit,
    guard.provided.has('refreshPermit') ? guard.refreshPermit : freshness.refreshPermit,
  );

  return {
    name,

    async read<T extends Versioned>(req: ReadRequest<T>): Promise<ReadResult<T>> {
      if (!cache.available()) return kit.fallback(req, BREAKER_OPEN);
      if (repairs.size > 0) {
        await repairs.flush();
        if (repairs.touches(req.key, req.dependsOn)) return kit.fallback(req, BREAKER_OPEN);
      }
      let key = req.key;
      if (resolvesKeys) {
        const resolved = await keys.resolve(req);
        if (!resolved.ok) return kit.fallback(req, resolved.error);
        key = resolved.value;
      }
      const got = await cache.get(key);
      if (!got.ok) return kit.fallback(req, got.error);
      const cached = kit.decode(got.value);
      if (!cached) {
        events.miss(req.namespace);
        return guard.coalesce(key, () => guard.miss(kit.miss(req, key)));
      }
      const verdict = judges ? freshness.judge(cached.entry, Date.now()) : 'fresh';
      if (verdict === 'fresh') {
        events.hit(req.namespace);
        return kit.fromCache(cached, 'cache');
      }
      if (verdict === 'stale') {
        events.staleServed(req.namespace);
        refresher.inBackground(req, key);
        return kit.fromCache(cached, 'stale');
      }
      // xfetch chose this request to recompute early: still a hit (the value was valid).
      events.hit(req.namespace);
      const loaded = await guard.coalesce(`early\0${key}`, () => refresher.refresh(req, key, 'early'));
      return loaded ? kit.fromDb(loaded) : kit.fromCache(cached, 'cache');
    },

    async write<T extends Versioned>(req: WriteRequest<T>): Promise<T> {
      if (failClosed && !cache.available()) throw new CacheUnavailableError(`write ${req.key}`, BREAKER_OPEN);
      const value = await req.write();
      let failure = await keys.onWrite(req);
      const stamp = () => kit.stamp(JSON.stringify(value), kit.lastLoadMs(req.namespace), req.namespace);
      const after = await write.afterCommit({ req, value, stamp });
      failure ??= after.failure;
      // The guard's helper keys (leases) live on the coordination server when it is a separate one.
      const helpers = guard.onWrite(req);
      const dels = [...req.invalidates, ...after.del, ...(coordination === cache ? helpers : [])];
      const del = await cache.del(...dels);
      if (!del.ok) {
        failure ??= del.error;
        repairs.addKeys(dels);
      }
      if (coordination !== cache && helpers.length > 0) {
        const delHelpers = await coordination.del(...helpers);
        if (!delHelpers.ok) failure ??= delHelpers.error;
      }
      if (failure && failClosed)
        throw new CacheUnavailableError(`invalidate after committed write ${req.key}`, failure);
      return value;
    },

    increment: (req) => counters.increment(req),
    readCounter: (req) => counters.readCounter(req),

    async close() {
      await counters.close();
      await refresher.settle(2_000);
    },
  };
}

/** no-cache: Redis is never touched. */
function uncached(name: string, { events }: StrategyContext): Strategy {
  const counters = direct().create({} as PolicyEnv) as CounterHooks;
  return {
    name,
    async read<T extends Versioned>(req: ReadRequest<T>): Promise<ReadResult<T>> {
      events.miss(req.namespace);
      return { value: await events.rebuild(req.key, 'miss', req.load), source: 'db' };
    },
    write: (req) => req.write(),
    increment: (req) => counters.increment(req),
    readCounter: (req) => counters.readCounter(req),
  };
}
