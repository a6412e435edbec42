/**
 * Lua scripts: each is one atomic step a strategy cannot do safely in two round trips.
 * Sent with EVALSHA, falling back to EVAL once per connection (NOSCRIPT).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isCluster } from '../../redis-connect.ts';

export interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

export async function evalScript(
  redis: Redis,
  s: Script,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
      return redis.eval(s.lua, keys.length, ...keys, ...args);
    }
    throw err;
  }
}

/**
 * A script that loops over independent keys (READ_VERSIONS, BUMP_VERSIONS): one call on
 * standalone; on Cluster one call per key side by side, because a script's keys must share a
 * slot. Replies that are arrays are concatenated in key order, numbers summed.
 */
export async function evalPerKey(
  redis: Redis,
  s: Script,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  if (!isCluster(redis) || keys.length <= 1) return evalScript(redis, s, keys, args);
  const replies = await Promise.all(keys.map((k) => evalScript(redis, s, [k], args)));
  if (replies.every(Array.isArray)) return (replies as unknown[][]).flat();
  return (replies as number[]).reduce((a, b) => a + Number(b), 0);
}

/**
 * KEYS: value, guard (lock or lease key). ARGV: token, guard TTL ms.
 * Returns the value if present, else 1 when this caller now holds the guard, else 0 (wait).
 */
export const GET_OR_ACQUIRE = script(`
local v = redis.call('GET', KEYS[1])
if v then return v end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`);

/** KEYS: guard key. ARGV: token. Deletes the guard only if this caller still owns it. */
export const RELEASE_IF_OWNER = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * KEYS: value, lease. ARGV: token, raw value, PX. The lease holder's SET: applied only while its
 * token is current. A write in between deleted the lease, so a stale value is rejected (0).
 */
export const LEASE_SET = script(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1`);

/**
 * KEYS: version keys. ARGV: seed. Reads each aggregate's version; a missing one is seeded with
 * the current epoch ms, so after an eviction versions never go back to values used before.
 */
export const READ_VERSIONS = script(`
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if not v then redis.call('SET', k, ARGV[1]); v = ARGV[1] end
  out[i] = v
end
return out`);

/** KEYS: version keys. ARGV: seed. INCR each (seeding a missing one). */
export const BUMP_VERSIONS = script(`
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('INCR', k) else redis.call('SET', k, ARGV[1]) end
end
return #KEYS`);

/** Sum of `seq:n` entries of the in-flight hash. Shared by the write-behind scripts. */
const SUM_INFLIGHT = `
local s = 0
for _, e in ipairs(redis.call('HVALS', KEYS[2])) do s = s + tonumber(string.match(e, ':(-?%d+)$')) end`;

/** KEYS: pending, inflight. ARGV: by. Buffers an increment; returns {pending, in flight}. */
export const BUFFER_INCREMENT = script(`
local p = redis.call('INCRBY', KEYS[1], ARGV[1])
${SUM_INFLIGHT}
return {p, s}`);

/** KEYS: pending, inflight. Returns {pending, in flight}. */
export const READ_BUFFER = script(`
local p = tonumber(redis.call('GET', KEYS[1]) or '0')
${SUM_INFLIGHT}
return {p, s}`);

/**
 * KEYS: pending, inflight. ARGV: field (this flusher), seq. GETDEL semantics with a receipt:
 * moves the whole pending amount into this flusher's in-flight entry `seq:n` and returns it.
 * If the flusher already has an entry (an earlier take whose reply was lost, or a DB write that
 * failed), returns that entry unchanged instead, so nothing is taken twice.
 */
export const TAKE_PENDING = script(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then return cur end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n == 0 then return false end
redis.call('DEL', KEYS[1])
local e = ARGV[2] .. ':' .. n
redis.call('HSET', KEYS[2], ARGV[1], e)
return e`);

/** KEYS: inflight. ARGV: field, entry. Idempotent: clears the entry only if it is still that one. */
export const CLEAR_INFLIGHT = script(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`);
