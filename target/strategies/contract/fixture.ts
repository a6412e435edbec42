/**
 * The fixture strategies are checked with (the contract kit, and the strategy tests): its own
 * small tables in the given database (so it does not depend on target/db.ts), ReadRequest/
 * WriteRequest/IncrementRequest closures over them that count every DB load and write, a
 * recording Instrumentation, strategies whose cache client goes through the Toxiproxy `redis`
 * proxy (so faults apply), and Toxiproxy fault helpers. Needs real Redis, PostgreSQL and
 * Toxiproxy with a proxy named `redis` (what `cachebench up` or the local provisioner starts).
 */
import { Cluster, type NatMap, Redis } from 'ioredis';
import pg from 'pg';
import type { RebuildEvent } from '../../../harness/results/schema.ts';
import { type CacheClientOptions, createCacheClient, type FailFastCacheClient } from '../../cache-client.ts';
import type { Instrumentation } from '../../instrumentation.ts';
import type {
  FailurePolicy,
  IncrementRequest,
  ReadRequest,
  Strategy,
  StrategyModule,
  Versioned,
  WriteRequest,
} from '../../strategy.ts';
import { loadStrategyModule } from '../index.ts';

/** Where the fixture finds the services: Redis directly and through the `redis` proxy. */
export interface ContractInfra {
  redisUrl: string;
  redisProxyUrl: string;
  postgresUrl: string;
  toxiproxyUrl: string;
  /**
   * A cluster (or replicated) Redis: nodes direct and through their proxies `redis-<i>`; the
   * strategies reach each node through its proxy, faults hit every node's proxy.
   */
  redisTopology?: {
    kind: 'standalone' | 'replicated' | 'cluster';
    nodes: { host: string; port: number }[];
    proxiedNodes: { host: string; port: number }[];
    /** replicated: the Sentinels, the name they monitor, announced address → client proxy. */
    sentinels?: { host: string; port: number }[];
    masterName?: string;
    natMap?: Record<string, string>;
  };
}

/** The Toxiproxy proxies in front of Redis: `redis`, or one per node of a topology. */
export function redisProxyNames(infra: ContractInfra): string[] {
  return infra.redisTopology ? infra.redisTopology.proxiedNodes.map((_, i) => `redis-${i}`) : ['redis'];
}

/** Cache-client topology options that send each node's traffic through its proxy. */
export function clientTopology(infra: ContractInfra): CacheClientOptions['topology'] {
  const t = infra.redisTopology;
  if (!t) return undefined;
  return {
    redisTopology: t.kind,
    // replicated: Sentinel hands out the nodes' announced (link) addresses, mapped by the topology.
    redisNatMap:
      t.natMap ??
      Object.fromEntries(
        t.nodes.map((n, i) => [
          `${n.host}:${n.port}`,
          `${t.proxiedNodes[i]!.host}:${t.proxiedNodes[i]!.port}`,
        ]),
      ),
    redisSentinels: (t.sentinels ?? []).map((s) => `${s.host}:${s.port}`).join(','),
    redisMasterName: t.masterName ?? 'mymaster',
  };
}

/** Each node's client-proxy address → the node's direct address (the fixture's own client). */
export function directNatMap(t: NonNullable<ContractInfra['redisTopology']>): NatMap {
  return Object.fromEntries(t.proxiedNodes.map((p, i) => [`${p.host}:${p.port}`, t.nodes[i]!]));
}

