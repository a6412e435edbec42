/**
 * pre-warm — cache-aside, plus a background job that counts reads per key in bounded memory
 * (space-saving top-N) and every intervalMs reloads the topN hottest keys that are missing from
 * Redis or expire within refreshAheadMs, so hot keys are reloaded once, in the background, instead
 * of by the requests that miss them. The hot set is persisted in Redis (`<prefix>prewarm:hot`);
 * a restarted process warms it at start, before its own traffic has shown what is hot.
 * Guarantees: as cache-aside for reads and writes; a hot key stays cached across its expiry while
 * the job keeps up (refreshAheadMs > intervalMs + a load). A refresh that loaded before a write
 * and SETs after its DEL leaves a stale value for up to ttlMs (the stale-set race, as cache-aside).
 * Costs: one PTTL per hot key per tick and one SET of the hot set; topN background loads per
 * ttlMs − refreshAheadMs whether or not the keys are still read; memory for 4 × topN counters.
 * Fails: open — as cache-aside; the job skips ticks while the breaker is open and rewarms what
 * Redis lost when it returns; closed — CACHE_UNAVAILABLE on the read path.
 * Composes with nothing: the job writes the plain cache-aside value format.
 * Options: ttlMs (30000), topN (64), refreshAheadMs (5000), intervalMs (250).
 */
import { DEFAULT_KEY_PREFIX } from '../keys.ts';
import { defineStrategy } from './define.ts';
import { PrewarmRefresher } from './prewarm/refresher.ts';

export default defineStrategy({
  name: 'pre-warm',
  summary: 'cache-aside + background job keeping the N hottest keys loaded (and warm at start)',
  background: {
    name: 'pre-warm job',
    options: ['topN', 'refreshAheadMs', 'intervalMs'],
    wrap(pipeline, ctx, o) {
      const job = new PrewarmRefresher(ctx.cache, ctx.events, ctx.keyPrefix ?? DEFAULT_KEY_PREFIX, {
        ttlMs: o.ttlMs,
        topN: o.topN,
        refreshAheadMs: o.refreshAheadMs,
        intervalMs: o.intervalMs,
      });
      return {
        name: pipeline.name,
        read(req) {
          job.track(req);
          return pipeline.read(req);
        },
        write: (req) => pipeline.write(req),
        increment: (req) => pipeline.increment(req),
        readCounter: (req) => pipeline.readCounter(req),
        attachRequests(requestFor) {
          // Not awaited: the target serves requests while it warms (a failed warm is a cold start).
          void job.warmAtStart(requestFor).catch(() => {});
        },
        async close() {
          await job.close();
          await pipeline.close?.();
        },
      };
    },
  },
});
