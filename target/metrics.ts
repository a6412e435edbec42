/**
 * Prometheus view of one target instance (`GET /metrics`). Counters are read from the
 * instrumentation's lifetime tallies at scrape time, so the request path pays nothing for them;
 * only the latency histogram is observed per request, on pre-bound series (LightHistogram).
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { TallyName, TargetInstrumentation } from './instrumentation.ts';

export interface TargetMetrics {
  readonly registry: Registry;
  /** One finished HTTP request. */
  observe(endpoint: string, status: number, ms: number): void;
  /** `observe` bound to one endpoint, with its series cached per status (hot path). */
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
  // Unprefixed on purpose: stock Node.js dashboards query `process_cpu_seconds_total`,
  // `nodejs_eventloop_lag_seconds`, … by their standard names; `instance_id` tells targets apart.
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'cachebench_target_info',
    help: 'Target instance: strategy and failure policy it runs with (value always 1)',
    labelNames: ['strategy', 'policy'],
    registers: [registry],
  }).set({ strategy: info.strategy, policy: info.policy }, 1);

  // Names follow the Prometheus conventions (docs/observability/README.md, "Metric names"):
  // base units (seconds, bytes), `_total` on counters. `scale` turns a tally's unit into the base
  // unit (the DB time tally counts milliseconds).
  const fromTally = (name: string, help: string, tally: TallyName, label: string, scale = 1) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of events.lifetimeOf(tally).by) this.inc({ [label]: k }, v * scale);
      },
    });

  fromTally('cachebench_target_http_requests_total', 'HTTP requests by endpoint', 'httpRequests', 'endpoint');
  // Hits, misses, stale serves, fallbacks and rebuilds are what the target observed around the
  // closures it hands the strategy; the strategy's own ctx.events claims are the reported_* series.
  fromTally(
    'cachebench_target_cache_hits_total',
    'Reads answered from Redis with no source load (observed)',
    'hits',
    'namespace',
  );
  fromTally(
    'cachebench_target_cache_misses_total',
    'Reads answered from the DB (observed)',
    'misses',
    'namespace',
  );
  fromTally(
    'cachebench_target_cache_stale_served_total',
    'Stale values served (observed)',
    'staleServed',
    'namespace',
  );
  fromTally(
    'cachebench_target_cache_fallbacks_total',
    'Reads answered from the DB because Redis failed (observed)',
    'fallbacks',
    'namespace',
  );
  fromTally(
    'cachebench_target_source_calls_total',
    'Closure calls (loads, writes, counter calls) by endpoint or background (observed)',
    'sourceCalls',
    'endpoint',
  );
  fromTally(
    'cachebench_target_reported_rebuilds_total',
    'Rebuilds the strategy reported through ctx.events, by reason',
    'reportedRebuilds',
    'reason',
  );
  fromTally(
    'cachebench_target_db_queries_total',
    'PostgreSQL queries issued, by endpoint',
    'dbQueries',
    'endpoint',
  );
  fromTally(
    'cachebench_target_db_time_seconds_total',
    'Time spent in PostgreSQL queries, seconds, by endpoint',
    'dbTimeMs',
    'endpoint',
    1 / 1000,
  );
  fromTally('cachebench_target_redis_errors_total', 'Failed Redis calls by kind', 'redisErrors', 'kind');
  fromTally(
    'cachebench_target_rebuilds_total',
    'Source loads the target observed, by reason',
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

  const latency = new LightHistogram(
    'cachebench_target_http_request_duration_seconds',
    'HTTP request latency by endpoint and status',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  registry.registerMetric(latency as unknown as Metric);

  return {
    registry,
    observe(endpoint, status, ms) {
      latency.series(endpoint, status).observe(ms / 1000);
    },
    observer(endpoint) {
      const byStatus = new Map<number, Series>();
      return (status, ms) => {
        let series = byStatus.get(status);
        if (!series) {
          series = latency.series(endpoint, status);
          byStatus.set(status, series);
        }
        series.observe(ms / 1000);
      };
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** One (endpoint, status) series: per-bucket counts (not cumulative), sum and count. */
class Series {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/**
 * A Prometheus histogram with the work moved to scrape time. prom-client's Histogram builds,
 * validates and hashes a label object on every observe (~µs each), which showed on the
 * cache-hit path; here an observe is a bucket scan and three additions on a pre-bound series.
 * Registered as a plain metric object: the registry only calls `get()` and formats its values.
 */
class LightHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private readonly all = new Map<string, { endpoint: string; status: string; s: Series }>();
  constructor(name: string, help: string, bounds: number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
  }
  series(endpoint: string, status: number): Series {
    const k = `${endpoint}\0${status}`;
    let e = this.all.get(k);
    if (!e) {
      e = { endpoint, status: String(status), s: new Series(this.bounds) };
      this.all.set(k, e);
    }
    return e.s;
  }
  reset(): void {
    this.all.clear();
  }
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { endpoint, status, s } of this.all.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { endpoint, status, le }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({
        labels: { endpoint, status, le: '+Inf' },
        value: s.count,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { endpoint, status }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { endpoint, status }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
