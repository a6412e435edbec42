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
 * once, before the first request. The opens run on libuv's thread pool, so the RCU waits (~35 ms
 * for 1,024 descriptors in a fresh process, measured) block a pool thread while the caller goes
 * on with its start-up (a target connecting to PostgreSQL and Redis). Stops quietly at the
 * process's descriptor limit (EMFILE): later sockets then fail with that error as they would have
 * anyway. Resolves with how many descriptors it could open, once they are closed again; a count
 * this process has already reserved costs nothing (the driver's pools ask again for every load).
 */
import { close, open } from 'node:fs';

/** The most descriptors this process's table has been grown to hold (it never shrinks). */
let reserved = 0;

export function reserveDescriptorsInBackground(count: number): Promise<number> {
  if (count <= reserved) return Promise.resolve(count);
  return new Promise((resolve) => {
    const fds: number[] = [];
    let pending = count;
    const done = () => {
      if (--pending > 0) return;
      const n = fds.length;
      reserved = Math.max(reserved, n);
      let closing = n;
      if (closing === 0) resolve(0);
      for (const fd of fds)
        close(fd, () => {
          if (--closing === 0) resolve(n);
        });
    };
    for (let i = 0; i < count; i++)
      open('/dev/null', 'r', (err, fd) => {
        // EMFILE at the limit: what was opened grew the table as far as it can go.
        if (!err) fds.push(fd);
        done();
      });
  });
}
