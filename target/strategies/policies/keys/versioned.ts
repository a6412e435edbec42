/**
 * versioned keys: a value that depends on aggregates (req.dependsOn, e.g. team:12) is stored under
 * `<key>:v<version of each aggregate>`; a write INCRs the versions of req.bumps, so the next read
 * resolves a new key and misses. A failed bump is queued for repair (parts/repairs.ts).
 */
import { versionedKey, versionKey } from '../../parts/key-names.ts';
import { bumpVersions } from '../../parts/repairs.ts';
import { evalPerKey, READ_VERSIONS } from '../../parts/scripts.ts';
import type { KeyPolicy } from '../types.ts';

export function versioned(): KeyPolicy {
  return {
    name: 'versioned',
    provides: ['resolve', 'onWrite'],
    create: ({ cache, prefix, repairs }) => ({
      async resolve(req) {
        if (req.dependsOn.length === 0) return { ok: true, value: req.key };
        const r = await cache.run('read-versions', (redis) =>
          evalPerKey(
            redis,
            READ_VERSIONS,
            req.dependsOn.map((d) => versionKey(d, prefix)),
            [Date.now()],
          ),
        );
        if (!r.ok) return r;
        return { ok: true, value: versionedKey(req.key, (r.value as unknown[]).map(String)) };
      },
      async onWrite(req) {
        if (req.bumps.length === 0) return null;
        const failure = await bumpVersions(cache, req.bumps, prefix);
        if (failure) repairs.addBumps(req.bumps);
        return failure;
      },
    }),
  };
}
