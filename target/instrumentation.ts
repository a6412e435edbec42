/**
 * What the target counts for the harness (DESIGN.md §5). Strategies report through this
 * interface; the implementation keeps in-process counters, the rebuild event log served on the
 * control endpoint, and the prom-client metrics behind /metrics.
 */
import type { RebuildEvent } from '../harness/results/schema.ts';

export interface Instrumentation {
  hit(namespace: string): void;
  miss(namespace: string): void;
  staleServed(namespace: string): void;
  /** A read answered from the DB because Redis failed (fail-open). */
  fallback(namespace: string): void;
  /** Wraps one source load: records a RebuildEvent {key, instance, start, end, reason}. */
  rebuild<T>(key: string, reason: RebuildEvent['reason'], load: () => Promise<T>): Promise<T>;
  lockWait(ms: number): void;
  backgroundRefresh(): void;
  writeBehindIncrement(n: number): void;
  writeBehindFlushed(n: number): void;
  writeBehindLost(n: number): void;
}
