// The optional cachebench probe (CACHEBENCH_PROBE=1): the HTTP stats contract of cachebench's
// service mode, implemented here in a few lines of Fastify. Counters are monotonic since start;
// cachebench reads them before and after a load and takes the differences.
export const PROBE_PATH = '/__cachebench/stats';

export function mountProbe(app, stats) {
  app.addHook('onResponse', async (request) => {
    if (request.routeOptions.url !== PROBE_PATH) stats.requests += 1;
  });
  app.get(PROBE_PATH, async () => ({
    requests: stats.requests,
    hits: stats.hits,
    misses: stats.misses,
    loads: { db: stats.loads.db },
  }));
}
