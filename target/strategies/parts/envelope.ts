/**
 * What a value key holds. Plain strategies store exactly the JSON of the value, so a hit can be
 * sent as is. Strategies that need metadata (soft expiry, recompute time) prefix one header line:
 *   `~<kind> <number> <number>\n<json>`
 * JSON never starts with '~', so every reader can decode what any strategy wrote.
 */

export interface Entry {
  json: string;
  /** stale-while-revalidate: epoch ms after which the value is stale (still servable). */
  softExpiresAt?: number;
  /** xfetch: how long the last recompute took, ms, and when the value expires, epoch ms. */
  deltaMs?: number;
  expiresAt?: number;
}

export function encodeEntry(e: Entry): string {
  if (e.softExpiresAt !== undefined) return `~swr ${Math.round(e.softExpiresAt)} 0\n${e.json}`;
  if (e.deltaMs !== undefined && e.expiresAt !== undefined) {
    return `~xf ${Math.max(0, Math.round(e.deltaMs * 1000) / 1000)} ${Math.round(e.expiresAt)}\n${e.json}`;
  }
  return e.json;
}

/** null when the header is malformed (treated as a miss). */
export function decodeEntry(raw: string): Entry | null {
  if (!raw.startsWith('~')) return { json: raw };
  const nl = raw.indexOf('\n');
  if (nl < 0) return null;
  const [kind, a, b] = raw.slice(1, nl).split(' ');
  const n1 = Number(a);
  const n2 = Number(b);
  if (!Number.isFinite(n1) || !Number.isFinite(n2)) return null;
  const json = raw.slice(nl + 1);
  if (kind === 'swr') return { json, softExpiresAt: n1 };
  if (kind === 'xf') return { json, deltaMs: n1, expiresAt: n2 };
  return null;
}
