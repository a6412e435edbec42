/**
 * Prometheus view of one target instance (`GET /metrics`). Counters are read from the
 * instrumentation's lifetime tallies at scrape time, so the request path pays nothing for them;
 * only the latency histogram is observed per request, through pre-bound label children.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { TallyName, TargetInstrumentation } from './instrumentation.ts';

export interface TargetMetrics {
  readonly registry: Registry;
  /** One finished HTTP request. */
  observe(endpoint: string, status: number, ms: number): void;
  /** `observe` bound to one endpoint, with its label children cached per status (hot path). */
  observer(endpoint: string): (status: number, ms: number) => void;
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(
  events: TargetInstrumentation,
  info: { instanceId: string; strategy: string; policy: string },
): TargetMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: info.instanceId });
  collectDefaultMetrics({ register: registry, prefix: 'cachebench_target_' });

  new Gauge({
    name: 'cachebench_target_info',
    help: 'Target instance: strategy and failure policy it runs with (value always 1)',
    labelNames: ['strategy', 'policy'],
    registers: [registry],
  }).set({ strategy: info.strategy, policy: info.policy }, 1);

  const fromTally = (name: string, help: string, tally: TallyName, label: string) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of events.lifetimeOf(tally).by) this.inc({ [label]: k }, v);
      },
    });

  fromTally('cachebench_target_http_requests_total', 'HTTP requests by endpoint', 'httpRequests', 'endpoint');
  fromTally('cachebench_target_cache_hits_total', 'Reads answered from Redis', 'hits', 'namespace');
  fromTally('cachebench_target_cache_misses_total', 'Reads that missed Redis', 'misses', 'namespace');
  fromTally('cachebench_target_cache_stale_served_total', 'Stale values served', 'staleServed', 'namespace');
  fromTally(
    'cachebench_target_cache_fallbacks_total',
    'Reads answered from the DB because Redis failed',
    'fallbacks',
    'namespace',
  );
  fromTally(
    'cachebench_target_db_queries_total',
    'PostgreSQL queries issued, by endpoint',
    'dbQueries',
    'endpoint',
  );
  fromTally(
    'cachebench_target_db_time_ms_total',
    'Time spent in PostgreSQL queries, ms, by endpoint',
    'dbTimeMs',
    'endpoint',
  );
  fromTally('cachebench_target_redis_errors_total', 'Failed Redis calls by kind', 'redisErrors', 'kind');
  fromTally(
    'cachebench_target_rebuilds_total',
    'Source loads caused by a miss or a refresh',
    'rebuilds',
    'reason',
  );

  const plain = (name: string, help: string, tally: TallyName) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(events.lifetimeOf(tally).total);
      },
    });
  plain('cachebench_target_db_pool_waits_total', 'Queries that waited for a pooled connection', 'poolWaits');
  plain('cachebench_target_breaker_opens_total', 'Times the Redis circuit breaker opened', 'breakerOpens');
  plain('cachebench_target_lock_waits_total', 'Requests that waited on a rebuild lock', 'lockWaits');
  plain(
    'cachebench_target_background_refreshes_total',
    'Background refreshes started',
    'backgroundRefreshes',
  );
  plain(
    'cachebench_target_write_behind_increments_total',
    'Counter increments buffered in Redis',
    'wbIncrements',
  );
  plain('cachebench_target_write_behind_flushed_total', 'Buffered increments written to the DB', 'wbFlushed');
  plain('cachebench_target_write_behind_lost_total', 'Buffered increments lost', 'wbLost');

  const latency = new Histogram({
    name: 'cachebench_target_http_request_duration_seconds',
    help: 'HTTP request latency by endpoint and status',
    labelNames: ['endpoint', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const children = new Map<string, { observe(v: number): void }>();

  return {
    registry,
    observe(endpoint, status, ms) {
      const k = `${endpoint} ${status}`;
      let child = children.get(k);
      if (!child) {
        child = latency.labels({ endpoint, status: String(status) });
        children.set(k, child);
      }
      child.observe(ms / 1000);
    },
    observer(endpoint) {
      const byStatus = new Map<number, { observe(v: number): void }>();
      return (status, ms) => {
        let child = byStatus.get(status);
        if (!child) {
          child = latency.labels({ endpoint, status: String(status) });
          byStatus.set(status, child);
        }
        child.observe(ms / 1000);
      };
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
