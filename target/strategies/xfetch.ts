/**
 * xfetch — probabilistic early recomputation (Vattani, Chierichetti, Lowenstein, VLDB 2015).
 * Each value stores δ (how long its load took) and its expiry; a hit recomputes synchronously
 * when now − δ·β·ln(U) ≥ expiry, U uniform in (0, 1]. The closer to expiry and the slower the
 * load, the likelier; on a hot key one request refreshes before expiry and nobody misses.
 * Guarantees: ≈0 misses on a hot key in steady state; staleness as cache-aside.
 * Costs: a few extra loads (early, counted as hits + rebuild reason 'early'); the chosen request
 * pays the load latency. Cold or rarely read keys still miss.
 * Fails: open — as cache-aside; closed — CACHE_UNAVAILABLE.
 * Options: ttlMs (30000), beta (1; > 1 recomputes earlier).
 */
import { defineStrategy } from './define.ts';
import { xfetch } from './policies/index.ts';

export default defineStrategy({
  name: 'xfetch',
  summary: 'probabilistic early recomputation (XFetch, β configurable): ≈0 misses on hot keys',
  freshness: xfetch(),
});
