/**
 * Refreshing a value that is still cached: stale-while-revalidate's background refresh (one per
 * key per process) and xfetch's early recompute, each under the refresh permit of the guard (or
 * of the freshness policy when the guard gives none).
 */
import type { ReadRequest, Versioned } from '../../strategy.ts';
import type { Loaded, PolicyEnv, RefreshPermit } from '../policies/types.ts';
import type { ReadKit } from './read-kit.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Refresher {
  private readonly refreshing = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly env: PolicyEnv;
  private readonly kit: ReadKit;
  private readonly permit: (key: string) => Promise<RefreshPermit | null>;

  constructor(env: PolicyEnv, kit: ReadKit, permit: (key: string) => Promise<RefreshPermit | null>) {
    this.env = env;
    this.kit = kit;
    this.permit = permit;
  }

  async refresh<T extends Versioned>(
    req: ReadRequest<T>,
    key: string,
    reason: 'refresh' | 'early',
  ): Promise<Loaded<T> | null> {
    const permit = await this.permit(key);
    if (!permit) return null;
    try {
      if (reason === 'refresh') this.env.events.backgroundRefresh();
      const loaded = await this.kit.load(req, reason);
      const { raw, pxMs } = this.kit.stamp(loaded.json, loaded.loadMs, req.namespace);
      await permit.store(raw, pxMs);
      return loaded;
    } finally {
      await permit.release();
    }
  }

  inBackground(req: ReadRequest<Versioned>, key: string): void {
    if (this.refreshing.has(key)) return;
    this.refreshing.add(key);
    const p = this.refresh(req, key, 'refresh')
      .catch(() => {}) // a failed refresh leaves the stale value; the next stale hit retries
      .finally(() => {
        this.refreshing.delete(key);
        this.background.delete(p);
      });
    this.background.add(p);
  }

  /** Awaits background work, bounded so a hung DB cannot block shutdown. */
  async settle(ms: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.background]), sleep(ms)]);
  }
}
