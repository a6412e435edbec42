/**
 * What the driver counts while the load runs, in memory that does not grow with the number of
 * operations: latencies in HDR histograms, per-second figures finished (and their histogram
 * recycled) as soon as a second's last request is answered, request counts per key in typed
 * arrays. The operation history itself goes to its file (history-writer.ts).
 */
import type { Scenario } from '../../scenarios/types.ts';
import type { CellSeries, LatencySummary, OpStats } from '../results/schema.ts';
import { createHistogram, type Histogram, percentileMs, recordMs, summarize } from './histogram.ts';

interface OpAcc {
  count: number;
  errors: number;
  hist: Histogram;
  statuses: Record<string, number>;
}

function opAcc(): OpAcc {
  return { count: 0, errors: 0, hist: createHistogram(), statuses: {} };
}

function opStats(a: OpAcc): OpStats {
  return { count: a.count, errors: a.errors, latency: summarize(a.hist), statuses: a.statuses };
}

export type SecondSeries = Pick<CellSeries, 'requests' | 'errors' | 'dropped' | 'p50' | 'p99'>;

/**
 * Per-second requests, errors, drops and latency p50/p99 (by scheduled second). A second's
 * histogram lives only while the second can still get answers: once the scheduler is past it and
 * nothing scheduled in it is in flight, its percentiles are taken and the histogram is reused.
 */
export class PerSecond {
  private readonly s: SecondSeries;
  private readonly open = new Map<number, Histogram>();
  private readonly inFlight: Int32Array;
  private readonly spare: Histogram[] = [];
  /** Seconds below this get no more arrivals. */
  private current = 0;
  constructor(seconds: number) {
    const zeros = () => new Array<number>(seconds).fill(0);
    this.s = { requests: zeros(), errors: zeros(), dropped: zeros(), p50: zeros(), p99: zeros() };
    this.inFlight = new Int32Array(seconds);
  }
  /** Arrivals come in time order: a new second closes the ones before it to arrivals. */
  private arrive(sec: number): void {
    while (this.current < sec) {
      this.settle(this.current);
      this.current++;
    }
  }
  dropped(sec: number): void {
    this.arrive(sec);
    (this.s.dropped[sec] as number)++;
  }
  sent(sec: number): void {
    this.arrive(sec);
    (this.s.requests[sec] as number)++;
    (this.inFlight[sec] as number)++;
  }
  finished(sec: number, latencyMs: number, isError: boolean): void {
    if (isError) (this.s.errors[sec] as number)++;
    let h = this.open.get(sec);
    if (!h) {
      h = this.spare.pop() ?? createHistogram('packed');
      this.open.set(sec, h);
    }
    recordMs(h, latencyMs);
    (this.inFlight[sec] as number)--;
    if (sec < this.current) this.settle(sec);
  }
  private settle(sec: number): void {
    if (this.inFlight[sec] !== 0) return;
    const h = this.open.get(sec);
    if (!h) return;
    this.s.p50[sec] = percentileMs(h, 50);
    this.s.p99[sec] = percentileMs(h, 99);
    this.open.delete(sec);
    h.reset();
    this.spare.push(h);
  }
  /** The series, with the percentiles of whatever was answered in seconds still open. */
  result(): SecondSeries {
    for (const [sec, h] of this.open) {
      this.s.p50[sec] = percentileMs(h, 50);
      this.s.p99[sec] = percentileMs(h, 99);
    }
    this.open.clear();
    return this.s;
  }
}

/** Counts for one key family ("user", "team", "counter"): by id, with the order first seen. */
interface Family {
  prefix: string;
  counts: Uint32Array;
  /** 1 + the order in which the id was first requested (0: never). */
  first: Uint32Array;
}

/**
 * Requests per key for the hottest-keys list. Keys are `<family>:<id>` with ids 1..n per family
 * (scenarios/workload.ts), so counts sit in typed arrays sized by the scenario's data instead of
 * a map of strings that grows with every new key. Ties keep the order of first request.
 */
