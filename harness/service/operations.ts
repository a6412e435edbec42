/**
 * A scenario's workload on a service's operations: the catalog mix is mapped through the
 * profile's `scenarioOps`, the key distribution picks ids in the operation's id range, and the
 * history records keep the catalog operation names (so per-operation figures, TTL namespaces and
 * the delete rule of the staleness checker read them as for the demo target). Pure: the load
 * driver's process imports it.
 */
import type { Operation, Scenario } from '../../scenarios/types.ts';
import { createKeyPicker, createRng, type PlannedRequest } from '../../scenarios/workload.ts';
import { UsageError } from '../errors.ts';
import type { OperationKind, ServiceOperation, ServiceProfile, VersionFrom } from './profile.ts';

/** What the driver needs of a profile: plain data, sent to its process over IPC. */
export interface ServiceRequestPlan {
  /** Catalog operation → the profile operation it runs as. */
  ops: Partial<Record<Operation, ServiceOperation & { name: string }>>;
  ids: Record<string, [number, number]>;
}

/** The catalog operations each profile kind can stand in for. */
const KIND_OF: Record<Operation, OperationKind> = {
  'read-user': 'read',
  'read-team-members': 'read',
  'read-team-report': 'read',
  'read-counter': 'read',
  'leaderboard-top': 'read',
  'update-user': 'write',
  'delete-user': 'delete',
  'incr-counter': 'increment',
  'leaderboard-score': 'increment',
};

/** The catalog's id spaces: a scenario's data size bounds the ids of the range of the same name. */
const DATA_SIZE = ['users', 'teams', 'counters'] as const;

/**
 * The plan for `scenario`: every operation of its mix with a positive weight must be mapped to a
 * profile operation of the same kind, else a usage error naming it.
 */
export function requestPlan(profile: ServiceProfile, scenario: Scenario, label: string): ServiceRequestPlan {
  const ops: ServiceRequestPlan['ops'] = {};
  for (const [op, weight] of Object.entries(scenario.mix) as [Operation, number][]) {
    if (!(weight > 0)) continue;
    const mapped = profile.scenarioOps[op];
    if (!mapped) {
      throw new UsageError(
        'UNMAPPED_OPERATION',
        `${label}: scenarioOps.${op}: scenario ${scenario.name} sends ${op} but the profile does not map it (allowed: one of ${Object.keys(profile.operations).join(', ')}; or choose a scenario without it)`,
      );
    }
    const o = profile.operations[mapped]!;
    if (o.kind !== KIND_OF[op]) {
      throw new UsageError(
        'UNMAPPED_OPERATION',
        `${label}: scenarioOps.${op}: "${mapped}" is a ${o.kind} operation (allowed: a ${KIND_OF[op]} operation for ${op})`,
      );
    }
    ops[op] = { ...o, name: mapped };
  }
  return { ops, ids: profile.ids };
}

export function fillTemplate(t: string, id: number, seq: number): string {
  return t.replaceAll('{id}', String(id)).replaceAll('{seq}', String(seq));
}

/** A request of a service operation carries where its response says the version. */
export type ServicePlannedRequest = PlannedRequest & { versionFrom?: VersionFrom };

const HISTORY_KIND: Record<OperationKind, PlannedRequest['kind']> = {
  read: 'read',
  write: 'write',
  // A delete writes the tombstone version (docs/measurements.md "Deletes").
  delete: 'write',
  increment: 'incr',
};

/**
 * Deterministic request stream of `scenario` on the service, as createRequestGenerator is for the
 * demo target: the op by the mix weights, the id by the key distribution (rank k → low + k − 1).
 */
export function createServiceRequestGenerator(
  s: Scenario,
  plan: ServiceRequestPlan,
  seed: number,
): () => ServicePlannedRequest {
  const rng = createRng(seed);
  const ops: Operation[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const [op, weight] of Object.entries(s.mix) as [Operation, number][]) {
    if (!(weight > 0) || !plan.ops[op]) continue;
    total += weight;
    ops.push(op);
    cumulative.push(total);
  }
  if (ops.length === 0) throw new RangeError(`scenario ${s.name}: no mapped operation has a positive weight`);
  const pickers = new Map<string, () => number>();
  const pickerFor = (group: string) => {
    let p = pickers.get(group);
    if (!p) {
      const [lo, hi] = plan.ids[group]!;
      const size = hi - lo + 1;
      const data = (DATA_SIZE as readonly string[]).includes(group)
        ? s.data[group as (typeof DATA_SIZE)[number]]
        : size;
      const n = Math.max(1, Math.min(size, data));
      const rank = createKeyPicker(s.keys, n, rng);
      p = () => lo + rank() - 1;
      pickers.set(group, p);
    }
    return p;
  };
  const deleteGroup = plan.ops['delete-user']?.ids;
  let seq = 0;
  return () => {
    const u = rng() * total;
    let i = 0;
    while (i < cumulative.length - 1 && cumulative[i]! <= u) i++;
    const op = ops[i]!;
    const o = plan.ops[op]!;
    seq++;
    const id = pickerFor(o.ids)();
    const req: ServicePlannedRequest = {
      op,
      kind: HISTORY_KIND[o.kind],
      method: o.method,
      path: fillTemplate(o.path, id, seq),
      key: fillTemplate(o.entity, id, seq),
    };
    if (o.body !== undefined) req.body = fillTemplate(o.body, id, seq);
    if (o.kind === 'increment') req.value = 1;
    if (o.version) req.versionFrom = o.version;
    if (deleteGroup !== undefined && o.ids === deleteGroup) req.notFoundOk = true;
    return req;
  };
}

/** RFC 6901 JSON pointer; undefined when the path does not exist. */
export function jsonPointer(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * A version as the staleness checker needs it: a number that grows with every write. A string
 * (an ETag like `W/"17"`) counts when it holds exactly one run of digits.
 */
export function versionNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = v.match(/\d+/g);
  return m && m.length === 1 ? Number(m[0]) : undefined;
}

/** The version a 2xx response of `plan` reports, from its body (JSON pointer) or a header. */
export function responseVersion(
  plan: ServicePlannedRequest,
  status: number,
  body: unknown,
  header: string | undefined,
): Record<string, number> | undefined {
  const from = plan.versionFrom;
  if (!from || status < 200 || status >= 300) return undefined;
  const v = versionNumber(from.json !== undefined ? jsonPointer(body, from.json) : header);
  return v === undefined ? undefined : { [plan.key]: v };
}
