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

/** The kinds of write the keyevent watch of a partition records (harness/faults/lost-writes.ts). */
export type WriteKind = 'del' | 'set' | 'incr';

/** What the frozen replica held of a key at the cut: its string value (null: not a string), expiry. */
export interface ReplicaEntry {
  value: string | null;
  /** Epoch ms; absent for a key without a TTL. */
  expiresAt?: number;
}

/** Writes the cut-off primary acknowledged after the cut, and how many of them the replica lacks. */
export interface LostWrites {
  /** Keys the primary deleted (DEL, UNLINK, GETDEL, in scripts too) after the cut. */
  deletes: number;
  /** …of which the replica still held at `at`: the invalidation comes back with the promotion. */
  lostDeletes: number;
  /** Keys the primary SET after the cut (cache fills, write-through's overwrites, lock takes). */
  sets: number;
  /** …of which the replica held a different string value at `at`: an overwrite the promotion undoes. */
  lostOverwrites: number;
  /** Keys the primary incremented after the cut (INCR/INCRBY/DECRBY/HINCRBY: version counters, buffers). */
  incrs: number;
  /** …whose value on the replica at `at` (absent counts as absent) differs from the primary's. */
  lostIncrs: number;
  /** Lost DELs by key namespace (a value, a lock, a buffer), when a `namespaceOf` was given. */
  lostDeletesByNamespace?: Record<string, number>;
}

/**
 * Judges the writes a cut-off primary acknowledged (`written`: key → kinds, from its keyevent
 * notifications after the cut) against what the frozen replica held at the cut (`replica`) and
 * what the primary holds now (`primary`, string values; null when absent or not a string), at
 * `at` (the replica's promotion, or the moment the judgment is made before it): the replica's
 * copy counts only while it has not logically expired, since an expired one is never served.
 * A key may count under more than one kind (deleted, then refilled).
 */
export function lostWrites(
  written: ReadonlyMap<string, ReadonlySet<WriteKind>>,
  replica: ReadonlyMap<string, ReplicaEntry>,
  primary: ReadonlyMap<string, string | null>,
  at: number,
  namespaceOf?: (key: string) => string,
): LostWrites {
  const out: LostWrites = { deletes: 0, lostDeletes: 0, sets: 0, lostOverwrites: 0, incrs: 0, lostIncrs: 0 };
  const byNs: Record<string, number> = {};
  for (const [key, kinds] of written) {
    const r = replica.get(key);
    const held = r !== undefined && (r.expiresAt === undefined || r.expiresAt > at) ? r : undefined;
    const now = primary.get(key) ?? null;
    if (kinds.has('del')) {
      out.deletes++;
      if (held) {
        out.lostDeletes++;
        if (namespaceOf) byNs[namespaceOf(key)] = (byNs[namespaceOf(key)] ?? 0) + 1;
      }
    }
    if (kinds.has('set')) {
      out.sets++;
      // Only a value the replica would serve instead of the acknowledged one is a lost overwrite;
      // a fill the replica never had is a miss after the promotion, not a wrong value.
      if (held && held.value !== null && now !== null && now !== held.value) out.lostOverwrites++;
    }
    if (kinds.has('incr')) {
      out.incrs++;
      // A counter the replica lacks restarts from zero on the promoted node: lost too.
      if (now !== null && now !== (held?.value ?? null)) out.lostIncrs++;
    }
  }
  if (namespaceOf) out.lostDeletesByNamespace = byNs;
  return out;
}

/** `observed` keys of the lost DELs by namespace: `lostDeletes.<namespace>`. */
export const LOST_DELETES_NS = 'lostDeletes.';

export interface FailoverFigures {
  /** Kill of the primary → first write acknowledged by and found on the new primary, ms. */
  failoverMs?: number;
  /** Kill → every Sentinel names the new primary, ms. */
  promotionMs?: number;
  /** Kill → the first +switch-master a Sentinel published, ms (cross-check of promotionMs). */
  switchMasterMs?: number;
  /** The DEL probe of replica-partition: acknowledged DELs, and how many the failover lost. */
  probeDeletes?: number;
  probeLostDeletes?: number;
  /**
   * The target's own writes on the cut-off primary after the cut (its keyevent notifications,
   * harness/faults/lost-writes.ts), and how many the promoted replica lacks (`lostWrites`).
   */
  deletesDuringPartition?: number;
  lostDeletes?: number;
  /** lostDeletes by key namespace (target/keys.ts `keyNamespace`): values vs locks vs buffers. */
  lostDeletesByNamespace?: Record<string, number>;
  setsDuringPartition?: number;
  lostOverwrites?: number;
  incrsDuringPartition?: number;
  lostIncrs?: number;
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
  f.spec.process === 'cluster-failover' ||
  // …and its partition the same cutAt and lost-write figures as replica-partition.
  f.spec.process === 'cluster-replica-partition';

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
      probeLostDeletes: o.probeLostDeletes,
      deletesDuringPartition: o.deletesDuringPartition,
      lostDeletes: o.lostDeletes,
      setsDuringPartition: o.setsDuringPartition,
      lostOverwrites: o.lostOverwrites,
      incrsDuringPartition: o.incrsDuringPartition,
      lostIncrs: o.lostIncrs,
      requestsDuring: 0,
      errorsDuring: 0,
    };
    const byNs = Object.entries(o).filter(([k]) => k.startsWith(LOST_DELETES_NS));
    if (byNs.length)
      this.out.lostDeletesByNamespace = Object.fromEntries(
        byNs.map(([k, v]) => [k.slice(LOST_DELETES_NS.length), v]),
      );
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

