/**
 * Staleness, checked on the operation history the way Jepsen checks histories (docs/measurements.md):
 *
 *   a read of key k that returned version v is stale iff some write of k with version > v had
 *   COMPLETED (its end) strictly before the read STARTED (its start);
 *   its staleness age = read start − end of the EARLIEST-completing such write.
 *
 * A write still in flight when the read started may or may not be visible: not stale. Reads carry
 * a `versions` map (aggregates return one version per member); every (key, version) pair is
 * checked, and a read is stale if any of its pairs is — its age is the largest pair age.
 * Failed reads (non-2xx) are not checked; failed writes are not writes (the checker then can only
 * under-report, never invent staleness). Counter operations carry no versions and are skipped.
 *
 * "Beyond TTL" uses the TTL of the read's own endpoint (its op's cache namespace, when
 * `cache.ttlMs` is set per namespace). A delete is a write of the tombstone version (last + 1),
 * so a read still returning the entity after the delete completed is stale like any other; it
 * is also counted as "served after delete".
 *
 * Cost: writes are indexed per key, sorted by end, with a running max of the version; a pair is
 * then two binary searches: the last write that ended before the read started (is the max version
 * up to it > v?) and the first write whose running max exceeds v (the earliest newer write).
 */
import { OPERATION_NAMESPACE, type Operation } from '../../scenarios/types.ts';
import type { HistoryRecord } from '../results/schema.ts';
import { isOk, readHistory } from './history.ts';
import { FloatList, percentiles } from './stats.ts';
import type { StaleExample, StalenessAnalysis } from './types.ts';

interface KeyWrites {
  ends: Float64Array;
  versions: Float64Array;
  /** prefMax[i] = max(versions[0..i]); non-decreasing, so it can be binary-searched. */
  prefMax: Float64Array;
}

export interface WriteIndex {
  keys: Map<string, KeyWrites>;
  writes: number;
  /** Entity key → end of the earliest successful delete of it. */
  deletedAt: Map<string, number>;
  deletes: number;
}

/** The history op of a delete (scenarios/workload.ts). */
export const DELETE_OP: Operation = 'delete-user';

export class WriteIndexBuilder {
  private raw = new Map<string, { end: number; version: number }[]>();
  private count = 0;
  private deletedAt = new Map<string, number>();
  private deletes = 0;

  /** Adds a history record if it is a successful write carrying versions; ignores anything else. */
  add(rec: HistoryRecord): void {
    if (rec.kind !== 'write' || !isOk(rec) || !rec.versions) return;
    this.count++;
    const isDelete = rec.op === DELETE_OP;
    if (isDelete) this.deletes++;
    for (const [key, version] of Object.entries(rec.versions)) {
      if (typeof version !== 'number') continue;
      if (isDelete) this.deletedAt.set(key, Math.min(rec.end, this.deletedAt.get(key) ?? Infinity));
      let list = this.raw.get(key);
      if (!list) {
        list = [];
        this.raw.set(key, list);
      }
      list.push({ end: rec.end, version });
    }
  }

  build(): WriteIndex {
    const keys = new Map<string, KeyWrites>();
    for (const [key, list] of this.raw) {
      list.sort((a, b) => a.end - b.end);
      const n = list.length;
      const ends = new Float64Array(n);
      const versions = new Float64Array(n);
      const prefMax = new Float64Array(n);
      let m = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        const w = list[i]!;
        ends[i] = w.end;
        versions[i] = w.version;
        m = Math.max(m, w.version);
        prefMax[i] = m;
      }
      keys.set(key, { ends, versions, prefMax });
    }
    return { keys, writes: this.count, deletedAt: this.deletedAt, deletes: this.deletes };
  }
}

export interface StalePair {
  key: string;
  returnedVersion: number;
  newerVersion: number;
  writeEnd: number;
  ageMs: number;
}

/** Checks one (key, version) pair of a read that started at `readStart`; null when fresh. */
export function checkPair(
  index: WriteIndex,
  key: string,
  version: number,
  readStart: number,
): StalePair | null {
  const w = index.keys.get(key);
  if (!w) return null;
  // Last write that ended strictly before the read started.
  let lo = 0;
  let hi = w.ends.length; // first index with end >= readStart
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (w.ends[mid]! < readStart) lo = mid + 1;
    else hi = mid;
  }
  const last = lo - 1;
  if (last < 0 || w.prefMax[last]! <= version) return null;
  // Earliest-ending write with a version above the returned one.
  lo = 0;
  hi = last;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (w.prefMax[mid]! > version) hi = mid;
    else lo = mid + 1;
  }
  const writeEnd = w.ends[lo]!;
  return {
    key,
    returnedVersion: version,
    newerVersion: w.versions[lo]!,
    writeEnd,
    ageMs: readStart - writeEnd,
  };
}

/** Second pass: feed every record; successful reads with versions are checked. */
export class StalenessChecker {
  readsChecked = 0;
  pairsChecked = 0;
  staleReads = 0;
  stalePairs = 0;
  staleBeyondTtl = 0;
  servedAfterDelete = 0;
  readonly servedAfterDeleteByOp: Record<string, number> = {};
  readonly ages = new FloatList();
  /** Start times of the stale reads, for the per-fault-window counts. */
  readonly staleStarts = new FloatList();
  readonly staleByOp: Record<string, number> = {};
  private examples: StaleExample[] = [];

  readonly index: WriteIndex;
  readonly ttlMs: number;
  /** Cache namespace → TTL, when the cell ran with `cache.ttlMs` per namespace. */
  readonly ttlByNamespace: Readonly<Record<string, number>>;

