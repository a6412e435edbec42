/**
 * Cache key → the read request its route would make (app.ts), for a strategy that loads keys no
 * request has asked for yet: pre-warm warming its predecessor's hot set at start. The loads are
 * the routes' loads, wrapped like theirs by `observeLoad`, in a scope that is already settled, so
 * the target counts each as a background load (docs/measurements.md "Source loads").
 */
import type { Db } from './db.ts';
import { ReadScope, type TargetInstrumentation } from './instrumentation.ts';
import { entityKey, type Keys, TEAM_MEMBERS_DEFAULTS } from './keys.ts';
import type { ReadRequest, RequestForKey, Versioned } from './strategy.ts';

const ID = '([1-9][0-9]{0,9})';

function background<T extends Versioned>(
  events: TargetInstrumentation,
  key: string,
  namespace: string,
  dependsOn: string[],
  load: () => Promise<T>,
): ReadRequest<T> {
  const scope = new ReadScope(key, namespace);
  scope.settled = true; // no request waits for it
  return { key, namespace, dependsOn, load: () => events.observeLoad(scope, load) };
}

const missing = (what: string) => new Error(`${what} not found`);

export function requestForKey(db: Db, keys: Keys, events: TargetInstrumentation): RequestForKey {
  const p = keys.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const user = new RegExp(`^${p}user:${ID}$`);
  const report = new RegExp(`^${p}team:${ID}:report$`);
  const members = new RegExp(`^${p}team:${ID}:members((?::(?:limit|offset)=[0-9]+)*)$`);
  return (key) => {
    let m = user.exec(key);
    if (m) {
      const id = Number(m[1]);
      return background(events, key, 'user', [], async () => {
        const u = await db.getUser(id);
        if (!u) throw missing(`user ${id}`);
        return { user: u, versions: { [entityKey('user', u.id)]: u.version } };
      });
    }
    m = report.exec(key);
    if (m) {
      const teamId = Number(m[1]);
      return background(events, key, 'team-report', [keys.teamNamespace(teamId)], async () => {
        const rep = await db.getTeamReport(teamId);
        if (!rep) throw missing(`team ${teamId}`);
        const { versions, ...rest } = rep;
        return { report: rest, versions };
      });
    }
    m = members.exec(key);
    if (m) {
      const teamId = Number(m[1]);
      const page: { limit: number; offset: number } = { ...TEAM_MEMBERS_DEFAULTS };
      for (const [, name, v] of (m[2] ?? '').matchAll(/:(limit|offset)=([0-9]+)/g))
        page[name as 'limit' | 'offset'] = Number(v);
      // Only the key the route itself would build for this page (normalized parameters).
      if (keys.teamMembers(teamId, page) !== key) return null;
      return background(events, key, 'team-members', [keys.teamNamespace(teamId)], async () => {
        const t = await db.getTeamMembers(teamId, page);
        if (!t) throw missing(`team ${teamId}`);
        const versions: Record<string, number> = {};
        for (const u of t.members) versions[entityKey('user', u.id)] = u.version;
        return { team: t, versions };
      });
    }
    return null;
  };
}
