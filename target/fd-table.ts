/**
 * Grows this process's file descriptor table before the load, so that it does not grow during it.
 *
 * The kernel grows the table by doubling (64, 128, 256, 512, …) when a new descriptor does not fit,
 * and in a process with more than one thread (every Node process) each growth waits for an RCU
 * grace period before the syscall returns. Measured at 10,000 req/s on a 2-core machine: when the
 * load driver's pool grew past 256 and 512 sockets mid-run, its main thread sat in `socket()` in
 * `synchronize_rcu` (state D) for 2-10 ms at a time while requests queued, and the server's
 * `accept4()` did the same for the connections it accepted (docs/architecture.md).
 * The table never shrinks, so opening /dev/null `count` times and closing them again grows it
 * once, before the first request; it costs a few milliseconds. Stops quietly at the process's
 * descriptor limit (EMFILE): later sockets then fail with that error as they would have anyway.
 * Returns how many descriptors it could open.
 */
import { closeSync, openSync } from 'node:fs';

export function reserveDescriptors(count: number): number {
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) fds.push(openSync('/dev/null', 'r'));
  } catch {
    // At the limit: what was opened grew the table as far as it can go.
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  return fds.length;
}