  constructor(index: WriteIndex, ttlMs: number, ttlByNamespace: Readonly<Record<string, number>> = {}) {
    this.index = index;
    this.ttlMs = ttlMs;
    this.ttlByNamespace = ttlByNamespace;
  }

  /** The TTL a read of `op` is judged against: its endpoint's namespace TTL, else the common one. */
  ttlOf(op: string): number {
    const ns = OPERATION_NAMESPACE[op as Operation];
    return (ns !== undefined ? this.ttlByNamespace[ns] : undefined) ?? this.ttlMs;
  }

  add(rec: HistoryRecord): void {
    if (rec.kind !== 'read' || !isOk(rec) || !rec.versions) return;
    let worst: StalePair | null = null;
    let pairs = 0;
    let afterDelete = false;
    for (const [key, version] of Object.entries(rec.versions)) {
      if (typeof version !== 'number') continue;
      pairs++;
      const s = checkPair(this.index, key, version, rec.start);
      if (s) {
        this.stalePairs++;
        if (!worst || s.ageMs > worst.ageMs) worst = s;
        const deleted = this.index.deletedAt.get(key);
        if (deleted !== undefined && deleted < rec.start) afterDelete = true;
      }
    }
    if (pairs === 0) return;
    this.readsChecked++;
    this.pairsChecked += pairs;
    if (!worst) return;
    this.staleReads++;
    this.ages.push(worst.ageMs);
    this.staleStarts.push(rec.start);
    this.staleByOp[rec.op] = (this.staleByOp[rec.op] ?? 0) + 1;
    if (afterDelete) {
      this.servedAfterDelete++;
      this.servedAfterDeleteByOp[rec.op] = (this.servedAfterDeleteByOp[rec.op] ?? 0) + 1;
    }
    const ttlMs = this.ttlOf(rec.op);
    if (worst.ageMs > ttlMs) {
      this.staleBeyondTtl++;
      this.keepExample({ ...worst, op: rec.op, readStart: rec.start, ttlMs });
    }
  }

  private keepExample(e: StaleExample): void {
    if (this.examples.length === 10 && e.ageMs <= this.examples[9]!.ageMs) return;
    this.examples.push(e);
    this.examples.sort((a, b) => b.ageMs - a.ageMs || a.readStart - b.readStart);
    if (this.examples.length > 10) this.examples.length = 10;
  }

  private ttlByOpMap(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const op of Object.keys(OPERATION_NAMESPACE)) out[op] = this.ttlOf(op);
    return out;
  }

  /** Stale reads that started in [from, to). */
  staleBetween(from: number, to: number): number {
    let n = 0;
    const s = this.staleStarts.view();
    for (let i = 0; i < s.length; i++) if (s[i]! >= from && s[i]! < to) n++;
    return n;
  }

  result(faultEnds: readonly number[] = []): StalenessAnalysis {
    const firstEnd = faultEnds.length ? Math.min(...faultEnds) : Number.POSITIVE_INFINITY;
    return {
      readsChecked: this.readsChecked,
      pairsChecked: this.pairsChecked,
      writes: this.index.writes,
      staleReads: this.staleReads,
      stalePairs: this.stalePairs,
      staleReadRatio: this.readsChecked ? this.staleReads / this.readsChecked : null,
      stalePairRatio: this.pairsChecked ? this.stalePairs / this.pairsChecked : null,
      age: percentiles(this.ages.view()),
      ttlMs: this.ttlMs,
      ...(Object.keys(this.ttlByNamespace).length > 0 ? { ttlByOp: this.ttlByOpMap() } : {}),
      staleBeyondTtl: this.staleBeyondTtl,
      servedAfterDelete: this.servedAfterDelete,
      servedAfterDeleteByOp: { ...this.servedAfterDeleteByOp },
      deletes: this.index.deletes,
      beyondTtlExamples: [...this.examples],
      staleByOp: { ...this.staleByOp },
      staleAfterFaults: this.staleBetween(firstEnd, Number.POSITIVE_INFINITY),
    };
  }
}

/** In-memory variant (tests, small histories). */
export function checkHistory(
  records: readonly HistoryRecord[],
  ttlMs: number,
  ttlByNamespace: Readonly<Record<string, number>> = {},
): StalenessChecker {
  const b = new WriteIndexBuilder();
  for (const r of records) b.add(r);
  const checker = new StalenessChecker(b.build(), ttlMs, ttlByNamespace);
  for (const r of records) checker.add(r);
  return checker;
}

/**
 * The TTLs a cell ran with, from its `ttlMs` option: a number is every namespace's; a mapping
 * gives each namespace its own, `default` (else the strategy default) the rest.
 */
export function cellTtls(
  option: unknown,
  strategyDefault: number,
): { ttlMs: number; ttlByNamespace?: Record<string, number> } {
  if (typeof option !== 'object' || option === null) {
    const n = Number(option ?? strategyDefault);
    return { ttlMs: Number.isFinite(n) ? n : strategyDefault };
  }
  const ttlByNamespace: Record<string, number> = {};
  let ttlMs = strategyDefault;
  for (const [ns, v] of Object.entries(option)) {
    if (typeof v !== 'number') continue;
    if (ns === 'default') ttlMs = v;
    else ttlByNamespace[ns] = v;
  }
  return { ttlMs, ttlByNamespace };
}

/** Builds the write index from a history file (first pass; only lines mentioning "write" are parsed). */
export async function buildWriteIndexFromFile(path: string): Promise<WriteIndex> {
  const b = new WriteIndexBuilder();
  for await (const rec of readHistory(path, undefined, (line) => line.includes('"write"'))) b.add(rec);
  return b.build();
}
