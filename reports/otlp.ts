/**
 * results.otlp.json: the run's comparison metrics as OpenTelemetry metrics in the OTLP/JSON
 * encoding (an ExportMetricsServiceRequest: resourceMetrics → scopeMetrics → metrics → gauge →
 * dataPoints), written as a file so no network exporter or SDK is needed; an OpenTelemetry
 * Collector's otlpjsonfile receiver, or a POST to /v1/metrics, ingests it as is.
 * One gauge per metric (`cachebench.<metric id>`), one data point per cell, timed at the cell's
 * end; the cell's 95 % interval is two more gauges (`….interval.lower` / `….interval.upper`) so
 * the interval never becomes a high-cardinality attribute. Mapping: docs/observability/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { METRICS, type MetricId } from '../harness/analysis/metrics.ts';
import type { AnalyzedRun } from '../harness/analysis/types.ts';
import type { Unit } from '../harness/results/format.ts';
import type { RunResults } from '../harness/results/schema.ts';
import { type MetricRow, metricRows } from './csv.ts';

/** UCUM units, as OpenTelemetry semantic conventions spell them. */
export const OTLP_UNIT: Record<Unit, string> = {
  '': '1',
  ms: 'ms',
  s: 's',
  '%': '1',
  '/s': '1/s',
  '×': '1',
};

type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface DataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  asDouble: number;
}
interface Metric {
  name: string;
  description: string;
  unit: string;
  gauge: { dataPoints: DataPoint[] };
}

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
/** OTLP/JSON encodes 64-bit integers (times in ns, intValue) as decimal strings. */
const nanos = (ms: number): string => (BigInt(Math.round(ms)) * 1_000_000n).toString();

const PACKAGE_VERSION: string = JSON.parse(
  fs.readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8'),
).version;

function point(r: MetricRow, value: number): DataPoint {
  return {
    attributes: [
      str('cachebench.scenario', r.scenario),
      str('cachebench.strategy', r.strategy),
      { key: 'cachebench.repeat', value: { intValue: String(r.repeat) } },
      str('cachebench.cell', r.cellId),
      str('cachebench.status', r.status),
      { key: 'cachebench.trusted', value: { boolValue: r.trusted } },
    ],
    startTimeUnixNano: nanos(r.startedAt),
    timeUnixNano: nanos(r.endedAt),
    asDouble: value,
  };
}

export function renderOtlp(results: RunResults, analysis: AnalyzedRun): string {
  const byMetric = new Map<MetricId, MetricRow[]>();
  for (const r of metricRows(results, analysis)) {
    const list = byMetric.get(r.metric) ?? [];
    list.push(r);
    byMetric.set(r.metric, list);
  }
  const metrics: Metric[] = [];
  for (const [id, rows] of byMetric) {
    const def = METRICS[id];
    const unit = OTLP_UNIT[def.unit];
    const name = `cachebench.${id}`;
    metrics.push({
      name,
      description: `${def.label} (${def.better} is better): ${def.how}`,
      unit,
      gauge: { dataPoints: rows.map((r) => point(r, r.value)) },
    });
    const withInterval = rows.filter((r) => r.lo !== null && r.hi !== null);
    if (withInterval.length === 0) continue;
    for (const [side, pick] of [
      ['lower', (r: MetricRow) => r.lo!],
      ['upper', (r: MetricRow) => r.hi!],
    ] as const) {
      // A right-censored interval (a time never reached) has no upper end: no point for it.
      const points = withInterval.filter((r) => Number.isFinite(pick(r)));
      if (points.length === 0) continue;
      metrics.push({
        name: `${name}.interval.${side}`,
        description: `${side} end of the 95% interval of ${def.label}, from the units inside the cell`,
        unit,
        gauge: { dataPoints: points.map((r) => point(r, pick(r))) },
      });
    }
  }
  const env = results.run.environment;
  const request = {
    resourceMetrics: [
      {
        resource: {
          attributes: [
            str('service.name', 'cachebench'),
            str('service.version', PACKAGE_VERSION),
            str('cachebench.run.id', results.run.id),
            str('cachebench.run.profile', results.run.profile),
            { key: 'cachebench.run.seed', value: { intValue: String(results.run.seed) } },
            str('host.name', env.hostname),
          ],
        },
        scopeMetrics: [{ scope: { name: 'cachebench', version: PACKAGE_VERSION }, metrics }],
      },
    ],
  };
  return `${JSON.stringify(request, null, 2)}\n`;
}
