/**
 * Who holds a loopback TCP listener, from /proc/net/tcp{,6} (uid and socket inode) and
 * /proc/<pid>/fd (which process holds that inode). Toxiproxy's API has no authentication, so
 * the harness must not talk to one that another local user started on the port it expects.
 */
import fs from 'node:fs';
import { CachebenchError } from '../errors.ts';

export interface Listener {
  uid: number;
  inode: number;
}

const LISTEN = '0A';

/** Listeners on `port` (any local address), or [] when none (or /proc is not there). */
export function listenersOn(port: number): Listener[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== LISTEN) continue;
      if (f[1]?.split(':')[1] !== hexPort) continue;
      out.push({ uid: Number(f[7]), inode: Number(f[9]) });
    }
  }
  return out;
}

/** Does process `pid` hold socket `inode`? (Readable for our own children; root reads all.) */
export function holdsSocket(pid: number, inode: number): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Refuses (exit 1, one line) when the listener on `port` belongs to another user, or — with
 * `pid` — is not held by that process. `what` names the service in the message.
 */
export function assertListenerOwned(
  what: string,
  port: number,
  opts: { pid?: number; uids?: number[] } = {},
): void {
  if (!fs.existsSync('/proc/net/tcp')) return;
  const uid = process.getuid?.();
  const allowed = opts.uids ?? (uid === undefined ? [] : [uid]);
  const ls = listenersOn(port);
  if (ls.length === 0) {
    // Without a pid to prove, an absent listener is the caller's "did not answer" to report.
    if (opts.pid === undefined) return;
    throw new CachebenchError('LISTENER', `${what}: nothing listens on port ${port}`);
  }
  for (const l of ls) {
    if (!allowed.includes(l.uid)) {
      throw new CachebenchError(
        'LISTENER_NOT_OURS',
        `${what}: port ${port} is held by uid ${l.uid}, not by you (uid ${uid}); refusing to use another user's service`,
      );
    }
    if (opts.pid !== undefined && !holdsSocket(opts.pid, l.inode)) {
      throw new CachebenchError(
        'LISTENER_NOT_OURS',
        `${what}: port ${port} is held by a process other than the one we started (pid ${opts.pid}); refusing`,
      );
    }
  }
}
