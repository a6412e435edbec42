/**
 * Failover figures of a cell (docs/measurements.md "Failover"): from the failover and partition
 * faults' own observations (harness/faults/failover.ts) and the driver's history — never from
 * the target's account of itself.
 */
import type { FaultRecord, HistoryRecord } from '../results/schema.ts';
import { isOk } from './history.ts';

/** Acknowledged DELs whose key the promoted primary still holds: invalidations the failover lost. */
export function lostDeletes(
  acknowledged: readonly { key: string }[],
  heldAfter: ReadonlySet<string>,
): number {
  return acknowledged.filter((a) => heldAfter.has(a.key)).length;
}

export interface FailoverFigures {
  /** Kill of the primary → first write acknowledged by and found on the new primary, ms. */
  failoverMs?: number;
  /** Kill → every Sentinel names the new primary, ms. */
  promotionMs?: number;
  /** Kill → the first +switch-master a Sentinel published, ms (cross-check of promotionMs). */
  switchMasterMs?: number;
  /** The DEL probe of replica-partition: acknowledged DELs, and how many the failover lost. */
  probeDeletes?: number;
  lostDeletes?: number;
  /** Requests that started inside the failover window (first fault step → first write), and failed. */
  requestsDuring: number;
  errorsDuring: number;
  /** p99 latency of the requests inside the window, ms. */
  p99DuringMs?: number;
  /** Epoch ms bounds of that window (for "after failover" attributions). */
  window?: { from: number; to: number };
  /** Stale reads (staleness checker) that started after the first write on the new primary. */
  staleAfterFailover?: number;
}

const merged = (faults: readonly FaultRecord[]) =>
  faults.reduce<Record<string, number>>((a, f) => Object.assign(a, f.observed ?? {}), {});

const isFailoverFault = (f: FaultRecord) =>
  f.spec.process === 'sentinel-failover' ||
  f.spec.process === 'replica-partition' ||
  // A Cluster master's failover (faults/cluster.ts) observes the same killedAt/promotedAt/firstWriteAt.
  f.spec.process === 'cluster-failover';

/**
 * Streams a cell's history once (analysis/index.ts feeds it beside the staleness checker) and
 * gives the failover figures; `of` returns undefined for a cell without a failover fault.
 */
export class FailoverAccumulator {
  private readonly o: Record<string, number>;
  private readonly out: FailoverFigures;
  private readonly latencies: number[] = [];

  private constructor(faults: readonly FaultRecord[]) {
    this.o = merged(faults);
    const o = this.o;
    const since = (t?: number) => (t !== undefined && o.killedAt !== undefined ? t - o.killedAt : undefined);
    this.out = {
      failoverMs: since(o.firstWriteAt),
      promotionMs: since(o.promotedAt),
      switchMasterMs: since(o.switchMasterAt),
      probeDeletes: o.probeDeletes,
      lostDeletes: o.lostDeletes,
      requestsDuring: 0,
      errorsDuring: 0,
    };
    const from = Math.min(...[o.cutAt, o.killedAt].filter((x): x is number => x !== undefined));
    if (Number.isFinite(from) && o.firstWriteAt !== undefined) this.out.window = { from, to: o.firstWriteAt };
  }

  static of(faults: readonly FaultRecord[]): FailoverAccumulator | undefined {
    const relevant = faults.filter(isFailoverFault);
    return relevant.length > 0 ? new FailoverAccumulator(relevant) : undefined;
  }

  add(r: HistoryRecord): void {
    const w = this.out.window;
    if (!w || r.start < w.from || r.start > w.to) return;
    this.out.requestsDuring++;
    if (!isOk(r)) this.out.errorsDuring++;
    this.latencies.push(r.end - r.start);
  }

  /** `staleAfter`: the staleness checker's stale reads in [from, to), for "after the failover". */
  result(staleAfter?: (from: number, to: number) => number): FailoverFigures {
    const out = { ...this.out };
    if (this.latencies.length > 0) {
      const l = [...this.latencies].sort((a, b) => a - b);
      out.p99DuringMs = l[Math.min(l.length - 1, Math.ceil(l.length * 0.99) - 1)];
    }
    // After the failover = from the first write on the new primary: what it serves from then on.
    if (staleAfter && out.window)
      out.staleAfterFailover = staleAfter(out.window.to, Number.POSITIVE_INFINITY);
    return out;
  }
}

/** Undefined when the cell ran no failover or partition fault (in-memory history). */
export function failoverFigures(
  faults: readonly FaultRecord[],
  history: Iterable<HistoryRecord>,
): FailoverFigures | undefined {
  const acc = FailoverAccumulator.of(faults);
  if (!acc) return undefined;
  for (const r of history) acc.add(r);
  return acc.result();
}