export class KeyCounts {
  private readonly families = new Map<string, Family>();
  /** Keys outside the families' id ranges (none with the built-in workload). */
  private readonly other = new Map<string, { count: number; first: number }>();
  private seen = 0;
  constructor(sizes: Record<string, number>) {
    for (const [prefix, n] of Object.entries(sizes)) {
      this.families.set(prefix, {
        prefix,
        counts: new Uint32Array(n + 1),
        first: new Uint32Array(n + 1),
      });
    }
  }
  static forScenario(s: Scenario): KeyCounts {
    return new KeyCounts({ user: s.data.users, team: s.data.teams, counter: s.data.counters });
  }
  add(key: string): void {
    const colon = key.indexOf(':');
    const f = colon > 0 ? this.families.get(key.slice(0, colon)) : undefined;
    const digits = f ? key.slice(colon + 1) : '';
    const id = Number(digits);
    // Only the canonical spelling, so the key rebuilt from (family, id) is the key requested.
    if (f && Number.isInteger(id) && id >= 0 && id < f.counts.length && String(id) === digits) {
      if (f.counts[id] === 0) f.first[id] = ++this.seen;
      (f.counts[id] as number)++;
      return;
    }
    const o = this.other.get(key);
    if (o) o.count++;
    else this.other.set(key, { count: 1, first: ++this.seen });
  }
  /** The n most requested keys, most first; ties in the order they were first requested. */
  top(n: number): { key: string; requests: number }[] {
    const best: { key: () => string; count: number; first: number }[] = [];
    const consider = (count: number, first: number, key: () => string) => {
      if (best.length === n) {
        const last = best[n - 1] as (typeof best)[number];
        if (count < last.count || (count === last.count && first > last.first)) return;
      }
      let i = best.length;
      while (i > 0) {
        const b = best[i - 1] as (typeof best)[number];
        if (b.count > count || (b.count === count && b.first < first)) break;
        i--;
      }
      best.splice(i, 0, { key, count, first });
      if (best.length > n) best.pop();
    };
    for (const f of this.families.values()) {
      for (let id = 0; id < f.counts.length; id++) {
        const c = f.counts[id] as number;
        if (c > 0) consider(c, f.first[id] as number, () => `${f.prefix}:${id}`);
      }
    }
    for (const [key, o] of this.other) consider(o.count, o.first, () => key);
    return best.map((b) => ({ key: b.key(), requests: b.count }));
  }
}

/** The counters and histograms of one run of the load. */
export class Tally {
  scheduled = 0;
  sent = 0;
  completed = 0;
  errors = 0;
  dropped = 0;
  inFlight = 0;
  private readonly overall = opAcc();
  private readonly perOp = new Map<string, OpAcc>();
  private readonly lag = createHistogram();
  readonly perSecond: PerSecond;
  readonly keys: KeyCounts;
  constructor(scenario: Scenario, seconds: number) {
    this.perSecond = new PerSecond(seconds);
    this.keys = KeyCounts.forScenario(scenario);
  }
  arrivalDropped(sec: number): void {
    this.scheduled++;
    this.dropped++;
    this.perSecond.dropped(sec);
  }
  arrivalSent(op: string, key: string, sec: number, lagMs: number): void {
    this.scheduled++;
    this.inFlight++;
    this.sent++;
    this.perSecond.sent(sec);
    this.keys.add(key);
    if (!this.perOp.has(op)) this.perOp.set(op, opAcc());
    recordMs(this.lag, lagMs);
  }
  finished(op: string, sec: number, status: number, latencyMs: number, isError: boolean): void {
    this.inFlight--;
    this.completed++;
    const statusKey = String(status);
    const acc = this.perOp.get(op) as OpAcc;
    acc.count++;
    this.overall.count++;
    acc.statuses[statusKey] = (acc.statuses[statusKey] ?? 0) + 1;
    this.overall.statuses[statusKey] = (this.overall.statuses[statusKey] ?? 0) + 1;
    if (isError) {
      this.errors++;
      acc.errors++;
      this.overall.errors++;
    }
    recordMs(acc.hist, latencyMs);
    recordMs(this.overall.hist, latencyMs);
    this.perSecond.finished(sec, latencyMs, isError);
  }
  schedulingLag(): LatencySummary {
    return summarize(this.lag);
  }
  overallStats(): OpStats {
    return opStats(this.overall);
  }
  perOpStats(): Record<string, OpStats> {
    const out: Record<string, OpStats> = {};
    for (const [op, acc] of [...this.perOp.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      out[op] = opStats(acc);
    }
    return out;
  }
}
