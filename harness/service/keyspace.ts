/**
 * Stampedes on a service cachebench did not write, with no code inside it: Redis keyspace
 * notifications on the Redis cachebench started. A subscriber on the direct URL (never through
 * Toxiproxy, so a fault cannot hide events) records set / expired / del / evicted per cached key
 * with the time it saw them. A rebuild is a SET of a cached key; the rebuilds of one expiry are the
 * SETs between the key's expiry (or delete, or eviction; the start of the load for a cold key) and
 * the next one (docs/service-mode.md "Stampedes").
 */
import { Redis } from 'ioredis';
import type { RebuildEvent } from '../results/schema.ts';

export const KEYSPACE_EVENTS = ['set', 'expired', 'del', 'evicted'] as const;
export type KeyspaceEventName = (typeof KEYSPACE_EVENTS)[number];

export interface KeyspaceEvent {
  key: string;
  event: KeyspaceEventName;
  /** Epoch ms the subscriber received it. */
  at: number;
}

/**
 * K/E flags of notify-keyspace-events: E keyevent channels, $ string commands (SET), g generic
 * (DEL), x expired, e evicted.
 */
export const NOTIFY_FLAGS = 'E$gxe';

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The cache key templates ("user:{id}") as one matcher; keys matching none (locks) are ignored. */
export function cacheKeyMatcher(templates: readonly string[]): (key: string) => boolean {
  if (templates.length === 0) return () => false;
  const re = new RegExp(
    `^(?:${templates.map((t) => escapeRe(t).replaceAll('\\{id\\}', '[^:]+')).join('|')})$`,
  );
  return (key) => re.test(key);
}

/**
 * Rebuild events from keyspace events (sorted by time): each SET of a key is one rebuild of the
 * absence it ended — the key's last expiry, delete or eviction (`zeroAt` when it had none since
 * the load began). Its `start` and `end` are that moment: the SETs after one expiry then form one
 * episode (harness/analysis/stampede.ts), and the SETs after the next one a new episode even when
 * it comes a few ms after the last SET (with the SET's time as `end`, the grace window would
 * merge them). When the service's loads really ran is not visible from Redis: `inferred` marks it.
 */
export function rebuildsFromEvents(events: readonly KeyspaceEvent[], zeroAt: number): RebuildEvent[] {
  const absentSince = new Map<string, number>();
  const out: RebuildEvent[] = [];
  const sorted = [...events].sort((a, b) => a.at - b.at);
  for (const e of sorted) {
    if (e.at < zeroAt) continue;
    if (e.event === 'set') {
      const start = absentSince.get(e.key) ?? zeroAt;
      out.push({
        key: e.key,
        instance: 'service',
        start,
        end: start,
        reason: 'miss',
        inferred: true,
      });
    } else {
      absentSince.set(e.key, e.at);
    }
  }
  return out;
}

export interface KeyspaceWatch {
  /** Events seen so far (matching keys only). */
  events(): KeyspaceEvent[];
  stop(): Promise<void>;
}

/**
 * Turns notifications on (restoring the old setting on stop) and subscribes. After a Redis
 * restart (a process fault) the subscriber reconnects and the setting is applied again.
 */
export async function watchKeyspace(
  redisUrl: string,
  isCacheKey: (key: string) => boolean,
): Promise<KeyspaceWatch> {
  const opts = { lazyConnect: true, maxRetriesPerRequest: 1 } as const;
  const cmd = new Redis(redisUrl, opts);
  const sub = new Redis(redisUrl, opts);
  cmd.on('error', () => {});
  sub.on('error', () => {});
  await cmd.connect();
  const before = ((await cmd.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
  const apply = () => cmd.config('SET', 'notify-keyspace-events', NOTIFY_FLAGS).catch(() => {});
  await apply();
  const seen: KeyspaceEvent[] = [];
  sub.on('pmessage', (_pattern: string, channel: string, key: string) => {
    const event = channel.slice(channel.lastIndexOf(':') + 1) as KeyspaceEventName;
    if (!(KEYSPACE_EVENTS as readonly string[]).includes(event) || !isCacheKey(key)) return;
    seen.push({ key, event, at: performance.timeOrigin + performance.now() });
  });
  await sub.connect();
  await sub.psubscribe('__keyevent@*__:*');
  // A restarted server comes back with notifications off.
  sub.on('ready', () => void apply());
  let stopped = false;
  return {
    events: () => seen,
    async stop() {
      if (stopped) return;
      stopped = true;
      sub.disconnect();
      await cmd.config('SET', 'notify-keyspace-events', before).catch(() => {});
      cmd.disconnect();
    },
  };
}
