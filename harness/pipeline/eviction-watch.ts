/**
 * Which keys Redis evicted during a cell's load, by namespace. INFO's `evicted_keys` is a bare
 * count; to tell evicted values from evicted locks, leases and write-behind buffers the harness
 * subscribes to Redis's own `evicted` keyspace events (`notify-keyspace-events` E + e) over its
 * direct connection and groups each evicted key with `keyNamespace` (target/keys.ts), so a
 * lock is `team-report-lock`, a buffer `counter-pending`. Redis reports it, not the target.
 *
 * Only for a cell whose scenario sets `redis.maxmemory` (elsewhere nothing should be evicted,
 * and INFO already flags it). The server's own `notify-keyspace-events` is put back on stop.
 * On a Cluster every master evicts its own keys and publishes its own events: each is watched.
 * Pub/sub delivery is at most once: a notification Redis could not deliver (the subscriber's
 * buffer over its limit) is not counted, so the figures are a lower bound; the total is shown
 * next to INFO's count.
 */
import { Redis } from 'ioredis';
import { keyNamespace } from '../../target/keys.ts';

export interface EvictionWatch {
  /** Idempotent: unsubscribes, restores the server's setting, returns evicted keys by namespace. */
  stop(): Promise<Record<string, number>>;
}

const CHANNEL = '__keyevent@0__:evicted';

/** Watches every given server (a Cluster's masters); counts are summed. */
export async function watchEvictions(urls: readonly string[]): Promise<EvictionWatch> {
  const watches: EvictionWatch[] = [];
  try {
    for (const url of urls) watches.push(await watchOne(url));
  } catch (e) {
    await Promise.allSettled(watches.map((w) => w.stop()));
    throw e;
  }
  let stopped: Promise<Record<string, number>> | undefined;
  return {
    stop() {
      stopped ??= Promise.all(watches.map((w) => w.stop())).then((all) => {
        const sum: Record<string, number> = {};
        for (const counts of all) for (const [ns, n] of Object.entries(counts)) sum[ns] = (sum[ns] ?? 0) + n;
        return sum;
      });
      return stopped;
    },
  };
}

async function watchOne(url: string): Promise<EvictionWatch> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const sub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  sub.on('error', () => {});
  const counts: Record<string, number> = {};
  let original: string | undefined;
  try {
    await Promise.all([admin.connect(), sub.connect()]);
    original = ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
    // Keep whatever classes the server already publishes; add keyevent (E) for evictions (e).
    const wanted = [...new Set(`${original}Ee`)].join('');
    await admin.config('SET', 'notify-keyspace-events', wanted);
    sub.on('message', (_channel: string, key: string) => {
      const ns = keyNamespace(key);
      counts[ns] = (counts[ns] ?? 0) + 1;
    });
    await sub.subscribe(CHANNEL);
  } catch (e) {
    if (original !== undefined) await admin.config('SET', 'notify-keyspace-events', original).catch(() => {});
    admin.disconnect();
    sub.disconnect();
    throw e;
  }
  let stopped: Promise<Record<string, number>> | undefined;
  return {
    stop() {
      stopped ??= finish();
      return stopped;
    },
  };

  async function finish(): Promise<Record<string, number>> {
    try {
      // One round trip on the subscriber after the load: notifications sent before it are in.
      await sub.unsubscribe(CHANNEL).catch(() => {});
      await admin.config('SET', 'notify-keyspace-events', original ?? '');
    } finally {
      admin.disconnect();
      sub.disconnect();
    }
    return { ...counts };
  }
}
