import net from 'node:net';
import { UsageError } from '../errors.ts';

/** Linux's default ephemeral range; Toxiproxy listeners stay outside it so no outgoing connection can hold their port. */
const EPHEMERAL_LOW = 32768;
const EPHEMERAL_HIGH = 61000;

export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free loopback port below the ephemeral range. Random probing rather than port 0, because
 * port 0 hands out ephemeral ports that a later outgoing connection may grab before the
 * service binds it.
 */
export async function freePort(taken: Set<number> = new Set()): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * (EPHEMERAL_LOW - 20000 - 1));
    if (taken.has(port)) continue;
    if (await canBind(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free loopback port found in 20000-32767 after 200 tries');
}

/** A port the user asked for: it must be free, else a usage error naming the flag. */
export async function requirePort(flag: string, port: number): Promise<number> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError('BAD_PORT', `${flag}: ${port} is not a port (allowed: 1-65535)`);
  }
  if (!(await canBind(port))) {
    throw new UsageError(
      'PORT_IN_USE',
      `${flag}: port ${port} on 127.0.0.1 is already in use (choose a free port, or omit ${flag} for a random one)`,
    );
  }
  if (port >= EPHEMERAL_LOW && port <= EPHEMERAL_HIGH && flag.includes('proxy')) {
    throw new UsageError(
      'BAD_PORT',
      `${flag}: ${port} is in the ephemeral range ${EPHEMERAL_LOW}-${EPHEMERAL_HIGH} (allowed: outside it)`,
    );
  }
  return port;
}