/** One strategy's failover figures over its cells (repeats), for the run-level verdict and reports. */
export interface FailoverSummaryInput {
  strategy: string;
  figures: readonly FailoverFigures[];
  /** Overlapping rebuilds (two lock holders at once) and lost increments per cell, when measured. */
  duplicateRebuilds: readonly (number | null)[];
  lostIncrements: readonly (number | null)[];
  /** False when any of its cells is untrusted (validity): its figures are shown, not judged. */
  trusted: boolean;
}

const sum = (xs: readonly (number | null | undefined)[]) =>
  xs.some((x) => x !== null && x !== undefined) ? xs.reduce<number>((a, x) => a + (x ?? 0), 0) : undefined;

/**
 * Which strategies stayed correct across the failover, from the harness's own figures: correct
 * means no read was stale after the failover and no acknowledged increment was lost, in every
 * repeat. Lost DELs, overwrites and INCRs are the causes, shown beside each strategy; duplicate
 * rebuilds count two lock holders at once where a strategy locks. Totals over the repeats.
 */
export function failoverVerdict(rows: readonly FailoverSummaryInput[]): string {
  const measured = rows.filter((r) => r.figures.length > 0);
  if (measured.length === 0) return '';
  const facts = (r: FailoverSummaryInput) => {
    const f = r.figures;
    const parts: string[] = [];
    const stale = sum(f.map((x) => x.staleAfterFailover));
    if (stale !== undefined) parts.push(`${stale} stale after`);
    const lost = sum(f.map((x) => x.lostDeletes));
    if (lost !== undefined)
      parts.push(`${lost}/${sum(f.map((x) => x.deletesDuringPartition)) ?? 0} DELs lost`);
    const ow = sum(f.map((x) => x.lostOverwrites));
    if (ow) parts.push(`${ow} overwrites lost`);
    const inc = sum(f.map((x) => x.lostIncrs));
    if (inc) parts.push(`${inc} INCRs lost`);
    const dup = sum(r.duplicateRebuilds);
    if (dup !== undefined) parts.push(`${dup} duplicate rebuilds`);
    const li = sum(r.lostIncrements);
    if (li) parts.push(`${li} increments lost`);
    const errors = sum(f.map((x) => x.errorsDuring)) ?? 0;
    parts.push(`${errors}/${sum(f.map((x) => x.requestsDuring)) ?? 0} errors during`);
    const ms = f.map((x) => x.failoverMs).filter((x): x is number => x !== undefined);
    if (ms.length) parts.push(`failover ${(Math.max(...ms) / 1000).toFixed(1)} s`);
    return `${r.strategy} (${parts.join(', ')})`;
  };
  const correct = (r: FailoverSummaryInput) =>
    r.figures.every((x) => x.staleAfterFailover === 0) && (sum(r.lostIncrements) ?? 0) === 0;
  const unknown = (r: FailoverSummaryInput) =>
    !r.trusted || r.figures.some((x) => x.staleAfterFailover === undefined);
  const ok = measured.filter((r) => !unknown(r) && correct(r));
  const bad = measured.filter((r) => !unknown(r) && !correct(r));
  const out = [
    `Across the failover (totals over ${measured[0]!.figures.length > 1 ? 'the repeats' : 'the cell'}):`,
  ];
  out.push(
    `stayed correct (no stale read after it, no lost increment) — ${ok.length ? ok.map(facts).join('; ') : 'none'};`,
  );
  out.push(`not correct — ${bad.length ? bad.map(facts).join('; ') : 'none'}.`);
  const u = measured.filter(unknown);
  if (u.length) out.push(`Not judged (untrusted cells or no staleness check): ${u.map(facts).join('; ')}.`);
  return out.join(' ');
}
