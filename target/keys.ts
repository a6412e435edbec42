/**
 * Every cache key and entity key is built here, so naming stays consistent across routes,
 * strategies and the harness's key-count report.
 *
 * Conventions: prefix first (`cb:` by default, so a shared Redis can be cleaned by pattern),
 * then the entity and its id, then what about it (`cb:team:7:members`), then normalized
 * parameters (sorted, defaults dropped, so equal requests share one key), then the aggregate's
 * version when a versioning strategy adds one (`cb:team:7:members:v3`). Helper keys (locks,
 * leases, version counters) extend the key they guard, so they group with their entity.
 *
 * Redis Cluster: a helper a Lua script touches together with its value (lock, lease) or with its
 * sibling (write-behind's pending and in-flight buffers) wraps the key it belongs to in a hash tag,
 * `{cb:user:4}:lock`: Cluster hashes only the tagged part, and the untagged value key `cb:user:4`
 * hashes to the same slot, so value and helper live on one node on every topology (the names are
 * the same on standalone, so reports compare). Keys that cannot share a slot (an entity and the
 * aggregates that embed it, several version counters) are deleted or read per key instead.
 */

export const DEFAULT_KEY_PREFIX = 'cb:';

export type EntityKind = 'user' | 'team' | 'counter';

/** The key used in `versions` maps and in the history: "user:42", "counter:3", "team:7". */
export function entityKey(kind: EntityKind, id: number): string {
  return `${kind}:${id}`;
}

/** Inverse of entityKey; null for anything else. */
export function parseEntityKey(key: string): { kind: EntityKind; id: number } | null {
  const m = /^(user|team|counter):([1-9][0-9]*)$/.exec(key);
  if (!m) return null;
  return { kind: m[1] as EntityKind, id: Number(m[2]) };
}

/**
 * Normalized parameter suffix: keys sorted, values equal to the default (or undefined) dropped.
 * `{offset: 0, limit: 20}` with defaults `{offset: 0}` → ":limit=20"; all defaults → "".
 */
export function paramSuffix(
  params: Record<string, string | number | boolean | undefined>,
  defaults: Record<string, string | number | boolean> = {},
): string {
  let out = '';
  for (const name of Object.keys(params).sort()) {
    const v = params[name];
    if (v === undefined || v === defaults[name]) continue;
    out += `:${name}=${encodeURIComponent(String(v))}`;
  }
  return out;
}

/** Appends the aggregate version(s) a versioning strategy read: `…:v3` or `…:v3.5` for several. */
export function withVersion(key: string, versions: number | readonly number[]): string {
  return `${key}:v${typeof versions === 'number' ? versions : versions.join('.')}`;
}

/** Key of the version counter of an aggregate namespace (`team:7` → `cb:team:7:ver`). */
export function namespaceVersionKey(namespace: string, prefix = DEFAULT_KEY_PREFIX): string {
  return `${prefix}${namespace}:ver`;
}

/** `{<key>}`: a hash tag that puts a helper in the slot of `key` (which itself has no tag). */
export function slotOf(key: string): string {
  return `{${key}}`;
}

/** Rebuild lock guarding a key, in the key's slot. */
export function lockKey(key: string): string {
  return `${slotOf(key)}:lock`;
}

/** Lease token guarding a key, in the key's slot. */
export function leaseKey(key: string): string {
  return `${slotOf(key)}:lease`;
}

/**
 * Namespace of a cache key for key-count reports: the words of the key without the prefix, ids,
 * parameters and versions. `cb:team:7:members:v3` → "team-members", `cb:user:4` → "user",
 * `{cb:user:4}:lock` → "user-lock" (the hash tag's braces are not words); helper keys that wrap
 * a value key (`lock:cb:user:4`) keep their wrapper word first → "lock-user".
 */
export function keyNamespace(key: string, prefix = DEFAULT_KEY_PREFIX): string {
  const prefixWord = prefix.replace(/:$/, '');
  const words = key
    .replace(/[{}]/g, '')
    .split(':')
    .filter(
      (p) => p !== '' && p !== prefixWord && !/^[0-9]+$/.test(p) && !/^v[0-9.]+$/.test(p) && !p.includes('='),
    );
  return words.length === 0 ? 'other' : words.join('-');
}

export const TEAM_MEMBERS_DEFAULTS = { offset: 0, limit: 1000 } as const;

export interface TeamMembersPage {
  offset?: number;
  limit?: number;
}

/** Key builder bound to one prefix; the routes use one per target instance. */
export interface Keys {
  readonly prefix: string;
  user(id: number): string;
  teamMembers(teamId: number, page?: TeamMembersPage): string;
  teamReport(teamId: number): string;
  /** Write-behind buffer of a counter. */
  counter(id: number): string;
  /** Aggregate namespace a team's cached values depend on (unprefixed, as in `dependsOn`). */
  teamNamespace(teamId: number): string;
  namespaceVersion(namespace: string): string;
}

export function createKeys(prefix: string = DEFAULT_KEY_PREFIX): Keys {
  return {
    prefix,
    user: (id) => `${prefix}user:${id}`,
    teamMembers: (teamId, page = {}) =>
      `${prefix}team:${teamId}:members${paramSuffix({ limit: page.limit, offset: page.offset }, TEAM_MEMBERS_DEFAULTS)}`,
    teamReport: (teamId) => `${prefix}team:${teamId}:report`,
    counter: (id) => `${prefix}counter:${id}`,
    teamNamespace: (teamId) => `team:${teamId}`,
    namespaceVersion: (ns) => namespaceVersionKey(ns, prefix),
  };
}