/** Toxiproxy's HTTP API (plain fetch: the harness has its own fault executor). */
export async function toxiproxy(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`toxiproxy ${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export const ITEMS = 20;
export const TEAMS = 4;
export const COUNTERS = 5;
export const teamOf = (id: number) => id % TEAMS;

export interface Item {
  id: number;
  teamId: number;
  name: string;
  version: number;
}
export interface ItemValue extends Versioned {
  item: Item;
}
export interface TeamValue extends Versioned {
  team: { id: number; members: { id: number; name: string; version: number }[] };
}

/** Pure bookkeeping of what the strategies report. */
export class RecordingInstrumentation implements Instrumentation {
  readonly instance: string;
  hits = 0;
  misses = 0;
  stale = 0;
  fallbacks = 0;
  lockWaits = 0;
  lockWaitMs = 0;
  backgroundRefreshes = 0;
  wbIncrements = 0;
  wbFlushed = 0;
  wbLost = 0;
  wbDirect = 0;
  readonly rebuilds: RebuildEvent[] = [];
  private active = 0;
  maxConcurrentRebuilds = 0;

  constructor(instance: string) {
    this.instance = instance;
  }
  hit(): void {
    this.hits += 1;
  }
  miss(): void {
    this.misses += 1;
  }
  staleServed(): void {
    this.stale += 1;
  }
  fallback(): void {
    this.fallbacks += 1;
  }
  async rebuild<T>(key: string, reason: RebuildEvent['reason'], load: () => Promise<T>): Promise<T> {
    const start = Date.now();
    this.active += 1;
    this.maxConcurrentRebuilds = Math.max(this.maxConcurrentRebuilds, this.active);
    try {
      return await load();
    } finally {
      this.active -= 1;
      this.rebuilds.push({ key, instance: this.instance, start, end: Date.now(), reason });
    }
  }
  lockWait(ms: number): void {
    this.lockWaits += 1;
    this.lockWaitMs += ms;
  }
  backgroundRefresh(): void {
    this.backgroundRefreshes += 1;
  }
  writeBehindIncrement(n: number): void {
    this.wbIncrements += n;
  }
  writeBehindFlushed(n: number): void {
    this.wbFlushed += n;
  }
  writeBehindLost(n: number): void {
    this.wbLost += n;
  }
  writeBehindDirect(n: number): void {
    this.wbDirect += n;
  }
  rebuildsOf(reason?: RebuildEvent['reason']): number {
    return this.rebuilds.filter((r) => reason === undefined || r.reason === reason).length;
  }
}

export interface Harnessed {
  strategy: Strategy;
  cache: FailFastCacheClient;
  /** The second client for coordination keys, when `MakeOptions.coordinationUrl` was given. */
  coordination?: FailFastCacheClient;
  events: RecordingInstrumentation;
}

export interface MakeOptions {
  options?: Record<string, unknown>;
  policy?: FailurePolicy;
  instanceId?: string;
  client?: Partial<CacheClientOptions>;
  /** Locks, leases and write-behind buffers on this Redis (StrategyContext.coordination). */
  coordinationUrl?: string;
}

export interface ReadOptions {
  /** Seconds of pg_sleep inside the load query (an expensive rebuild). */
  sleepS?: number;
  /** Called after the DB query returned, before the load resolves (deterministic races). */
  afterQuery?: () => Promise<void>;
}

export class StrategyFixture {
  readonly infra: () => ContractInfra;
  pool!: pg.Pool;
  /** Direct Redis (not through the proxy): inspection and FLUSHALL. */
  redis!: Redis;
  private readonly made: Harnessed[] = [];
  /** DB loads per cache key, and DB writes. */
  readonly loads = new Map<string, number>();
  itemWrites = 0;
  counterDbWrites = 0;

  readonly commandTimeoutMs: number;

  constructor(infra: () => ContractInfra, o: { commandTimeoutMs?: number } = {}) {
    this.infra = infra;
    this.commandTimeoutMs = o.commandTimeoutMs ?? 500;
  }

  async setup(): Promise<void> {
    const infra = this.infra();
    this.pool = new pg.Pool({ connectionString: infra.postgresUrl, max: 20 });
    this.pool.on('error', () => {});
    this.redis =
      infra.redisTopology?.kind === 'cluster'
        ? // Direct to the nodes, routed by slot: they announce their client proxies, which a
          // fault may disable, so each announced address is mapped back to the node itself.
          (new Cluster([infra.redisTopology.nodes[0]!], {
            redisOptions: { password: decodeURIComponent(new URL(infra.redisUrl).password) },
            natMap: directNatMap(infra.redisTopology),
          }) as unknown as Redis)
        : new Redis(infra.redisUrl, { maxRetriesPerRequest: 1 });
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS strat_items (
        id int PRIMARY KEY, team_id int NOT NULL, name text NOT NULL, version int NOT NULL);
      CREATE TABLE IF NOT EXISTS strat_counters (id int PRIMARY KEY, value bigint NOT NULL)`);
  }

  /** Fresh data, empty Redis, proxy healthy, counts zeroed. */
  async reset(): Promise<void> {
    await this.closeStrategies();
    await this.healProxy();
    // Every master: a Cluster's keys are spread over them.
    const masters = this.redis.isCluster ? (this.redis as unknown as Cluster).nodes('master') : [this.redis];
    await Promise.all(masters.map((m) => m.flushall()));
    await this.pool.query(`
      TRUNCATE strat_items, strat_counters;
      INSERT INTO strat_items SELECT g, g % ${TEAMS}, 'name-' || g, 1 FROM generate_series(1, ${ITEMS}) g;
      INSERT INTO strat_counters SELECT g, 0 FROM generate_series(1, ${COUNTERS}) g`);
    this.loads.clear();
    this.itemWrites = 0;
    this.counterDbWrites = 0;
  }

  async teardown(): Promise<void> {
    await this.closeStrategies();
    this.redis?.disconnect();
    await this.pool?.end();
  }

  async closeStrategies(): Promise<void> {
    const all = this.made.splice(0);
    for (const h of all) {
      await h.strategy.close?.();
      await h.cache.close();
      await h.coordination?.close();
    }
  }

  /** A strategy from a catalog name, a composition, a module path, or a module itself. */
  async make(spec: string | StrategyModule, o: MakeOptions = {}): Promise<Harnessed> {
    const mod = typeof spec === 'string' ? await loadStrategyModule(spec) : spec;
    const instanceId = o.instanceId ?? 'i0';
    const cache = await createCacheClient({
      url: this.infra().redisProxyUrl,
      // Tests that are not about the failure budget get a roomier one: on 2 shared cores a busy
      // event loop can exceed 75 ms and turn a coordination test into a fallback test.
      commandTimeoutMs: this.commandTimeoutMs,
      topology: clientTopology(this.infra()),
      ...o.client,
    });
    const coordination = o.coordinationUrl
      ? await createCacheClient({
          url: o.coordinationUrl,
          commandTimeoutMs: this.commandTimeoutMs,
          ...o.client,
        })
      : undefined;
    const events = new RecordingInstrumentation(instanceId);
    const strategy = mod.create({
      cache,
      ...(coordination ? { coordination } : {}),
      events,
      instanceId,
      policy: o.policy ?? 'fail-open',
      options: { ...mod.defaults, ...o.options },
    });
    const h = { strategy, cache, events, ...(coordination ? { coordination } : {}) };
    this.made.push(h);
    return h;
  }

  loadsOf(key: string): number {
    return this.loads.get(key) ?? 0;
  }

  private countLoad(key: string): void {
    this.loads.set(key, this.loadsOf(key) + 1);
  }

  async dbItem(id: number): Promise<Item> {
    const r = await this.pool.query('SELECT id, team_id, name, version FROM strat_items WHERE id = $1', [id]);
    const row = r.rows[0];
    return { id: row.id, teamId: row.team_id, name: row.name, version: row.version };
  }

  itemRead(id: number, o: ReadOptions = {}): ReadRequest<ItemValue> {
    const key = `item:${id}`;
    return {
      key,
      namespace: 'item',
      dependsOn: [],
      load: async () => {
        this.countLoad(key);
        const sleep = o.sleepS ? ', pg_sleep($2)' : '';
        const params = o.sleepS ? [id, o.sleepS] : [id];
        const r = await this.pool.query(
          `SELECT id, team_id, name, version${sleep} FROM strat_items WHERE id = $1`,
          params,
        );
        const row = r.rows[0];
        // A deleted item: the read fails, as the target's route answers 404.
        if (!row) throw new Error(`item ${id} not found`);
        await o.afterQuery?.();
        const item: Item = { id: row.id, teamId: row.team_id, name: row.name, version: row.version };
        return { item, versions: { [key]: item.version } };
      },
    };
  }

  teamRead(teamId: number): ReadRequest<TeamValue> {
    const key = `team-members:${teamId}`;
    return {
      key,
      namespace: 'team-members',
      dependsOn: [`team:${teamId}`],
      load: async () => {
        this.countLoad(key);
        const r = await this.pool.query(
          'SELECT id, name, version FROM strat_items WHERE team_id = $1 ORDER BY id',
          [teamId],
        );
        const members = r.rows.map((m) => ({
          id: m.id as number,
          name: m.name as string,
          version: m.version as number,
        }));
        return {
          team: { id: teamId, members },
          versions: Object.fromEntries(members.map((m) => [`item:${m.id}`, m.version])),
        };
      },
    };
  }

  /** `declareAggregates: false` = a writer that only bumps the aggregate namespace. */
  itemWrite(id: number, name: string, o: { declareAggregates?: boolean } = {}): WriteRequest<ItemValue> {
    const key = `item:${id}`;
    return {
      key,
      namespace: 'item',
      invalidates: o.declareAggregates === false ? [] : [`team-members:${teamOf(id)}`],
      bumps: [`team:${teamOf(id)}`],
      write: async () => {
        this.itemWrites += 1;
        const r = await this.pool.query(
          'UPDATE strat_items SET name = $2, version = version + 1 WHERE id = $1 RETURNING id, team_id, name, version',
          [id, name],
        );
        const row = r.rows[0];
        const item: Item = { id: row.id, teamId: row.team_id, name: row.name, version: row.version };
        return { item, versions: { [key]: item.version } };
      },
    };
  }

  /** Deletes the item (kind 'delete'); answers the tombstone version (last + 1), as the target does. */
  itemDelete(id: number): WriteRequest<ItemValue> {
    const key = `item:${id}`;
    return {
      kind: 'delete',
      key,
      namespace: 'item',
      invalidates: [`team-members:${teamOf(id)}`],
      bumps: [`team:${teamOf(id)}`],
      write: async () => {
        this.itemWrites += 1;
        const r = await this.pool.query(
          'DELETE FROM strat_items WHERE id = $1 RETURNING id, team_id, name, version',
          [id],
        );
        const row = r.rows[0];
        const item: Item = { id: row.id, teamId: row.team_id, name: row.name, version: row.version + 1 };
        return { item, versions: { [key]: item.version } };
      },
    };
  }

  counter(id: number, by = 1): IncrementRequest {
    return {
      counterId: id,
      by,
      incrementInDb: async (n) => {
        this.counterDbWrites += 1;
        const r = await this.pool.query(
          'UPDATE strat_counters SET value = value + $2 WHERE id = $1 RETURNING value',
          [id, n],
        );
        return Number(r.rows[0].value);
      },
      readDb: async () => this.dbCounter(id),
    };
  }

  async dbCounter(id: number): Promise<number> {
    const r = await this.pool.query('SELECT value FROM strat_counters WHERE id = $1', [id]);
    return Number(r.rows[0].value);
  }

  // --- faults on the `redis` proxy ---------------------------------------------------------------

  /** Runs `fn` on every Redis proxy (one per node on a cluster, so the whole Redis is hit). */
  private async eachProxy(fn: (url: string, proxy: string) => Promise<unknown>): Promise<void> {
    const url = this.infra().toxiproxyUrl;
    await Promise.all(redisProxyNames(this.infra()).map((p) => fn(url, `/proxies/${p}`)));
  }

  async redisDown(): Promise<void> {
    await this.eachProxy((url, p) => toxiproxy(url, 'PATCH', p, { enabled: false }));
  }

  async redisUp(): Promise<void> {
    await this.eachProxy((url, p) => toxiproxy(url, 'PATCH', p, { enabled: true }));
  }

  /** Replies from Redis are dropped (Toxiproxy `timeout` toxic with timeout 0). */
  async redisBlackhole(): Promise<void> {
    await this.eachProxy((url, p) =>
      toxiproxy(url, 'POST', `${p}/toxics`, {
        name: 'blackhole',
        type: 'timeout',
        stream: 'downstream',
        attributes: { timeout: 0 },
      }),
    );
  }

  async removeBlackhole(): Promise<void> {
    await this.eachProxy((url, p) => toxiproxy(url, 'DELETE', `${p}/toxics/blackhole`));
  }

  async healProxy(): Promise<void> {
    await this.redisUp();
    await this.eachProxy(async (url, p) => {
      const toxics = (await toxiproxy(url, 'GET', `${p}/toxics`)) as { name: string }[];
      for (const t of toxics) await toxiproxy(url, 'DELETE', `${p}/toxics/${t.name}`);
    });
  }
}
