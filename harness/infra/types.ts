/**
 * What a provisioner hands the pipeline: where Redis, PostgreSQL and Toxiproxy are, directly and
 * through the Toxiproxy proxies named `redis` and `postgres`. A started thing knows how to stop.
 */

export interface Endpoint {
  host: string;
  port: number;
  /**
   * cluster: the port the node announces (CLUSTER NODES, MOVED), when not `port`: its client
   * proxy's (local/redis-cluster.ts), so an announced address is matched back to the node.
   */
  announcedPort?: number;
}

// Declared with the scenario types (which import nothing, for the k6 entry script).
import type { RedisTopology } from '../../scenarios/types.ts';

export { REDIS_TOPOLOGIES, type RedisTopology } from '../../scenarios/types.ts';

/** The nodes of a non-standalone topology, direct and through Toxiproxy. */
export interface RedisTopologyInfo {
  kind: RedisTopology;
  /** Every data node, direct (the harness's own inspection); node i announces this address. */
  nodes: Endpoint[];
  /** The same nodes through Toxiproxy, one proxy per node named `redis-<i>`: what the target uses. */
  proxiedNodes: Endpoint[];
  /** replicated: the Sentinels (direct). */
  sentinels?: Endpoint[];
  /** replicated: the name the Sentinels monitor the primary under. */
  masterName?: string;
  /**
   * Announced address → client proxy ("host:port" both), when the addresses the topology hands
   * out are not `nodes` (replicated: Sentinel knows the nodes by their link proxies).
   */
  natMap?: Record<string, string>;
}

export interface InfraHandle {
  kind: 'local' | 'containers' | 'external';
  /** redis://host:port — direct, for the harness's own inspection (INFO, FLUSHALL). */
  redisUrl: string;
  /** redis://host:port — through the `redis` proxy: what the target uses. */
  redisProxyUrl: string;
  /**
   * redis://host:port of the second Redis for coordination keys (locks, leases, write-behind
   * buffers), when one was asked for (`coordination: separate`). Direct, not through Toxiproxy:
   * a scenario's Redis faults address the cache.
   */
  coordinationRedisUrl?: string;
  /**
   * Absent for standalone. Otherwise redisUrl/redisProxyUrl address node 0 (direct / its proxy)
   * and carry the password every node (and Sentinel) requires.
   */
  redisTopology?: RedisTopologyInfo;
  /** Before each cell's flush: puts the topology back as it started (replicated: the original primary). */
  resetRedisTopology?(): Promise<void>;
  /** postgres://user@host:port/db — direct, for seeding and pg_stat_statements. */
  postgresUrl: string;
  /** postgres://… through the `postgres` proxy: what the target uses. */
  postgresProxyUrl: string;
  /** http://host:port of the Toxiproxy API. */
  toxiproxyUrl: string;
  /** Versions of the services, for the environment section of reports. */
  versions: { redis?: string; postgres?: string; toxiproxy?: string };
  /** PIDs of local processes this handle started (empty for containers/external). */
  pids: number[];
  /**
   * Process faults and health of the services this handle started (see process-control.ts);
   * absent when the provisioner controls no process (external).
   */
  processes?: InfraProcesses;
  /** Idempotent; ends everything this handle started. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// --- Process faults and infrastructure health -------------------------------------------------

/** Services a planned process fault can kill and start again. */
/** `redis-<i>`: one node of a replicated topology (failover faults, local/redis-replicated.ts). */
export type ProcessService = 'redis' | 'postgres' | `redis-${number}`;

/** A started component that ended outside a planned fault. */
export interface HealthIncident {
  /** redis-server, postgres, toxiproxy-server, target-2, … */
  component: string;
  /** The signal name (SIGKILL) or `code N`. */
  how: string;
  /** Epoch ms the exit was seen. */
  at: number;
  pid?: number;
}

export interface InfraProcesses {
  /** True when `service` can be killed and started again. */
  supports(service: ProcessService): boolean;
  /** Planned: stops the service (a crash for Redis: SIGKILL) and waits until it is gone. */
  kill(service: ProcessService): Promise<void>;
  /** Planned: starts it again on the same port and data dir; resolves when it answers. */
  start(service: ProcessService, o: { persistence: boolean }): Promise<void>;
  /** Every unplanned exit so far. */
  health(): Promise<HealthIncident[]>;
  /** Called by stop(): exits from here on are the shutdown, not incidents. */
  stopWatching(): void;
}
