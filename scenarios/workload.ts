/**
 * The pure workload logic both load drivers share: a seeded PRNG, key pickers, the operation mix,
 * arrival schedules and response parsing. No Node API and no imports but ./types.ts, because the
 * k6 entry script imports this file directly (k6 strips types and has no npm resolution).
 */
import type { KeyDistribution, LoadShape, Operation, Scenario } from './types.ts';

/**
 * mulberry32: 32-bit state, full period 2^32, passes the usual smoke tests and is tiny. A bench
 * workload needs repeatability across drivers and runs, not cryptographic quality.
 */
export function createRng(seed: number): () => number {
  // Mix the seed so that nearby seeds (1, 2, 3…) do not start on correlated streams.
  let state = (Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf CDF over ranks 1..n: P(rank k) ∝ 1/k^s. Built once per picker, O(n) memory. */
function zipfCdf(n: number, exponent: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** exponent;
    cdf[k - 1] = sum;
  }
  for (let i = 0; i < n; i++) cdf[i] = (cdf[i] as number) / sum;
  cdf[n - 1] = 1; // guard against rounding leaving the last bucket unreachable
  return cdf;
}

/** Smallest index i with cdf[i] > u (binary search, O(log n)). */
function searchCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cdf[mid] as number) > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Returns a picker of ids in 1..n. Zipf rank k is id k, so id 1 is the hottest key; hot-set sends
 * `hotFraction` of picks to ids 1..hotKeys and the rest uniformly over all n ids.
 */
export function createKeyPicker(dist: KeyDistribution, n: number, rng: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`key count must be an integer >= 1, got ${n}`);
  const uniform = () => 1 + Math.floor(rng() * n);
  switch (dist.type) {
    case 'uniform':
      return uniform;
    case 'zipf': {
      const cdf = zipfCdf(n, dist.exponent);
      return () => 1 + searchCdf(cdf, rng());
    }
    case 'hot-set': {
      const hot = Math.max(1, Math.min(n, Math.floor(dist.hotKeys)));
      return () => (rng() < dist.hotFraction ? 1 + Math.floor(rng() * hot) : uniform());
    }
  }
}

export interface PlannedRequest {
  op: Operation;
  kind: 'read' | 'write' | 'incr';
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path relative to the target base URL, e.g. "/users/42". */
  path: string;
  /** JSON body for PUT/POST. */
  body?: string;
  /** Entity or aggregate key addressed: "user:42", "team:7", "counter:3". */
  key: string;
  /**
   * incr-counter only: the increment sent. A history record's `value` is this for increments
   * and the value read for read-counter: `value: parsed.value ?? planned.value`.
   */
  value?: number;
  /**
   * A 404 is an answer, not an error: set on user operations when the mix deletes users (a read,
   * update or delete of a user deleted earlier is answered 404 by a correct target).
   */
  notFoundOk?: true;
}

/** Whether a response status counts as an error for the load figures (both drivers). */
export function isErrorStatus(plan: Pick<PlannedRequest, 'notFoundOk'>, status: number): boolean {
  return status === 0 || (status >= 400 && !(status === 404 && plan.notFoundOk === true));
}

type Builder = (id: number, seq: number) => PlannedRequest;

/** The board the leaderboard operations write and read. */
export const LEADERBOARD_BOARD = 'main';

const BUILDERS: Record<Operation, { entity: 'users' | 'teams' | 'counters'; build: Builder }> = {
  'read-user': {
    entity: 'users',
    build: (id) => ({
      op: 'read-user',
      kind: 'read',
      method: 'GET',
      path: `/users/${id}`,
      key: `user:${id}`,
    }),
  },
  'update-user': {
    entity: 'users',
    // A unique name per write so every update really changes the row.
    build: (id, seq) => ({
      op: 'update-user',
      kind: 'write',
      method: 'PUT',
      path: `/users/${id}`,
      body: JSON.stringify({ name: `user-${id}-w${seq}` }),
      key: `user:${id}`,
    }),
  },
  'delete-user': {
    entity: 'users',
    // Ids come from the key distribution like every other user op; a deleted user stays deleted
    // (no re-creation), so later reads of it are answered 404 (docs/measurements.md "Deletes").
    build: (id) => ({
      op: 'delete-user',
      kind: 'write',
      method: 'DELETE',
      path: `/users/${id}`,
      key: `user:${id}`,
    }),
  },
  'read-team-members': {
    entity: 'teams',
    build: (id) => ({
      op: 'read-team-members',
      kind: 'read',
      method: 'GET',
      path: `/teams/${id}/members`,
      key: `team:${id}`,
    }),
  },
  'read-team-report': {
    entity: 'teams',
    build: (id) => ({
      op: 'read-team-report',
      kind: 'read',
      method: 'GET',
      path: `/teams/${id}/report`,
      key: `team:${id}`,
    }),
  },
  'incr-counter': {
    entity: 'counters',
    build: (id) => ({
      op: 'incr-counter',
      kind: 'incr',
      method: 'POST',
      path: `/counters/${id}/incr`,
      body: '{"by":1}',
      key: `counter:${id}`,
      value: 1,
    }),
  },
  'read-counter': {
    entity: 'counters',
    build: (id) => ({
      op: 'read-counter',
      kind: 'read',
      method: 'GET',
      path: `/counters/${id}`,
      key: `counter:${id}`,
    }),
  },
  // One board for every writer: the contention a read-modify-write has to survive. The member is
  // a user id picked by the key distribution (a few players score most).
  'leaderboard-score': {
    entity: 'users',
    build: (id) => ({
      op: 'leaderboard-score',
      kind: 'incr',
      method: 'POST',
      path: `/leaderboard/${LEADERBOARD_BOARD}/score`,
      body: `{"member":"u${id}","by":1}`,
      key: `leaderboard:${LEADERBOARD_BOARD}`,
      value: 1,
    }),
  },
  'leaderboard-top': {
    entity: 'users',
    build: () => ({
      op: 'leaderboard-top',
      kind: 'read',
      method: 'GET',
      path: `/leaderboard/${LEADERBOARD_BOARD}/top?n=10`,
      key: `leaderboard:${LEADERBOARD_BOARD}`,
    }),
  },
};

