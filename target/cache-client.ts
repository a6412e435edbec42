/**
 * The only way strategies talk to Redis. Every call goes through `run`, which applies the failure
 * budget (fail-fast ioredis settings + a circuit breaker), classifies the error, and counts it.
 * Strategies therefore never see an exception from Redis: they get an outcome and decide.
 *
 * Interface first (shared by target and strategies); the implementation lives below it.
 */
import type { Redis } from 'ioredis';

export type CacheErrorKind = 'timeout' | 'connection' | 'breaker-open' | 'command';

export interface CacheError {
  kind: CacheErrorKind;
  message: string;
}

export type CacheOutcome<T> = { ok: true; value: T } | { ok: false; error: CacheError };

export interface CacheClient {
  /** Runs one Redis interaction (a command, a pipeline, a script) under the failure budget. */
  run<T>(op: string, fn: (redis: Redis) => Promise<T>): Promise<CacheOutcome<T>>;
  get(key: string): Promise<CacheOutcome<string | null>>;
  /** SET key value PX ttlMs [NX]; value true when set. */
  set(key: string, value: string, ttlMs: number, opts?: { nx?: boolean }): Promise<CacheOutcome<boolean>>;
  del(...keys: string[]): Promise<CacheOutcome<number>>;
  /** False while the breaker is open (Redis known down): callers skip Redis entirely. */
  available(): boolean;
  close(): Promise<void>;
}
