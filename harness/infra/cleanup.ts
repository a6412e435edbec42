/**
 * One place that knows how to stop everything this process started, on normal exit, on error,
 * and on SIGINT/SIGTERM. Cleanups run last-registered first (the target before the databases).
 */
type Cleanup = { name: string; fn: () => Promise<void>; killSync: () => void };

const cleanups: Cleanup[] = [];
let installed = false;
let shuttingDown = false;
let receivedSignal: NodeJS.Signals | undefined;

/** The signal that interrupted this process, if any: the CLI's exit code must say so. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return receivedSignal;
}

export function signalExitCode(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143;
}

export function registerCleanup(
  name: string,
  fn: () => Promise<void>,
  killSync: () => void = () => {},
): () => void {
  const entry = { name, fn, killSync };
  cleanups.push(entry);
  install();
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop()!;
    try {
      await c.fn();
    } catch (e) {
      process.stderr.write(`cleanup ${c.name} failed: ${(e as Error).message}\n`);
    }
  }
}

/** Handlers a command can add to run before the process-level cleanups on a signal. */
const interruptHooks: (() => Promise<void> | void)[] = [];
export function onInterrupt(fn: () => Promise<void> | void): void {
  interruptHooks.push(fn);
  install();
}

function install(): void {
  if (installed) return;
  installed = true;
  const onSignal = (sig: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    receivedSignal = sig;
    process.stderr.write(`\n${sig}: stopping everything this run started…\n`);
    const code = signalExitCode(sig);
    // Bound the whole shutdown: a wedged child must not keep the harness alive forever.
    const hard = setTimeout(() => {
      for (const c of cleanups) c.killSync();
      process.exit(code);
    }, 15_000);
    hard.unref();
    (async () => {
      for (const h of interruptHooks) await h();
      await runCleanups();
      process.exit(code);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Last resort if the process exits without awaiting the async cleanups (uncaught error).
  process.on('exit', () => {
    for (const c of cleanups) c.killSync();
  });
}
