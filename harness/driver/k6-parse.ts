/**
 * k6's `--out json=` NDJSON → the normalized shape the built-in driver returns (LoadStats, the
 * per-second series, hottest keys) plus the HistoryRecord stream.
 *
 * k6 writes one JSON object per line: `{"type":"Metric","metric":name,"data":{type,contains,
 * thresholds,submetrics}}` once per metric, then `{"type":"Point","metric":name,"data":{time,
 * value,tags,metadata?}}` per sample (time is RFC 3339 with nanoseconds). The entry script emits
 * one `cachebench_req` point per request (tags: op, kind, instance, status, ok; metadata: key,
 * scheduled, start, end, versions, value, error). Output from another script still parses: then
 * `http_req_duration` points give latency from the send, and there is no history.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { Scenario } from '../../scenarios/types.ts';
import type { CellSeries, HistoryRecord, LoadStats, OpStats } from '../results/schema.ts';
import { createHistogram, type Histogram, percentileMs, recordMs, summarize } from './histogram.ts';
import { K6_METRICS } from './k6-options.ts';

export interface K6ParseOptions {
  /** The scenario that ran: gives the requested rate and the planned duration. */
  scenario?: Scenario;
  /** Series origin when the output has no `cachebench_load_start` point. */
  startAt?: number;
  /** Called for each request, in file order (≈ completion order). */
  onHistory?: (r: HistoryRecord) => void;
}

export interface K6ParseResult {
  load: LoadStats;
  series: Pick<CellSeries, 't0' | 'requests' | 'errors' | 'dropped' | 'p50' | 'p99'>;
  hottestKeys: { key: string; requests: number }[];
  loadStartedAt: number;
  aborted: boolean;
  /** Where per-request figures came from: our metric, or k6's http_req_duration as a fallback. */
  source: 'cachebench' | 'http' | 'none';
  /** k6 checks by name. */
  checks: Record<string, { passes: number; fails: number }>;
  /** k6's own count of HTTP requests (cross-check of `sent`). */
  httpReqs: number;
  /** Most VUs k6 had at once (`vus` gauge); equal to maxVUs means the cap was reached. */
  peakVUs: number;
  /** Metric declarations with their thresholds. */
  metrics: Record<string, { type: string; contains: string; thresholds: string[] }>;
  /** Lines that were not JSON or not k6 records. */
  skippedLines: number;
  warnings: string[];
}

interface K6Line {
  type?: unknown;
  metric?: unknown;
  data?: {
    time?: unknown;
    value?: unknown;
    tags?: Record<string, unknown> | null;
    metadata?: Record<string, unknown> | null;
    type?: unknown;
    contains?: unknown;
    thresholds?: unknown;
  };
}

interface Req {
  rec: HistoryRecord;
  error: boolean;
  /** False when the record lacks the key/times only metadata carries. */
  complete: boolean;
}

/** RFC 3339 with up to nanoseconds → epoch ms (fractional). */
export function parseK6Time(s: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return Date.parse(s);
  const whole = Date.parse(`${m[1]}${m[3]}`);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return whole + frac;
}

const num = (v: unknown): number | undefined => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
};
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v == null ? undefined : String(v);

function fromRequestPoint(
  value: number,
  time: number,
  tags: Record<string, unknown>,
  meta: Record<string, unknown>,
): Req {
  const status = num(tags.status) ?? 0;
  const end = num(meta.end) ?? time;
  const scheduled = num(meta.scheduled) ?? end - value;
  const start = num(meta.start) ?? scheduled;
  const kind = str(tags.kind);
  const rec: HistoryRecord = {
    op: str(tags.op) ?? 'unknown',
    kind: kind === 'write' || kind === 'incr' ? kind : 'read',
    key: str(meta.key) ?? '',
    scheduled,
    start,
    end,
    status,
    instance: num(tags.instance) ?? 0,
  };
  const versions = str(meta.versions);
  if (versions) {
    try {
      rec.versions = JSON.parse(versions) as Record<string, number>;
    } catch {
      // A truncated value is dropped, not guessed.
    }
  }
  const v = num(meta.value);
  if (v !== undefined) rec.value = v;
  const error = str(meta.error);
  const isError = str(tags.ok) === 'false' || status === 0 || status >= 400;
  if (isError) rec.error = error ?? (status === 0 ? 'no response' : `HTTP ${status}`);
  return { rec, error: isError, complete: meta.key !== undefined && meta.scheduled !== undefined };
}

