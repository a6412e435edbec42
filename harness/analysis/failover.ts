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
}

const merged = (faults: readonly FaultRecord[]) =>
  faults.reduce<Record<string, number>>((a, f) => Object.assign(a, f.observed ?? {}), {});

/** Undefined when the cell ran no failover or partition fault. */
export function failoverFigures(
  faults: readonly FaultRecord[],
  history: Iterable<HistoryRecord>,
): FailoverFigures | undefined {
  const relevant = faults.filter(
    (f) => f.spec.process === 'sentinel-failover' || f.spec.process === 'replica-partition',
  );
  if (relevant.length === 0) return undefined;
  const o = merged(relevant);
  const since = (t?: number) => (t !== undefined && o.killedAt !== undefined ? t - o.killedAt : undefined);
  const from = Math.min(...[o.cutAt, o.killedAt].filter((x): x is number => x !== undefined));
  const to = o.firstWriteAt;
  const out: FailoverFigures = {
    failoverMs: since(o.firstWriteAt),
    promotionMs: since(o.promotedAt),
    switchMasterMs: since(o.switchMasterAt),
    probeDeletes: o.probeDeletes,
    lostDeletes: o.lostDeletes,
    requestsDuring: 0,
    errorsDuring: 0,
  };
  if (!Number.isFinite(from) || to === undefined) return out;
  out.window = { from, to };
  const latencies: number[] = [];
  for (const r of history) {
    if (r.start < from || r.start > to) continue;
    out.requestsDuring++;
    if (!isOk(r)) out.errorsDuring++;
    latencies.push(r.end - r.start);
  }
  if (latencies.length > 0) {
    latencies.sort((a, b) => a - b);
    out.p99DuringMs = latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)];
  }
  return out;
}