/**
 * Deterministic request stream for a scenario: op by the mix weights, then the id by the key
 * distribution over that entity's id space (users, teams or counters). Same seed → same stream.
 */
export function createRequestGenerator(s: Scenario, seed: number): () => PlannedRequest {
  const rng = createRng(seed);
  const ops: Operation[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const [op, weight] of Object.entries(s.mix) as [Operation, number | undefined][]) {
    if (!weight || weight <= 0) continue;
    total += weight;
    ops.push(op);
    cumulative.push(total);
  }
  if (ops.length === 0) throw new RangeError(`scenario ${s.name}: the operation mix has no positive weight`);
  const sizes = { users: s.data.users, teams: s.data.teams, counters: s.data.counters };
  const pickers = new Map<string, () => number>();
  const pickerFor = (entity: 'users' | 'teams' | 'counters') => {
    let p = pickers.get(entity);
    if (!p) {
      p = createKeyPicker(s.keys, sizes[entity], rng);
      pickers.set(entity, p);
    }
    return p;
  };
  let seq = 0;
  const deletesUsers = ops.includes('delete-user');
  return () => {
    const u = rng() * total;
    let i = 0;
    while (i < cumulative.length - 1 && (cumulative[i] as number) <= u) i++;
    const b = BUILDERS[ops[i] as Operation];
    seq++;
    const planned = b.build(pickerFor(b.entity)(), seq);
    if (deletesUsers && b.entity === 'users') planned.notFoundOk = true;
    return planned;
  };
}

export function totalDurationMs(load: LoadShape): number {
  let sum = 0;
  for (const p of load.phases) sum += p.duration;
  return sum;
}

/**
 * Arrival offsets in ms from load start, increasing. Arrivals follow the cumulative intensity
 * Λ(t) = ∫rate: constant arrivals sit where Λ crosses 0, 1, 2…; Poisson arrivals where it crosses
 * a running sum of Exp(1) draws. Ramps invert the quadratic Λ exactly, so counts per phase are
 * exact for constant arrivals, and the generator ends after the last phase.
 */
export function* arrivalOffsets(load: LoadShape, rng: () => number): Generator<number> {
  const poisson = load.arrivals === 'poisson';
  const nextIncrement = poisson ? () => -Math.log(1 - rng()) : () => 1;
  // Λ value of the next arrival, measured from the current phase start. Constant arrivals start
  // at t = 0; a Poisson stream's first arrival is itself an exponential draw.
  let target = poisson ? nextIncrement() : 0;
  let phaseStart = 0;
  for (const phase of load.phases) {
    const ds = phase.duration / 1000;
    const a = phase.rate;
    const b = phase.to ?? phase.rate;
    const phaseArea = ((a + b) / 2) * ds;
    // Λ(u) = a·u + c·u², u in seconds into the phase.
    const c = ds > 0 ? (b - a) / (2 * ds) : 0;
    while (target < phaseArea) {
      let u: number;
      if (target === 0) u = 0;
      else if (Math.abs(c) < 1e-12) u = target / a;
      // Stable root of c·u² + a·u − x = 0 (avoids cancellation when c is small).
      else u = (2 * target) / (a + Math.sqrt(Math.max(0, a * a + 4 * c * target)));
      const offset = phaseStart + u * 1000;
      if (offset >= phaseStart + phase.duration) break;
      yield offset;
      target += nextIncrement();
    }
    target -= phaseArea;
    if (target < 0) target = 0;
    phaseStart += phase.duration;
  }
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * What a response says for the history: `versions` (entity key → version, from reads and writes)
 * and, for read-counter, the counter `value` read. Non-2xx or malformed bodies yield {}; a driver
 * never throws on a bad body, it records what it got.
 */
export function parseResponse(
  op: Operation,
  status: number,
  body: unknown,
): { versions?: Record<string, number>; value?: number } {
  if (status < 200 || status >= 300) return {};
  const obj = asRecord(body);
  if (!obj) return {};
  const out: { versions?: Record<string, number>; value?: number } = {};
  const versions = asRecord(obj.versions);
  if (versions) {
    const clean: Record<string, number> = {};
    let any = false;
    for (const [k, v] of Object.entries(versions)) {
      if (typeof v === 'number' && Number.isFinite(v)) {
        clean[k] = v;
        any = true;
      }
    }
    if (any) out.versions = clean;
  }
  if (op === 'read-counter' && typeof obj.value === 'number') out.value = obj.value;
  return out;
}