function fromHttpPoint(value: number, time: number, tags: Record<string, unknown>): Req {
  const status = num(tags.status) ?? 0;
  const rec: HistoryRecord = {
    op: str(tags.name) ?? str(tags.url) ?? 'unknown',
    kind: 'read',
    key: '',
    scheduled: time - value,
    start: time - value,
    end: time,
    status,
    instance: 0,
  };
  const isError = status === 0 || status >= 400;
  if (isError) rec.error = str(tags.error) ?? (status === 0 ? 'no response' : `HTTP ${status}`);
  return { rec, error: isError, complete: false };
}

interface OpAcc {
  count: number;
  errors: number;
  hist: Histogram;
  statuses: Record<string, number>;
}
const opAcc = (): OpAcc => ({ count: 0, errors: 0, hist: createHistogram(), statuses: {} });
const opStats = (a: OpAcc): OpStats => ({
  count: a.count,
  errors: a.errors,
  latency: summarize(a.hist),
  statuses: a.statuses,
});

export async function parseK6Ndjson(path: string, opts: K6ParseOptions = {}): Promise<K6ParseResult> {
  const ours: Req[] = [];
  const http: Req[] = [];
  const dropped: { time: number; count: number }[] = [];
  const checks: Record<string, { passes: number; fails: number }> = {};
  const metrics: K6ParseResult['metrics'] = {};
  const warnings: string[] = [];
  let loadStart: number | undefined;
  let httpReqs = 0;
  let peakVUs = 0;
  let skippedLines = 0;

  const lines = readline.createInterface({ input: fs.createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let o: K6Line;
    try {
      o = JSON.parse(line) as K6Line;
    } catch {
      skippedLines++;
      continue;
    }
    const name = typeof o.metric === 'string' ? o.metric : undefined;
    if (!name || !o.data || typeof o.data !== 'object') {
      skippedLines++;
      continue;
    }
    if (o.type === 'Metric') {
      metrics[name] = {
        type: str(o.data.type) ?? '',
        contains: str(o.data.contains) ?? '',
        thresholds: Array.isArray(o.data.thresholds) ? o.data.thresholds.map(String) : [],
      };
      continue;
    }
    if (o.type !== 'Point') {
      skippedLines++;
      continue;
    }
    const value = num(o.data.value);
    const time = typeof o.data.time === 'string' ? parseK6Time(o.data.time) : Number.NaN;
    if (value === undefined || !Number.isFinite(time)) {
      skippedLines++;
      continue;
    }
    const tags = o.data.tags ?? {};
    switch (name) {
      case K6_METRICS.request:
        ours.push(fromRequestPoint(value, time, tags, o.data.metadata ?? {}));
        break;
      case 'http_req_duration':
        http.push(fromHttpPoint(value, time, tags));
        break;
      case 'http_reqs':
        httpReqs += value;
        break;
      case 'dropped_iterations':
        dropped.push({ time, count: value });
        break;
      case K6_METRICS.loadStart:
        loadStart ??= value;
        break;
      case 'vus':
        peakVUs = Math.max(peakVUs, value);
        break;
      case 'checks': {
        const c = str(tags.check) ?? '?';
        checks[c] ??= { passes: 0, fails: 0 };
        if (value > 0) checks[c].passes++;
        else checks[c].fails++;
        break;
      }
    }
  }

  let source: K6ParseResult['source'] = 'none';
  let reqs: Req[] = [];
  if (ours.length > 0) {
    source = 'cachebench';
    reqs = ours;
    const incomplete = ours.filter((r) => !r.complete).length;
    if (incomplete > 0) {
      warnings.push(
        `${incomplete} of ${ours.length} request points lack metadata (k6 older than 0.45?): their key and scheduled time are unknown, so they are left out of the history`,
      );
    }
  } else if (http.length > 0) {
    source = 'http';
    reqs = http;
    warnings.push(
      'no cachebench_req points (not the cachebench entry script?): figures come from http_req_duration, latency runs from the send, and there is no history',
    );
  }

  const plannedMs = opts.scenario ? opts.scenario.load.phases.reduce((s, p) => s + p.duration, 0) : 0;
  let firstScheduled = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let lastStart = Number.NEGATIVE_INFINITY;
  for (const r of reqs) {
    firstScheduled = Math.min(firstScheduled, r.rec.scheduled);
    lastEnd = Math.max(lastEnd, r.rec.end);
    lastStart = Math.max(lastStart, r.rec.start);
  }
  for (const d of dropped) firstScheduled = Math.min(firstScheduled, d.time);
  const t0 = loadStart ?? opts.startAt ?? (Number.isFinite(firstScheduled) ? firstScheduled : 0);
  const spanMs = plannedMs > 0 ? plannedMs : Number.isFinite(lastEnd) ? lastEnd - t0 : 0;
  const seconds = Math.max(1, Math.ceil(spanMs / 1000));
  const secIndex = (t: number) => Math.min(seconds - 1, Math.max(0, Math.floor((t - t0) / 1000)));

  const secRequests = new Array<number>(seconds).fill(0);
  const secErrors = new Array<number>(seconds).fill(0);
  const secDropped = new Array<number>(seconds).fill(0);
  const secHist: (Histogram | undefined)[] = new Array(seconds).fill(undefined);
  const overall = opAcc();
  const perOp = new Map<string, OpAcc>();
  const lag = createHistogram();
  const keyCounts = new Map<string, number>();
  let errors = 0;

  for (const r of reqs) {
    const rec = r.rec;
    const i = secIndex(rec.scheduled);
    const latency = rec.end - rec.scheduled;
    secRequests[i]! += 1;
    let acc = perOp.get(rec.op);
    if (!acc) {
      acc = opAcc();
      perOp.set(rec.op, acc);
    }
    const statusKey = String(rec.status);
    for (const a of [acc, overall]) {
      a.count++;
      a.statuses[statusKey] = (a.statuses[statusKey] ?? 0) + 1;
      recordMs(a.hist, latency);
      if (r.error) a.errors++;
    }
    if (r.error) {
      errors++;
      secErrors[i]! += 1;
    }
    let h = secHist[i];
    if (!h) {
      h = createHistogram('packed');
      secHist[i] = h;
    }
    recordMs(h, latency);
    recordMs(lag, rec.start - rec.scheduled);
    if (rec.key) keyCounts.set(rec.key, (keyCounts.get(rec.key) ?? 0) + 1);
    if (r.complete) opts.onHistory?.(rec);
  }
  let droppedTotal = 0;
  for (const d of dropped) {
    droppedTotal += d.count;
    secDropped[secIndex(d.time)]! += d.count;
  }

  const sent = reqs.length;
  const durationMs = Math.max(plannedMs, Number.isFinite(lastStart) ? lastStart - t0 : 0);
  let expected = 0;
  for (const p of opts.scenario?.load.phases ?? [])
    expected += (((p.rate + (p.to ?? p.rate)) / 2) * p.duration) / 1000;
  const round3 = (v: number) => Math.round(v * 1000) / 1000;
  const achievedRate = durationMs > 0 ? round3(sent / (durationMs / 1000)) : 0;
  const perOpStats: Record<string, OpStats> = {};
  for (const [op, acc] of [...perOp.entries()].sort((a, b) => a[0].localeCompare(b[0])))
    perOpStats[op] = opStats(acc);

  if (httpReqs > 0 && source === 'cachebench' && httpReqs !== sent) {
    warnings.push(`k6 counted ${httpReqs} HTTP requests but ${sent} request points were written`);
  }

  return {
    load: {
      requestedRate: plannedMs > 0 ? round3(expected / (plannedMs / 1000)) : achievedRate,
      achievedRate,
      scheduled: sent + droppedTotal,
      sent,
      completed: sent,
      dropped: droppedTotal,
      errors,
      durationMs: Math.round(durationMs),
      schedulingLag: summarize(lag),
      // Measured on the k6 process by runK6Load; a file alone cannot tell.
      driverCpu: 0,
      driverPeakRssMB: 0,
      overall: opStats(overall),
      perOp: perOpStats,
    },
    series: {
      t0,
      requests: secRequests,
      errors: secErrors,
      dropped: secDropped,
      p50: secHist.map((h) => (h ? percentileMs(h, 50) : 0)),
      p99: secHist.map((h) => (h ? percentileMs(h, 99) : 0)),
    },
    hottestKeys: [...keyCounts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([key, requests]) => ({ key, requests })),
    loadStartedAt: t0,
    aborted: false,
    source,
    checks,
    httpReqs,
    peakVUs,
    metrics,
    skippedLines,
    warnings,
  };
}
