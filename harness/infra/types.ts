/**
 * What a provisioner hands the pipeline: where Redis, PostgreSQL and Toxiproxy are, directly and
 * through the Toxiproxy proxies named `redis` and `postgres`. A started thing knows how to stop.
 */

export interface Endpoint {
  host: string;
  port: number;
}

export interface InfraHandle {
  kind: 'local' | 'containers' | 'external';
  /** redis://host:port — direct, for the harness's own inspection (INFO, FLUSHALL). */
  redisUrl: string;
  /** redis://host:port — through the `redis` proxy: what the target uses. */
  redisProxyUrl: string;
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
  /** Idempotent; ends everything this handle started. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
