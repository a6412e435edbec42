/**
 * The fault-timeline executor: applies and removes each scenario fault through Toxiproxy's HTTP
 * API at its offset from the load start, and records when Toxiproxy really acknowledged each
 * step, because the analysis cuts before/during/after windows on those times, not on the plan.
 *
 * Fault kinds are small units in a registry keyed by name ("down", or the toxic type), mirroring
 * Toxiproxy's own model; a new toxic type is one `registerFaultKind` call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultSpec, ToxicType } from '../scenarios/types.ts';
import type { FaultRecord } from './results/schema.ts';

export class ToxiproxyError extends Error {
  readonly code = 'TOXIPROXY_FAILED';
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToxiproxyError';
    this.status = status;
  }
}

const now = () => performance.timeOrigin + performance.now();

async function call(baseUrl: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    throw new ToxiproxyError(`toxiproxy ${method} ${path}: ${(err as Error).message}`, 0, { cause: err });
  }
  const text = await res.text();
  if (!res.ok)
    throw new ToxiproxyError(`toxiproxy ${method} ${path}: HTTP ${res.status} ${text.trim()}`, res.status);
  return text ? JSON.parse(text) : undefined;
}

/** Enables every proxy and removes every toxic (Toxiproxy's POST /reset). */
export async function resetToxiproxy(toxiproxyUrl: string): Promise<void> {
  await call(toxiproxyUrl, 'POST', '/reset');
}

export interface FaultStep {
  toxiproxyUrl: string;
  spec: FaultSpec;
  /** Unique per applied fault, so overlapping toxics on one proxy do not collide. */
  id: string;
}

export interface FaultKind {
  name: string;
  apply(step: FaultStep): Promise<void>;
  remove(step: FaultStep): Promise<void>;
}

const KINDS = new Map<string, FaultKind>();

export function registerFaultKind(kind: FaultKind): void {
  KINDS.set(kind.name, kind);
}

export function faultKindNames(): string[] {
  return [...KINDS.keys()].sort();
}

/** The registry name a spec resolves to: "down" or its toxic type. */
export function faultKindOf(spec: FaultSpec): string {
  if (spec.down) return 'down';
  if (spec.toxic) return spec.toxic.type;
  return 'none';
}

const proxyPath = (spec: FaultSpec) => `/proxies/${encodeURIComponent(spec.proxy)}`;

// Disabling a proxy closes its listener and every open connection: a real outage, not a slow one.
registerFaultKind({
  name: 'down',
  apply: (s) => call(s.toxiproxyUrl, 'PATCH', proxyPath(s.spec), { enabled: false }).then(() => undefined),
  remove: (s) => call(s.toxiproxyUrl, 'PATCH', proxyPath(s.spec), { enabled: true }).then(() => undefined),
});

function toxicKind(type: ToxicType): FaultKind {
  return {
    name: type,
    async apply(s) {
      const t = s.spec.toxic;
      if (!t) throw new Error(`fault kind ${type}: the spec has no toxic`);
      await call(s.toxiproxyUrl, 'POST', `${proxyPath(s.spec)}/toxics`, {
        name: s.id,
        type: t.type,
        stream: t.stream ?? 'downstream',
        toxicity: t.toxicity ?? 1,
        attributes: t.attributes,
      });
    },
    async remove(s) {
      await call(s.toxiproxyUrl, 'DELETE', `${proxyPath(s.spec)}/toxics/${encodeURIComponent(s.id)}`);
    },
  };
}

for (const type of [
  'latency',
  'timeout',
  'reset_peer',
  'bandwidth',
  'slow_close',
  'slicer',
  'limit_data',
] as const satisfies readonly ToxicType[]) {
  registerFaultKind(toxicKind(type));
}

/** Sleeps until an epoch time or until the signal aborts; true when the time was reached. */
async function sleepUntil(epochMs: number, signal?: AbortSignal): Promise<boolean> {
  for (;;) {
    if (signal?.aborted) return false;
    const gap = epochMs - now();
    if (gap <= 0) return true;
    try {
      await sleep(Math.max(1, gap), undefined, signal ? { signal } : undefined);
    } catch {
      return false;
    }
  }
}

export interface FaultTimelineOptions {
  toxiproxyUrl: string;
  faults: FaultSpec[];
  /** Epoch ms of the load start; fault offsets count from it. */
  loadStartedAt: number;
  /** Aborting removes active faults at once and resets Toxiproxy. */
  signal?: AbortSignal;
  /** Called after each acknowledged step (for progress output). */
  onEvent?: (e: {
    index: number;
    step: 'applied' | 'removed' | 'failed';
    at: number;
    error?: string;
  }) => void;
}

/**
 * Runs every fault of the timeline (they may overlap) and resolves with one FaultRecord per fault,
 * in input order. Toxiproxy is reset before the first fault and always after the last, also on
 * error or abort, so a failed cell cannot leak a toxic into the next one. Failures are recorded
 * (`ok: false`, `error`), not thrown; only a failed final reset throws, since it leaves the
 * environment broken for what follows.
 */
export async function runFaultTimeline(opts: FaultTimelineOptions): Promise<FaultRecord[]> {
  const { toxiproxyUrl, faults, loadStartedAt, signal } = opts;
  const records: FaultRecord[] = faults.map((f) => ({
    spec: structuredClone(f),
    plannedAt: f.at,
    plannedFor: f.for,
    ok: false,
  }));
  if (faults.length === 0) return records;
  const runId = Math.round(now()).toString(36);

  const runOne = async (spec: FaultSpec, index: number) => {
    const rec = records[index] as FaultRecord;
    const kindName = faultKindOf(spec);
    const kind = KINDS.get(kindName);
    if (!kind) {
      rec.error = `unknown fault kind ${JSON.stringify(kindName)}; known: ${faultKindNames().join(', ')}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
      return;
    }
    const step: FaultStep = { toxiproxyUrl, spec, id: `cachebench-${runId}-${index}-${kindName}` };
    if (!(await sleepUntil(loadStartedAt + spec.at, signal))) {
      rec.error = 'aborted before the fault was applied';
      return;
    }
    try {
      await kind.apply(step);
      rec.appliedAt = now();
      opts.onEvent?.({ index, step: 'applied', at: rec.appliedAt });
    } catch (err) {
      rec.error = `apply failed: ${(err as Error).message}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
      return;
    }
    const reachedEnd = await sleepUntil(loadStartedAt + spec.at + spec.for, signal);
    try {
      await kind.remove(step);
      rec.removedAt = now();
      opts.onEvent?.({ index, step: 'removed', at: rec.removedAt });
      if (reachedEnd) rec.ok = true;
      else rec.error = 'aborted: removed before the planned end';
    } catch (err) {
      rec.error = `remove failed: ${(err as Error).message}`;
      opts.onEvent?.({ index, step: 'failed', at: now(), error: rec.error });
    }
  };

  try {
    await resetToxiproxy(toxiproxyUrl);
    await Promise.all(faults.map((f, i) => runOne(f, i)));
  } catch (err) {
    // Only the initial reset can throw here (runOne records its own failures).
    for (const r of records) r.error ??= `not run: ${(err as Error).message}`;
  } finally {
    await resetToxiproxy(toxiproxyUrl);
  }
  return records;
}
